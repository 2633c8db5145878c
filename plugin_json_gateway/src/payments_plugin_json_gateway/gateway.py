"""The live JSON gateway: the vendor's REST API spoken over the platform's shared httpx client.

Every vendor call maps its failure onto the platform's error taxonomy:

* the request certainly never reached the vendor (connect refused or timed out, no pooled
  connection free) or the vendor refused it before processing (401, 403, 429, 503):
  ``GatewayUnavailable``;
* the request may have been acted on and no usable answer came back (read or write timeout,
  connection dropped after sending, 408, any 5xx but 503, a 2xx whose body is not what the
  vendor documents): ``GatewayOutcomeUnknown``;
* any other 4xx: ``GatewayDeclined``, carrying the vendor's error code when it sent one; a
  payment declined with one of the codes the vendor documents as soft (``SOFT_DECLINE_CODES``:
  the issuer is unavailable, try again later, a processing error) is a soft decline, which the
  platform may offer to another gateway, and every other decline a hard one.

An accepted payment's answer names the vendor's page its payer pays on (``redirect_url``),
returned as a ``RedirectAction``; a URL the contract refuses there is no usable answer either
(``GatewayOutcomeUnknown``). A cancel the vendor refuses (the payer paid) is ``GatewayDeclined``.
A payment taken with manual capture is captured (``POST /payments/{id}/captures``, our capture
id as the reference) and voided (``POST /payments/{id}/void``); the vendor's
``authorization_expired`` is ``AuthorizationExpired``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Final, TypeVar
from urllib.parse import quote, urlsplit

import httpx
import msgspec
from opentelemetry.trace import Tracer
from payments_plugins import (
    Amount,
    AuthorizationExpired,
    CancelRequest,
    CancelResult,
    CaptureMode,
    CaptureRequest,
    CaptureResult,
    CaptureStatusQuery,
    CaptureStatusReport,
    GatewayDeclined,
    GatewayError,
    GatewayOutcomeUnknown,
    GatewayResources,
    GatewayUnavailable,
    InitiateRequest,
    InitiateResult,
    InvalidWebhook,
    RefundRequest,
    RefundResult,
    RefundStatusQuery,
    RefundStatusReport,
    StatusQuery,
    StatusReport,
    VendorCaptureStatus,
    VendorPaymentStatus,
    VendorRefundStatus,
    VoidRequest,
    VoidResult,
    WebhookEvent,
)
from payments_plugins.vendor_call import (
    ATTR_HTTP_STATUS,
    AnswerTooLarge,
    read_answer,
    traced_vendor_call,
    transport_failure,
    vendor_redirect,
)

from payments_plugin_json_gateway.settings import JsonGatewaySettings
from payments_plugin_json_gateway.signing import verify_signature
from payments_plugin_json_gateway.wire import (
    MAX_DESCRIPTION_LENGTH,
    CaptureAnswer,
    CaptureBody,
    CreatedAnswer,
    ErrorAnswer,
    InitiateBody,
    InitiatedAnswer,
    PaymentAnswer,
    RefundAnswer,
    RefundBody,
    WebhookBody,
)

GATEWAY_TYPE_NAME: Final = "json"

MAX_ANSWER_BYTES: Final = 1 << 20
"""A vendor answer longer than this is not one this API documents; reading stops there."""

# The vendor documents these as refused before anything was processed.
_REFUSED_UNPROCESSED: Final = frozenset({401, 403, 429, 503})
SOFT_DECLINE_CODES: Final = frozenset({"issuer_unavailable", "try_again_later", "processing_error"})
"""The decline codes the vendor documents as soft: about the issuer or the moment, not the payer,
who may succeed on another gateway. Its other codes (``insufficient_funds``, ``stolen_card``,
``do_not_honour``, ``payment_declined``, ...) are hard."""

_T = TypeVar("_T")

_ENCODER: Final = msgspec.json.Encoder()
_CREATED_DECODER: Final = msgspec.json.Decoder(CreatedAnswer)
_INITIATED_DECODER: Final = msgspec.json.Decoder(InitiatedAnswer)
_PAYMENT_DECODER: Final = msgspec.json.Decoder(PaymentAnswer)
_REFUND_DECODER: Final = msgspec.json.Decoder(RefundAnswer)
_CAPTURE_DECODER: Final = msgspec.json.Decoder(CaptureAnswer)
_ERROR_DECODER: Final = msgspec.json.Decoder(ErrorAnswer)
_WEBHOOK_DECODER: Final = msgspec.json.Decoder(WebhookBody)

_JSON_HEADERS: Final = {"Accept": "application/json", "Content-Type": "application/json"}
_ACCEPT_JSON: Final = {"Accept": "application/json"}


class JsonGateway:
    """A live gateway to the JSON vendor; owns nothing, so ``aclose`` has nothing to release."""

    def __init__(
        self,
        settings: JsonGatewaySettings,
        resources: GatewayResources,
        *,
        now: Callable[[], float] = time.time,
    ) -> None:
        self._settings = settings
        self._http = resources.http
        self._tracer: Tracer = resources.tracer
        self._now = now
        self._timeout = httpx.Timeout(settings.read_timeout, connect=settings.connect_timeout)
        self._root = settings.api_root
        self._server_address = urlsplit(settings.base_url).hostname or ""

    async def initiate(self, request: InitiateRequest) -> InitiateResult:
        """Start the payment at the vendor under our payment id as its reference, with the
        return URL and description its payment page uses; the answer's page is the payer's
        next action."""
        payload = InitiateBody(
            amount=request.amount.format(),
            reference=str(request.payment_id),
            return_url=request.return_url,
            description=_shown_description(request.description),
            capture="manual" if request.capture is CaptureMode.MANUAL else "automatic",
        )
        return await self._call(
            "initiate",
            "POST",
            f"{self._root}/initiate-payment",
            _initiated,
            content=_ENCODER.encode(payload),
        )

    async def cancel(self, request: CancelRequest) -> CancelResult:
        """Cancel the payment at the vendor; one cancelled before is cancelled again, one the
        payer paid is refused (``GatewayDeclined``, ``payment_already_paid``)."""
        query = StatusQuery(payment_id=request.payment_id, external_id=request.external_id)
        return await self._call(
            "cancel",
            "POST",
            f"{self._root}/payments/{_path_segment(request.external_id)}/cancel",
            lambda status, body: _cancelled(query, status, body),
        )

    async def capture(self, request: CaptureRequest) -> CaptureResult:
        """Capture under our capture id as the vendor's reference, so a retry captures nothing
        more; ``final`` releases what stays uncaptured."""
        payload = CaptureBody(
            amount=request.amount.format(), reference=str(request.capture_id), final=request.final
        )
        query = CaptureStatusQuery(
            payment_id=request.payment_id,
            capture_id=request.capture_id,
            external_id=request.external_id,
        )
        return await self._call(
            "capture",
            "POST",
            f"{self._root}/payments/{_path_segment(request.external_id)}/captures",
            lambda status, body: _captured(query, status, body),
            content=_ENCODER.encode(payload),
        )

    async def fetch_capture_status(self, query: CaptureStatusQuery) -> CaptureStatusReport:
        """Look a capture up by the reference it was sent with; the vendor only keeps captures
        that went through, so a found capture has succeeded."""
        return await self._call(
            "capture_status",
            "GET",
            f"{self._root}/captures",
            lambda status, body: _capture_report(query, status, body),
            params={"reference": str(query.capture_id)},
        )

    async def void(self, request: VoidRequest) -> VoidResult:
        """Release the authorization; one voided before is voided again, one captured of is
        refused (``GatewayDeclined``, ``payment_already_captured``)."""
        query = StatusQuery(payment_id=request.payment_id, external_id=request.external_id)
        return await self._call(
            "void",
            "POST",
            f"{self._root}/payments/{_path_segment(request.external_id)}/void",
            lambda status, body: _voided(query, status, body),
        )

    async def refund(self, request: RefundRequest) -> RefundResult:
        """Refund under our refund id as the vendor's reference, so a retry pays nothing more."""
        payload = RefundBody(
            payment_id=request.external_id,
            amount=request.amount.format(),
            reference=str(request.refund_id),
        )
        refund_id = await self._call(
            "refund",
            "POST",
            f"{self._root}/refunds",
            lambda status, body: _created_id("refund", status, body),
            content=_ENCODER.encode(payload),
        )
        return RefundResult(external_refund_id=refund_id)

    async def fetch_status(self, query: StatusQuery) -> StatusReport:
        """Look the payment up by external id, or by our reference when that is unknown."""
        if query.external_id:
            url = f"{self._root}/payments/{_path_segment(query.external_id)}"
            params: dict[str, str] | None = None
        else:
            url = f"{self._root}/payments"
            params = {"reference": str(query.payment_id)}
        return await self._call(
            "status",
            "GET",
            url,
            lambda status, body: _status_report(query, status, body),
            params=params,
        )

    async def fetch_refund_status(self, query: RefundStatusQuery) -> RefundStatusReport:
        """Look a refund up by the reference it was sent with; the vendor only keeps refunds
        that went through, so a found refund has succeeded."""
        return await self._call(
            "refund_status",
            "GET",
            f"{self._root}/refunds",
            lambda status, body: _refund_report(query, status, body),
            params={"reference": str(query.refund_id)},
        )

    async def parse_webhook(self, headers: Mapping[str, str], body: bytes) -> WebhookEvent:
        """Verify the signature when a secret is configured, then decode the body strictly."""
        secret = self._settings.webhook_secret
        if secret is not None:
            verify_signature(
                headers,
                body,
                secret=secret,
                tolerance_seconds=self._settings.webhook_tolerance_seconds,
                now=self._now,
            )
        try:
            payload = _WEBHOOK_DECODER.decode(body)
        except msgspec.DecodeError as error:
            raise InvalidWebhook(f"webhook body is not acceptable: {error}") from error
        return WebhookEvent(
            external_id=payload.external_id,
            status=VendorPaymentStatus(payload.status),
            reference=payload.reference,
        )

    async def aclose(self) -> None:
        """Nothing to release: the HTTP client and the tracer belong to the platform."""

    async def _call(
        self,
        operation: str,
        method: str,
        url: str,
        interpret: Callable[[int, bytes], _T],
        *,
        content: bytes | None = None,
        params: dict[str, str] | None = None,
    ) -> _T:
        """Make one vendor call inside its span and turn the answer into a result or an error."""
        with traced_vendor_call(
            self._tracer,
            GATEWAY_TYPE_NAME,
            operation,
            http_method=method,
            server_address=self._server_address,
        ) as span:
            status, body = await self._exchange(operation, method, url, content, params)
            span.set_attribute(ATTR_HTTP_STATUS, status)
            return interpret(status, body)

    async def _exchange(
        self,
        operation: str,
        method: str,
        url: str,
        content: bytes | None,
        params: dict[str, str] | None,
    ) -> tuple[int, bytes]:
        """Send the request and read the answer, mapping transport failures onto the taxonomy."""
        headers = _JSON_HEADERS if content is not None else _ACCEPT_JSON
        try:
            # Redirects are never followed: re-sending a payment to another address is not
            # something to do without the vendor saying so, and it would turn a POST into a GET.
            async with self._http.stream(
                method,
                url,
                content=content,
                params=params,
                headers=headers,
                timeout=self._timeout,
                follow_redirects=False,
            ) as response:
                return response.status_code, await read_answer(response, MAX_ANSWER_BYTES)
        except httpx.HTTPError as error:
            raise transport_failure(GATEWAY_TYPE_NAME, operation, error) from error
        except AnswerTooLarge as error:
            raise GatewayOutcomeUnknown(f"json gateway {operation}: {error}") from error


