"""Who may use the console, each guard on its own: a session for every page, the session's
CSRF token for every action, the sign-in form's own token, the cookie's flags, lock-outs,
where a sign-in may lead, and the headers every answer carries."""

from __future__ import annotations

import uuid

import httpx
import pytest
from console_app import (
    OPERATORS,
    PASSWORD,
    ConsoleClient,
    ConsoleFactory,
    console_factory,
    csrf_of,
)
from core_fixtures import WallClock
from payments_platform import access, jobs
from payments_platform.errors import DatabaseUnavailable
from payments_platform.jobs import JobStatus
from payments_platform.operators import OperatorAccounts
from payments_platform.usecases import initiate
from payments_platform.web.console.access import tokens_match
from payments_platform.web.console.headers import CONTENT_SECURITY_POLICY
from payments_plugins import Amount, GatewayUnavailable
from scripted import new_script

PAGES = [
    "/console/",
    "/console/overview/gateways",
    "/console/payments",
    "/console/payments/5b0c7f0e-2d4a-4c1b-8e6f-3a9d1c2b4e5f",
    "/console/jobs",
    "/console/jobs/table",
    "/console/plugins",
]


@pytest.fixture
def open_console(database_url: str, wall_clock: WallClock) -> ConsoleFactory:
    return console_factory(database_url, wall_clock)


async def _dead_job(console: ConsoleClient) -> int:
    """A payment whose initiate job ran out of attempts; the job's id."""
    await initiate.start_payment(console.runtime.deps, uuid.uuid4(), Amount(500, "AED"))
    await console.runtime.worker().run_once()
    [dead] = await console.runtime.database.read(lambda c: jobs.list_jobs(c, [JobStatus.DEAD]))
    return dead.id


def _queued_and_failing() -> dict[str, object]:
    name, script = new_script()
    for _ in range(3):
        script.fail("initiate", GatewayUnavailable("connection refused"))
    return {
        "scripts": {"gw": name},
        "payments": {"dispatch": "queue"},
        "worker": {"enabled": False, "max_attempts": 1},
    }


async def test_without_operators_there_is_no_console(open_console: ConsoleFactory) -> None:
    async with open_console(console={}) as console:
        for path in ("/console/", "/console/sign-in", "/console/static/htmx.min.js"):
            assert (await console.get(path)).status_code == 404, path


@pytest.mark.parametrize("path", PAGES)
async def test_every_page_without_a_session_leads_to_the_sign_in_form(
    open_console: ConsoleFactory, path: str
) -> None:
    async with open_console() as console:
        answer = await console.get(path)

    assert answer.status_code == 303
    assert answer.headers["location"].startswith("/console/sign-in?next=/console")


async def test_a_refresh_without_a_session_sends_htmx_to_the_sign_in_form(
    open_console: ConsoleFactory,
) -> None:
    async with open_console() as console:
        answer = await console.get("/console/overview/gateways", headers={"HX-Request": "true"})

    assert answer.status_code == 401
    assert answer.headers["HX-Redirect"] == "/console/sign-in"


async def test_an_action_without_a_session_is_refused_and_changes_nothing(
    open_console: ConsoleFactory,
) -> None:
    async with open_console(**_queued_and_failing()) as console:
        job_id = await _dead_job(console)

        answer = await console.post(f"/console/jobs/{job_id}/retry", {"csrf_token": "anything"})

        assert answer.status_code == 401
        job = await console.runtime.database.read(lambda c: jobs.find_job(c, job_id))
        assert job is not None
        assert job.status is JobStatus.DEAD


async def test_a_merchants_api_key_opens_nothing(open_console: ConsoleFactory) -> None:
    key = access.new_key()
    security = {"auth": "api-keys", "merchants": {"shop": {"key_hashes": [access.key_hash(key)]}}}
    async with open_console(security=security) as console:
        answer = await console.get("/console/", headers={"Authorization": f"Bearer {key}"})

    assert answer.status_code == 303


@pytest.mark.parametrize("token", ["", "not-the-session-token"])
async def test_an_action_without_the_sessions_csrf_token_is_refused(
    open_console: ConsoleFactory, token: str
) -> None:
    async with open_console(**_queued_and_failing()) as console:
        job_id = await _dead_job(console)
        await console.sign_in()

        refused = await console.post(f"/console/jobs/{job_id}/retry", {"csrf_token": token})

        assert refused.status_code == 403
        assert "CSRF" in refused.text
        job = await console.runtime.database.read(lambda c: jobs.find_job(c, job_id))
        assert job is not None
        assert job.status is JobStatus.DEAD
        done = await console.act(f"/console/jobs/{job_id}/retry")
        assert done.status_code == 303
        assert done.headers["location"] == f"/console/jobs?notice=retried&job={job_id}&status=open"


