"""The base of a vendor simulator: the standard control surface, the vendor's books and its
hosted payment page.

``VendorSimulator`` is an ASGI app that keeps what every simulated vendor keeps (payments,
refunds and captures, idempotent on the caller's reference, with each payment's return URL and
description; authorizations, voids and their expiry; behaviours per amount; call counts; down
mode), serves the control endpoints
under ``/_simulator/`` that the conformance kit drives (the protocol is documented in
``payments_plugins.testing.control``), serves the payer's payment page at ``/pay/{id}``, and
posts notifications. A subclass supplies what is the vendor's own: its API routes, its error
format (``VendorSimulator.error_answer``), its notification (``VendorSimulator.notification``)
and, if it has any, the steps its payer passes after Pay (``VendorSimulator.payer_steps``).

Everything happens on the event loop that serves the app, so concurrent requests need no lock:
state changes never straddle an ``await``.
"""

from __future__ import annotations

import abc
import asyncio
import contextvars
import logging
import re
import secrets
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Annotated, Any, ClassVar, Final, Literal, TypedDict, TypeVar, cast, get_args
from urllib.parse import parse_qs, quote, unquote_plus, urlsplit, urlunsplit

import httpx
import msgspec

from payments_plugins.gateway import Receive, Scope, Send, SimulatorOptions
from payments_plugins.messages import MAX_URL_LENGTH
from payments_plugins.money import Amount
from payments_plugins.simulation.asgi import (
    JSON,
    MAX_REQUEST_BYTES,
    Answer,
    ClientGone,
    Request,
    Route,
    hold,
    json_answer,
    json_error,
    mount_path,
    path_below_root,
    read_body,
    send_answer,
    served_at,
)
from payments_plugins.simulation.payment_page import (
    CHECKOUT,
    PageView,
    PayerStep,
    StepOutcome,
    StepVerdict,
    message_page,
    payment_page,
)
from payments_plugins.simulation.records import (
    CallKind,
    CaptureModeText,
    Misbehaviour,
    Notification,
    NotifiedStatus,
    Operation,
    SimulatedCapture,
    SimulatedPayment,
    SimulatedRefund,
)

DEFAULT_TIMEOUT_SECONDS: Final = 30.0
WEBHOOK_DELIVERY_TIMEOUT: Final = httpx.Timeout(5.0)
GARBAGE_BODY: Final = b"<html><body><h1>Thank you for your payment</h1></body></html>"
"""What the ``garbage`` misbehaviour answers: a page no vendor API documents."""
MAX_DESCRIPTION_LENGTH: Final = 1000
"""The longest description a simulated vendor takes (what the platform takes)."""
PAGE_PATH: Final = "pay"
"""The payment page of a payment is at ``<where the simulator is served>/pay/<its id>``."""
FORM: Final = "application/x-www-form-urlencoded"
AUTHORIZATION_LIFETIME_SECONDS: Final = 7 * 24 * 3600.0
"""How long a simulated vendor holds an authorization before it lapses (seven days), unless
``POST /_simulator/payments/{id}/expire-authorization`` makes it lapse sooner."""
_RETURN_HOST: Final = re.compile(r"[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\]")
_URL_CHARACTERS: Final = re.compile(r"[\x21-\x7e]+")

_T = TypeVar("_T")


class SimulatorTiming(TypedDict, total=False):
    """The keyword arguments of ``VendorSimulator`` a subclass takes and passes on."""

    timeout_seconds: float
    """How long the ``timeout`` behaviour holds an answer back, and the ``slow`` one a call
    given no ``seconds`` (default 30 seconds)."""
    now: Callable[[], float]
    """The clock notifications are made with (default ``time.time``)."""


class Refusal(Exception):
    """Raised by a handler to refuse the request, recording nothing more.

    ``status`` is the HTTP status a REST API would answer, ``code`` the vendor's error code.
    On the vendor's routes the refusal is answered in the vendor's format
    (``VendorSimulator.error_answer``); on the control endpoints, with ``json_error``.
    """

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


_UNAVAILABLE: Final = (503, "unavailable", "the service is unavailable; nothing was processed")

_HELD: Final = contextvars.ContextVar("held", default=False)
"""Set while a call the ``slow`` behaviour held is processed: it is not held, nor counted,
again."""