def build_gateway(settings: JsonGatewaySettings, resources: GatewayResources) -> JsonGateway:
    """Build a live JSON gateway from validated settings and the platform's shared resources."""
    return JsonGateway(settings, resources)


def _path_segment(value: str) -> str:
    # Dots are escaped too, so that an id of "." or ".." cannot be normalised away into
    # another path.
    return quote(value, safe="").replace(".", "%2E")


def _status_failure(operation: str, status: int, body: bytes) -> GatewayError | None:
    """The error a non-2xx answer means, or None for a 2xx."""
    if 200 <= status < 300:
        return None
    if status in _REFUSED_UNPROCESSED:
        return GatewayUnavailable(
            f"json gateway {operation}: vendor refused with HTTP {status} before processing"
        )
    if 400 <= status < 500 and status != 408:
        code, message = _vendor_error(body)
        described = f"HTTP {status}" + (f" {code}" if code else "")
        if message:
            described += f": {message}"
        if code == "authorization_expired":
            return AuthorizationExpired(f"json gateway {operation} declined: {described}")
        return GatewayDeclined(
            f"json gateway {operation} declined: {described}",
            vendor_code=code,
            # Only a payment is ever taken elsewhere: a refund or capture goes to its vendor.
            soft=operation == "initiate" and code in SOFT_DECLINE_CODES,
        )
    # 408, any 5xx but 503, and the 1xx or 3xx the API never documents: the vendor may have
    # acted on the request.
    return GatewayOutcomeUnknown(f"json gateway {operation}: vendor answered HTTP {status}")


