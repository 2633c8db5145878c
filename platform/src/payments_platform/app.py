"""The Litestar application: thin controllers over the use cases, errors as problem+json."""

from __future__ import annotations

import asyncio
import logging
import re
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, cast

import msgspec
from litestar import Litestar, Request, Response, get, post
from litestar.datastructures import State
from litestar.exceptions import HTTPException, ValidationException
from litestar.handlers import ASGIRouteHandler, asgi
from litestar.openapi import OpenAPIConfig, ResponseSpec
from litestar.openapi.plugins import SwaggerRenderPlugin
from litestar.params import FromPath, JSONBody
from litestar.plugins.problem_details import ProblemDetailsException, ProblemDetailsPlugin
from litestar.types import Receive, Scope, Send
from payments_plugins import Amount, ASGIApp, WebhookAck, WebhookReply
from payments_plugins.money import is_currency

from payments_platform import errors
from payments_platform.api import (
    Health,
    InitPaymentBody,
    PaymentDetail,
    PaymentView,
    Problem,
    RefundAnswer,
    RefundBody,
    RefundView,
    WebhookAnswer,
)
from payments_platform.lifecycle import PaymentStatus
from payments_platform.runtime import Runtime
from payments_platform.usecases import NO_GATEWAY_AVAILABLE, Payments

logger = logging.getLogger(__name__)

PROBLEM_MEDIA_TYPE = "application/problem+json"

STATUS_OF_CODE: dict[str, int] = {
    "malformed-json": 400,
    "invalid-request": 422,
    "unknown-currency": 422,
    "currency-not-supported": 422,
    "idempotency-key-reused": 409,
    "payment-in-progress": 409,
    "payment-not-found": 404,
    "no-gateway-available": 503,
    "payment-declined": 402,
    "transition-not-allowed": 409,
    "invalid-webhook": 400,
    "payment-not-refundable": 409,
    "refund-exceeds-balance": 409,
    "refund-id-reused": 409,
    "refund-declined": 402,
    "gateway-unavailable": 503,
}
"""The HTTP status of every problem code a use case can raise (documented in docs/api.md)."""

CODE_OF_STATUS: dict[int, str] = {
    400: "bad-request",
    401: "unauthorized",
    403: "forbidden",
    404: "not-found",
    405: "method-not-allowed",
    413: "body-too-large",
    415: "unsupported-media-type",
    429: "too-many-requests",
    500: "internal-error",
    503: "service-unavailable",
}
"""Codes of the errors the framework itself raises (unknown route, wrong method, ...)."""

_PROBLEM_MEMBERS = frozenset({"type", "title", "status", "detail", "code", "instance", "field"})
_FIELD_PATH = re.compile(r"at `\$\.([^`]+)`")
_FIELD_NAMED = re.compile(r"field `([^`]+)`")


def _problem(
    request: Request[Any, Any, Any],
    *,
    status: int,
    code: str,
    title: str,
    detail: str,
    field: str | None = None,
    headers: dict[str, str] | None = None,
    extra: dict[str, Any] | None = None,
) -> Response[Any]:
    body: dict[str, Any] = {
        key: value for key, value in (extra or {}).items() if key not in _PROBLEM_MEMBERS
    }
    body.update(code=code, instance=request.url.path)
    if field:
        body["field"] = field
    return ProblemDetailsException(
        status_code=status,
        title=title,
        detail=detail,
        type_=f"urn:payments:problem:{code}",
        headers=headers,
        extra=msgspec.to_builtins(body),
    ).to_response(request)


def _on_payment_problem(
    request: Request[Any, Any, Any], error: errors.PaymentProblem
) -> Response[Any]:
    headers = {"Retry-After": str(error.retry_after)} if error.retry_after else None
    return _problem(
        request,
        status=STATUS_OF_CODE.get(error.code, 400),
        code=error.code,
        title=error.title,
        detail=error.detail,
        field=error.field,
        headers=headers,
        extra=error.extra,
    )


