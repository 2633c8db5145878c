"""The core's fixtures, for every test folder (the root ``conftest.py`` registers this module
as a plugin, so that its session fixtures exist once per run): databases on both backends, a
PostgreSQL template migrated once per run, the platform opened with scripted gateways, a wall
clock tests move by hand, the merchant's endpoint as a real HTTP receiver, and the process's
tracer provider with the spans it finished."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from databases import backends, postgres_database, postgres_template, sqlite_url
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from payments_platform.config import decode_settings
from payments_platform.notifications.signing import new_secret
from payments_platform.plugin_host import PluginHost
from payments_platform.records import utc_now
from payments_platform.runtime import Runtime, build_runtime
from pytest_httpserver import HTTPServer
from scripted import ScriptedPlugin, type_of
from standardwebhooks import Webhook
from werkzeug import Request, Response


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

    @contextlib.asynccontextmanager
    async def open_runtime(scripts: dict[str, str], **sections: Any) -> AsyncIterator[Runtime]:
        plugins = PluginHost()
        plugins.register(ScriptedPlugin(), "scripted")
        gateways = {
            name: {"type": type_of(script), "settings": {"script": script}}
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


def endpoint_settings(url: str, **extra: Any) -> dict[str, Any]:
    """The ``[notifications]`` section of a merchant endpoint at ``url`` (the receiver's), signed
    with :data:`NOTIFICATION_SECRET`, allowed over HTTP to a private address."""
    return {
        "allow_http": True,
        "allow_private_addresses": True,
        "backoff_seconds": 1,
        "timeout_seconds": 2,
        # Every delivery of a round goes at once: no endpoint waits for a free slot here.
        "endpoint_concurrency": 100,
        "endpoints": {"shop": {"url": url, "secret": NOTIFICATION_SECRET}},
        **extra,
    }


async def deliver_all(runtime: Runtime) -> None:
    """Run the notification worker until it finds nothing due."""
    worker = runtime.notification_worker()
    while await worker.run_once():
        pass


_EXPORTER = InMemorySpanExporter()
"""Every span the process's tracer provider finished (``spans`` clears it around a test)."""


@pytest.fixture(scope="session")
def _tracer_provider() -> TracerProvider:
    """The process's tracer provider, set once per run (OpenTelemetry refuses a second), whose
    spans are kept for the tests that read them."""
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(_EXPORTER))
    trace.set_tracer_provider(provider)
    return provider


@pytest.fixture
def spans(_tracer_provider: TracerProvider) -> Iterator[InMemorySpanExporter]:
    """The spans finished during the test."""
    _EXPORTER.clear()
    yield _EXPORTER
    _EXPORTER.clear()