def _vendor_error(body: bytes) -> tuple[str | None, str | None]:
    """The vendor's error code and message, when the body is its documented error shape."""
    try:
        detail = _ERROR_DECODER.decode(body).error
    except msgspec.DecodeError:
        return None, None
    message = detail.message[:200] if detail.message else None
    return detail.code or None, message


def _answer(
    operation: str,
    status: int,
    body: bytes,
    decoder: msgspec.json.Decoder[_T],
    *,
    lookup: bool = False,
) -> _T:
    """The documented answer of a 2xx; the taxonomy error of anything else."""
    failure = _status_failure(operation, status, body)
    if lookup and isinstance(failure, GatewayDeclined):
        # A lookup changes nothing at the vendor: a refusal to answer leaves it unknown.
        failure = GatewayOutcomeUnknown(str(failure))
    if failure is not None:
        raise failure
    try:
        return decoder.decode(body)
    except msgspec.DecodeError as error:
        raise GatewayOutcomeUnknown(
            f"json gateway {operation}: HTTP {status} answer is not the documented JSON: {error}"
        ) from error


def _created_id(operation: str, status: int, body: bytes) -> str:
    return _answer(operation, status, body, _CREATED_DECODER).id


def _initiated(status: int, body: bytes) -> InitiateResult:
    answer = _answer("initiate", status, body, _INITIATED_DECODER)
    page = answer.redirect_url
    next_action = None if page is None else vendor_redirect(GATEWAY_TYPE_NAME, "initiate", page)
    return InitiateResult(external_id=answer.id, next_action=next_action)


