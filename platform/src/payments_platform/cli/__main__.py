"""``python -m payments_platform.cli``: the ``payments`` command."""

import sys

from payments_platform.cli import main

sys.exit(main())
