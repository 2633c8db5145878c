"""Every built-in gateway maps a failing connection onto the taxonomy, on every call.

What an httpx failure means is ``payments_plugins.vendor_call``'s, tested there; here, that
each gateway sends every call through it, with its settings' timeouts, over the shared client.
"""

from __future__ import annotations

import asyncio
import re
import threading
import uuid
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import httpx
import msgspec
import pytest
from opentelemetry.trace import Tracer
from payments_plugin_json_gateway.plugin import JSON_GATEWAY_TYPE
from payments_plugin_soap_gateway.plugin import SOAP_GATEWAY_TYPE
from payments_plugins import (
    Amount,
    Gateway,
    GatewayError,
    GatewayOutcomeUnknown,
    GatewayResources,
    GatewayType,
    GatewayUnavailable,
    InitiateRequest,
    RefundRequest,
    RefundStatusQuery,
    StatusQuery,
)
from payments_plugins.http_client import vendor_client
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

PAYMENT_ID = uuid.uuid4()
INITIATE = InitiateRequest(payment_id=PAYMENT_ID, amount=Amount(99999, "AED"))
REFUND = RefundRequest(
    refund_id=uuid.uuid4(), payment_id=PAYMENT_ID, external_id="pay_1", amount=Amount(500, "AED")
)
CALLS: dict[str, Callable[[Gateway], Awaitable[object]]] = {
    "initiate": lambda gateway: gateway.initiate(INITIATE),
    "refund": lambda gateway: gateway.refund(REFUND),
    "status": lambda gateway: gateway.fetch_status(StatusQuery(payment_id=PAYMENT_ID)),
    "refund_status": lambda gateway: gateway.fetch_refund_status(
        RefundStatusQuery(refund_id=REFUND.refund_id, external_id="pay_1")
    ),
}


@pytest.fixture(params=[JSON_GATEWAY_TYPE, SOAP_GATEWAY_TYPE], ids=lambda type_: type_.name)
def gateway_type(request: pytest.FixtureRequest) -> GatewayType[Any]:
    built_in: GatewayType[Any] = request.param
    return built_in


def build(
    gateway_type: GatewayType[Any], url: str, resources: GatewayResources, **overrides: Any
) -> Gateway:
    """The gateway, pointed at ``url`` as at its simulator."""
    assert gateway_type.simulator is not None
    raw = gateway_type.simulator.settings_for(url) | overrides
    return gateway_type.build(msgspec.convert(raw, gateway_type.settings_type), resources)


@pytest.fixture
def release() -> Iterator[threading.Event]:
    """An event a held-back vendor handler waits on; set at teardown so the server moves on."""
    event = threading.Event()
    yield event
    event.set()


def held_back(
    release: threading.Event, arrived: threading.Event | None = None
) -> Callable[[Request], Response]:
    """A vendor that answers only once ``release`` is set (then that it is unavailable)."""

    def handler(request: Request) -> Response:
        if arrived is not None:
            arrived.set()
        release.wait(timeout=10)
        return Response("", status=503)

    return handler


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (httpx.ConnectError("connection refused"), GatewayUnavailable),
        (httpx.ReadTimeout("read timed out"), GatewayOutcomeUnknown),
    ],
)
@pytest.mark.parametrize("call", sorted(CALLS))
async def test_a_transport_failure_of_any_call_maps_onto_the_taxonomy(
    gateway_type: GatewayType[Any],
    tracer: Tracer,
    call: str,
    error: httpx.HTTPError,
    expected: type[GatewayError],
):
    def raising(request: httpx.Request) -> httpx.Response:
        raise error

    async with httpx.AsyncClient(transport=httpx.MockTransport(raising)) as http:
        gateway = build(
            gateway_type, "https://vendor.test/api", GatewayResources(http=http, tracer=tracer)
        )

        with pytest.raises(GatewayError) as raised:
            await CALLS[call](gateway)

    assert type(raised.value) is expected
    assert raised.value.__cause__ is error


async def test_a_read_timeout_is_an_unknown_outcome(
    gateway_type: GatewayType[Any],
    httpserver: HTTPServer,
    resources: GatewayResources,
    release: threading.Event,
):
    httpserver.expect_oneshot_request(re.compile("/")).respond_with_handler(held_back(release))
    gateway = build(gateway_type, httpserver.url_for("/api"), resources, read_timeout=0.2)

    with pytest.raises(GatewayOutcomeUnknown, match="ReadTimeout"):
        await gateway.initiate(INITIATE)


async def test_waiting_in_vain_for_a_pooled_connection_is_unavailable(
    gateway_type: GatewayType[Any], httpserver: HTTPServer, tracer: Tracer, release: threading.Event
):
    arrived = threading.Event()
    httpserver.expect_oneshot_request(re.compile("/")).respond_with_handler(
        held_back(release, arrived)
    )
    async with vendor_client(max_connections=1) as http:
        resources = GatewayResources(http=http, tracer=tracer)
        slow = build(gateway_type, httpserver.url_for("/api"), resources, read_timeout=5)
        hurried = build(gateway_type, httpserver.url_for("/api"), resources, read_timeout=0.1)
        holding = asyncio.create_task(slow.initiate(INITIATE))
        try:
            assert await asyncio.to_thread(arrived.wait, 5), "the first call never arrived"
            # Waiting for the pool is part of connecting: nothing was sent.
            with pytest.raises(GatewayUnavailable, match="ConnectTimeout"):
                await hurried.initiate(INITIATE)
        finally:
            release.set()
            await asyncio.gather(holding, return_exceptions=True)
