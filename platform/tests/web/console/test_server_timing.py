"""The time the server took over a console answer, in its ``Server-Timing`` header
(``web/console/server_timing``): what a browser's developer tools and the bench read."""

from __future__ import annotations

import re

import pytest
from console_app import ConsoleFactory

_TIMING = re.compile(r"app;dur=([0-9]+\.[0-9])")


@pytest.mark.parametrize("path", ["/console/", "/console/payments", "/console/attention"])
async def test_every_page_says_how_long_the_server_took_over_it(
    open_console: ConsoleFactory, path: str
) -> None:
    async with open_console() as console:
        await console.sign_in()
        answer = await console.get(path)

    assert answer.status_code == 200
    found = _TIMING.fullmatch(answer.headers["server-timing"])
    assert found is not None, answer.headers["server-timing"]
    assert 0 < float(found[1]) < 60_000


async def test_a_page_asked_for_without_a_session_is_timed_too(
    open_console: ConsoleFactory,
) -> None:
    async with open_console() as console:
        answer = await console.get("/console/jobs", follow_redirects=False)

    assert answer.status_code == 303
    assert _TIMING.fullmatch(answer.headers["server-timing"])
