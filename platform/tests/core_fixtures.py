"""Fixtures for cross-package tests: the real app, real SQLite, vendor simulators over HTTP."""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from litestar.testing import AsyncTestClient
from payments_platform.config import decode_settings
from payments_platform.notifications.signing import new_secret
from payments_platform.plugin_host import PluginHost
from payments_platform.records import utc_now
from payments_platform.runtime import Runtime, build_runtime
from payments_platform.web.app import create_app
from payments_plugin_json_gateway.settings import JsonGatewaySettings
from payments_plugin_json_gateway.simulator import JsonVendorSimulator
from payments_plugins import SimulatorOptions
from payments_plugins.testing.asgi_server import serve_asgi
from pytest_httpserver import HTTPServer
from standardwebhooks import Webhook
from werkzeug import Request, Response

from .browsers import CHROMIUM_ARGS, chromium_or_skip, in_ci, machine_lookups
from .databases import backends, postgres_database, postgres_template, sqlite_url

if TYPE_CHECKING:
    from playwright.sync_api import BrowserType


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Browser tests run last. pytest-playwright's browser lives for the whole session, and
    Playwright's sync API keeps its event loop running in this thread from the first browser
    test on, where no asyncio test could run."""
    items.sort(key=lambda item: item.get_closest_marker("browser") is not None)


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type: BrowserType) -> dict[str, Any]:
    """How pytest-playwright launches the browser of every browser test: a chromium found as
    ``tests/browsers.py`` says, headless; without one the tests are skipped (failed in CI)."""
    lookups = machine_lookups(lambda: browser_type.executable_path)
    path = chromium_or_skip(lookups, in_ci=in_ci(os.environ))
    return {"executable_path": path, "args": CHROMIUM_ARGS, "headless": True}


class Vendor:
    """A JSON vendor simulator served over real HTTP, with its control endpoints at hand."""

    def __init__(self, base_url: str, simulator: JsonVendorSimulator) -> None:
        self.base_url = base_url
        self.simulator = simulator

    async def _control(self, method: str, path: str, body: Any = None) -> Any:
        async with httpx.AsyncClient(base_url=self.base_url) as client:
            response = await client.request(method, f"/_simulator/{path}", json=body)
            response.raise_for_status()
            return response.json() if response.content else None

    async def calls(self) -> dict[str, int]:
        """How many vendor API calls of each kind the simulator has received."""
        counts: dict[str, int] = await self._control("GET", "calls")
        return counts

    async def payments(self) -> list[dict[str, Any]]:
        """What the vendor holds: each payment with its reference (ours) and refunds."""
        held: list[dict[str, Any]] = (await self._control("GET", "payments"))["payments"]
        return held

    async def payer_acts(self, external_id: str, status: str = "paid") -> None:
        """The payer pays (or fails): the vendor's own record moves."""
        await self._control("POST", f"payments/{external_id}/status", {"status": status})

    async def misbehave(
        self, amount: str, action: str, operation: str = "any", *, seconds: float | None = None
    ) -> None:
        """Make requests for ``amount`` answer with ``action`` (``seconds``: the ``slow``
        behaviour's hold)."""
        body: dict[str, Any] = {"amount": amount, "operation": operation, "action": action}
        if seconds is not None:
            body["seconds"] = seconds
        await self._control("POST", "behaviours", body)

    async def go_down(self) -> None:
        """Answer every API call with 503 until :meth:`come_up`."""
        await self._control("POST", "down")

    async def come_up(self) -> None:
        """Serve again."""
        await self._control("POST", "up")


@contextlib.contextmanager
def json_vendor(webhook_url: str | None = None, timeout_seconds: float = 30.0) -> Iterator[Vendor]:
    """Serve a fresh JSON vendor simulator."""
    simulator = JsonVendorSimulator(
        SimulatorOptions(
            settings=JsonGatewaySettings(base_url="http://127.0.0.1:1"), webhook_url=webhook_url
        ),
        timeout_seconds=timeout_seconds,
    )
    with serve_asgi(simulator) as base_url:
        yield Vendor(base_url, simulator)


@pytest.fixture
def vendor() -> Iterator[Vendor]:
    with json_vendor() as served:
        yield served


@pytest.fixture(scope="session")
def postgres_template_name() -> Iterator[str]:
    with postgres_template() as name:
        yield name


@pytest.fixture(params=backends())
def backend(request: pytest.FixtureRequest) -> str:
    """The database backend a test runs on; every test using a database runs on each."""
    name: str = request.param
    return name


