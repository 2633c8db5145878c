"""The real app with the console on, its gateways played by scripts, a browser-like client
that signs in and carries the session's CSRF token, and payments stored for its pages to show."""

from __future__ import annotations

import contextlib
import re
import uuid
from collections.abc import AsyncIterator, Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import sqlalchemy as sa
from core_fixtures import OPEN, WallClock
from litestar.testing import AsyncTestClient
from payments_platform.access import payment_key
from payments_platform.config import decode_settings
from payments_platform.lifecycle import PaymentStatus
from payments_platform.operators import hash_password
from payments_platform.plugin_host import PluginHost
from payments_platform.runtime import Runtime, build_runtime
from payments_platform.store import payments
from payments_platform.web.app import create_app
from scripted import ScriptedPlugin, type_of

PASSWORD = "alices long password"
OPERATORS = {"alice": {"password_hash": hash_password(PASSWORD, n=2**10)}}
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


class ConsoleClient:
    """A client of the console over HTTPS (its cookies are Secure), redirects not followed."""

    def __init__(self, client: AsyncTestClient[Any]) -> None:
        self.http = client
        self.csrf_token = ""

    @property
    def runtime(self) -> Runtime:
        runtime: Runtime = self.http.app.state["runtime"]
        return runtime

    async def get(self, path: str, **options: Any) -> httpx.Response:
        return await self.http.get(path, **options)

    async def post(
        self, path: str, data: dict[str, str] | None = None, **options: Any
    ) -> httpx.Response:
        return await self.http.post(path, data=data or {}, **options)

    async def sign_in(
        self, name: str = "alice", password: str = PASSWORD, next_path: str = ""
    ) -> httpx.Response:
        form = await self.get("/console/sign-in")
        token = csrf_of(form.text)
        answer = await self.post(
            "/console/sign-in",
            {"csrf_token": token, "name": name, "password": password, "next": next_path},
        )
        if answer.status_code == 303:
            page = await self.get("/console/")
            self.csrf_token = csrf_of(page.text)
        return answer

    async def act(
        self,
        path: str,
        form: Mapping[str, str] | None = None,
        /,
        *,
        headers: dict[str, str] | None = None,
        **fields: str,
    ) -> httpx.Response:
        """POST an action as its form does (``form`` for fields no keyword can name), with the
        session's CSRF token (and ``headers``, as a browser would add them)."""
        sent = {"csrf_token": self.csrf_token, **(form or {}), **fields}
        return await self.post(path, sent, headers=headers)


def csrf_of(html: str) -> str:
    """The CSRF token a page's forms carry."""
    found = _CSRF.search(html)
    assert found is not None, html
    return found[1]


ConsoleFactory = Callable[..., contextlib.AbstractAsyncContextManager[ConsoleClient]]


def console_factory(database_url: str, wall_clock: WallClock) -> ConsoleFactory:
    """Open the console on a fresh app; its clock is ``wall_clock`` unless ``clock`` is given
    (a timeline needs time to pass between what happens)."""

    @contextlib.asynccontextmanager
    async def open_console(
        scripts: dict[str, str] | None = None,
        *,
        base_url: str = "https://console.test",
        clock: Callable[[], datetime] | None = None,
        **sections: Any,
    ) -> AsyncIterator[ConsoleClient]:
        plugins = PluginHost()
        plugins.register(ScriptedPlugin(), "scripted")
        raw: dict[str, Any] = {
            "database": {"url": database_url, "pool_size": 0},
            "worker": {"enabled": False},
            "security": OPEN,
            "routing": {"strategy": "priority"},
            "gateways": {
                name: {"type": type_of(script), "settings": {"script": script}}
                for name, script in (scripts or {}).items()
            },
            "console": {"operators": OPERATORS},
        }
        raw.update(sections)
        runtime = build_runtime(decode_settings(raw), plugins, wall_clock=clock or wall_clock)
        await runtime.database.migrate()
        # Its lifespan runs on a loop of its own: the breakers are read from memory, or
        # recorded by the test itself (``runtime.breaker_recorder().record_if_due()``).
        app = create_app(runtime, record_breakers=False)
        async with AsyncTestClient(app, base_url=base_url) as client:
            client.follow_redirects = False
            yield ConsoleClient(client)

    return open_console


T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


async def store_payment(
    console: ConsoleClient,
    *,
    client_id: uuid.UUID | None = None,
    merchant: str | None = None,
    minutes: int = 0,
    currency: str = "AED",
    status: PaymentStatus | None = None,
    metadata: dict[str, str] | None = None,
    amount_minor: int = 100,
    description: str | None = None,
) -> uuid.UUID:
    """A payment as the platform stores it, created ``minutes`` after T0; its id."""
    client_id = client_id or uuid.uuid4()
    payment_id = payment_key(merchant, client_id)
    created = T0 + timedelta(minutes=minutes)

    def write(conn: sa.Connection) -> None:
        payments.insert(
            conn,
            payment_id=payment_id,
            merchant=merchant,
            client_id=client_id,
            currency=currency,
            amount_minor=amount_minor,
            metadata=metadata or {},
            description=description,
            now=created,
        )
        if status is not None:
            payments.change(
                conn, payment_id, expected=PaymentStatus.PENDING, now=created, status=status
            )

    await console.runtime.database.write(write)
    return payment_id
