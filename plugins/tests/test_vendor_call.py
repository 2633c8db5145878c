"""One vendor call: its span, its outcome label, and what an httpx failure means."""

from __future__ import annotations

import contextlib

import httpx
import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, Tracer
from payments_plugins import (
    GatewayDeclined,
    GatewayError,
    GatewayOutcomeUnknown,
    GatewayUnavailable,
    InvalidWebhook,
)
from payments_plugins.vendor_call import (
    AnswerTooLarge,
    read_answer,
    traced_vendor_call,
    transport_failure,
)


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (httpx.ConnectError("connection refused"), GatewayUnavailable),
        (httpx.ConnectTimeout("connect timed out"), GatewayUnavailable),
        (httpx.PoolTimeout("no connection free"), GatewayUnavailable),
        (httpx.ProxyError("proxy refused the tunnel"), GatewayUnavailable),
        (httpx.UnsupportedProtocol("no scheme"), GatewayUnavailable),
        (httpx.ReadTimeout("read timed out"), GatewayOutcomeUnknown),
        (httpx.WriteTimeout("write timed out"), GatewayOutcomeUnknown),
        (httpx.ReadError("connection reset by peer"), GatewayOutcomeUnknown),
        (httpx.WriteError("broken pipe"), GatewayOutcomeUnknown),
        (httpx.RemoteProtocolError("server disconnected"), GatewayOutcomeUnknown),
        (httpx.LocalProtocolError("bad request line"), GatewayOutcomeUnknown),
        (httpx.DecodingError("bad gzip"), GatewayOutcomeUnknown),
    ],
)
def test_only_a_request_never_sent_is_unavailable(
    error: httpx.HTTPError, expected: type[GatewayError]
):
    failure = transport_failure("acme", "refund", error)

    assert type(failure) is expected
    assert str(failure).startswith("acme gateway refund: ")
    assert type(error).__name__ in str(failure)


def test_a_long_error_message_is_cut_short():
    failure = transport_failure("acme", "initiate", httpx.ReadError("x" * 1000))

    assert str(failure) == f"acme gateway initiate: no usable answer: ReadError: {'x' * 300}"


@pytest.mark.parametrize(
    ("raised", "outcome", "decline"),
    [
        (None, "ok", None),
        (GatewayUnavailable("refused"), "unavailable", None),
        (GatewayOutcomeUnknown("no answer"), "outcome_unknown", None),
        (GatewayDeclined("no", vendor_code="card_declined"), "declined", "hard"),
        (GatewayDeclined("not now", vendor_code="try_again", soft=True), "declined", "soft"),
        (InvalidWebhook("another gateway error"), "error", None),
    ],
)
def test_a_vendor_call_is_a_client_span_labelled_with_its_outcome(
    tracer: Tracer,
    spans: InMemorySpanExporter,
    raised: GatewayError | None,
    outcome: str,
    decline: str | None,
):
    with (
        pytest.raises(GatewayError) if raised is not None else contextlib.nullcontext(),
        traced_vendor_call(
            tracer,
            "acme",
            "initiate",
            http_method="POST",
            server_address="api.acme.test",
            attributes={"rpc.system": "soap"},
        ) as span,
    ):
        span.set_attribute("http.response.status_code", 201)
        if raised is not None:
            raise raised

    [finished] = spans.get_finished_spans()
    assert finished.name == "acme gateway initiate"
    assert finished.kind is SpanKind.CLIENT
    assert dict(finished.attributes or {}) == {
        "payments.gateway.type": "acme",
        "payments.gateway.operation": "initiate",
        "http.request.method": "POST",
        "server.address": "api.acme.test",
        "rpc.system": "soap",
        "http.response.status_code": 201,
        "payments.gateway.outcome": outcome,
    } | ({"payments.gateway.decline": decline} if decline else {})


def test_a_bug_in_a_vendor_call_leaves_the_outcome_unlabelled(
    tracer: Tracer, spans: InMemorySpanExporter
):
    with (
        pytest.raises(KeyError),
        traced_vendor_call(tracer, "acme", "status", http_method="GET", server_address="acme"),
    ):
        raise KeyError("status")

    [finished] = spans.get_finished_spans()
    assert "payments.gateway.outcome" not in (finished.attributes or {})
    assert not finished.status.is_ok


async def test_an_answer_is_read_whole_up_to_its_limit():
    body = await _read(b"x" * 10, max_bytes=10)

    assert body == b"x" * 10


async def test_reading_stops_at_an_answer_longer_than_its_limit():
    with pytest.raises(AnswerTooLarge, match="HTTP 200 answer is longer than 10 bytes"):
        await _read(b"x" * 11, max_bytes=10)


async def _read(content: bytes, *, max_bytes: int) -> bytes:
    transport = httpx.MockTransport(lambda request: httpx.Response(200, content=content))
    async with (
        httpx.AsyncClient(transport=transport) as client,
        client.stream("GET", "https://acme.test/") as response,
    ):
        return await read_answer(response, max_bytes)
