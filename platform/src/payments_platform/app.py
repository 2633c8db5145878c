"""The Litestar application: thin controllers over the use cases, errors as problem+json."""

from __future__ import annotations

import asyncio
import logging
import re
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Annotated, Any, cast

import msgspec
from litestar import Litestar, Request, Response, Router, get, post
from litestar.connection import ASGIConnection
from litestar.datastructures import State
from litestar.di import NamedDependency, Provide
from litestar.exceptions import HTTPException, ValidationException
from litestar.handlers import ASGIRouteHandler, BaseRouteHandler, asgi
from litestar.openapi import OpenAPIConfig, ResponseSpec
from litestar.openapi.plugins import SwaggerRenderPlugin
from litestar.openapi.spec import (
    Components,
    OpenAPIMediaType,
    OpenAPIResponse,
    Reference,
    Schema,
    SecurityScheme,
)
from litestar.params import FromPath, JSONBody, PathParameter
from litestar.plugins.opentelemetry import OpenTelemetryConfig, OpenTelemetryPlugin
from litestar.plugins.problem_details import ProblemDetailsException, ProblemDetailsPlugin
from litestar.plugins.prometheus import PrometheusConfig
from litestar.types import Receive, Scope, Send
from payments_plugins import MAX_MINOR_UNITS, Amount, ASGIApp, WebhookAck, WebhookReply
from payments_plugins.money import is_currency
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest

from payments_platform import errors, jobs
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
from payments_platform.telemetry import BREAKER_STATE, BREAKER_VALUES, JOBS
from payments_platform.usecases import NO_GATEWAY_AVAILABLE, Payments

logger = logging.getLogger(__name__)

PROBLEM_MEDIA_TYPE = "application/problem+json"