@pytest.fixture
def database_url(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[str]:
    """An empty database at the current schema, on the test's backend (not yet migrated for
    SQLite, whose file the fixture only names)."""
    if backend == "sqlite":
        yield sqlite_url(tmp_path / "payments.db")
        return
    template: str = request.getfixturevalue("postgres_template_name")
    with postgres_database(template) as url:
        yield url


NOTIFICATION_SECRET = new_secret()
"""The signing secret of the merchant endpoints tests configure."""

OPEN: dict[str, Any] = {"auth": "none", "allow_unsigned_webhooks": True}
"""Tests about something else open the client API and accept unsigned webhooks."""

AppFactory = Callable[..., contextlib.AbstractAsyncContextManager[AsyncTestClient[Any]]]


@pytest.fixture
def platform(database_url: str) -> AppFactory:
    """Build the real app from a raw config mapping, migrate its database, and open a client."""

    @contextlib.asynccontextmanager
    async def open_platform(
        gateways: dict[str, Any],
        *,
        clock: Callable[[], float] | None = None,
        wall_clock: Callable[[], datetime] | None = None,
        **sections: Any,
    ) -> AsyncIterator[AsyncTestClient[Any]]:
        # Tests drive workers themselves (``runtime_of(client).worker().run_once()``).
        # No pooling: the test client runs the app's lifespan on a loop of its own, and a pooled
        # asyncpg connection must not move between event loops.
        database = {"url": database_url, "pool_size": 0}
        raw = {"database": database, "worker": {"enabled": False}, "security": OPEN}
        raw.update(gateways=gateways, **sections)
        runtime = build_runtime(
            decode_settings(raw),
            PluginHost.discover(),
            clock=clock or time.monotonic,
            wall_clock=wall_clock or utc_now,
        )
        await runtime.database.migrate()
        async with AsyncTestClient(create_app(runtime)) as client:
            yield client

    return open_platform


def runtime_of(client: AsyncTestClient[Any]) -> Runtime:
    """The runtime behind an app opened by the ``platform`` fixture."""
    runtime: Runtime = client.app.state["runtime"]
    return runtime


class WallClock:
    """A wall clock tests move by hand, so jobs fall due without waiting."""

    def __init__(self) -> None:
        self.now = utc_now()

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        """Move time forward."""
        self.now += timedelta(seconds=seconds)


@pytest.fixture
def wall_clock() -> WallClock:
    return WallClock()


RuntimeFactory = Callable[..., contextlib.AbstractAsyncContextManager[Runtime]]


@pytest.fixture
def scripted_runtime(database_url: str, wall_clock: WallClock) -> RuntimeFactory:
    """Open the platform without HTTP, its gateways played by scripts (see ``scripted.py``)."""
    from .scripted import ScriptedPlugin

    @contextlib.asynccontextmanager
    async def open_runtime(scripts: dict[str, str], **sections: Any) -> AsyncIterator[Runtime]:
        plugins = PluginHost()
        plugins.register(ScriptedPlugin(), "scripted")
        gateways = {
            name: {"type": "scripted", "settings": {"script": script}}
            for name, script in scripts.items()
        }
        raw: dict[str, Any] = {"database": {"url": database_url, "pool_size": 0}, "security": OPEN}
        raw.update(gateways=gateways, **sections)
        runtime = build_runtime(decode_settings(raw), plugins, wall_clock=wall_clock)
        await runtime.database.migrate()
        try:
            yield runtime
        finally:
            await runtime.aclose()

    return open_runtime


class Receiver:
    """The merchant's endpoint: answers as told, and keeps every request it got."""

    def __init__(self, server: HTTPServer) -> None:
        self.server = server
        self.answer = 204
        self.delay = 0.0
        self.requests: list[tuple[dict[str, str], bytes, int]] = []
        self.in_flight = 0
        self._lock = threading.Lock()
        server.expect_request("/hook", method="POST").respond_with_handler(self._handle)

    def _handle(self, request: Request) -> Response:
        with self._lock:
            self.in_flight += 1
        time.sleep(self.delay)
        with self._lock:
            self.in_flight -= 1
            self.requests.append((dict(request.headers), request.get_data(), self.answer))
        return Response("", status=self.answer)

    @property
    def url(self) -> str:
        return self.server.url_for("/hook")

    def delivered(self) -> list[dict[str, Any]]:
        """The events it accepted, each checked with the Standard Webhooks library."""
        verifier = Webhook(NOTIFICATION_SECRET)
        accepted: list[dict[str, Any]] = []
        for headers, body, status in self.requests:
            event = verifier.verify(body, {k.lower(): v for k, v in headers.items()})
            if 200 <= status < 300:
                accepted.append(event)
        return accepted


@pytest.fixture
def receiver(httpserver: HTTPServer) -> Receiver:
    return Receiver(httpserver)
