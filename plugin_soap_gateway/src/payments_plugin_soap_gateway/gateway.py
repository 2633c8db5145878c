"""The live SOAP gateway: the vendor's service spoken through zeep over the shared httpx client.

Every vendor call maps its failure onto the platform's error taxonomy:

* the request certainly did not reach the vendor's processing: the connection was refused or
  timed out, no pooled connection was free, the envelope could not even be built, the vendor
  answered a Server fault saying nothing was processed, a WS-Security, ``VersionMismatch`` or
  ``MustUnderstand`` fault, or HTTP 401, 403, 429 or 503 without a fault saying otherwise:
  ``GatewayUnavailable``;
* the request may have been acted on and no usable answer came back: a read or write timeout,
  a dropped connection, a Server fault that does not say nothing was processed, an answer that
  is not the documented envelope (not XML, another namespace, a missing element, too long):
  ``GatewayOutcomeUnknown``;
* a Client fault: ``GatewayDeclined``, with the vendor's code from the fault's detail; a
  payment's decline whose detail says ``declineType`` soft is a soft decline (the payer may
  succeed on another gateway), any other a hard one.

An accepted payment's answer names the vendor's page its payer pays on (``redirectUrl``),
returned as a ``RedirectAction``; a URL the contract refuses there is no usable answer either
(``GatewayOutcomeUnknown``). ``CancelPayment`` of a payment the payer paid is a Client fault:
``GatewayDeclined``. A payment initiated with ``captureMode`` manual is captured with
``CapturePayment`` (our capture id as its reference), looked up with ``GetCaptureStatus`` and
released with ``VoidPayment``; the Client fault ``authorization_expired`` is
``AuthorizationExpired``.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Annotated, Any, Final, Literal, TypeVar
from urllib.parse import urlsplit

import httpx
import msgspec
from lxml import etree
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
    ATTR_RPC_METHOD,
    ATTR_RPC_SYSTEM,
    AnswerTooLarge,
    described,
    traced_vendor_call,
    transport_failure,
    vendor_redirect,
)
from zeep import AsyncClient
from zeep.exceptions import Fault as ZeepFault
from zeep.helpers import serialize_object
from zeep.proxy import AsyncServiceProxy

from payments_plugin_soap_gateway.credentials import (
    CredentialsRejected,
    NonceMemory,
    PasswordType,
    UsernameCredentials,
    UsernameTokenSigner,
    verify_username_token,
)
from payments_plugin_soap_gateway.service import ZEEP_SETTINGS, payment_binding, service_document
from payments_plugin_soap_gateway.settings import SoapGatewaySettings
from payments_plugin_soap_gateway.transport import CallTransport, EnvelopeCatcher
from payments_plugin_soap_gateway.wire import (
    MAX_DESCRIPTION_LENGTH,
    MAX_IDENTIFIER_LENGTH,
    NOTIFICATION,
    NOTIFIED_STATUSES,
    Fault,
    FaultKind,
    MalformedEnvelope,
    body_element,
    parse_envelope,
    read_fault,
    read_fields,
    tag_of,
    xml_text,
)

GATEWAY_TYPE_NAME: Final = "soap"

PAYMENT_NOT_FOUND: Final = "payment_not_found"
"""The vendor code of the Client fault answering a lookup of a payment it does not have."""
REFUND_NOT_FOUND: Final = "refund_not_found"
"""The vendor code of the Client fault answering a lookup of a refund it does not have."""
CAPTURE_NOT_FOUND: Final = "capture_not_found"
"""The vendor code of the Client fault answering a lookup of a capture it does not have."""
AUTHORIZATION_EXPIRED: Final = "authorization_expired"
"""The vendor code of the Client fault refusing a capture or void of a lapsed authorization."""

MAX_NOTIFICATION_BYTES: Final = 64 * 1024
"""A notification longer than this is not one the vendor sends; it is refused unparsed."""

# The vendor documents these HTTP statuses as refused before anything was processed.
_REFUSED_UNPROCESSED: Final = frozenset({401, 403, 429, 503})

_T = TypeVar("_T")
Operation = Literal[
    "initiate", "refund", "status", "refund_status", "cancel", "capture", "capture_status", "void"
]
Answer = Any | Fault
"""What a call brought back: zeep's decoded answer, or the vendor's fault."""

IdentifierText = Annotated[
    str, msgspec.Meta(min_length=1, max_length=MAX_IDENTIFIER_LENGTH, pattern=r"\S")
]


class _InitiatedAnswer(msgspec.Struct, frozen=True, rename="camel"):
    """``InitiatePaymentResponse``: the payment's id, and the page its payer pays on."""

    external_id: IdentifierText
    redirect_url: str | None = None


