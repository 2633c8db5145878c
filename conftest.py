"""The core's fixtures serve every test folder: ``platform/tests/core_fixtures.py`` (on the path
through pytest's ``pythonpath``), registered once here, where pytest allows ``pytest_plugins``."""

pytest_plugins = ["core_fixtures"]