async def test_the_sign_in_form_needs_its_own_token(open_console: ConsoleFactory) -> None:
    async with open_console() as console:
        form = await console.get("/console/sign-in")
        token = csrf_of(form.text)
        fields = {"name": "alice", "password": PASSWORD}

        # As a form posted from another site: the cookie is not sent, or the field is not there.
        console.http.cookies.clear()
        assert (
            await console.post("/console/sign-in", {**fields, "csrf_token": token})
        ).status_code == 403
        await console.get("/console/sign-in")
        assert (await console.post("/console/sign-in", fields)).status_code == 403
        assert (await console.sign_in()).status_code == 303


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "https://elsewhere.example"},
        {"Origin": "null"},
        {"Origin": "https://console.test:8443"},
        {"Origin": "https://console.test.elsewhere.example"},
        {"Sec-Fetch-Site": "cross-site"},
        {"Sec-Fetch-Site": "same-site"},
        {"Origin": "https://console.test", "Sec-Fetch-Site": "cross-site"},
    ],
)
async def test_an_action_from_another_sites_page_is_refused_even_with_the_token(
    open_console: ConsoleFactory, headers: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    """Issue 19, origins: a POST whose Origin is another site's, or whose Sec-Fetch-Site is
    not same-origin, is refused though it carries the session's CSRF token."""
    async with open_console(**_queued_and_failing()) as console:
        job_id = await _dead_job(console)
        await console.sign_in()

        refused = await console.act(f"/console/jobs/{job_id}/retry", headers=headers)

        assert refused.status_code == 403
        assert "nothing was done" in refused.text
        assert refused.headers["content-type"].startswith("text/html")
        job = await console.runtime.database.read(lambda c: jobs.find_job(c, job_id))
        assert job is not None
        assert job.status is JobStatus.DEAD
    [logged] = [r for r in caplog.records if "refused" in r.getMessage()]
    assert logged.levelname == "WARNING"
    assert f"POST /console/jobs/{job_id}/retry from address testclient refused" in (
        logged.getMessage()
    )


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Origin": "https://console.test"},
        {"Origin": "HTTPS://Console.Test:443"},
        {"Origin": "http://console.test"},  # TLS ended at a proxy: the scheme is not compared
        {"Sec-Fetch-Site": "same-origin"},
        {"Sec-Fetch-Site": "none"},
        {"Origin": "https://console.test", "Sec-Fetch-Site": "same-origin"},
    ],
)
async def test_an_action_from_the_consoles_own_page_is_done(
    open_console: ConsoleFactory, headers: dict[str, str]
) -> None:
    """Issue 19, origins: the console's own forms, as browsers send them, still work; without
    either header the CSRF token alone decides, as before."""
    async with open_console(**_queued_and_failing()) as console:
        job_id = await _dead_job(console)
        await console.sign_in()

        done = await console.act(f"/console/jobs/{job_id}/retry", headers=headers)

    assert done.status_code == 303, done.text


@pytest.mark.parametrize(
    ("origin", "status"), [("https://payments.example", 303), ("http://payments.example", 403)]
)
async def test_behind_a_proxy_that_rewrites_host_the_public_url_is_the_consoles_origin(
    open_console: ConsoleFactory, origin: str, status: int
) -> None:
    """Issue 19, origins: when the Host the service sees is not the one the browser used,
    ``[server] public_url`` names the console's origin, scheme included."""
    async with open_console(
        **_queued_and_failing(), server={"public_url": "https://payments.example/"}
    ) as console:
        job_id = await _dead_job(console)
        await console.sign_in()

        answer = await console.act(
            f"/console/jobs/{job_id}/retry", headers={"Origin": origin, "Host": "127.0.0.1:8080"}
        )

    assert answer.status_code == status, answer.text


