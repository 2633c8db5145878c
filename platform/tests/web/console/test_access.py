"""Who may use the console (``web/console/access``), each guard on its own: a session for every
page, the session's CSRF token for every action, an action only from the console's own pages,
the cookie's flags, and where a sign-in may lead."""

from __future__ import annotations

import uuid

import pytest
from console_app import PASSWORD, ConsoleClient, ConsoleFactory, csrf_of
from payments_platform import access, jobs
from payments_platform.jobs import JobStatus
from payments_platform.operators import OperatorAccounts
from payments_platform.usecases import initiate
from payments_platform.web.console.access import tokens_match
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
    "/console/payments.csv",
    "/console/audit",
    "/console/audit.csv",
]


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