def _cancelled(query: StatusQuery, status: int, body: bytes) -> CancelResult:
    answer = _answer("cancel", status, body, _PAYMENT_DECODER)
    mismatch = query.mismatch(reference=answer.reference, external_id=answer.id)
    if mismatch is not None:
        raise GatewayOutcomeUnknown(f"json gateway cancel: {mismatch}")
    if answer.status != "cancelled":
        raise GatewayOutcomeUnknown(
            f"json gateway cancel: the vendor answered the payment is {answer.status}"
        )
    return CancelResult()


def _captured(query: CaptureStatusQuery, status: int, body: bytes) -> CaptureResult:
    answer = _answer("capture", status, body, _CAPTURE_DECODER)
    mismatch = query.mismatch(reference=answer.reference, external_id=answer.payment_id)
    if mismatch is not None:
        raise GatewayOutcomeUnknown(f"json gateway capture: {mismatch}")
    return CaptureResult(external_capture_id=answer.id)


def _capture_report(query: CaptureStatusQuery, status: int, body: bytes) -> CaptureStatusReport:
    if _is_definitely_absent(status, body, "capture_not_found"):
        return CaptureStatusReport(status=VendorCaptureStatus.NOT_FOUND)
    answer = _answer("capture_status", status, body, _CAPTURE_DECODER, lookup=True)
    mismatch = query.mismatch(reference=answer.reference, external_id=answer.payment_id)
    if mismatch is not None:
        raise GatewayOutcomeUnknown(f"json gateway capture_status: {mismatch}")
    return CaptureStatusReport(status=VendorCaptureStatus.SUCCEEDED, external_capture_id=answer.id)


