"""An in-memory stand-in for the SOAP vendor's service, served as a plain ASGI app.

It serves the WSDL (``GET /?wsdl``, with the endpoint address rewritten to where it is
served), answers the vendor's operations at ``POST /`` (checking the caller's UsernameToken),
remembers payments and refunds, is idempotent on the caller's ``reference`` like the vendor,
and posts the vendor's notifications with its own UsernameToken. Under ``/_simulator/`` it
offers the same JSON control endpoints as every simulator of the platform (see
``docs/plugin-authors.md``): misbehave for chosen amounts, go down, move a payment to a final
status, count calls, list what it holds.

Everything happens on the event loop that serves it, so concurrent requests need no lock:
state changes never straddle an ``await``.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Final, Literal, TypeVar, cast, get_args
from urllib.parse import parse_qs

import httpx
import msgspec
from lxml import etree
from payments_plugins import Amount, SimulatorOptions
from payments_plugins.gateway import Receive, Scope, Send

from payments_plugin_soap_gateway.credentials import (
    CredentialsRejected,
    NonceMemory,
    PasswordType,
    UsernameCredentials,
    security_header,
    verify_username_token,
)
from payments_plugin_soap_gateway.service import wsdl_bytes
from payments_plugin_soap_gateway.settings import SoapGatewaySettings
from payments_plugin_soap_gateway.wire import (
    CONTENT_TYPE,
    CURRENCIES,
    NOTIFICATION,
    SOAP_ACTION_PREFIX,
    VENDOR_NS,
    FaultKind,
    MalformedEnvelope,
    authentication_fault_envelope,
    body_element,
    envelope,
    fault_envelope,
    parse_envelope,
    read_fields,
    tag_of,
    vendor_record,
)

logger = logging.getLogger(__name__)

MAX_REQUEST_BYTES: Final = 64 * 1024
DEFAULT_TIMEOUT_SECONDS: Final = 30.0
WEBHOOK_DELIVERY_TIMEOUT: Final = httpx.Timeout(5.0)

SIMULATOR_CREDENTIALS: Final = {
    "username": "simulated-merchant",
    "password": "simulated-merchant-password",
    "webhook_username": "simulated-vendor",
    "webhook_password": "simulated-vendor-password",
}
"""The fixed credentials a simulator and the gateway pointed at it share (they guard no money)."""

WebhookStatus = Literal["paid", "failed", "expired"]

_T = TypeVar("_T")
_WSDL_NSMAP: Final = {
    "wsdl": "http://schemas.xmlsoap.org/wsdl/",
    "soap": "http://schemas.xmlsoap.org/wsdl/soap/",
}


class Behaviour(enum.StrEnum):
    """How the simulator misbehaves for a request whose amount has a behaviour set."""

    ERROR_500 = "error_500"
    """Record the payment or refund, then answer a Server fault (HTTP 500) that does not say
    nothing was processed."""
    UNAVAILABLE_503 = "unavailable_503"
    """Answer HTTP 503 with a Server fault saying nothing was processed; record nothing."""
    TIMEOUT = "timeout"
    """Record, then hold the answer back for the simulator's ``timeout_seconds``."""
    DECLINE = "decline"
    """Answer a Client fault (HTTP 500) with the vendor's decline code; record nothing."""
    GARBAGE = "garbage"
    """Record, then answer HTTP 200 with a body that is not XML."""


Operation = Literal["initiate", "refund", "any"]