class _HoldFirst(Exception):
    """A call to hold before the vendor processes it (the ``slow`` behaviour)."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"hold {seconds} s")
        self.seconds = seconds


class _BehaviourBody(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    amount: str
    operation: Operation
    action: Misbehaviour
    seconds: Annotated[float, msgspec.Meta(ge=0, le=3600)] | None = None


class _StatusBody(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    status: NotifiedStatus


_BEHAVIOUR_DECODER: Final = msgspec.json.Decoder(_BehaviourBody)
_STATUS_DECODER: Final = msgspec.json.Decoder(_StatusBody)


def decoded(decoder: msgspec.json.Decoder[_T], body: bytes) -> _T:
    """``body`` decoded, or a 400 ``invalid_request`` refusal saying what is wrong with it."""
    try:
        return decoder.decode(body)
    except msgspec.DecodeError as error:
        raise Refusal(400, "invalid_request", str(error)) from error


class VendorSimulator(abc.ABC):
    """A simulated vendor, as an ASGI app: ``routes`` (the vendor's API) plus the control
    endpoints under ``/_simulator/``.

    A subclass sets ``currencies`` and ``id_prefix``, implements ``error_answer``
    and ``notification``, and passes its routes (and the ``SimulatorTiming`` it was
    given) to ``__init__``. Its handlers count each call with ``take_call``, check amounts
    with ``accepted_amount``, look behaviours up with ``behaviour_for``, keep the books
    with ``take_payment``, ``take_refund`` and the lookups, and answer through
    ``misbehave_or``; they refuse by raising ``Refusal``.

    ``timeout_seconds`` is how long the ``timeout`` behaviour holds an answer back (it gives up
    early when the client disconnects); ``now`` is the clock notifications are made with.

    The app handles the ASGI lifespan (closing what it holds at shutdown) but does not need
    it: mounted in an app that does not forward lifespan events, call ``aclose`` instead.
    """

    currencies: ClassVar[frozenset[str]]
    """The ISO 4217 codes the vendor takes: those its gateway type declares."""
    id_prefix: ClassVar[str]
    """Payment ids are ``<id_prefix>_<hex>``, refund ids ``<id_prefix>rf_<hex>``."""
    created_status: ClassVar[int] = 200
    """The HTTP status of the vendor's answer to a new payment or refund; the ``garbage``
    behaviour answers with it."""
    vendor_name: ClassVar[str] = "Simulated vendor"
    """What the payment page calls the vendor."""
    partial_capture: ClassVar[bool] = True
    """Whether a capture may take less than is authorized (``Capabilities.partial_capture``);
    without it, a capture of another amount than the authorized one is refused. Since 2.1."""
    multiple_captures: ClassVar[bool] = True
    """Whether several captures may be made of one authorization
    (``Capabilities.multiple_captures``); without it, every capture is final. Since 2.1."""
    soft_decline_code: ClassVar[str] = "try_again_later"
    """The vendor's code of a soft decline, which the ``soft_decline`` behaviour answers (402,
    like a decline); the gateway is to raise ``GatewayDeclined(..., soft=True)`` for it. Since
    2.2."""

    def __init__(
        self,
        options: SimulatorOptions[Any],
        routes: Sequence[Route],
        *,
        timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS,
        now: Callable[[], float] = time.time,
    ) -> None:
        auto_status = options.auto_webhook_status
        if auto_status is not None and auto_status not in get_args(NotifiedStatus):
            raise ValueError(
                f"auto_webhook_status {auto_status!r} must be one of {get_args(NotifiedStatus)}"
            )
        if options.auto_webhook_delay < 0:
            raise ValueError("auto_webhook_delay must not be negative")
        if timeout_seconds < 0:
            raise ValueError("timeout_seconds must not be negative")
        self._webhook_url = options.webhook_url
        self._auto_status = cast(NotifiedStatus | None, auto_status)
        self._auto_delay = options.auto_webhook_delay
        self._payer_pays_at_once = options.payer_pays_at_once
        self._timeout_seconds = timeout_seconds
        self._now = now
        # Named after the subclass's module, so a vendor's simulator logs under its own name.
        self._logger = logging.getLogger(type(self).__module__)
        self._payments: dict[str, SimulatedPayment] = {}
        self._payments_by_reference: dict[str, SimulatedPayment] = {}
        self._refunds_by_reference: dict[str, SimulatedRefund] = {}
        self._captures_by_reference: dict[str, SimulatedCapture] = {}
        self._behaviours: dict[tuple[Amount, Operation], Misbehaviour] = {}
        self._hold_seconds: dict[tuple[Amount, Operation], float] = {}
        self._down = False
        self._calls: dict[CallKind, int] = {
            "initiate": 0,
            "refund": 0,
            "status": 0,
            "cancel": 0,
            "capture": 0,
            "void": 0,
        }
        self._webhook_tasks: set[asyncio.Task[None]] = set()
        self._client: httpx.AsyncClient | None = None
        control = (
            Route("POST", "_simulator/behaviours", self._add_behaviour),
            Route("DELETE", "_simulator/behaviours", self._clear_behaviours),
            Route("POST", "_simulator/down", self._go_down),
            Route("POST", "_simulator/up", self._come_up),
            Route("GET", "_simulator/calls", self._call_counts),
            Route("GET", "_simulator/payments", self._list_payments),
            Route("POST", "_simulator/payments/{external_id}/status", self._set_status),
            Route(
                "POST",
                "_simulator/payments/{external_id}/expire-authorization",
                self._expire_authorization,
            ),
        )
        page = (
            Route("GET", f"{PAGE_PATH}/{{external_id}}", self._show_page),
            Route("POST", f"{PAGE_PATH}/{{external_id}}", self._act_on_page),
        )
        # Each route with how its refusals are answered.
        self._routes: tuple[tuple[Route, Callable[[int, str, str], Answer]], ...] = (
            *((route, self.error_answer) for route in routes),
            *((route, json_error) for route in control),
            *((route, _page_refusal) for route in page),
        )

    # What a subclass supplies.

    @abc.abstractmethod
    def error_answer(self, status: int, code: str, message: str) -> Answer:
        """The vendor's error answer for what a REST API would answer with ``status``.

        A 4xx is a refusal that changed nothing; 503 means nothing was processed; any other
        5xx does not say what was done. Used for a ``Refusal`` raised on the vendor's
        routes, for down mode and for the behaviours.
        """

    @abc.abstractmethod
    def notification(self, external_id: str, status: NotifiedStatus) -> Notification:
        """The notification the vendor posts when a payment moves to ``status``, made (signed,
        authenticated) with the gateway settings' webhook credentials."""

    def payer_steps(self, payment: SimulatedPayment) -> Sequence[PayerStep]:
        """The pages the payer passes, in order, after pressing Pay on ``payment``'s page and
        before the vendor takes the money (a 3-D Secure challenge, say). None by default: Pay
        pays at once."""
        return ()

    def judge_step(
        self, payment: SimulatedPayment, step: PayerStep, answers: Mapping[str, str]
    ) -> StepVerdict:
        """What the payer's ``answers`` (the form's fields) to ``step`` make of ``payment``: on,
        the same step again, or a failed payment. Every step passes by default."""
        return StepVerdict(StepOutcome.PASSED)

    # The ASGI app.

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one ASGI connection."""
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            raise ValueError(f"{type(self).__name__} serves HTTP only, not {scope['type']}")
        try:
            answer = await self._handle(scope, receive)
        except ClientGone:
            return
        if answer is not None:
            await send_answer(send, answer)

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

    async def _handle(self, scope: Scope, receive: Receive) -> Answer | None:
        path = path_below_root(scope)
        segments = path.strip("/").split("/") if path.strip("/") else []
        method: str = scope["method"]
        path_matched = False
        for route, refused in self._routes:
            params = route.match(segments)
            if params is None:
                continue
            path_matched = True
            if route.method != method:
                continue
            body = await read_body(receive)
            if body is None:
                return json_error(413, "too_large", f"bodies are limited to {MAX_REQUEST_BYTES}")
            request = Request(
                method=method,
                path_params=params,
                query=parse_qs(scope.get("query_string", b"").decode("latin-1"), True),
                body=body,
                scope=scope,
                receive=receive,
            )
            try:
                return await route.handler(request)
            except _HoldFirst as held:
                return await self._after_hold(route, request, refused, held.seconds)
            except Refusal as refusal:
                return refused(refusal.status, refusal.code, refusal.message)
        if path_matched:
            return json_error(405, "method_not_allowed", f"{method} is not allowed on {path}")
        return json_error(404, "not_found", f"no such endpoint: {path}")

    async def _after_hold(
        self,
        route: Route,
        request: Request,
        refused: Callable[[int, str, str], Answer],
        seconds: float,
    ) -> Answer | None:
        """Run a held call's handler again once ``seconds`` have passed, as if it had just
        reached the front of the vendor's queue; the caller may have left meanwhile."""
        await asyncio.sleep(seconds)
        token = _HELD.set(True)
        try:
            return await route.handler(request)
        except Refusal as refusal:
            return refused(refusal.status, refusal.code, refusal.message)
        finally:
            _HELD.reset(token)

    # For the vendor's handlers.

    def take_call(self, kind: CallKind) -> None:
        """Count a vendor call; refuse it, processing nothing, while the vendor is down."""
        if not _HELD.get():
            self._calls[kind] += 1
        if self._down:
            raise Refusal(*_UNAVAILABLE)

    def accepted_amount(self, text: str) -> Amount:
        """``text`` (``"13.00 AED"``) as an amount the vendor takes, or a refusal."""
        try:
            amount = Amount.parse(text)
        except ValueError as error:
            raise Refusal(400, "invalid_amount", str(error)) from error
        if amount.currency not in self.currencies:
            listed = ", ".join(sorted(self.currencies))
            verb = "is" if len(self.currencies) == 1 else "are"
            raise Refusal(422, "unsupported_currency", f"only {listed} {verb} accepted")
        if amount.minor == 0:
            raise Refusal(400, "invalid_amount", "the amount must be more than zero")
        return amount

    def behaviour_for(
        self,
        amount: Amount,
        operation: Literal["initiate", "refund", "capture", "void"],
        *,
        decline_code: str,
    ) -> Misbehaviour | None:
        """The behaviour set for a call; refuses at once, recording nothing, when it says to
        (``decline`` with ``decline_code``, ``soft_decline`` with ``soft_decline_code``).

        What it returns acts after the call is recorded: pass it to ``misbehave_or``. A call
        the ``slow`` behaviour holds leaves the handler here and runs it again, from the top,
        once the hold is over: call this before recording anything.
        """
        key: tuple[Amount, Operation] = (amount, operation)
        behaviour = self._behaviours.get(key)
        if behaviour is None:
            key = (amount, "any")
            behaviour = self._behaviours.get(key)
        if behaviour is Misbehaviour.SLOW:
            if not _HELD.get():
                raise _HoldFirst(self._hold_seconds.get(key, self._timeout_seconds))
            return None
        if behaviour is Misbehaviour.UNAVAILABLE:
            raise Refusal(*_UNAVAILABLE)
        if behaviour is Misbehaviour.DECLINE:
            raise Refusal(402, decline_code, "declined by the issuer")
        if behaviour is Misbehaviour.SOFT_DECLINE:
            raise Refusal(
                402, self.soft_decline_code, "the issuer cannot be reached now; try again later"
            )
        return behaviour

    async def misbehave_or(
        self, behaviour: Misbehaviour | None, request: Request, answer: Answer
    ) -> Answer | None:
        """Answer as a recorded call with ``behaviour`` should, or with ``answer``."""
        if behaviour is Misbehaviour.ERROR_AFTER_PROCESSING:
            return self.error_answer(500, "internal_error", "something went wrong after processing")
        if behaviour is Misbehaviour.GARBAGE:
            return Answer(status=self.created_status, body=GARBAGE_BODY, content_type="text/html")
        if behaviour is Misbehaviour.TIMEOUT:
            still_connected = await hold(request.receive, self._timeout_seconds)
            return answer if still_connected else None
        return answer

    def take_payment(
        self,
        reference: str,
        amount: Amount,
        *,
        return_url: str | None = None,
        description: str | None = None,
        capture: CaptureModeText = "automatic",
    ) -> tuple[SimulatedPayment, bool]:
        """The payment made under ``reference``, and whether it is new.

        ``capture`` is ``"manual"`` for a payment the merchant captures later (since 2.1): the
        payer's Pay then authorizes it (``authorized``), and ``take_capture`` captures it.

        ``return_url`` (where the payment page sends the payer back) and ``description`` (what
        the page shows the payer) are kept as the vendor's API received them; a return URL
        that is not an absolute http(s) URL of at most 2048 printable ASCII characters, with a
        plain host and no credentials, is refused (400 ``invalid_return_url``), and so is a
        description over 1000 characters (400 ``invalid_description``). A repeat with the same
        amount is the same payment, keeping what the first call gave; with another amount, a
        409 ``reference_conflict``.
        """
        if return_url is not None:
            problem = return_url_problem(return_url)
            if problem is not None:
                raise Refusal(400, "invalid_return_url", f"return_url {problem}")
        if description is not None and len(description) > MAX_DESCRIPTION_LENGTH:
            raise Refusal(
                400,
                "invalid_description",
                f"a description has at most {MAX_DESCRIPTION_LENGTH} characters",
            )
        payment = self._payments_by_reference.get(reference)
        if payment is None:
            payment = SimulatedPayment(
                id=self._new_id(""),
                reference=reference,
                amount=amount,
                return_url=return_url,
                description=description,
                capture=capture,
            )
            if self._payer_pays_at_once:
                self._complete(payment)
            self._payments[payment.id] = payment
            self._payments_by_reference[payment.reference] = payment
            self._schedule_auto_webhook(payment.id)
            return payment, True
        if payment.amount != amount:
            raise Refusal(
                409,
                "reference_conflict",
                f"reference {reference} was used for {payment.amount.format()}",
            )
        return payment, False

    def take_refund(
        self, external_id: str, reference: str, amount: Amount
    ) -> tuple[SimulatedRefund, bool]:
        """The refund of payment ``external_id`` made under ``reference``, and whether it is new.

        Only a paid payment is refunded, in its currency, never beyond what is left; a repeat
        for the same payment and amount is the same refund, anything else a 409.
        """
        refund = self._refunds_by_reference.get(reference)
        if refund is None:
            return self._record_refund(external_id, reference, amount), True
        if refund.payment_id != external_id or refund.amount != amount:
            raise Refusal(
                409, "reference_conflict", f"reference {reference} was used for another refund"
            )
        return refund, False

    def take_capture(
        self, external_id: str, reference: str, amount: Amount, *, final: bool
    ) -> tuple[SimulatedCapture, bool]:
        """The capture of payment ``external_id`` made under ``reference``, and whether it is
        new. Since 2.1.

        Only an authorization the vendor still holds is captured, in its currency, never beyond
        what is left: a payment not authorized is refused (422 ``payment_not_authorized``), one
        voided (409 ``payment_voided``), captured in full or finally (409
        ``payment_already_captured``) or whose authorization lapsed (422
        ``authorization_expired``); more than is left, 422 ``amount_exceeds_authorized``; less
        than authorized without ``partial_capture``, 422 ``partial_capture_not_supported``.
        ``final`` (and every capture without ``multiple_captures``) releases the rest, and the
        payment is ``paid``. A repeat for the same payment and amount is the same capture,
        anything else a 409 ``reference_conflict``.
        """
        capture = self._captures_by_reference.get(reference)
        if capture is not None:
            if capture.payment_id != external_id or capture.amount != amount:
                raise Refusal(
                    409, "reference_conflict", f"reference {reference} was used for another capture"
                )
            return capture, False
        payment = self.payment(external_id)
        self._check_authorization_held(payment)
        if amount.currency != payment.amount.currency:
            raise Refusal(422, "currency_mismatch", f"payment is in {payment.amount.currency}")
        left = Amount(payment.capturable_minor, payment.amount.currency)
        if amount.minor > left.minor:
            raise Refusal(
                422, "amount_exceeds_authorized", f"at most {left.format()} is left to capture"
            )
        if not self.partial_capture and amount.minor != payment.amount.minor:
            raise Refusal(
                422,
                "partial_capture_not_supported",
                f"this vendor captures all of an authorization: {payment.amount.format()}",
            )
        capture = SimulatedCapture(
            id=self._new_id("cp"),
            reference=reference,
            payment_id=payment.id,
            amount=amount,
            final=final or not self.multiple_captures or amount.minor == left.minor,
        )
        payment.captures.append(capture)
        self._captures_by_reference[reference] = capture
        if capture.final:
            payment.status = "paid"
        return capture, True

    def capture_with_reference(self, reference: str) -> SimulatedCapture:
        """The capture made under ``reference``, or a 404 ``capture_not_found``. Since 2.1."""
        capture = self._captures_by_reference.get(reference)
        if capture is None:
            raise Refusal(404, "capture_not_found", f"no capture {reference}")
        return capture

    def void_payment(self, external_id: str) -> SimulatedPayment:
        """Release the authorization of payment ``external_id``, so that nothing is captured
        under it. Since 2.1.

        An authorization nothing was captured of is voided; one voided before stays so (the
        same answer); one captured of is refused (409 ``payment_already_captured``), one that
        lapsed (422 ``authorization_expired``), a payment not authorized (422
        ``payment_not_authorized``). No notification is posted: the caller has the answer.
        """
        payment = self.payment(external_id)
        if payment.status == "voided":
            return payment
        self._check_authorization_held(payment)
        if payment.captures:
            raise Refusal(
                409,
                "payment_already_captured",
                f"{Amount(payment.captured_minor, payment.amount.currency).format()} was"
                " captured: refund it instead",
            )
        payment.status = "voided"
        return payment

    def _check_authorization_held(self, payment: SimulatedPayment) -> None:
        """Refuse, saying why, unless the vendor holds ``payment``'s authorization."""
        if payment.authorization_expired or (
            payment.status == "authorized"
            and payment.authorization_expires_at is not None
            and self._now() >= payment.authorization_expires_at
        ):
            payment.authorization_expired = True
            payment.status = "expired"
            raise Refusal(422, "authorization_expired", "the authorization lapsed")
        if payment.status == "voided":
            raise Refusal(409, "payment_voided", "the authorization was released")
        if payment.manual and payment.status == "paid":
            raise Refusal(409, "payment_already_captured", "nothing is left to capture")
        if payment.status != "authorized":
            raise Refusal(
                422,
                "payment_not_authorized",
                f"payment is {payment.status}: only an authorized payment taken with manual"
                " capture is captured or voided",
            )

    def cancel_payment(self, external_id: str) -> SimulatedPayment:
        """Cancel payment ``external_id``, so that its payer can no longer pay it.

        A payment waiting for its payer is cancelled; one cancelled before stays so (the same
        answer); one the payer paid, or that failed or expired, is refused with a 409 whose
        code says why (``payment_already_paid``, ``payment_already_failed``,
        ``payment_already_expired``). No notification is posted: the caller has the answer.
        """
        payment = self.payment(external_id)
        if payment.status not in ("initiated", "cancelled"):
            raise Refusal(
                409,
                f"payment_already_{payment.status}",
                f"payment is {payment.status}: only a payment waiting for its payer is cancelled",
            )
        payment.status = "cancelled"
        payment.payer_step = None
        return payment

    def page_url(self, request: Request, payment: SimulatedPayment) -> str:
        """The URL of ``payment``'s page, on the simulator as the caller of ``request`` (the
        vendor API's call that created it) reached it: scheme, ``Host`` and mount path."""
        return f"{served_at(request.scope)}/{PAGE_PATH}/{quote(payment.id, safe='')}"

    def payment(self, external_id: str) -> SimulatedPayment:
        """The payment with the vendor's id ``external_id``, or a 404 ``payment_not_found``."""
        return self._found_payment(self._payments.get(external_id), external_id)

    def payment_with_reference(self, reference: str) -> SimulatedPayment:
        """The payment made under ``reference``, or a 404 ``payment_not_found``."""
        return self._found_payment(self._payments_by_reference.get(reference), reference)

    def refund_with_reference(self, reference: str) -> SimulatedRefund:
        """The refund made under ``reference``, or a 404 ``refund_not_found``."""
        refund = self._refunds_by_reference.get(reference)
        if refund is None:
            raise Refusal(404, "refund_not_found", f"no refund {reference}")
        return refund

    def _found_payment(self, payment: SimulatedPayment | None, looked_up: str) -> SimulatedPayment:
        if payment is None:
            raise Refusal(404, "payment_not_found", f"no payment {looked_up}")
        return payment

    def _record_refund(self, external_id: str, reference: str, amount: Amount) -> SimulatedRefund:
        payment = self.payment(external_id)
        if payment.status != "paid" and not (payment.manual and payment.captures):
            raise Refusal(422, "payment_not_paid", f"payment is {payment.status}, not paid")
        if amount.currency != payment.amount.currency:
            raise Refusal(422, "currency_mismatch", f"payment is in {payment.amount.currency}")
        if amount.minor > payment.refundable_minor:
            refundable = Amount(payment.refundable_minor, payment.amount.currency).format()
            raise Refusal(422, "amount_exceeds_refundable", f"at most {refundable} is refundable")
        refund = SimulatedRefund(
            id=self._new_id("rf"), reference=reference, payment_id=payment.id, amount=amount
        )
        payment.refunds.append(refund)
        self._refunds_by_reference[refund.reference] = refund
        return refund

    def _new_id(self, kind: str) -> str:
        return f"{self.id_prefix}{kind}_{secrets.token_hex(12)}"

    # The payment page.

    async def _show_page(self, request: Request) -> Answer:
        payment = self.payment(request.path_params["external_id"])
        notice, payment.payer_notice = payment.payer_notice, None
        return payment_page(self._page_view(payment, notice))

    async def _act_on_page(self, request: Request) -> Answer:
        """What the payer pressed: ``action`` ``pay`` (go on) or ``decline`` (give up), on the
        page of ``step``. Every answer but a refusal is a 303: back to the page for the next
        step, or on to the return URL (the page itself without one) once the payment is over.
        """
        payment = self.payment(request.path_params["external_id"])
        form = _form_fields(request)
        action = form.get("action")
        if action not in ("pay", "decline"):
            raise Refusal(400, "invalid_request", "press Pay or Decline")
        if payment.status != "initiated":
            if (action, payment.status) in (
                ("pay", "paid"),
                ("pay", "authorized"),
                ("decline", "failed"),
            ):
                # A second press (a double click, the browser's back button): nothing more.
                return self._send_payer_on(request, payment)
            notice = f"This payment is {payment.status}: it can no longer be paid."
            return payment_page(self._page_view(payment, notice), http_status=409)
        if action == "decline":
            return await self._finish(request, payment, "failed", "You declined the payment.")
        if form.get("step", "") != (payment.payer_step or CHECKOUT):
            # Pressed on a page shown before the payer moved on: show where they are.
            return _see_other(self._page_path(request, payment))
        return await self._go_on(request, payment, form)

    async def _go_on(
        self, request: Request, payment: SimulatedPayment, form: Mapping[str, str]
    ) -> Answer:
        """Pay pressed at the step the payer is at: the step judged, then the next step, or
        the vendor takes the money."""
        steps = list(self.payer_steps(payment))
        names = [step.name for step in steps]
        following = 0
        if payment.payer_step is not None:
            if payment.payer_step not in names:
                return await self._finish(request, payment, "failed", "The payment stopped.")
            at = names.index(payment.payer_step)
            verdict = self.judge_step(payment, steps[at], form)
            if verdict.outcome is StepOutcome.ASK_AGAIN:
                payment.payer_notice = verdict.notice
                return _see_other(self._page_path(request, payment))
            if verdict.outcome is StepOutcome.FAILED:
                return await self._finish(request, payment, "failed", verdict.notice)
            following = at + 1
        if following < len(steps):
            payment.payer_step = steps[following].name
            return _see_other(self._page_path(request, payment))
        return await self._finish(request, payment, self._completed_status(payment), None)

    def _completed_status(self, payment: SimulatedPayment) -> NotifiedStatus:
        """What a payer who completes ``payment`` makes of it: ``authorized`` with manual
        capture, ``paid`` otherwise."""
        return "authorized" if payment.manual else "paid"

    def _complete(self, payment: SimulatedPayment) -> NotifiedStatus:
        """Mark ``payment`` completed by its payer; the status it is now in."""
        status = self._completed_status(payment)
        payment.status = status
        if status == "authorized":
            payment.authorization_expires_at = self._now() + AUTHORIZATION_LIFETIME_SECONDS
        return status

    async def _finish(
        self,
        request: Request,
        payment: SimulatedPayment,
        status: NotifiedStatus,
        notice: str | None,
    ) -> Answer:
        """Move the payment to ``status``, post the notification, and send the payer on."""
        if status in ("paid", "authorized"):
            status = self._complete(payment)
        else:
            payment.status = status
        payment.payer_step = None
        payment.payer_notice = notice
        delivery = await self._deliver_webhook(payment.id, status)
        if delivery is not None and delivery["error"] is not None:
            self._logger.warning(
                "notification of %s %s was not delivered: %s", status, payment.id, delivery["error"]
            )
        return self._send_payer_on(request, payment)

    def _send_payer_on(self, request: Request, payment: SimulatedPayment) -> Answer:
        """A 303 to the return URL with the payment's id, or to its own page without one."""
        back = _back_url(payment)
        if back is None:
            return _see_other(self._page_path(request, payment))
        # The page is shown once more only if the payer comes back to it.
        payment.payer_notice = None
        return _see_other(back)

    def _page_path(self, request: Request, payment: SimulatedPayment) -> str:
        return f"{mount_path(request.scope)}/{PAGE_PATH}/{quote(payment.id, safe='')}"

    def _page_view(self, payment: SimulatedPayment, notice: str | None) -> PageView:
        steps = {step.name: step for step in self.payer_steps(payment)}
        return PageView(
            vendor_name=self.vendor_name,
            amount=payment.amount.format(),
            description=payment.description,
            status=payment.status,
            manual=payment.manual,
            step=steps.get(payment.payer_step) if payment.payer_step else None,
            notice=notice,
            back_url=_back_url(payment),
        )

    # The control endpoints.

    async def _add_behaviour(self, request: Request) -> Answer:
        body = decoded(_BEHAVIOUR_DECODER, request.body)
        if body.seconds is not None and body.action is not Misbehaviour.SLOW:
            raise Refusal(400, "invalid_request", "seconds is for the slow action only")
        key = (self.accepted_amount(body.amount), body.operation)
        self._behaviours[key] = body.action
        self._hold_seconds.pop(key, None)
        if body.seconds is not None:
            self._hold_seconds[key] = body.seconds
        return self._behaviour_list()

    async def _clear_behaviours(self, request: Request) -> Answer:
        self._behaviours.clear()
        self._hold_seconds.clear()
        return self._behaviour_list()

    def _behaviour_list(self) -> Answer:
        listed = []
        for key, action in self._behaviours.items():
            amount, operation = key
            shown: dict[str, Any] = {
                "amount": amount.format(),
                "operation": operation,
                "action": action.value,
            }
            if action is Misbehaviour.SLOW:
                shown["seconds"] = self._hold_seconds.get(key, self._timeout_seconds)
            listed.append(shown)
        return json_answer(200, {"behaviours": listed})

    async def _go_down(self, request: Request) -> Answer:
        self._down = True
        return json_answer(200, {"down": True})

    async def _come_up(self, request: Request) -> Answer:
        self._down = False
        return json_answer(200, {"down": False})

    async def _call_counts(self, request: Request) -> Answer:
        return json_answer(200, self._calls)

    async def _list_payments(self, request: Request) -> Answer:
        payments = [payment.to_full_json() for payment in self._payments.values()]
        return json_answer(200, {"payments": payments})

    async def _set_status(self, request: Request) -> Answer:
        body = decoded(_STATUS_DECODER, request.body)
        payment = self.payment(request.path_params["external_id"])
        # Any move is allowed, even out of a final status: tests need to send the
        # contradicting notifications a real vendor might.
        payment.status = body.status
        if body.status == "authorized":
            payment.authorization_expires_at = self._now() + AUTHORIZATION_LIFETIME_SECONDS
        delivery = await self._deliver_webhook(payment.id, body.status)
        return json_answer(200, {"payment": payment.to_json(), "webhook": delivery})

    async def _expire_authorization(self, request: Request) -> Answer:
        """Let the payment's authorization lapse: later captures and voids are refused with
        ``authorization_expired``, the lookups say ``expired``, and ``expired`` is notified."""
        payment = self.payment(request.path_params["external_id"])
        if not payment.manual or payment.status != "authorized":
            raise Refusal(
                409,
                "payment_not_authorized",
                f"payment is {payment.status}: only an authorization held can lapse",
            )
        payment.authorization_expired = True
        payment.authorization_expires_at = min(
            self._now(), payment.authorization_expires_at or self._now()
        )
        payment.status = "expired"
        delivery = await self._deliver_webhook(payment.id, "expired")
        return json_answer(200, {"payment": payment.to_json(), "webhook": delivery})

    # Notifications.

    async def _deliver_webhook(
        self, external_id: str, status: NotifiedStatus
    ) -> dict[str, Any] | None:
        """Post the notification for ``status``; describe what was posted and how it was taken."""
        if self._webhook_url is None:
            return None
        notification = self.notification(external_id, status)
        headers = dict(notification.headers)
        delivery: dict[str, Any] = {
            "url": self._webhook_url,
            "body": _shown(notification),
            "headers": headers,
            "status_code": None,
            "answer": None,
            "error": None,
        }
        try:
            response = await self._webhook_client().post(
                self._webhook_url, content=notification.body, headers=headers
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

    async def _auto_webhook(self, external_id: str, status: NotifiedStatus) -> None:
        await asyncio.sleep(self._auto_delay)
        payment = self._payments.get(external_id)
        # A payment moved by hand in the meantime keeps the status it was given.
        if payment is None or payment.status != "initiated":
            return
        if status in ("paid", "authorized"):
            status = self._complete(payment)
        else:
            payment.status = status
        try:
            delivery = await self._deliver_webhook(external_id, status)
        except Exception:
            self._logger.exception("automatic webhook for %s could not be posted", external_id)
            return
        if delivery is None:
            return
        if delivery["error"] is not None:
            self._logger.warning(
                "automatic webhook for %s was not delivered: %s", external_id, delivery["error"]
            )
        elif not 200 <= delivery["status_code"] < 300:
            self._logger.warning(
                "automatic webhook for %s was answered HTTP %s",
                external_id,
                delivery["status_code"],
            )


def return_url_problem(url: str) -> str | None:
    """Why ``url`` is not a return URL a simulated vendor takes, or None.

    It must be an absolute http or https URL of at most 2048 printable ASCII characters (a
    browser's URL, percent-encoded), with a plain host (a DNS name, IPv4 or bracketed IPv6),
    no credentials, and a valid port: the payer is sent to it with a ``Location`` header, and
    its origin is written into the page's ``Content-Security-Policy``.
    """
    if len(url) > MAX_URL_LENGTH or not _URL_CHARACTERS.fullmatch(url):
        return f"must be at most {MAX_URL_LENGTH} printable ASCII characters, without spaces"
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        return "must be an absolute http or https URL"
    host = parts.netloc.rsplit(":", 1)[0] if not parts.netloc.endswith("]") else parts.netloc
    if "@" in parts.netloc:
        return "must not carry credentials"
    if not host or not _RETURN_HOST.fullmatch(host):
        return "must name a plain host"
    try:
        parts.port  # noqa: B018 - it raises for a port that is not one
    except ValueError:
        return "has an invalid port"
    return None


def _back_url(payment: SimulatedPayment) -> str | None:
    """``payment``'s return URL with ``payment_id=<its reference>`` added to its own query (a
    ``payment_id`` already there gives way), or None without a return URL."""
    if payment.return_url is None:
        return None
    parts = urlsplit(payment.return_url)
    kept = [
        pair
        for pair in parts.query.split("&")
        if pair and unquote_plus(pair.split("=", 1)[0]) != "payment_id"
    ]
    kept.append(f"payment_id={quote(payment.reference, safe='')}")
    return urlunsplit(parts._replace(query="&".join(kept)))


def _see_other(location: str) -> Answer:
    headers = (("Location", location),)
    return Answer(status=303, body=b"", content_type="text/plain", headers=headers)


def _form_fields(request: Request) -> dict[str, str]:
    """The first value of each field of a posted form."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != FORM:
        raise Refusal(415, "unsupported_media_type", f"the page posts {FORM}")
    fields = parse_qs(request.body.decode("utf-8", "replace"), keep_blank_values=True)
    return {name: values[0] for name, values in fields.items()}


def _page_refusal(status: int, code: str, message: str) -> Answer:
    """A refusal on the payment page, as a page the payer can read."""
    if code == "payment_not_found":
        return message_page("No such payment", "This vendor has no such payment.", http_status=404)
    return message_page("This cannot be done", message, http_status=status)


def _shown(notification: Notification) -> object:
    """The notification's body as the control answer shows it: decoded when it is JSON."""
    content_type = next(
        (value for name, value in notification.headers.items() if name.lower() == "content-type"),
        "",
    )
    if content_type.split(";")[0].strip() == JSON:
        return msgspec.json.decode(notification.body)
    return notification.body.decode()
