"""An in-memory stand-in for the JSON vendor's API, served as a plain ASGI app.

It speaks the vendor's wire format (see the package README), remembers payments and refunds,
is idempotent on the caller's ``reference`` like the vendor, and can be told over HTTP, under
``/_simulator/``, to misbehave for chosen amounts, to go down, and to move a payment to a final
status, posting the vendor's (signed) webhook. Everything happens on the event loop that serves
it, so concurrent requests need no lock: state changes never straddle an ``await``.
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
from payments_plugins import Amount, SimulatorOptions
from payments_plugins.gateway import Receive, Scope, Send

from payments_plugin_json_gateway.settings import JsonGatewaySettings
from payments_plugin_json_gateway.signing import signed_headers
from payments_plugin_json_gateway.wire import InitiateBody, RefundBody, WebhookBody, WebhookStatus

logger = logging.getLogger(__name__)

CURRENCY: Final = "AED"
"""The only currency the vendor takes."""
MAX_REQUEST_BYTES: Final = 64 * 1024
DEFAULT_TIMEOUT_SECONDS: Final = 30.0
WEBHOOK_DELIVERY_TIMEOUT: Final = httpx.Timeout(5.0)

_T = TypeVar("_T")


class Behaviour(enum.StrEnum):
    """How the simulator misbehaves for a request whose amount has a behaviour set."""

    ERROR_500 = "error_500"
    """Record the payment or refund, then answer 500."""
    UNAVAILABLE_503 = "unavailable_503"
    """Answer 503 and record nothing."""
    TIMEOUT = "timeout"
    """Record, then hold the answer back for the simulator's ``timeout_seconds``."""
    DECLINE = "decline"
    """Answer 402 with the vendor's error body and record nothing."""
    GARBAGE = "garbage"
    """Record, then answer 201 with a body that is not JSON."""


Operation = Literal["initiate", "refund", "any"]