async def test_another_sites_action_is_refused_before_its_session_or_password_is_looked_at(
    open_console: ConsoleFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 19, origins: the check comes before anything else: no session is needed to be
    refused, and a sign-in from another site checks no password and opens no session."""
    checked: list[str] = []

    def verify(_: OperatorAccounts, name: str, password: str) -> bool:
        checked.append(name)
        return True

    monkeypatch.setattr(OperatorAccounts, "verify", verify)
    cross_site = {"Origin": "https://elsewhere.example"}
    async with open_console() as console:
        without_session = await console.post(
            "/console/jobs/1/retry", {"csrf_token": "x"}, headers=cross_site
        )
        form = await console.get("/console/sign-in")
        sign_in = await console.post(
            "/console/sign-in",
            {"csrf_token": csrf_of(form.text), "name": "alice", "password": PASSWORD},
            headers=cross_site,
        )

    assert without_session.status_code == 403
    assert sign_in.status_code == 403
    assert checked == []
    assert "payments_console=" not in str(sign_in.headers.get_list("set-cookie"))


async def test_a_sign_in_posted_from_another_site_without_either_token_is_refused(
    open_console: ConsoleFactory,
) -> None:
    """Guards against login CSRF through two missing tokens: another site's page posts the
    attacker's name and password to the sign-in form; SameSite=Strict keeps the form's cookie
    out of that request and the page sends no token field. Were the two empty copies taken to
    match, the victim's browser would come back signed in to the attacker's account (303 and a
    session cookie)."""
    async with open_console() as console:
        answer = await console.post("/console/sign-in", {"name": "alice", "password": PASSWORD})

        assert answer.status_code == 403
        assert "came from elsewhere" in answer.text
        assert not [
            cookie
            for cookie in answer.headers.get_list("set-cookie")
            if cookie.startswith("payments_console=")
        ]
        assert (await console.get("/console/")).status_code == 303  # still signed out


@pytest.mark.parametrize(
    ("sent", "expected", "match"),
    [
        ("", "", False),
        ("", "a-token", False),
        ("a-token", "", False),
        ("a-token", "another", False),
        ("a-token", "a-token", True),
    ],
)
def test_an_empty_token_never_matches(sent: str, expected: str, match: bool) -> None:
    """Guards against ``tokens_match`` comparing the bytes alone: two empty tokens are equal,
    and a request that carries neither copy of a token would pass the check."""
    assert tokens_match(sent, expected) is match


@pytest.mark.parametrize(("demo", "secure"), [(False, True), (True, False)])
async def test_the_session_cookie_is_http_only_strict_and_secure_outside_the_demo(
    open_console: ConsoleFactory, demo: bool, secure: bool
) -> None:
    async with open_console(demo=demo) as console:
        answer = await console.sign_in()

    [cookie] = [
        c for c in answer.headers.get_list("set-cookie") if c.startswith("payments_console=")
    ]
    attributes = {part.strip().split("=")[0].lower() for part in cookie.split(";")}
    assert {"httponly", "path", "max-age"} <= attributes
    assert "samesite=strict" in cookie.lower()
    assert "Path=/console" in cookie
    assert ("secure" in attributes) is secure


async def test_a_wrong_password_is_refused_without_saying_which_part_was_wrong(
    open_console: ConsoleFactory,
) -> None:
    async with open_console() as console:
        wrong_password = await console.sign_in(password="not it")
        wrong_name = await console.sign_in(name="mallory")

    assert wrong_password.status_code == wrong_name.status_code == 401
    assert "Unknown operator or wrong password." in wrong_password.text
    assert "Unknown operator or wrong password." in wrong_name.text
    assert "payments_console=" not in str(wrong_password.headers.get_list("set-cookie"))


async def test_a_sign_in_held_back_says_when_to_try_again(open_console: ConsoleFactory) -> None:
    """Issue 19, lock-outs: a name delayed from an address is told how long to wait, in the
    page and in ``Retry-After``."""
    policy = {"operators": OPERATORS, "max_failures": 2, "delay_seconds": 90}
    async with open_console(console=policy) as console:
        for _ in range(2):
            assert (await console.sign_in(password="guess")).status_code == 401

        locked = await console.sign_in()

    assert locked.status_code == 429
    assert locked.headers["retry-after"] == "90"
    assert "Too many failed sign-ins as alice from your address: try again in 2 minutes" in (
        locked.text
    )


@pytest.mark.parametrize(
    ("asked", "lands"),
    [
        ("/console/jobs?status=dead", "/console/jobs?status=dead"),
        ("https://elsewhere.example/", "/console/"),
        ("//elsewhere.example/console", "/console/"),
        ("/console/../schema", "/console/"),
        ("", "/console/"),
    ],
)
async def test_a_sign_in_leads_only_to_a_console_page(
    open_console: ConsoleFactory, asked: str, lands: str
) -> None:
    async with open_console() as console:
        answer = await console.sign_in(next_path=asked)

    assert answer.status_code == 303
    assert answer.headers["location"] == lands


async def test_signing_out_ends_the_session(open_console: ConsoleFactory) -> None:
    async with open_console() as console:
        await console.sign_in()
        cookie = console.http.cookies.get("payments_console")
        assert (await console.get("/console/")).status_code == 200

        answer = await console.act("/console/sign-out")

        assert answer.status_code == 303
        assert answer.headers["location"] == "/console/sign-in?signed_out=true"
        # The old cookie no longer opens anything, even if a browser kept it.
        console.http.cookies.set(
            "payments_console", cookie or "", domain="console.test", path="/console"
        )
        assert (await console.get("/console/")).status_code == 303


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


async def test_the_policy_allows_no_inline_script_or_style() -> None:
    assert "'unsafe-inline'" not in CONTENT_SECURITY_POLICY
    assert "script-src 'self'" in CONTENT_SECURITY_POLICY
    assert "frame-ancestors 'none'" in CONTENT_SECURITY_POLICY
