"""``python -m payments_plugins.scaffold NAME``: write a new gateway plugin distribution."""

import sys

from payments_plugins.scaffold import main

sys.exit(main())