class _BehaviourBody(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    amount: str
    operation: Operation
    action: Behaviour


class _StatusBody(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    status: WebhookStatus


_ENCODER: Final = msgspec.json.Encoder()
_INITIATE_DECODER: Final = msgspec.json.Decoder(InitiateBody)
_REFUND_DECODER: Final = msgspec.json.Decoder(RefundBody)
_BEHAVIOUR_DECODER: Final = msgspec.json.Decoder(_BehaviourBody)
_STATUS_DECODER: Final = msgspec.json.Decoder(_StatusBody)

_GARBAGE_BODY: Final = b"<html><body><h1>Thank you for your payment</h1></body></html>"


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
    content_type: str = "application/json"


@dataclass(frozen=True, kw_only=True)
class _Request:
    method: str
    path_params: dict[str, str]
    query: dict[str, list[str]]
    body: bytes
    receive: Receive


_Handler = Callable[[_Request], Awaitable[_Answer | None]]


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


class JsonVendorSimulator:
    """The JSON vendor's API in memory, as an ASGI app.

    ``options.settings`` must be the :class:`JsonGatewaySettings` of the gateway that talks to
    it: webhooks are signed with its ``webhook_secret`` when it has one. ``timeout_seconds`` is
    how long the ``timeout`` behaviour holds an answer back (it gives up early when the client
    disconnects). ``now`` is the clock webhook timestamps are taken from.

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
        if not isinstance(options.settings, JsonGatewaySettings):
            raise TypeError(f"expected JsonGatewaySettings, got {type(options.settings).__name__}")
        auto_status = options.auto_webhook_status
        if auto_status is not None and auto_status not in get_args(WebhookStatus):
            raise ValueError(
                f"auto_webhook_status {auto_status!r} must be one of {get_args(WebhookStatus)}"
            )
        if options.auto_webhook_delay < 0:
            raise ValueError("auto_webhook_delay must not be negative")
        if timeout_seconds < 0:
            raise ValueError("timeout_seconds must not be negative")
        self._webhook_url = options.webhook_url
        self._webhook_secret = options.settings.webhook_secret
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
        self._routes = (
            _Route("POST", ("initiate-payment",), self._initiate),
            _Route("POST", ("refunds",), self._refund),
            _Route("GET", ("refunds",), self._refund_by_reference),
            _Route("GET", ("payments",), self._payment_by_reference),
            _Route("GET", ("payments", "{external_id}"), self._payment_by_id),
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
            raise ValueError(f"the JSON vendor simulator serves HTTP only, not {scope['type']}")
        try:
            answer = await self._handle(scope, receive)
        except _ClientGoneError:
            return
        if answer is not None:
            await _send_answer(send, answer)

    async def aclose(self) -> None:
        """Cancel pending automatic webhooks and close the webhook client."""
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
                return _error(413, "too_large", f"bodies are limited to {MAX_REQUEST_BYTES}")
            query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
            request = _Request(
                method=method, path_params=params, query=query, body=body, receive=receive
            )
            try:
                return await route.handler(request)
            except _RefusalError as refusal:
                return refusal.answer
        if path_matched:
            return _error(405, "method_not_allowed", f"{method} is not allowed on {path}")
        return _error(404, "not_found", f"no such endpoint: {path}")

    # The vendor's API.

    async def _initiate(self, request: _Request) -> _Answer | None:
        self._calls["initiate"] += 1
        self._refuse_when_down()
        body = _decode(_INITIATE_DECODER, request.body)
        amount = _payment_amount(body.amount)
        behaviour = self._behaviour_for(amount, "initiate")
        _refuse_for(behaviour, decline_code="payment_declined")
        payment = self._payments_by_reference.get(body.reference)
        if payment is None:
            payment = _Payment(id=_new_id("jsonpay"), reference=body.reference, amount=amount)
            if self._payer_pays_at_once:
                payment.status = "paid"
            self._payments[payment.id] = payment
            self._payments_by_reference[payment.reference] = payment
            self._schedule_auto_webhook(payment.id)
            status = 201
        elif payment.amount != amount:
            raise _RefusalError(
                409,
                "reference_conflict",
                f"reference {body.reference} was used for {payment.amount.format()}",
            )
        else:
            status = 200
        return await self._misbehave_or(behaviour, request, _json(status, {"id": payment.id}))

    async def _refund(self, request: _Request) -> _Answer | None:
        self._calls["refund"] += 1
        self._refuse_when_down()
        body = _decode(_REFUND_DECODER, request.body)
        amount = _payment_amount(body.amount)
        behaviour = self._behaviour_for(amount, "refund")
        _refuse_for(behaviour, decline_code="refund_declined")
        refund = self._refunds_by_reference.get(body.reference)
        if refund is None:
            refund = self._record_refund(body, amount)
            status = 201
        elif refund.payment_id != body.payment_id or refund.amount != amount:
            raise _RefusalError(
                409, "reference_conflict", f"reference {body.reference} was used for another refund"
            )
        else:
            status = 200
        return await self._misbehave_or(behaviour, request, _json(status, {"id": refund.id}))

    def _record_refund(self, body: RefundBody, amount: Amount) -> _Refund:
        payment = self._payments.get(body.payment_id)
        if payment is None:
            raise _RefusalError(404, "payment_not_found", f"no payment {body.payment_id}")
        if payment.status != "paid":
            raise _RefusalError(422, "payment_not_paid", f"payment is {payment.status}, not paid")
        if amount.currency != payment.amount.currency:
            raise _RefusalError(
                422, "currency_mismatch", f"payment is in {payment.amount.currency}"
            )
        if amount.minor > payment.refundable_minor:
            refundable = Amount(payment.refundable_minor, payment.amount.currency).format()
            raise _RefusalError(
                422, "amount_exceeds_refundable", f"at most {refundable} is refundable"
            )
        refund = _Refund(
            id=_new_id("jsonpayrf"), reference=body.reference, payment_id=payment.id, amount=amount
        )
        payment.refunds.append(refund)
        self._refunds_by_reference[refund.reference] = refund
        return refund

    async def _payment_by_id(self, request: _Request) -> _Answer:
        self._calls["status"] += 1
        self._refuse_when_down()
        external_id = request.path_params["external_id"]
        return self._payment_answer(self._payments.get(external_id), external_id)

    async def _payment_by_reference(self, request: _Request) -> _Answer:
        self._calls["status"] += 1
        self._refuse_when_down()
        references = request.query.get("reference", [])
        if len(references) != 1 or not references[0]:
            raise _RefusalError(400, "invalid_request", "give exactly one reference parameter")
        reference = references[0]
        return self._payment_answer(self._payments_by_reference.get(reference), reference)

    async def _refund_by_reference(self, request: _Request) -> _Answer:
        self._calls["status"] += 1
        self._refuse_when_down()
        references = request.query.get("reference", [])
        if len(references) != 1 or not references[0]:
            raise _RefusalError(400, "invalid_request", "give exactly one reference parameter")
        refund = self._refunds_by_reference.get(references[0])
        if refund is None:
            raise _RefusalError(404, "refund_not_found", f"no refund {references[0]}")
        return _json(200, refund.to_json())

    def _payment_answer(self, payment: _Payment | None, looked_up: str) -> _Answer:
        if payment is None:
            raise _RefusalError(404, "payment_not_found", f"no payment {looked_up}")
        return _json(200, payment.to_json())

    def _refuse_when_down(self) -> None:
        if self._down:
            raise _RefusalError(*_UNAVAILABLE)

    def _behaviour_for(self, amount: Amount, operation: Operation) -> Behaviour | None:
        return self._behaviours.get((amount, operation)) or self._behaviours.get((amount, "any"))

    async def _misbehave_or(
        self, behaviour: Behaviour | None, request: _Request, answer: _Answer
    ) -> _Answer | None:
        """Answer as a recorded request with ``behaviour`` should, or with ``answer``."""
        if behaviour is Behaviour.ERROR_500:
            return _error(500, "internal_error", "something went wrong after processing")
        if behaviour is Behaviour.GARBAGE:
            return _Answer(status=201, body=_GARBAGE_BODY, content_type="text/html")
        if behaviour is Behaviour.TIMEOUT:
            still_connected = await _hold(request.receive, self._timeout_seconds)
            return answer if still_connected else None
        return answer

    # The control endpoints.

    async def _add_behaviour(self, request: _Request) -> _Answer:
        body = _decode(_BEHAVIOUR_DECODER, request.body)
        amount = _payment_amount(body.amount)
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
            raise _RefusalError(404, "payment_not_found", f"no payment {external_id}")
        # Any move is allowed, even out of a final status: tests need to send the
        # contradicting webhooks a real vendor might.
        payment.status = body.status
        delivery = await self._deliver_webhook(payment.id, body.status)
        return _json(200, {"payment": payment.to_json(), "webhook": delivery})

    # Webhooks.

    async def _deliver_webhook(
        self, external_id: str, status: WebhookStatus
    ) -> dict[str, Any] | None:
        """Post the webhook for ``status``; describe what was posted and how it was received."""
        if self._webhook_url is None:
            return None
        payload = WebhookBody(external_id=external_id, status=status)
        body = _ENCODER.encode(payload)
        headers = {"Content-Type": "application/json"}
        if self._webhook_secret is not None:
            headers |= signed_headers(self._webhook_secret, body, timestamp=int(self._now()))
        delivery: dict[str, Any] = {
            "url": self._webhook_url,
            "body": msgspec.to_builtins(payload),
            "headers": headers,
            "status_code": None,
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
            logger.exception("automatic webhook for %s could not be posted", external_id)
            return
        if delivery is None:
            return
        if delivery["error"] is not None:
            logger.warning(
                "automatic webhook for %s was not delivered: %s", external_id, delivery["error"]
            )
        elif not 200 <= delivery["status_code"] < 300:
            logger.warning(
                "automatic webhook for %s was answered HTTP %s",
                external_id,
                delivery["status_code"],
            )


def build_simulator(options: SimulatorOptions) -> JsonVendorSimulator:
    """Build the vendor simulator the platform serves for the demo profile and tests."""
    return JsonVendorSimulator(options)


def _new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(12)}"


class _RefusalError(Exception):
    """Raised by a handler to answer with the vendor's error body."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.answer = _error(status, code, message)


class _ClientGoneError(Exception):
    """The client disconnected before its request was complete."""


_UNAVAILABLE: Final = (503, "unavailable", "the service is unavailable; nothing was processed")


def _refuse_for(behaviour: Behaviour | None, *, decline_code: str) -> None:
    """Refuse, recording nothing, when ``behaviour`` says to."""
    if behaviour is Behaviour.UNAVAILABLE_503:
        raise _RefusalError(*_UNAVAILABLE)
    if behaviour is Behaviour.DECLINE:
        raise _RefusalError(402, decline_code, "declined by the issuer")


def _decode(decoder: msgspec.json.Decoder[_T], body: bytes) -> _T:
    try:
        return decoder.decode(body)
    except msgspec.DecodeError as error:
        raise _RefusalError(400, "invalid_request", str(error)) from error


def _payment_amount(text: str) -> Amount:
    try:
        amount = Amount.parse(text)
    except ValueError as error:
        raise _RefusalError(400, "invalid_amount", str(error)) from error
    if amount.currency != CURRENCY:
        raise _RefusalError(422, "unsupported_currency", f"only {CURRENCY} is accepted")
    if amount.minor == 0:
        raise _RefusalError(400, "invalid_amount", "the amount must be more than zero")
    return amount


def _json(status: int, content: object) -> _Answer:
    return _Answer(status=status, body=_ENCODER.encode(content))


def _error(status: int, code: str, message: str) -> _Answer:
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
