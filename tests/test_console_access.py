"""Who may use the console, each guard on its own: a session for every page, the session's
CSRF token for every action, the sign-in form's own token, the cookie's flags, lock-outs,
where a sign-in may lead, and the headers every answer carries."""

from __future__ import annotations

import uuid

import pytest
from payments_platform import access, jobs
from payments_platform.jobs import JobStatus
from payments_platform.usecases import initiate
from payments_platform.web.console.access import tokens_match
from payments_platform.web.console.headers import CONTENT_SECURITY_POLICY
from payments_plugins import Amount, GatewayUnavailable

from .conftest import WallClock
from .console_app import (
    OPERATORS,
    PASSWORD,
    ConsoleClient,
    ConsoleFactory,
    console_factory,
    csrf_of,
)
from .scripted import new_script

PAGES = [
    "/console/",
    "/console/overview/gateways",
    "/console/payments",
    f"/console/payments/{uuid.uuid4()}",
    "/console/jobs",
    "/console/jobs/table",
    "/console/plugins",
]


@pytest.fixture
def open_console(database_url: str, wall_clock: WallClock) -> ConsoleFactory:
    return console_factory(database_url, wall_clock)


async def _dead_job(console: ConsoleClient) -> int:
    """A payment whose initiate job ran out of attempts; the job's id."""
    await initiate.start_payment(console.runtime.platform, uuid.uuid4(), Amount(500, "AED"))
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


async def test_repeated_failures_lock_the_account_out(open_console: ConsoleFactory) -> None:
    async with open_console(console={"operators": OPERATORS, "max_failures": 2}) as console:
        for _ in range(2):
            assert (await console.sign_in(password="guess")).status_code == 401

        locked = await console.sign_in()

    assert locked.status_code == 429
    assert "Too many failed sign-ins" in locked.text


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


async def test_the_policy_allows_no_inline_script_or_style() -> None:
    assert "'unsafe-inline'" not in CONTENT_SECURITY_POLICY
    assert "script-src 'self'" in CONTENT_SECURITY_POLICY
    assert "frame-ancestors 'none'" in CONTENT_SECURITY_POLICY