STATUS_OF_CODE: dict[str, int] = {
    "malformed-json": 400,
    "unauthorized": 401,
    "invalid-request": 422,
    "unknown-currency": 422,
    "currency-not-supported": 422,
    "idempotency-key-reused": 409,
    "payment-in-progress": 409,
    "payment-not-found": 404,
    "no-gateway-available": 503,
    "database-unavailable": 503,
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
    headers = {"Retry-After": str(error.retry_after)} if error.retry_after else {}
    if isinstance(error, errors.Unauthorized):
        headers["WWW-Authenticate"] = 'Bearer realm="payments"'
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
    """A before-request hook checking the body strictly: no coercion, no unknown fields.

    The framework's own decoding (which documents the body in the OpenAPI schema) coerces
    ``"100"`` into ``100``; a payments API must not. JSON itself does not tell ``100.0`` from
    ``100``, so a number with no fractional part is an integer (as JSON Schema has it) and
    ``100.5`` is refused.
    """

    decoder = msgspec.json.Decoder(body_type)

    async def check(request: Request[Any, Any, Any]) -> None:
        raw = await request.body()
        try:
            try:
                decoder.decode(raw)
            except msgspec.ValidationError as error:
                if "got `float`" not in str(error):
                    raise
            else:
                return
            # Only a float where an integer belongs failed, so the document is flat and
            # small: decode it untyped and accept whole numbers written as 100.0.
            document = msgspec.json.decode(raw)
            if isinstance(document, dict):
                document = {key: _integral(value) for key, value in document.items()}
            msgspec.convert(document, body_type, strict=True)
        except msgspec.ValidationError as error:
            message = str(error)
            match = _FIELD_PATH.search(message) or _FIELD_NAMED.search(message)
            raise errors.InvalidRequest(message, field=match[1] if match else None) from None
        except (msgspec.DecodeError, UnicodeDecodeError, RecursionError) as error:
            detail = "the request body is empty" if not raw.strip() else _malformed(error)
            raise MalformedJson(detail) from None

    return check


def _malformed(error: Exception) -> str:
    if isinstance(error, UnicodeDecodeError):
        return f"the request body is not UTF-8 (byte {error.start})"
    if isinstance(error, RecursionError):
        return "the request body is nested too deeply"
    return str(error)


def _integral(value: object) -> object:
    # Exact: every integer up to MAX_MINOR_UNITS (10**15) is a float without rounding.
    if isinstance(value, float) and value.is_integer() and abs(value) <= MAX_MINOR_UNITS:
        return int(value)
    return value


class MalformedJson(errors.PaymentProblem):
    """The body is not JSON."""

    code = "malformed-json"
    title = "The request body is not valid JSON"


def require_client_key(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    """Guard of the client routes: find the merchant whose API key the request carries.

    Runs before the body is read, so a caller without a key learns nothing about the API.
    """
    runtime: Runtime = connection.app.state.runtime
    if runtime.keyring is None:
        connection.state.merchant = None
        return
    merchant = runtime.keyring.merchant_for(connection.headers.get("authorization"))
    if merchant is None:
        raise errors.Unauthorized(
            "send `Authorization: Bearer <API key>` with a key this service knows"
        )
    connection.state.merchant = merchant


def client_merchant(request: Request[Any, Any, Any]) -> str | None:
    """The merchant the guard found; None while the client API is open."""
    merchant: str | None = request.state.merchant
    return merchant


def _payments(state: State) -> Payments:
    runtime: Runtime = state.runtime
    return runtime.payments


def _responses(*codes: str) -> dict[int, ResponseSpec]:
    specs: dict[int, ResponseSpec] = {}
    # Every route documented with these reads or records through the database.
    for code in (*codes, "database-unavailable"):
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
async def init_payment(
    data: JSONBody[InitPaymentBody], state: State, merchant: NamedDependency[str | None]
) -> Response[PaymentView]:
    """Start a payment through the routing chain."""
    if not is_currency(data.currency):
        raise errors.UnknownCurrency(
            f"{data.currency!r} is not an ISO 4217 currency code", field="currency"
        )
    amount = Amount(data.amount_fractions, data.currency)
    outcome = await _payments(state).initiate(data.id, amount, merchant=merchant)
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
async def refund(
    data: JSONBody[RefundBody], state: State, merchant: NamedDependency[str | None]
) -> Response[RefundAnswer]:
    """Refund (part of) a paid payment."""
    outcome = await _payments(state).refund(
        data.id, amount_minor=data.amount_fractions, refund_id=data.refund_id, merchant=merchant
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
    "/payments/{payment_id:str}",
    operation_id="getPayment",
    tags=["payments"],
    summary="A payment with its attempts, refunds and events",
    responses=_responses("invalid-request", "payment-not-found"),
)
async def get_payment(
    payment_id: Annotated[str, PathParameter(format="uuid", description="The payment's id")],
    state: State,
    merchant: NamedDependency[str | None],
) -> PaymentDetail:
    """Read a payment and its history."""
    # Taken as text so that a malformed id is answered "not a UUID", not "no such route".
    try:
        parsed = uuid.UUID(payment_id)
    except ValueError:
        raise errors.InvalidRequest(
            f"the payment id {payment_id[:64]!r} is not a UUID", field="id"
        ) from None
    return PaymentDetail.of(await _payments(state).history(parsed, merchant=merchant))


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
        checks["database"] = f"unreachable: {type(error.__cause__ or error).__name__}"
    checks["gateways"] = (
        f"{len(runtime.payments.gateways)} built" if runtime.payments.gateways else "none enabled"
    )
    ok = checks["database"] == "ok" and bool(runtime.payments.gateways)
    return Response(
        Health(status="ready" if ok else "not ready", checks=checks),
        status_code=200 if ok else 503,
    )


@get(
    "/metrics",
    operation_id="metrics",
    tags=["operations"],
    summary="Prometheus metrics",
    media_type="text/plain; version=0.0.4; charset=utf-8",
)
async def metrics(state: State) -> Response[bytes]:
    """HTTP, payment, gateway-call, breaker and job metrics in the Prometheus text format."""
    runtime: Runtime = state.runtime
    for route in runtime.payments.routing.routes:
        BREAKER_STATE.labels(route.name).set(BREAKER_VALUES[route.breaker.state])
    counts = await runtime.database.read(jobs.count_open)
    JOBS.clear()
    for (kind, status), count in counts.items():
        JOBS.labels(kind, status).set(count)
    return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)


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
    protected = runtime.keyring is not None
    client_routes = Router(
        path="/",
        route_handlers=[init_payment, refund, get_payment],
        guards=[require_client_key],
        dependencies={"merchant": Provide(client_merchant, sync_to_thread=False)},
        # Documented only when it is enforced: an open demo says so.
        security=[{"BearerAuth": []}] if protected else None,
    )
    app = Litestar(
        route_handlers=[
            client_routes,
            webhook,
            health,
            ready,
            metrics,
            *mounts,
        ],
        state=State({"runtime": runtime}),
        lifespan=[lifespan],
        plugins=[
            ProblemDetailsPlugin(),
            OpenTelemetryPlugin(OpenTelemetryConfig()),
        ],
        middleware=[
            PrometheusConfig(
                app_name="payments", prefix="payments_http", group_path=True, exclude=["/metrics"]
            ).middleware
        ],
        exception_handlers={
            errors.PaymentProblem: _on_payment_problem,
            HTTPException: _on_http_exception,
            Exception: _on_unexpected,
        },
        request_max_body_size=settings.server.max_body_bytes,
        # Logging is configured by the process (payments_platform.logs), not by the framework.
        logging_config=None,
        openapi_config=OpenAPIConfig(
            title="Payments platform",
            version="0.1.0",
            description="Start payments, follow them through gateway webhooks, refund them.",
            path="/schema",
            render_plugins=[SwaggerRenderPlugin()],
            components=Components(
                security_schemes={
                    "BearerAuth": SecurityScheme(
                        type="http",
                        scheme="bearer",
                        description="An API key from `payments keys new`, per merchant",
                    )
                }
                if protected
                else None
            ),
        ),
        debug=False,
    )
    currencies = sorted({c for route in runtime.payments.routing.routes for c in route.currencies})
    _document_strictness(app, protected=protected, currencies=currencies)
    return app


STRICT_BODIES = (InitPaymentBody, RefundBody)


def _document_strictness(app: Litestar, *, protected: bool, currencies: list[str]) -> None:
    """Say in the OpenAPI document what this deployment enforces.

    Request bodies take no properties beyond the documented ones, a payment's currency is one
    an enabled gateway takes, and client routes answer 401 when the API needs keys.
    """
    document = app.openapi_schema
    schemas = (document.components.schemas if document.components else None) or {}
    for body in STRICT_BODIES:
        component = schemas.get(body.__name__)
        if isinstance(component, Schema):
            component.additional_properties = False
    init_body = schemas.get(InitPaymentBody.__name__)
    if isinstance(init_body, Schema) and init_body.properties:
        currency = init_body.properties.get("currency")
        if isinstance(currency, Schema):
            currency.enum = list(currencies)
    if not protected or document.paths is None:
        return
    unauthorized = OpenAPIResponse(
        description="unauthorized: no valid API key",
        content={
            PROBLEM_MEDIA_TYPE: OpenAPIMediaType(schema=Reference("#/components/schemas/Problem"))
        },
    )
    for item in document.paths.values():
        for operation in (item.get, item.post):
            if operation is not None and operation.security:
                operation.responses = {**(operation.responses or {}), "401": unauthorized}