class _StatusAnswer(msgspec.Struct, frozen=True, rename="camel"):
    """``GetPaymentStatusResponse`` (its amount is not needed, so not decoded)."""

    external_id: IdentifierText
    reference: str
    status: Literal["initiated", "authorized", "paid", "failed", "expired", "cancelled", "voided"]
    currency: str
    authorized_amount: str | None = None
    captured_amount: str | None = None
    authorization_expires_at: datetime | None = None


class _CancelAnswer(msgspec.Struct, frozen=True, rename="camel"):
    """``CancelPaymentResponse``."""

    external_id: IdentifierText
    reference: str
    status: str


class _CaptureAnswer(msgspec.Struct, frozen=True, rename="camel"):
    """``CapturePaymentResponse`` and ``GetCaptureStatusResponse``: a capture the vendor holds
    has gone through."""

    capture_id: IdentifierText
    reference: str
    external_id: str


class _RefundAnswer(msgspec.Struct, frozen=True, rename="camel"):
    """``GetRefundStatusResponse``: a refund the vendor holds has gone through."""

    refund_id: IdentifierText
    reference: str
    external_id: str


class SoapGateway:
    """A live gateway to the SOAP vendor.

    It owns nothing that needs closing: the HTTP client and tracer are the platform's, and the
    parsed WSDL is shared by the process. ``now`` is the clock notifications are judged by;
    ``nonces`` remembers the notification tokens already accepted.
    """

    def __init__(
        self,
        settings: SoapGatewaySettings,
        resources: GatewayResources,
        *,
        now: Callable[[], float] = time.time,
        nonces: NonceMemory | None = None,
    ) -> None:
        self._settings = settings
        self._http = resources.http
        self._tracer: Tracer = resources.tracer
        self._now = now
        self._nonces = nonces if nonces is not None else NonceMemory()
        self._timeout = httpx.Timeout(settings.read_timeout, connect=settings.connect_timeout)
        self._document = service_document()
        self._binding = payment_binding()
        self._signer = UsernameTokenSigner(
            UsernameCredentials(
                username=settings.username,
                password=settings.password,
                password_type=settings.password_type,
            ),
            now=now,
        )
        self._webhook_credentials = UsernameCredentials(
            username=settings.webhook_username, password=settings.webhook_password
        )
        self._server_address = urlsplit(settings.endpoint).hostname or ""

    async def initiate(self, request: InitiateRequest) -> InitiateResult:
        """Start the payment at the vendor under our payment id as its reference, with the
        return URL and description its payment page uses; the answer's page is the payer's
        next action."""
        arguments = {
            "amount": request.amount.decimal_text(),
            "currency": request.amount.currency,
            "reference": str(request.payment_id),
        }
        if request.return_url is not None:
            arguments["returnUrl"] = request.return_url
        description = _shown_description(request.description)
        if description is not None:
            arguments["description"] = description
        if request.capture is CaptureMode.MANUAL:
            arguments["captureMode"] = "manual"
        return await self._call("initiate", "InitiatePayment", arguments, _initiated)

    async def capture(self, request: CaptureRequest) -> CaptureResult:
        """Capture under our capture id as the vendor's reference, so a retry captures nothing
        more; ``final`` releases what stays uncaptured."""
        query = CaptureStatusQuery(
            payment_id=request.payment_id,
            capture_id=request.capture_id,
            external_id=request.external_id,
        )
        return await self._call(
            "capture",
            "CapturePayment",
            {
                "externalId": request.external_id,
                "amount": request.amount.decimal_text(),
                "currency": request.amount.currency,
                "reference": str(request.capture_id),
                "final": "true" if request.final else "false",
            },
            lambda answer: _captured(query, answer),
        )

    async def fetch_capture_status(self, query: CaptureStatusQuery) -> CaptureStatusReport:
        """Look a capture up by the reference it was sent with; the vendor only keeps captures
        that went through, so a found capture has succeeded."""
        return await self._call(
            "capture_status",
            "GetCaptureStatus",
            {"reference": str(query.capture_id)},
            lambda answer: _capture_report(query, answer),
        )

    async def void(self, request: VoidRequest) -> VoidResult:
        """Release the authorization; one voided before is voided again, one captured of is
        refused (``GatewayDeclined``, ``payment_already_captured``)."""
        query = StatusQuery(payment_id=request.payment_id, external_id=request.external_id)
        return await self._call(
            "void",
            "VoidPayment",
            {"externalId": request.external_id},
            lambda answer: _voided(query, answer),
        )

    async def cancel(self, request: CancelRequest) -> CancelResult:
        """Cancel the payment at the vendor; one cancelled before is cancelled again, one the
        payer paid is refused (``GatewayDeclined``, ``payment_already_paid``)."""
        query = StatusQuery(payment_id=request.payment_id, external_id=request.external_id)
        return await self._call(
            "cancel",
            "CancelPayment",
            {"externalId": request.external_id},
            lambda answer: _cancelled(query, answer),
        )

    async def refund(self, request: RefundRequest) -> RefundResult:
        """Refund under our refund id as the vendor's reference, so a retry pays nothing more."""
        refund_id = await self._call(
            "refund",
            "Refund",
            {
                "externalId": request.external_id,
                "amount": request.amount.decimal_text(),
                "currency": request.amount.currency,
                "reference": str(request.refund_id),
            },
            lambda answer: _identifier("refund", "refundId", answer),
        )
        return RefundResult(external_refund_id=refund_id)

    async def fetch_status(self, query: StatusQuery) -> StatusReport:
        """Look the payment up by external id, or by our reference when that is unknown."""
        lookup = (
            {"externalId": query.external_id}
            if query.external_id
            else {"reference": str(query.payment_id)}
        )
        return await self._call(
            "status", "GetPaymentStatus", lookup, lambda answer: _status_report(query, answer)
        )

    async def fetch_refund_status(self, query: RefundStatusQuery) -> RefundStatusReport:
        """Look a refund up by the reference it was sent with; the vendor only keeps refunds
        that went through, so a found refund has succeeded."""
        return await self._call(
            "refund_status",
            "GetRefundStatus",
            {"reference": str(query.refund_id)},
            lambda answer: _refund_report(query, answer),
        )

    async def parse_webhook(self, headers: Mapping[str, str], body: bytes) -> WebhookEvent:
        """Check the notification's UsernameToken (a fresh, unused PasswordDigest), then its body.

        The envelope is parsed with no DTD, entity expansion or network access; anything not
        exactly the documented ``PaymentStatusNotification`` is refused with ``InvalidWebhook``.
        """
        try:
            envelope = parse_envelope(body, max_bytes=MAX_NOTIFICATION_BYTES)
        except MalformedEnvelope as error:
            raise InvalidWebhook(f"notification is not acceptable: {error}") from None
        try:
            verify_username_token(
                envelope,
                expected=self._webhook_credentials,
                accepted_types=(PasswordType.DIGEST,),
                tolerance_seconds=self._settings.webhook_tolerance_seconds,
                now=self._now(),
                nonces=self._nonces,
            )
        except CredentialsRejected as error:
            raise InvalidWebhook(f"notification refused: {error}") from None
        try:
            fields = _notification_fields(envelope)
        except MalformedEnvelope as error:
            raise InvalidWebhook(f"notification is not acceptable: {error}") from None
        status = fields["status"]
        if status not in NOTIFIED_STATUSES:
            raise InvalidWebhook(
                f"notification is not acceptable: status {status!r} is not one of "
                f"{', '.join(NOTIFIED_STATUSES)}"
            )
        reference = fields.get("reference")
        try:
            payment_id = None if reference is None else uuid.UUID(reference)
        except ValueError:
            raise InvalidWebhook(
                f"notification is not acceptable: reference {reference!r} is not a payment id"
            ) from None
        return WebhookEvent(
            external_id=fields["externalId"],
            status=VendorPaymentStatus(status),
            reference=payment_id,
        )

    async def aclose(self) -> None:
        """Nothing to release: the HTTP client and the tracer belong to the platform."""

    async def _call(
        self,
        operation: Operation,
        soap_operation: str,
        arguments: dict[str, str],
        interpret: Callable[[Answer], _T],
    ) -> _T:
        """Make one vendor call inside its span and turn the answer into a result or an error."""
        with traced_vendor_call(
            self._tracer,
            GATEWAY_TYPE_NAME,
            operation,
            http_method="POST",
            server_address=self._server_address,
            attributes={ATTR_RPC_SYSTEM: "soap", ATTR_RPC_METHOD: soap_operation},
        ) as span:
            transport = CallTransport(self._http, self._timeout)
            try:
                return interpret(
                    await self._exchange(operation, soap_operation, arguments, transport)
                )
            finally:
                if transport.status_code is not None:
                    span.set_attribute(ATTR_HTTP_STATUS, transport.status_code)

    async def _exchange(
        self,
        operation: Operation,
        soap_operation: str,
        arguments: dict[str, str],
        transport: CallTransport,
    ) -> Answer:
        """Send the call through zeep; return its answer or fault, or raise the taxonomy error."""
        catcher = EnvelopeCatcher()
        # A client per call is cheap (the parsed WSDL is shared) and keeps each exchange's
        # record apart from concurrent calls.
        client = AsyncClient(
            self._document,
            wsse=self._signer,
            transport=transport,
            plugins=[catcher],
            settings=ZEEP_SETTINGS,
        )
        service = AsyncServiceProxy(client, self._binding, address=self._settings.endpoint)
        try:
            return await service[soap_operation](**arguments)
        except ZeepFault as fault:
            found = read_fault(catcher.envelope) if catcher.envelope is not None else None
            if found is not None:
                return found
            raise _unreadable(operation, transport.status_code, fault) from fault
        except httpx.HTTPError as error:
            raise transport_failure(GATEWAY_TYPE_NAME, operation, error) from error
        except AnswerTooLarge as error:
            raise GatewayOutcomeUnknown(f"soap gateway {operation}: {error}") from error
        except Exception as error:
            # zeep raises its own errors, and at times plain ones (an IndexError for an empty
            # Body), for answers it cannot read; before sending, only for an envelope it
            # cannot build.
            if not transport.sent:
                raise GatewayUnavailable(
                    f"soap gateway {operation}: request not sent, the envelope could not be "
                    f"built: {described(error)}"
                ) from error
            raise _unreadable(operation, transport.status_code, error) from error


