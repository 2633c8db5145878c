"""Fixtures of the end-to-end and cross-package tests: the real app with the installed plugins,
the JSON vendor's simulator over HTTP, the browser. The core's fixtures (databases, the scripted
runtime, the wall clock, the merchant's receiver) are ``platform/tests/core_fixtures.py``'s."""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import datetime
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from core_fixtures import OPEN
from litestar.testing import AsyncTestClient
from payments_platform.config import decode_settings
from payments_platform.plugin_host import PluginHost
from payments_platform.records import utc_now
from payments_platform.runtime import Runtime, build_runtime
from payments_platform.web.app import create_app
from payments_plugin_json_gateway.settings import JsonGatewaySettings
from payments_plugin_json_gateway.simulator import JsonVendorSimulator
from payments_plugins import SimulatorOptions
from payments_plugins.testing.asgi_server import serve_asgi

from .browsers import CHROMIUM_ARGS, chromium_or_skip, in_ci, machine_lookups

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
        # Tests drive workers, and the recorder of the breakers, themselves
        # (``runtime_of(client).worker().run_once()``, ``.breaker_recorder().record_if_due()``).
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
        async with AsyncTestClient(create_app(runtime, record_breakers=False)) as client:
            yield client

    return open_platform


def runtime_of(client: AsyncTestClient[Any]) -> Runtime:
    """The runtime behind an app opened by the ``platform`` fixture."""
    runtime: Runtime = client.app.state["runtime"]
    return runtime