def _on_http_exception(request: Request[Any, Any, Any], error: HTTPException) -> Response[Any]:
    if isinstance(error, ValidationException):
        # The framework's own validation: path parameters and anything strict decoding let by.
        first = error.extra[0] if isinstance(error.extra, list) and error.extra else {}
        key = first.get("key") if isinstance(first, dict) else None
        message = first.get("message") if isinstance(first, dict) else None
        return _problem(
            request,
            status=422 if key else 400,
            code="invalid-request" if key else "bad-request",
            title="The request is not valid",
            detail=f"{message} - at `{key}`" if key and message else str(error.detail),
            field=key,
        )
    status = error.status_code
    code = CODE_OF_STATUS.get(status, f"http-{status}")
    detail = str(error.detail)
    if status == 413:
        detail = "the request body is larger than this server accepts"
    return _problem(
        request,
        status=status,
        code=code,
        title=detail,
        detail=detail,
        headers=dict(error.headers or {}),
    )


def _on_unexpected(request: Request[Any, Any, Any], error: Exception) -> Response[Any]:
    logger.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=error)
    return _problem(
        request,
        status=500,
        code="internal-error",
        title="Internal error",
        detail="the server failed to handle the request; it has been logged",
    )


def strict_body(
    body_type: type[msgspec.Struct],
) -> Callable[[Request[Any, Any, Any]], Awaitable[None]]:
    """A before-request hook decoding the body strictly: no coercion, no unknown fields.

    The framework's own decoding (which documents the body in the OpenAPI schema) coerces
    ``"100"`` into ``100``; a payments API must not.
    """
    decoder = msgspec.json.Decoder(body_type)

    async def check(request: Request[Any, Any, Any]) -> None:
        raw = await request.body()
        try:
            decoder.decode(raw)
        except msgspec.ValidationError as error:
            message = str(error)
            match = _FIELD_PATH.search(message) or _FIELD_NAMED.search(message)
            raise errors.InvalidRequest(message, field=match[1] if match else None) from None
        except msgspec.DecodeError as error:
            detail = "the request body is empty" if not raw.strip() else f"{error}"
            raise MalformedJson(detail) from None

    return check


class MalformedJson(errors.PaymentProblem):
    """The body is not JSON."""

    code = "malformed-json"
    title = "The request body is not valid JSON"


def _payments(state: State) -> Payments:
    runtime: Runtime = state.runtime
    return runtime.payments


def _responses(*codes: str) -> dict[int, ResponseSpec]:
    specs: dict[int, ResponseSpec] = {}
    for code in codes:
        status = STATUS_OF_CODE[code]
        spec = specs.get(status)
        description = f"{spec.description}, {code}" if spec else f"problem: {code}"
        specs[status] = ResponseSpec(
            data_container=Problem, media_type=PROBLEM_MEDIA_TYPE, description=description
        )
    return specs


@post(
    "/init-payment",
    operation_id="initPayment",
    tags=["payments"],
    summary="Start a payment",
    description=(
        "The client's `id` is the idempotency key: the same id and body again answers 200 with"
        " the stored payment and calls no gateway; the same id with another body is a 409."
        " 201: a gateway accepted it. 202: sent, outcome unknown, reconciliation settles it."
    ),
    status_code=201,
    before_request=strict_body(InitPaymentBody),
    responses={
        200: ResponseSpec(PaymentView, description="Replay of an earlier identical request"),
        202: ResponseSpec(
            PaymentView,
            description="Queued for a worker (pending), or sent with no usable answer (unknown)",
        ),
        400: ResponseSpec(Problem, media_type=PROBLEM_MEDIA_TYPE, description="malformed-json"),
        **_responses(
            "invalid-request",
            "unknown-currency",
            "currency-not-supported",
            "idempotency-key-reused",
            "payment-in-progress",
            "payment-declined",
            "no-gateway-available",
        ),
    },
)
async def init_payment(data: JSONBody[InitPaymentBody], state: State) -> Response[PaymentView]:
    """Start a payment through the routing chain."""
    if not is_currency(data.currency):
        raise errors.UnknownCurrency(
            f"{data.currency!r} is not an ISO 4217 currency code", field="currency"
        )
    outcome = await _payments(state).initiate(data.id, Amount(data.amount_fractions, data.currency))
    payment = outcome.payment
    view = PaymentView.of(payment)
    if payment.status is PaymentStatus.REJECTED:
        extra = {"payment": view}
        if payment.failure_code == NO_GATEWAY_AVAILABLE:
            raise errors.NoGatewayAvailable(
                "no gateway could take the payment now; retry with the same id",
                retry_after=5,
                extra=extra,
            )
        raise errors.PaymentDeclined(
            f"the gateway declined the payment ({payment.failure_code})", extra=extra
        )
    if payment.status in (PaymentStatus.UNKNOWN, PaymentStatus.PENDING):
        status = 202
    else:
        status = 201 if outcome.created else 200
    return Response(view, status_code=status)