def build_gateway(settings: SoapGatewaySettings, resources: GatewayResources) -> SoapGateway:
    """Build a live SOAP gateway from validated settings and the platform's shared resources."""
    return SoapGateway(settings, resources)


def _notification_fields(envelope: etree._Element) -> dict[str, str]:
    notification = body_element(envelope)
    if notification.tag != NOTIFICATION.text:
        raise MalformedEnvelope(f"the Body holds {tag_of(notification)}, not {NOTIFICATION.text}")
    return read_fields(notification, ("externalId", "status"), ("reference",))


def _identifier(operation: Operation, name: str, answer: Answer) -> str:
    if isinstance(answer, Fault):
        raise _fault_error(operation, answer)
    if not isinstance(answer, str) or not answer.strip() or len(answer) > MAX_IDENTIFIER_LENGTH:
        raise GatewayOutcomeUnknown(
            f"soap gateway {operation}: the answer has no usable {name}: {answer!r:.100}"
        )
    return answer


def _initiated(answer: Answer) -> InitiateResult:
    if isinstance(answer, Fault):
        raise _fault_error("initiate", answer)
    decoded = _decoded("initiate", "InitiatePaymentResponse", answer, _InitiatedAnswer)
    page = decoded.redirect_url
    next_action = None if page is None else vendor_redirect(GATEWAY_TYPE_NAME, "initiate", page)
    return InitiateResult(external_id=decoded.external_id, next_action=next_action)


