"""The pluggy markers of the ``payments`` project."""

import pluggy

PROJECT_NAME = "payments"
"""The pluggy project name; also the entry-point group plugins are published under."""

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)
