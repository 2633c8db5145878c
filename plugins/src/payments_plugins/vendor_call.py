"""What every gateway does around one call to its vendor: trace it, and name its outcome.

Each vendor call runs in a client span named ``<type> gateway <operation>``; operators and
dashboards read the same attributes from every gateway, so they are spelt here once. The span's
``payments.gateway.outcome`` is ``ok`` or the label of the taxonomy error the call raised (a
decline also says whether it is ``soft`` or ``hard`` in ``payments.gateway.decline``). A
failure of the shared httpx client maps onto the taxonomy the same way for every vendor:
nothing was sent (``NOT_SENT_ERRORS``) is ``GatewayUnavailable``, anything later is
``GatewayOutcomeUnknown``; so is an answer longer than the vendor documents
(``read_answer``), and a page to send the payer to that the contract refuses
(``vendor_redirect``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from typing import Final

import httpx
from opentelemetry.trace import Span, SpanKind, Tracer
from opentelemetry.util.types import AttributeValue

from payments_plugins.errors import (
    GatewayDeclined,
    GatewayError,
    GatewayOutcomeUnknown,
    GatewayUnavailable,
)
from payments_plugins.messages import RedirectAction

ATTR_GATEWAY_TYPE: Final = "payments.gateway.type"
ATTR_OPERATION: Final = "payments.gateway.operation"
ATTR_OUTCOME: Final = "payments.gateway.outcome"
ATTR_DECLINE: Final = "payments.gateway.decline"
"""On a declined call: ``soft`` or ``hard`` (``GatewayDeclined.soft``). Since 2.2."""
ATTR_HTTP_METHOD: Final = "http.request.method"
ATTR_HTTP_STATUS: Final = "http.response.status_code"
ATTR_SERVER_ADDRESS: Final = "server.address"
ATTR_RPC_SYSTEM: Final = "rpc.system"
ATTR_RPC_METHOD: Final = "rpc.method"

OUTCOME_OK: Final = "ok"
OUTCOMES: Final[Mapping[type[GatewayError], str]] = {
    GatewayUnavailable: "unavailable",
    GatewayOutcomeUnknown: "outcome_unknown",
    GatewayDeclined: "declined",
}
"""The outcome label of each taxonomy error; any other gateway error is ``error``."""

NOT_SENT_ERRORS: Final = (
    httpx.ConnectError,
    httpx.ConnectTimeout,
    httpx.PoolTimeout,
    httpx.ProxyError,
    httpx.UnsupportedProtocol,
)
"""Connection-level failures that happen before a single byte of the request is sent."""


def outcome_of(error: GatewayError) -> str:
    """The outcome label of ``error``."""
    for error_type, outcome in OUTCOMES.items():
        if isinstance(error, error_type):
            return outcome
    return "error"


@contextlib.contextmanager
def traced_vendor_call(
    tracer: Tracer,
    gateway_type: str,
    operation: str,
    *,
    http_method: str,
    server_address: str,
    attributes: Mapping[str, AttributeValue] | None = None,
) -> Iterator[Span]:
    """Run one vendor call in its client span, with the attributes every gateway sets.

    The body sets what only it knows (``http.response.status_code``). A taxonomy error leaving
    the body labels the span's outcome and goes on; a body that finishes labels it ``ok``.
    """
    with tracer.start_as_current_span(
        f"{gateway_type} gateway {operation}",
        kind=SpanKind.CLIENT,
        attributes={
            ATTR_GATEWAY_TYPE: gateway_type,
            ATTR_OPERATION: operation,
            ATTR_HTTP_METHOD: http_method,
            ATTR_SERVER_ADDRESS: server_address,
            **(attributes or {}),
        },
    ) as span:
        try:
            yield span
        except GatewayError as error:
            span.set_attribute(ATTR_OUTCOME, outcome_of(error))
            if isinstance(error, GatewayDeclined):
                span.set_attribute(ATTR_DECLINE, "soft" if error.soft else "hard")
            raise
        span.set_attribute(ATTR_OUTCOME, OUTCOME_OK)


class AnswerTooLarge(Exception):
    """The vendor's answer is longer than any answer its API documents."""


async def read_answer(response: httpx.Response, max_bytes: int) -> bytes:
    """The body of a streamed ``response``; stops reading and raises ``AnswerTooLarge``
    past ``max_bytes``, so a runaway answer cannot exhaust the platform's memory."""
    body = bytearray()
    async for chunk in response.aiter_bytes():
        body += chunk
        if len(body) > max_bytes:
            raise AnswerTooLarge(
                f"HTTP {response.status_code} answer is longer than {max_bytes} bytes"
            )
    return bytes(body)


def transport_failure(gateway_type: str, operation: str, error: httpx.HTTPError) -> GatewayError:
    """The taxonomy error an httpx failure of a vendor call means (raise it ``from error``)."""
    if isinstance(error, NOT_SENT_ERRORS):
        return GatewayUnavailable(
            f"{gateway_type} gateway {operation}: request not sent: {described(error)}"
        )
    return GatewayOutcomeUnknown(
        f"{gateway_type} gateway {operation}: no usable answer: {described(error)}"
    )


def described(error: BaseException) -> str:
    """``error``'s type and (the start of) its message, for an error message of ours."""
    text = str(error)
    return f"{type(error).__name__}: {text[:300]}" if text else type(error).__name__


def vendor_redirect(gateway_type: str, operation: str, url: str) -> RedirectAction:
    """A ``RedirectAction`` (a GET) to the page the vendor's answer names, ``url``.

    ``RedirectAction`` refuses, when it is made, what a browser could not follow safely (a
    ``javascript:`` URL, a relative one, credentials, more than 2048 characters); the vendor
    holds the payment by then, so such an answer is no usable answer:
    ``GatewayOutcomeUnknown``, and the platform reconciles the payment. Since 2.0.
    """
    try:
        return RedirectAction(url=url)
    except (TypeError, ValueError) as error:
        raise GatewayOutcomeUnknown(
            f"{gateway_type} gateway {operation}: the vendor's page for the payer is not one a"
            f" payer can be sent to: {error}"
        ) from error