class _BehaviourBody(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    amount: str
    operation: Operation
    action: Behaviour


class _StatusBody(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    status: WebhookStatus


_ENCODER: Final = msgspec.json.Encoder()
_BEHAVIOUR_DECODER: Final = msgspec.json.Decoder(_BehaviourBody)
_STATUS_DECODER: Final = msgspec.json.Decoder(_StatusBody)

_GARBAGE_BODY: Final = b"<html><body><h1>Thank you for your payment</h1></body></html>"
_JSON: Final = "application/json"


@dataclass(kw_only=True)
class _Refund:
    id: str
    reference: str
    payment_id: str
    amount: Amount

    def to_json(self) -> dict[str, str]:
        return {
            "id": self.id,
            "reference": self.reference,
            "payment_id": self.payment_id,
            "amount": self.amount.format(),
        }


@dataclass(kw_only=True)
class _Payment:
    id: str
    reference: str
    amount: Amount
    status: str = "initiated"
    refunds: list[_Refund] = field(default_factory=list)

    @property
    def refundable_minor(self) -> int:
        return self.amount.minor - sum(refund.amount.minor for refund in self.refunds)

    def to_json(self) -> dict[str, str]:
        return {
            "id": self.id,
            "reference": self.reference,
            "status": self.status,
            "amount": self.amount.format(),
        }

    def to_full_json(self) -> dict[str, Any]:
        return self.to_json() | {"refunds": [refund.to_json() for refund in self.refunds]}


@dataclass(frozen=True, kw_only=True)
class _Answer:
    status: int
    body: bytes
    content_type: str = CONTENT_TYPE


@dataclass(frozen=True, kw_only=True)
class _Request:
    method: str
    path_params: dict[str, str]
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    receive: Receive
    served_at: str
    """The URL the simulator is reached at, from the request's scheme, host and root path."""


_Handler = Callable[[_Request], Awaitable[_Answer | None]]
_OperationHandler = Callable[[etree._Element, _Request], Awaitable[_Answer | None]]


@dataclass(frozen=True)
class _Route:
    method: str
    segments: tuple[str, ...]
    handler: _Handler

    def match(self, segments: list[str]) -> dict[str, str] | None:
        if len(segments) != len(self.segments):
            return None
        params: dict[str, str] = {}
        for pattern, segment in zip(self.segments, segments, strict=True):
            if pattern.startswith("{"):
                if not segment:
                    return None
                params[pattern[1:-1]] = segment
            elif pattern != segment:
                return None
        return params


class SoapVendorSimulator:
    """The SOAP vendor's service in memory, as an ASGI app.

    ``options.settings`` must be the :class:`SoapGatewaySettings` of the gateway that talks to
    it: calls must carry its ``username``/``password`` (as PasswordText or PasswordDigest), and
    notifications are sent with its ``webhook_username``/``webhook_password`` as a
    PasswordDigest. ``timeout_seconds`` is how long the ``timeout`` behaviour holds an answer
    back (it gives up early when the client disconnects). ``now`` is the clock tokens are made
    and judged by.

    The app handles the ASGI lifespan (closing what it holds at shutdown) but does not need
    it: mounted in an app that does not forward lifespan events, call :meth:`aclose` instead.
    """

    def __init__(
        self,
        options: SimulatorOptions,
        *,
        timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS,
        now: Callable[[], float] = time.time,
    ) -> None:
        settings = options.settings
        if not isinstance(settings, SoapGatewaySettings):
            raise TypeError(f"expected SoapGatewaySettings, got {type(settings).__name__}")
        auto_status = options.auto_webhook_status
        if auto_status is not None and auto_status not in get_args(WebhookStatus):
            raise ValueError(
                f"auto_webhook_status {auto_status!r} must be one of {get_args(WebhookStatus)}"
            )
        if options.auto_webhook_delay < 0:
            raise ValueError("auto_webhook_delay must not be negative")
        if timeout_seconds < 0:
            raise ValueError("timeout_seconds must not be negative")
        self._caller = UsernameCredentials(username=settings.username, password=settings.password)
        self._notifier = UsernameCredentials(
            username=settings.webhook_username, password=settings.webhook_password
        )
        self._tolerance_seconds = settings.webhook_tolerance_seconds
        self._nonces = NonceMemory()
        self._webhook_url = options.webhook_url
        self._auto_status = cast(WebhookStatus | None, auto_status)
        self._auto_delay = options.auto_webhook_delay
        self._payer_pays_at_once = options.payer_pays_at_once
        self._timeout_seconds = timeout_seconds
        self._now = now
        self._payments: dict[str, _Payment] = {}
        self._payments_by_reference: dict[str, _Payment] = {}
        self._refunds_by_reference: dict[str, _Refund] = {}
        self._behaviours: dict[tuple[Amount, Operation], Behaviour] = {}
        self._down = False
        self._calls = {"initiate": 0, "refund": 0, "status": 0}
        self._webhook_tasks: set[asyncio.Task[None]] = set()
        self._client: httpx.AsyncClient | None = None
        self._operations: dict[str, tuple[str, _OperationHandler]] = {
            f"{{{VENDOR_NS}}}InitiatePayment": ("initiate", self._initiate),
            f"{{{VENDOR_NS}}}Refund": ("refund", self._refund),
            f"{{{VENDOR_NS}}}GetPaymentStatus": ("status", self._payment_status),
            f"{{{VENDOR_NS}}}GetRefundStatus": ("status", self._refund_status),
        }
        self._routes = (
            _Route("GET", (), self._root),
            _Route("POST", (), self._soap),
            _Route("GET", ("service.wsdl",), self._wsdl),
            _Route("POST", ("_simulator", "behaviours"), self._add_behaviour),
            _Route("DELETE", ("_simulator", "behaviours"), self._clear_behaviours),
            _Route("POST", ("_simulator", "down"), self._go_down),
            _Route("POST", ("_simulator", "up"), self._come_up),
            _Route("GET", ("_simulator", "calls"), self._call_counts),
            _Route("GET", ("_simulator", "payments"), self._list_payments),
            _Route("POST", ("_simulator", "payments", "{external_id}", "status"), self._set_status),
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one ASGI connection."""
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            raise ValueError(f"the SOAP vendor simulator serves HTTP only, not {scope['type']}")
        try:
            answer = await self._handle(scope, receive)
        except _ClientGoneError:
            return
        if answer is not None:
            await _send_answer(send, answer)

    async def aclose(self) -> None:
        """Cancel pending automatic notifications and close the notification client."""
        tasks = list(self._webhook_tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._client is not None:
            client, self._client = self._client, None
            await client.aclose()

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.aclose()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _handle(self, scope: Scope, receive: Receive) -> _Answer | None:
        path: str = scope["path"]
        root_path: str = scope.get("root_path", "")
        if root_path and path.startswith(root_path):
            path = path[len(root_path) :]
        segments = path.strip("/").split("/") if path.strip("/") else []
        method: str = scope["method"]
        path_matched = False
        for route in self._routes:
            params = route.match(segments)
            if params is None:
                continue
            path_matched = True
            if route.method != method:
                continue
            body = await _read_body(receive)
            if body is None:
                return _json_error(413, "too_large", f"bodies are limited to {MAX_REQUEST_BYTES}")
            request = _Request(
                method=method,
                path_params=params,
                query=parse_qs(scope.get("query_string", b"").decode("latin-1"), True),
                headers={
                    name.decode("latin-1").lower(): value.decode("latin-1")
                    for name, value in scope.get("headers", [])
                },
                body=body,
                receive=receive,
                served_at=_served_at(scope),
            )
            try:
                return await route.handler(request)
            except _RefusalError as refusal:
                return refusal.answer
        if path_matched:
            return _json_error(405, "method_not_allowed", f"{method} is not allowed on {path}")
        return _json_error(404, "not_found", f"no such endpoint: {path}")

    # The service description.

    async def _root(self, request: _Request) -> _Answer:
        if "wsdl" not in {key.lower() for key in request.query}:
            return _json_error(404, "not_found", "GET /?wsdl for the service description")
        return await self._wsdl(request)

    async def _wsdl(self, request: _Request) -> _Answer:
        return _Answer(status=200, body=served_wsdl(request.served_at))

    # The vendor's service.

    async def _soap(self, request: _Request) -> _Answer | None:
        try:
            document = parse_envelope(request.body)
            call = body_element(document)
        except MalformedEnvelope as error:
            return _client_fault("invalid_request", str(error))
        known = self._operations.get(etree.QName(call).text)
        if known is None:
            return _client_fault("unknown_operation", f"no operation {tag_of(call)}")
        kind, handler = known
        self._calls[kind] += 1
        if self._down:
            return _unavailable()
        try:
            verify_username_token(
                document,
                expected=self._caller,
                accepted_types=(PasswordType.DIGEST, PasswordType.TEXT),
                tolerance_seconds=self._tolerance_seconds,
                now=self._now(),
                nonces=self._nonces,
            )
        except CredentialsRejected as error:
            return _Answer(status=500, body=authentication_fault_envelope(str(error)))
        try:
            return await handler(call, request)
        except MalformedEnvelope as error:
            return _client_fault("invalid_request", str(error))

    async def _initiate(self, call: etree._Element, request: _Request) -> _Answer | None:
        fields = read_fields(call, ("amount", "currency", "reference"))
        amount = _payment_amount(fields["amount"], fields["currency"])
        reference = fields["reference"]
        behaviour = self._behaviour_for(amount, "initiate")
        _refuse_for(behaviour, decline_code="payment_declined")
        payment = self._payments_by_reference.get(reference)
        if payment is None:
            payment = _Payment(id=_new_id("soappay"), reference=reference, amount=amount)
            if self._payer_pays_at_once:
                payment.status = "paid"
            self._payments[payment.id] = payment
            self._payments_by_reference[payment.reference] = payment
            self._schedule_auto_webhook(payment.id)
        elif payment.amount != amount:
            raise _RefusalError(
                _client_fault(
                    "reference_conflict",
                    f"reference {reference} was used for {payment.amount.format()}",
                )
            )
        answer = _response("InitiatePaymentResponse", {"externalId": payment.id})
        return await self._misbehave_or(behaviour, request, answer)

    async def _refund(self, call: etree._Element, request: _Request) -> _Answer | None:
        fields = read_fields(call, ("externalId", "amount", "currency", "reference"))
        amount = _payment_amount(fields["amount"], fields["currency"])
        behaviour = self._behaviour_for(amount, "refund")
        _refuse_for(behaviour, decline_code="refund_declined")
        refund = self._refunds_by_reference.get(fields["reference"])
        if refund is None:
            refund = self._record_refund(fields["externalId"], fields["reference"], amount)
        elif refund.payment_id != fields["externalId"] or refund.amount != amount:
            raise _RefusalError(
                _client_fault(
                    "reference_conflict",
                    f"reference {fields['reference']} was used for another refund",
                )
            )
        answer = _response("RefundResponse", {"refundId": refund.id})
        return await self._misbehave_or(behaviour, request, answer)

    def _record_refund(self, external_id: str, reference: str, amount: Amount) -> _Refund:
        payment = self._payments.get(external_id)
        if payment is None:
            raise _RefusalError(_client_fault("payment_not_found", f"no payment {external_id}"))
        if payment.status != "paid":
            raise _RefusalError(
                _client_fault("payment_not_paid", f"payment is {payment.status}, not paid")
            )
        if amount.currency != payment.amount.currency:
            raise _RefusalError(
                _client_fault("currency_mismatch", f"payment is in {payment.amount.currency}")
            )
        if amount.minor > payment.refundable_minor:
            refundable = Amount(payment.refundable_minor, payment.amount.currency).format()
            raise _RefusalError(
                _client_fault("amount_exceeds_refundable", f"at most {refundable} is refundable")
            )
        refund = _Refund(
            id=_new_id("soappayrf"), reference=reference, payment_id=payment.id, amount=amount
        )
        payment.refunds.append(refund)
        self._refunds_by_reference[refund.reference] = refund
        return refund

    async def _payment_status(self, call: etree._Element, request: _Request) -> _Answer:
        fields = read_fields(call, (), ("externalId", "reference"))
        if len(fields) != 1:
            raise MalformedEnvelope("give exactly one of externalId and reference")
        if "externalId" in fields:
            payment = self._payments.get(fields["externalId"])
        else:
            payment = self._payments_by_reference.get(fields["reference"])
        if payment is None:
            looked_up = next(iter(fields.values()))
            return _client_fault("payment_not_found", f"no payment {looked_up}")
        return _response(
            "GetPaymentStatusResponse",
            {
                "externalId": payment.id,
                "reference": payment.reference,
                "status": payment.status,
                "amount": payment.amount.decimal_text(),
                "currency": payment.amount.currency,
            },
        )

    async def _refund_status(self, call: etree._Element, request: _Request) -> _Answer:
        reference = read_fields(call, ("reference",))["reference"]
        refund = self._refunds_by_reference.get(reference)
        if refund is None:
            return _client_fault("refund_not_found", f"no refund {reference}")
        return _response(
            "GetRefundStatusResponse",
            {
                "refundId": refund.id,
                "reference": refund.reference,
                "externalId": refund.payment_id,
                "amount": refund.amount.decimal_text(),
                "currency": refund.amount.currency,
            },
        )

    def _behaviour_for(self, amount: Amount, operation: Operation) -> Behaviour | None:
        return self._behaviours.get((amount, operation)) or self._behaviours.get((amount, "any"))

    async def _misbehave_or(
        self, behaviour: Behaviour | None, request: _Request, answer: _Answer
    ) -> _Answer | None:
        """Answer as a recorded request with ``behaviour`` should, or with ``answer``."""
        if behaviour is Behaviour.ERROR_500:
            return _Answer(
                status=500,
                body=fault_envelope(
                    FaultKind.SERVER,
                    "something went wrong after processing",
                    vendor_code="internal_error",
                    processed=True,
                ),
            )
        if behaviour is Behaviour.GARBAGE:
            return _Answer(status=200, body=_GARBAGE_BODY, content_type="text/html")
        if behaviour is Behaviour.TIMEOUT:
            still_connected = await _hold(request.receive, self._timeout_seconds)
            return answer if still_connected else None
        return answer

    # The control endpoints.

    async def _add_behaviour(self, request: _Request) -> _Answer:
        body = _decode(_BEHAVIOUR_DECODER, request.body)
        try:
            amount = Amount.parse(body.amount)
        except ValueError as error:
            raise _RefusalError(_json_error(400, "invalid_amount", str(error))) from error
        self._behaviours[(amount, body.operation)] = body.action
        return self._behaviour_list()

    async def _clear_behaviours(self, request: _Request) -> _Answer:
        self._behaviours.clear()
        return self._behaviour_list()

    def _behaviour_list(self) -> _Answer:
        listed = [
            {"amount": amount.format(), "operation": operation, "action": action.value}
            for (amount, operation), action in self._behaviours.items()
        ]
        return _json(200, {"behaviours": listed})

    async def _go_down(self, request: _Request) -> _Answer:
        self._down = True
        return _json(200, {"down": True})

    async def _come_up(self, request: _Request) -> _Answer:
        self._down = False
        return _json(200, {"down": False})

    async def _call_counts(self, request: _Request) -> _Answer:
        return _json(200, self._calls)

    async def _list_payments(self, request: _Request) -> _Answer:
        payments = [payment.to_full_json() for payment in self._payments.values()]
        return _json(200, {"payments": payments})

    async def _set_status(self, request: _Request) -> _Answer:
        body = _decode(_STATUS_DECODER, request.body)
        external_id = request.path_params["external_id"]
        payment = self._payments.get(external_id)
        if payment is None:
            return _json_error(404, "payment_not_found", f"no payment {external_id}")
        # Any move is allowed, even out of a final status: tests need to send the
        # contradicting notifications a real vendor might.
        payment.status = body.status
        delivery = await self._deliver_webhook(payment.id, body.status)
        return _json(200, {"payment": payment.to_json(), "webhook": delivery})

    # Notifications.

    def notification(self, external_id: str, status: WebhookStatus) -> bytes:
        """The ``PaymentStatusNotification`` envelope this vendor posts, with a fresh token."""
        return envelope(
            vendor_record(NOTIFICATION.localname, {"externalId": external_id, "status": status}),
            header=[security_header(self._notifier, now=self._now())],
        )

    async def _deliver_webhook(
        self, external_id: str, status: WebhookStatus
    ) -> dict[str, Any] | None:
        """Post the notification for ``status``; describe what was posted and how it was taken."""
        if self._webhook_url is None:
            return None
        body = self.notification(external_id, status)
        headers = {
            "Content-Type": CONTENT_TYPE,
            "SOAPAction": f'"{SOAP_ACTION_PREFIX}{NOTIFICATION.localname}"',
        }
        delivery: dict[str, Any] = {
            "url": self._webhook_url,
            "body": body.decode(),
            "headers": headers,
            "status_code": None,
            "answer": None,
            "error": None,
        }
        try:
            response = await self._webhook_client().post(
                self._webhook_url, content=body, headers=headers
            )
        except httpx.HTTPError as error:
            delivery["error"] = f"{type(error).__name__}: {error}"
        else:
            delivery["status_code"] = response.status_code
            delivery["answer"] = response.text[:4000]
        return delivery

    def _webhook_client(self) -> httpx.AsyncClient:
        # Created on first use, on the loop that serves the app, since lifespan startup may
        # never be forwarded to a mounted app.
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=WEBHOOK_DELIVERY_TIMEOUT)
        return self._client

    def _schedule_auto_webhook(self, external_id: str) -> None:
        if self._auto_status is None or self._webhook_url is None:
            return
        task = asyncio.get_running_loop().create_task(
            self._auto_webhook(external_id, self._auto_status)
        )
        self._webhook_tasks.add(task)
        task.add_done_callback(self._webhook_tasks.discard)

    async def _auto_webhook(self, external_id: str, status: WebhookStatus) -> None:
        await asyncio.sleep(self._auto_delay)
        payment = self._payments.get(external_id)
        # A payment moved by hand in the meantime keeps the status it was given.
        if payment is None or payment.status != "initiated":
            return
        payment.status = status
        try:
            delivery = await self._deliver_webhook(external_id, status)
        except Exception:
            logger.exception("automatic notification for %s could not be posted", external_id)
            return
        if delivery is None:
            return
        if delivery["error"] is not None:
            logger.warning(
                "automatic notification for %s was not delivered: %s",
                external_id,
                delivery["error"],
            )
        elif not 200 <= delivery["status_code"] < 300:
            logger.warning(
                "automatic notification for %s was answered HTTP %s",
                external_id,
                delivery["status_code"],
            )


def build_simulator(options: SimulatorOptions) -> SoapVendorSimulator:
    """Build the vendor simulator the platform serves for the demo profile and tests."""
    return SoapVendorSimulator(options)


def served_wsdl(endpoint: str) -> bytes:
    """The shipped WSDL with the payment service's address set to ``endpoint``."""
    root = etree.fromstring(wsdl_bytes())
    for address in root.iterfind(
        "wsdl:service[@name='PaymentService']/wsdl:port/soap:address", _WSDL_NSMAP
    ):
        address.set("location", endpoint)
    return etree.tostring(root, xml_declaration=True, encoding="utf-8")


def _served_at(scope: Scope) -> str:
    scheme = scope.get("scheme", "http")
    host = next(
        (value.decode("latin-1") for name, value in scope.get("headers", []) if name == b"host"),
        None,
    )
    if not host:
        server = scope.get("server") or ("127.0.0.1", 80)
        host = f"{server[0]}:{server[1]}"
    return f"{scheme}://{host}{_mount_path(scope)}"


def _mount_path(scope: Scope) -> str:
    """The path the app is mounted at: ``root_path``, or what ``raw_path`` has before ``path``.

    Some hosts strip their mount prefix from ``path`` without setting ``root_path`` (Litestar's
    mounts do); the prefix then shows only in the raw path.
    """
    root_path: str = scope.get("root_path", "")
    if root_path:
        return root_path
    raw_path: bytes | None = scope.get("raw_path")
    if not raw_path:
        return ""
    full = raw_path.decode("latin-1").split("?", 1)[0].rstrip("/")
    path = str(scope["path"]).rstrip("/")
    return full[: len(full) - len(path)] if full.endswith(path) else ""


def _new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(12)}"


class _RefusalError(Exception):
    """Raised by a handler to answer with ``answer``, recording nothing more."""

    def __init__(self, answer: _Answer) -> None:
        super().__init__(answer.status)
        self.answer = answer


class _ClientGoneError(Exception):
    """The client disconnected before its request was complete."""


def _response(name: str, fields: dict[str, str]) -> _Answer:
    return _Answer(status=200, body=envelope(vendor_record(name, fields)))


def _client_fault(code: str, message: str) -> _Answer:
    return _Answer(status=500, body=fault_envelope(FaultKind.CLIENT, message, vendor_code=code))


def _unavailable() -> _Answer:
    return _Answer(
        status=503,
        body=fault_envelope(
            FaultKind.SERVER,
            "the service is unavailable; nothing was processed",
            vendor_code="unavailable",
            processed=False,
        ),
    )


def _refuse_for(behaviour: Behaviour | None, *, decline_code: str) -> None:
    """Refuse, recording nothing, when ``behaviour`` says to."""
    if behaviour is Behaviour.UNAVAILABLE_503:
        raise _RefusalError(_unavailable())
    if behaviour is Behaviour.DECLINE:
        raise _RefusalError(_client_fault(decline_code, "declined by the issuer"))


def _payment_amount(amount_text: str, currency: str) -> Amount:
    try:
        amount = Amount.parse(f"{amount_text} {currency}")
    except ValueError as error:
        raise _RefusalError(_client_fault("invalid_amount", str(error))) from error
    if amount.currency not in CURRENCIES:
        raise _RefusalError(
            _client_fault(
                "unsupported_currency", f"only {', '.join(sorted(CURRENCIES))} are accepted"
            )
        )
    if amount.minor == 0:
        raise _RefusalError(_client_fault("invalid_amount", "the amount must be more than zero"))
    return amount


def _decode(decoder: msgspec.json.Decoder[_T], body: bytes) -> _T:
    try:
        return decoder.decode(body)
    except msgspec.DecodeError as error:
        raise _RefusalError(_json_error(400, "invalid_request", str(error))) from error


def _json(status: int, content: object) -> _Answer:
    return _Answer(status=status, body=_ENCODER.encode(content), content_type=_JSON)


def _json_error(status: int, code: str, message: str) -> _Answer:
    return _json(status, {"error": {"code": code, "message": message}})


async def _read_body(receive: Receive) -> bytes | None:
    """The whole request body, or None when it is longer than ``MAX_REQUEST_BYTES``."""
    body = bytearray()
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise _ClientGoneError
        body += message.get("body", b"")
        if len(body) > MAX_REQUEST_BYTES:
            return None
        if not message.get("more_body", False):
            return bytes(body)


async def _hold(receive: Receive, seconds: float) -> bool:
    """Wait ``seconds`` unless the client goes away first; tell whether it is still there."""
    try:
        async with asyncio.timeout(seconds):
            while (await receive())["type"] != "http.disconnect":
                pass
    except TimeoutError:
        return True
    return False


async def _send_answer(send: Send, answer: _Answer) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": answer.status,
            "headers": [
                (b"content-type", answer.content_type.encode()),
                (b"content-length", str(len(answer.body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": answer.body})
