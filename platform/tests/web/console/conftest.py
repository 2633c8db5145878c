"""The console's fixture: ``open_console`` opens it on a fresh app whose gateways are scripted
(``console_app.py``), on the test's database and wall clock."""

from __future__ import annotations

import pytest
from console_app import ConsoleFactory, console_factory
from core_fixtures import WallClock


@pytest.fixture
def open_console(database_url: str, wall_clock: WallClock) -> ConsoleFactory:
    return console_factory(database_url, wall_clock)
