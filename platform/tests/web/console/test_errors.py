"""Every error under ``/console`` is a page of the console (``web/console/errors``), with its
headers and a way back; outside it errors stay problem+json."""

from __future__ import annotations

import httpx
import pytest
from console_app import ConsoleFactory
from payments_platform.errors import DatabaseUnavailable
from payments_platform.web.console.headers import CONTENT_SECURITY_POLICY

ERRORS = [
    ("GET", "/console/no-such-page", 404),
    ("GET", "/console/payments/not-a-payment-id", 404),
    ("GET", "/console/static/no-such-file.css", 404),
    ("POST", "/console/jobs/not-a-number/retry", 404),
    ("PUT", "/console/", 405),
    ("DELETE", "/console/jobs", 405),
    ("GET", "/console/jobs/1/retry", 405),
]


def _assert_console_page(answer: httpx.Response, status: int) -> None:
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"].startswith("text/html")
    assert answer.text.lstrip().lower().startswith("<!doctype html>")
    assert 'href="/console/"' in answer.text  # the way back
    assert answer.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    assert answer.headers["x-frame-options"] == "DENY"
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert answer.headers["cache-control"] == "no-store"


@pytest.mark.parametrize("signed_in", [False, True])
@pytest.mark.parametrize(("method", "path", "status"), ERRORS)
async def test_every_error_under_the_console_is_a_page_with_the_security_headers(
    open_console: ConsoleFactory, signed_in: bool, method: str, path: str, status: int
) -> None:
    """Issue 19, error pages: unknown URLs below /console, a method a page does not take, a
    bad parameter, signed in or not, are HTML pages of the console with its headers (they
    were problem+json, without them)."""
    async with open_console() as console:
        if signed_in:
            await console.sign_in()
        answer = await console.http.request(method, path)

    _assert_console_page(answer, status)
    if status == 405:
        assert answer.headers["allow"]


async def test_a_bad_parameter_to_a_console_page_is_a_page_naming_it(
    open_console: ConsoleFactory,
) -> None:
    """Issue 19, error pages: the framework's own validation is told as a page too."""
    async with open_console() as console:
        await console.sign_in()
        answer = await console.get("/console/jobs?status=no-such-status")

    _assert_console_page(answer, 400)
    assert "status" in answer.text


@pytest.mark.parametrize(
    ("raised", "status", "shown"),
    [
        (RuntimeError("the secret detail"), 500, "the failure has been logged"),
        (DatabaseUnavailable("the database is down", retry_after=1), 503, "database"),
    ],
)
async def test_a_failure_behind_a_console_page_is_a_page_too(
    open_console: ConsoleFactory,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    raised: Exception,
    status: int,
    shown: str,
) -> None:
    """Issue 19, error pages: a bug or an outage behind a page is told as a page, its details
    logged and never shown."""

    async def failing(*_: object) -> None:
        raise raised

    monkeypatch.setattr("payments_platform.web.console.jobs.read_jobs", failing)
    async with open_console() as console:
        await console.sign_in()
        answer = await console.get("/console/jobs")

    _assert_console_page(answer, status)
    assert shown in answer.text
    assert "the secret detail" not in answer.text
    if status == 500:
        assert any(r.exc_info and r.exc_info[1] is raised for r in caplog.records)
    else:
        assert answer.headers["retry-after"] == "1"


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [("GET", "/no-such-page", 404), ("PUT", "/health", 405), ("GET", "/consoles", 404)],
)
async def test_outside_the_console_errors_stay_problem_json(
    open_console: ConsoleFactory, method: str, path: str, status: int
) -> None:
    """Issue 19, error pages: only /console answers pages; the API keeps RFC 9457 bodies."""
    async with open_console() as console:
        answer = await console.http.request(method, path)

    assert answer.status_code == status
    assert answer.headers["content-type"] == "application/problem+json"
    assert "content-security-policy" not in answer.headers
