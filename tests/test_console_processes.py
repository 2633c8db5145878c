"""The console's sessions across real processes: a cookie kept over a restart whose config
removed the operator or changed its password, and ``payments operators sign-out`` ending the
sessions a running server opened."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa
from core_fixtures import OPEN
from payments_platform.database import Database
from payments_platform.operators import hash_password
from payments_platform.schema import operator_sessions

from .server_process import ServerProcess, migrate, payments, payments_serve, write_config

PASSWORD = "alices long password"
ALICE = hash_password(PASSWORD, n=2**10)
BOB = hash_password("bobs long password", n=2**10)
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def _config(path: Path, database_url: str, operators: dict[str, str]) -> Path:
    return write_config(
        path,
        {
            "database": {"url": database_url},
            "security": OPEN,
            "worker": {"enabled": False},
            "console": {"operators": {name: {"password_hash": h} for name, h in operators.items()}},
        },
    )


def _cookie(answer: httpx.Response, name: str) -> str:
    for header in answer.headers.get_list("set-cookie"):
        if header.startswith(f"{name}="):
            return header.split(";", 1)[0].split("=", 1)[1]
    raise AssertionError(f"no {name} cookie in {answer.headers}")


def _sign_in(server: ServerProcess, name: str = "alice", password: str = PASSWORD) -> str:
    """Sign in as a browser would; the session cookie's value."""
    with httpx.Client(base_url=server.base_url) as client:
        form = client.get("/console/sign-in")
        found = _CSRF.search(form.text)
        assert found is not None, form.text
        answer = client.post(
            "/console/sign-in",
            data={"csrf_token": found[1], "name": name, "password": password},
            # The cookies are Secure outside the demo: sent by hand over plain HTTP.
            headers={
                "Cookie": f"payments_console_sign_in={_cookie(form, 'payments_console_sign_in')}"
            },
        )
    assert answer.status_code == 303, answer.text
    return _cookie(answer, "payments_console")


def _with_cookie(
    server: ServerProcess, cookie: str, method: str, path: str, **options: Any
) -> httpx.Response:
    return httpx.request(
        method,
        f"{server.base_url}{path}",
        headers={"Cookie": f"payments_console={cookie}"},
        follow_redirects=False,
        **options,
    )


def _page_opens(server: ServerProcess, cookie: str) -> bool:
    answer = _with_cookie(server, cookie, "GET", "/console/jobs")
    assert answer.status_code in (200, 303), answer.text
    return answer.status_code == 200


def _csrf_token(server: ServerProcess, cookie: str) -> str:
    found = _CSRF.search(_with_cookie(server, cookie, "GET", "/console/jobs").text)
    assert found is not None
    return found[1]


async def _sessions_of(database_url: str, operator: str) -> int:
    database = Database(database_url, pool_size=0)
    try:
        return await database.read(
            lambda conn: conn.execute(
                sa.select(sa.func.count()).where(operator_sessions.c.operator == operator)
            ).scalar_one()
        )
    finally:
        await database.dispose()


async def test_an_old_cookie_opens_nothing_once_its_operator_is_removed_and_the_server_restarted(
    tmp_path: Path, database_url: str
) -> None:
    """Issue 19, removed operators: the cookie of a deleted operator neither opens a page nor
    acts after a restart, and its session is gone from the database."""
    config = _config(tmp_path / "payments.toml", database_url, {"alice": ALICE, "bob": BOB})
    migrate(config)
    with payments_serve(tmp_path, config=config) as server:
        cookie = _sign_in(server)
        csrf_token = _csrf_token(server, cookie)
        assert _page_opens(server, cookie)

    _config(config, database_url, {"bob": BOB})
    with payments_serve(tmp_path, config=config) as server:
        assert not _page_opens(server, cookie)
        acted = _with_cookie(
            server, cookie, "POST", "/console/jobs/1/retry", data={"csrf_token": csrf_token}
        )
        assert acted.status_code == 401, acted.text
        assert await _sessions_of(database_url, "alice") == 0


async def test_an_old_cookie_opens_nothing_once_its_operators_password_changed(
    tmp_path: Path, database_url: str
) -> None:
    """Issue 19, changed passwords: a new password hash in the config ends the sessions opened
    with the old one, and the new password opens a new one."""
    config = _config(tmp_path / "payments.toml", database_url, {"alice": ALICE})
    migrate(config)
    with payments_serve(tmp_path, config=config) as server:
        cookie = _sign_in(server)

    new_password = "alices new long password"
    _config(config, database_url, {"alice": hash_password(new_password, n=2**10)})
    with payments_serve(tmp_path, config=config) as server:
        assert not _page_opens(server, cookie)
        assert await _sessions_of(database_url, "alice") == 0
        assert _page_opens(server, _sign_in(server, password=new_password))


def test_an_unchanged_config_keeps_sessions_over_a_restart(
    tmp_path: Path, database_url: str
) -> None:
    """Issue 19, removed operators: what ties a session to its operator survives a restart
    with the same config, so that a restart does not sign everyone out."""
    config = _config(tmp_path / "payments.toml", database_url, {"alice": ALICE})
    migrate(config)
    with payments_serve(tmp_path, config=config) as server:
        cookie = _sign_in(server)
    with payments_serve(tmp_path, config=config) as server:
        assert _page_opens(server, cookie)


def test_operators_sign_out_ends_every_session_of_one_operator_in_every_process(
    tmp_path: Path, database_url: str
) -> None:
    """Issue 19, removed operators: ``payments operators sign-out`` ends an operator's
    sessions in the database a running server shares, says how many, and leaves the other
    operators signed in."""
    config = _config(tmp_path / "payments.toml", database_url, {"alice": ALICE, "bob": BOB})
    migrate(config)
    with payments_serve(tmp_path, config=config) as server:
        alices = [_sign_in(server), _sign_in(server)]
        bobs = _sign_in(server, "bob", "bobs long password")

        ended = payments("operators", "sign-out", "--name", "alice", "--config", str(config))

        assert ended.returncode == 0, ended.stderr
        assert ended.stdout == "ended 2 console sessions of operator 'alice'\n"
        assert not any(_page_opens(server, cookie) for cookie in alices)
        assert _page_opens(server, bobs)
        again = payments("operators", "--config", str(config), "sign-out", "--name", "alice")
        assert again.returncode == 1
        assert again.stderr == "operator 'alice' has no console sessions: nothing to end\n"


def test_operators_sign_out_says_what_it_does() -> None:
    """Issue 19, removed operators: the command's help says what it ends and where."""
    shown = payments("operators", "sign-out", "--help")

    assert shown.returncode == 0
    assert "--name NAME" in shown.stdout
    assert "--config PATH" in shown.stdout
    description = " ".join(shown.stdout.split())
    assert "in the database every process of the deployment shares" in description
    assert "exits with status 1 when there were none" in description