def _cancelled(query: StatusQuery, answer: Answer) -> CancelResult:
    if isinstance(answer, Fault):
        raise _fault_error("cancel", answer)
    decoded = _decoded("cancel", "CancelPaymentResponse", answer, _CancelAnswer)
    mismatch = query.mismatch(reference=decoded.reference, external_id=decoded.external_id)
    if mismatch is not None:
        raise GatewayOutcomeUnknown(f"soap gateway cancel: {mismatch}")
    if decoded.status != "cancelled":
        raise GatewayOutcomeUnknown(
            f"soap gateway cancel: the vendor answered the payment is {decoded.status}"
        )
    return CancelResult()


def _captured(query: CaptureStatusQuery, answer: Answer) -> CaptureResult:
    if isinstance(answer, Fault):
        raise _fault_error("capture", answer)
    decoded = _decoded("capture", "CapturePaymentResponse", answer, _CaptureAnswer)
    mismatch = query.mismatch(reference=decoded.reference, external_id=decoded.external_id)
    if mismatch is not None:
        raise GatewayOutcomeUnknown(f"soap gateway capture: {mismatch}")
    return CaptureResult(external_capture_id=decoded.capture_id)


def _capture_report(query: CaptureStatusQuery, answer: Answer) -> CaptureStatusReport:
    if isinstance(answer, Fault):
        # Only the vendor's own "no such capture" says the capture never reached it.
        if answer.kind is FaultKind.CLIENT and answer.vendor_code == CAPTURE_NOT_FOUND:
            return CaptureStatusReport(status=VendorCaptureStatus.NOT_FOUND)
        raise _lookup_failure("capture_status", answer)
    decoded = _decoded("capture_status", "GetCaptureStatusResponse", answer, _CaptureAnswer)
    mismatch = query.mismatch(reference=decoded.reference, external_id=decoded.external_id)
    if mismatch is not None:
        raise GatewayOutcomeUnknown(f"soap gateway capture_status: {mismatch}")
    return CaptureStatusReport(
        status=VendorCaptureStatus.SUCCEEDED, external_capture_id=decoded.capture_id
    )


