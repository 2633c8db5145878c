"""Fixtures shared by the SOAP gateway tests."""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator

import httpx
import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Tracer
from payments_plugins import GatewayResources


@pytest.fixture
def spans() -> InMemorySpanExporter:
    """Every span the ``tracer`` fixture's spans end up in."""
    return InMemorySpanExporter()


@pytest.fixture
def tracer(spans: InMemorySpanExporter) -> Tracer:
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(spans))
    return provider.get_tracer("tests")


@pytest.fixture(scope="session")
def tls() -> ssl.SSLContext:
    """Loading the CA bundle is slow, so every test's client shares one TLS context."""
    return ssl.create_default_context()


@pytest.fixture
async def http(tls: ssl.SSLContext) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(verify=tls) as client:
        yield client


@pytest.fixture
def resources(http: httpx.AsyncClient, tracer: Tracer) -> GatewayResources:
    return GatewayResources(http=http, tracer=tracer)