def _voided(query: StatusQuery, status: int, body: bytes) -> VoidResult:
    answer = _answer("void", status, body, _PAYMENT_DECODER)
    mismatch = query.mismatch(reference=answer.reference, external_id=answer.id)
    if mismatch is not None:
        raise GatewayOutcomeUnknown(f"json gateway void: {mismatch}")
    if answer.status != "voided":
        raise GatewayOutcomeUnknown(
            f"json gateway void: the vendor answered the payment is {answer.status}"
        )
    return VoidResult()


def _shown_description(description: str | None) -> str | None:
    """What the payment page is to show: the description, cut to what the vendor takes; none
    for a blank one."""
    if description is None or not description.strip():
        return None
    return description[:MAX_DESCRIPTION_LENGTH]


def _is_definitely_absent(status: int, body: bytes, code: str) -> bool:
    # Only the vendor's own "no such thing" counts: a bare 404 from a wrong base_url or a proxy
    # must not make reconciliation believe a payment never reached the vendor.
    return status == 404 and _vendor_error(body)[0] == code


def _refund_report(query: RefundStatusQuery, status: int, body: bytes) -> RefundStatusReport:
    if _is_definitely_absent(status, body, "refund_not_found"):
        return RefundStatusReport(status=VendorRefundStatus.NOT_FOUND)
    answer = _answer("refund_status", status, body, _REFUND_DECODER, lookup=True)
    mismatch = query.mismatch(reference=answer.reference, external_id=answer.payment_id)
    if mismatch is not None:
        raise GatewayOutcomeUnknown(f"json gateway refund_status: {mismatch}")
    return RefundStatusReport(status=VendorRefundStatus.SUCCEEDED, external_refund_id=answer.id)


def _status_report(query: StatusQuery, status: int, body: bytes) -> StatusReport:
    if _is_definitely_absent(status, body, "payment_not_found"):
        return StatusReport(status=VendorPaymentStatus.NOT_FOUND)
    answer = _answer("status", status, body, _PAYMENT_DECODER, lookup=True)
    mismatch = query.mismatch(reference=answer.reference, external_id=answer.id)
    if mismatch is not None:
        raise GatewayOutcomeUnknown(f"json gateway status: {mismatch}")
    return StatusReport(
        status=VendorPaymentStatus(answer.status),
        external_id=answer.id,
        authorized=_vendor_amount("authorized", answer.authorized),
        captured=_vendor_amount("captured", answer.captured),
        authorization_expires_at=answer.authorization_expires_at,
    )


def _vendor_amount(name: str, text: str | None) -> Amount | None:
    """An amount the vendor's answer gives (``"100.00 AED"``); one that is not an amount is
    no usable answer."""
    if text is None:
        return None
    try:
        return Amount.parse(text)
    except ValueError as error:
        raise GatewayOutcomeUnknown(
            f"json gateway status: {name} {text!r:.40} is not an amount: {error}"
        ) from error