def _voided(query: StatusQuery, answer: Answer) -> VoidResult:
    if isinstance(answer, Fault):
        raise _fault_error("void", answer)
    decoded = _decoded("void", "VoidPaymentResponse", answer, _CancelAnswer)
    mismatch = query.mismatch(reference=decoded.reference, external_id=decoded.external_id)
    if mismatch is not None:
        raise GatewayOutcomeUnknown(f"soap gateway void: {mismatch}")
    if decoded.status != "voided":
        raise GatewayOutcomeUnknown(
            f"soap gateway void: the vendor answered the payment is {decoded.status}"
        )
    return VoidResult()


def _shown_description(description: str | None) -> str | None:
    """What the payment page is to show: the description, with what XML cannot carry
    replaced and cut to what the vendor takes; none for a blank one."""
    if description is None or not description.strip():
        return None
    return xml_text(description)[:MAX_DESCRIPTION_LENGTH]


def _lookup_failure(operation: Operation, fault: Fault) -> GatewayError:
    failure = _fault_error(operation, fault)
    if isinstance(failure, GatewayDeclined):
        # A lookup changes nothing at the vendor: a refusal to answer leaves it unknown.
        return GatewayOutcomeUnknown(str(failure))
    return failure


def _decoded(operation: Operation, element: str, answer: Answer, shape: type[_T]) -> _T:
    try:
        return msgspec.convert(serialize_object(answer, dict), shape)
    except (msgspec.ValidationError, TypeError) as error:
        raise GatewayOutcomeUnknown(
            f"soap gateway {operation}: the answer is not the documented {element}: {error}"
        ) from error


