"""The console (``web/console``) is served only when operators are configured."""

from __future__ import annotations

from console_app import ConsoleFactory


async def test_without_operators_there_is_no_console(open_console: ConsoleFactory) -> None:
    async with open_console(console={}) as console:
        for path in ("/console/", "/console/sign-in", "/console/static/htmx.min.js"):
            assert (await console.get(path)).status_code == 404, path