@post(
    "/refund",
    operation_id="refundPayment",
    tags=["payments"],
    summary="Refund a payment",
    description=(
        "Refunds `amount_fractions` (default: all that is left) through the gateway that took"
        " the payment. `refund_id` is the idempotency key: repeating it never pays out twice."
    ),
    status_code=200,
    before_request=strict_body(RefundBody),
    responses={
        202: ResponseSpec(
            RefundAnswer,
            description="Queued for a worker (pending), or sent with no usable answer (unknown)",
        ),
        400: ResponseSpec(Problem, media_type=PROBLEM_MEDIA_TYPE, description="malformed-json"),
        **_responses(
            "invalid-request",
            "payment-not-found",
            "payment-not-refundable",
            "refund-exceeds-balance",
            "refund-id-reused",
            "refund-declined",
            "gateway-unavailable",
        ),
    },
)
async def refund(data: JSONBody[RefundBody], state: State) -> Response[RefundAnswer]:
    """Refund (part of) a paid payment."""
    outcome = await _payments(state).refund(
        data.id, amount_minor=data.amount_fractions, refund_id=data.refund_id
    )
    answer = RefundAnswer(
        ok=outcome.refund.status == "succeeded",
        refund=RefundView.of(outcome.refund, outcome.payment.currency),
        payment=PaymentView.of(outcome.payment),
    )
    status = 200 if outcome.refund.status == "succeeded" else 202
    return Response(answer, status_code=status)


@post(
    "/external/{hook:str}",
    operation_id="receiveWebhook",
    tags=["webhooks"],
    summary="Receive a gateway vendor's notification",
    description=(
        "`hook` is `<gateway>-webhook`, where `<gateway>` is an enabled gateway's name or a"
        " gateway type (e.g. `json-webhook`). The body is the vendor's own format."
    ),
    status_code=200,
    responses={
        200: ResponseSpec(WebhookAnswer, description="Applied, or an exact repeat"),
        **_responses("invalid-webhook", "payment-not-found", "transition-not-allowed"),
    },
)
async def webhook(
    hook: FromPath[str], request: Request[Any, Any, Any], state: State
) -> Response[Any]:
    """Apply a vendor's notification to the payment it is about.

    A gateway type with its own ``webhook_reply`` (SOAP, say) answers its vendor in the vendor's
    format, refusals included; the others get JSON, or problem+json for a refusal.
    """
    payments = _payments(state)
    name = hook.removesuffix("-webhook")
    if name == hook:
        raise HTTPException(status_code=404, detail=f"no webhook route {request.url.path}")
    live = payments.gateways.get(name)
    receivers = [live] if live is not None else payments.gateways_of_type(name)
    if not receivers:
        raise HTTPException(status_code=404, detail=f"no enabled gateway named {name!r}")
    reply = receivers[0].webhook_reply
    try:
        outcome = await payments.apply_webhook(receivers, request.headers, await request.body())
    except errors.PaymentProblem as problem:
        if reply is None:
            raise
        ack = WebhookAck(
            accepted=False,
            status_code=STATUS_OF_CODE.get(problem.code, 400),
            code=problem.code,
            detail=problem.detail,
        )
        return _vendor_reply(reply(ack))
    answer = WebhookAnswer(
        ok=True,
        changed=outcome.changed,
        payment_id=outcome.payment.id,
        status=outcome.payment.status,
    )
    if reply is None:
        return Response(answer)
    ack = WebhookAck(
        accepted=True,
        status_code=200,
        code="ok",
        detail=f"payment {answer.payment_id} is {answer.status}",
        changed=answer.changed,
    )
    return _vendor_reply(reply(ack))