def _refund_report(query: RefundStatusQuery, answer: Answer) -> RefundStatusReport:
    if isinstance(answer, Fault):
        # Only the vendor's own "no such refund" says the refund never reached it.
        if answer.kind is FaultKind.CLIENT and answer.vendor_code == REFUND_NOT_FOUND:
            return RefundStatusReport(status=VendorRefundStatus.NOT_FOUND)
        raise _lookup_failure("refund_status", answer)
    decoded = _decoded("refund_status", "GetRefundStatusResponse", answer, _RefundAnswer)
    mismatch = query.mismatch(reference=decoded.reference, external_id=decoded.external_id)
    if mismatch is not None:
        raise GatewayOutcomeUnknown(f"soap gateway refund_status: {mismatch}")
    return RefundStatusReport(
        status=VendorRefundStatus.SUCCEEDED, external_refund_id=decoded.refund_id
    )


def _status_report(query: StatusQuery, answer: Answer) -> StatusReport:
    if isinstance(answer, Fault):
        # Only the vendor's own "no such payment" says the payment never reached it.
        if answer.kind is FaultKind.CLIENT and answer.vendor_code == PAYMENT_NOT_FOUND:
            return StatusReport(status=VendorPaymentStatus.NOT_FOUND)
        raise _lookup_failure("status", answer)
    decoded = _decoded("status", "GetPaymentStatusResponse", answer, _StatusAnswer)
    mismatch = query.mismatch(reference=decoded.reference, external_id=decoded.external_id)
    if mismatch is not None:
        raise GatewayOutcomeUnknown(f"soap gateway status: {mismatch}")
    expires = decoded.authorization_expires_at
    if expires is not None and expires.tzinfo is None:
        raise GatewayOutcomeUnknown(
            f"soap gateway status: authorizationExpiresAt {expires.isoformat()} has no zone"
        )
    return StatusReport(
        status=VendorPaymentStatus(decoded.status),
        external_id=decoded.external_id,
        authorized=_vendor_amount(decoded.authorized_amount, decoded.currency),
        captured=_vendor_amount(decoded.captured_amount, decoded.currency),
        authorization_expires_at=expires,
    )


def _vendor_amount(text: str | None, currency: str) -> Amount | None:
    """An amount the vendor's answer gives in ``currency``; one that is not an amount of it
    is no usable answer."""
    if text is None:
        return None
    try:
        return Amount.parse(f"{text} {currency}")
    except ValueError as error:
        raise GatewayOutcomeUnknown(
            f"soap gateway status: {text!r:.40} {currency!r:.10} is not an amount: {error}"
        ) from error


def _fault_error(operation: Operation, fault: Fault) -> GatewayError:
    described = f"{fault.faultcode or 'fault'}" + (
        f" {fault.vendor_code}" if fault.vendor_code else ""
    )
    if fault.message:
        described += f": {fault.message}"
    if fault.kind is FaultKind.CLIENT and fault.vendor_code == AUTHORIZATION_EXPIRED:
        return AuthorizationExpired(f"soap gateway {operation} declined: {described}")
    if fault.kind is FaultKind.CLIENT:
        return GatewayDeclined(
            f"soap gateway {operation} declined: {described}",
            vendor_code=fault.vendor_code,
            # The vendor says which declines are soft; only a payment is taken elsewhere.
            soft=operation == "initiate" and fault.decline_type == "soft",
        )
    if fault.kind in (FaultKind.NOT_AUTHENTICATED, FaultKind.NOT_UNDERSTOOD) or (
        fault.kind is FaultKind.SERVER and fault.processed is False
    ):
        return GatewayUnavailable(
            f"soap gateway {operation}: vendor refused before processing: {described}"
        )
    return GatewayOutcomeUnknown(f"soap gateway {operation}: vendor fault: {described}")


def _unreadable(operation: Operation, status: int | None, error: Exception) -> GatewayError:
    if status in _REFUSED_UNPROCESSED:
        return GatewayUnavailable(
            f"soap gateway {operation}: vendor refused with HTTP {status} before processing"
        )
    answered = f"HTTP {status} answer" if status is not None else "answer"
    return GatewayOutcomeUnknown(
        f"soap gateway {operation}: {answered} is not a usable SOAP envelope: {described(error)}"
    )
