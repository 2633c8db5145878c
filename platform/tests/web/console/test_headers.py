"""The headers every console answer carries (``web/console/headers``): what the browser may
load, run and frame, and no caching of pages with payment data."""

from __future__ import annotations

import pytest
from console_app import ConsoleFactory
from payments_platform.web.console.headers import CONTENT_SECURITY_POLICY


@pytest.mark.parametrize("path", ["/console/sign-in", "/console/", "/console/static/console.css"])
async def test_every_answer_carries_the_security_headers(
    open_console: ConsoleFactory, path: str
) -> None:
    async with open_console() as console:
        await console.sign_in()
        answer = await console.get(path)

    assert answer.status_code == 200
    assert answer.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    assert answer.headers["x-frame-options"] == "DENY"
    assert answer.headers["x-content-type-options"] == "nosniff"
    pages_with_data = not path.startswith("/console/static/")
    assert (answer.headers.get("cache-control") == "no-store") is pages_with_data


async def test_the_policy_allows_no_inline_script_or_style() -> None:
    assert "'unsafe-inline'" not in CONTENT_SECURITY_POLICY
    assert "script-src 'self'" in CONTENT_SECURITY_POLICY
    assert "frame-ancestors 'none'" in CONTENT_SECURITY_POLICY