def _vendor_reply(reply: WebhookReply) -> Response[bytes]:
    # Set as a header: as a media type, Litestar would append its own charset to text/* types.
    return Response(
        reply.body,
        status_code=reply.status_code,
        media_type=reply.content_type,
        headers={"Content-Type": reply.content_type},
    )


@get(
    "/payments/{payment_id:uuid}",
    operation_id="getPayment",
    tags=["payments"],
    summary="A payment with its attempts, refunds and events",
    responses=_responses("payment-not-found"),
)
async def get_payment(payment_id: FromPath[uuid.UUID], state: State) -> PaymentDetail:
    """Read a payment and its history."""
    return PaymentDetail.of(await _payments(state).history(payment_id))


@get("/health", operation_id="health", tags=["operations"], summary="Liveness")
async def health() -> Health:
    """The process is up."""
    return Health(status="ok")


@get(
    "/ready",
    operation_id="ready",
    tags=["operations"],
    summary="Readiness: the database answers and gateways are built",
    responses={503: ResponseSpec(Health, description="Not ready")},
)
async def ready(state: State) -> Response[Health]:
    """Whether this process can serve payments."""
    runtime: Runtime = state.runtime
    checks: dict[str, str] = {}
    try:
        await runtime.database.ping()
        checks["database"] = "ok"
    except Exception as error:
        checks["database"] = f"unreachable: {type(error).__name__}"
    checks["gateways"] = (
        f"{len(runtime.payments.gateways)} built" if runtime.payments.gateways else "none enabled"
    )
    ok = checks["database"] == "ok" and bool(runtime.payments.gateways)
    return Response(
        Health(status="ready" if ok else "not ready", checks=checks),
        status_code=200 if ok else 503,
    )


def _mount(path: str, app: ASGIApp) -> ASGIRouteHandler:
    @asgi(path, is_mount=True, include_in_schema=False)
    async def mounted(scope: Scope, receive: Receive, send: Send) -> None:
        # Litestar strips the mount path from `path`; ASGI says it then belongs in root_path,
        # where the mounted app finds the URL it is served at.
        inner = {**scope, "root_path": scope.get("root_path", "") + path}
        await app(cast("Any", inner), cast("Any", receive), cast("Any", send))

    return mounted


def create_app(runtime: Runtime) -> Litestar:
    """Build the application around a runtime; its lifespan closes the runtime.

    The database schema must be current already (``payments migrate``, or the CLI does it).
    """
    settings = runtime.settings

    @asynccontextmanager
    async def lifespan(_app: Litestar) -> AsyncIterator[None]:
        worker = runtime.worker() if settings.worker.enabled else None
        task = asyncio.create_task(worker.run_forever()) if worker else None
        try:
            yield
        finally:
            if worker is not None and task is not None:
                # Requests in flight have finished by now; let started jobs end, release the rest.
                worker.stop()
                try:
                    await asyncio.wait_for(task, settings.worker.shutdown_grace_seconds)
                except TimeoutError:
                    logger.warning("worker did not stop in time; its leases will expire")
            await runtime.aclose()

    mounts = [_mount(path, app) for path, app in runtime.simulators.items()]
    return Litestar(
        route_handlers=[init_payment, refund, webhook, get_payment, health, ready, *mounts],
        state=State({"runtime": runtime}),
        lifespan=[lifespan],
        plugins=[ProblemDetailsPlugin()],
        exception_handlers={
            errors.PaymentProblem: _on_payment_problem,
            HTTPException: _on_http_exception,
            Exception: _on_unexpected,
        },
        request_max_body_size=settings.server.max_body_bytes,
        openapi_config=OpenAPIConfig(
            title="Payments platform",
            version="0.1.0",
            description="Start payments, follow them through gateway webhooks, refund them.",
            path="/schema",
            render_plugins=[SwaggerRenderPlugin()],
        ),
        debug=False,
    )
