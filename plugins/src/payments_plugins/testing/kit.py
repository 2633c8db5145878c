"""The ``payments`` pytest plugin, registered through the ``pytest11`` entry point.

Installing ``payments-plugins`` loads it into every pytest run. It does nothing unless a test
class derives from ``GatewayConformance``; then it
deselects the checks that do not apply to that class's target (a gateway type without a
simulator cannot be timed out over the network) and lists them, with what they need, in a
"payments gateway conformance" section at the end of the run. It imports neither uvicorn nor
any gateway plugin.

It also offers the fixtures a gateway's own tests build it with, as the platform would:
``resources`` (``GatewayResources`` of ``http`` and ``tracer``), ``http``
(a shared httpx client), ``tracer`` (recording into the in-memory exporter ``spans``) and
``tls`` (one TLS context for the session). ``http`` and ``resources`` are async fixtures, for
pytest-asyncio in auto mode; ``tracer`` and ``spans`` need the OpenTelemetry SDK, which the
``testing`` extra brings. A fixture of the same name in a conftest or test module wins.
"""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import httpx
import pytest

# The suite's checks are plain asserts; pytest rewrites them (for readable failures) only in
# modules registered before they are first imported.
pytest.register_assert_rewrite(
    "payments_plugins.testing.conformance", "payments_plugins.testing.capture_checks"
)

from payments_plugins.gateway import GatewayResources  # noqa: E402
from payments_plugins.http_client import vendor_client  # noqa: E402
from payments_plugins.testing.conformance import GatewayConformance  # noqa: E402
from payments_plugins.testing.target import Capability, missing_capabilities  # noqa: E402

if TYPE_CHECKING:
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    from opentelemetry.trace import Tracer

SECTION_TITLE = "payments gateway conformance"


@dataclass
class ConformanceReport:
    """What one conformance class ran, and what it left out and why."""

    gateway_type: str
    selected: int = 0
    left_out: list[tuple[str, frozenset[Capability]]] = field(default_factory=list)


_REPORTS = pytest.StashKey[dict[str, ConformanceReport]]()


def pytest_collection_modifyitems(
    session: pytest.Session, config: pytest.Config, items: list[pytest.Item]
) -> None:
    """Deselect the conformance checks whose needs their class's target does not meet."""
    reports: dict[str, ConformanceReport] = {}
    kept: list[pytest.Item] = []
    left_out: list[pytest.Item] = []
    for item in items:
        suite = getattr(item, "cls", None)
        target = getattr(suite, "target", None)
        if suite is None or not issubclass(suite, GatewayConformance) or target is None:
            kept.append(item)
            continue
        class_id = item.nodeid.rsplit("::", 1)[0]
        report = reports.setdefault(class_id, ConformanceReport(target.gateway_type))
        missing = missing_capabilities(target, getattr(item, "function", None))
        if missing:
            left_out.append(item)
            report.left_out.append((getattr(item, "originalname", item.name), missing))
        else:
            kept.append(item)
            report.selected += 1
    if left_out:
        config.hook.pytest_deselected(items=left_out)
        items[:] = kept
    config.stash[_REPORTS] = reports


def pytest_terminal_summary(
    terminalreporter: pytest.TerminalReporter, config: pytest.Config
) -> None:
    """List, per conformance class, how many checks ran and which did not apply."""
    reports = config.stash.get(_REPORTS, {})
    if not reports:
        return
    terminalreporter.section(SECTION_TITLE)
    for class_id, report in reports.items():
        terminalreporter.line(
            f"{class_id} (gateway type {report.gateway_type!r}): "
            f"{report.selected} checks selected, {len(report.left_out)} not applicable"
        )
        for name, missing in report.left_out:
            wanted = "; ".join(sorted(capability.value for capability in missing))
            terminalreporter.line(f"    not applicable: {name} (needs {wanted})")


@pytest.fixture
def spans() -> InMemorySpanExporter:
    """Every span the ``tracer`` fixture's spans end up in."""
    # Imported here: the SDK is needed only by the tests that ask for spans.
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import (  # noqa: PLC0415
        InMemorySpanExporter,
    )

    return InMemorySpanExporter()


@pytest.fixture
def tracer(spans: InMemorySpanExporter) -> Tracer:
    """A tracer of its own for the test, recording into ``spans``."""
    from opentelemetry.sdk.trace import TracerProvider  # noqa: PLC0415
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor  # noqa: PLC0415

    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(spans))
    return provider.get_tracer("tests")


@pytest.fixture(scope="session")
def tls() -> ssl.SSLContext:
    """Loading the CA bundle is slow, so every test's client shares one TLS context."""
    return ssl.create_default_context()


@pytest.fixture
async def http(tls: ssl.SSLContext) -> AsyncIterator[httpx.AsyncClient]:
    """The shared httpx client a gateway under test calls its vendor with: the platform's."""
    async with vendor_client(verify=tls) as client:
        yield client


@pytest.fixture
def resources(http: httpx.AsyncClient, tracer: Tracer) -> GatewayResources:
    """The resources the platform would share with the gateway under test."""
    return GatewayResources(http=http, tracer=tracer)
