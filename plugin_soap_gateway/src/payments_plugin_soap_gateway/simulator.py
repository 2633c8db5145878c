"""An in-memory stand-in for the SOAP vendor's service, served as a plain ASGI app.

It serves the WSDL (``GET /?wsdl``, with the endpoint address rewritten to where it is
served), answers the vendor's operations at ``POST /`` (checking the caller's UsernameToken),
refuses in the vendor's faults, and posts the vendor's notifications with its own
UsernameToken. The books, the behaviours, the ``/_simulator/`` control endpoints and the
payer's payment page are those of every simulator of the platform
(:class:`payments_plugins.simulation.VendorSimulator`); this vendor's page adds a 3-D Secure
challenge after Pay: a code to type, asked again after a wrong one, and the payment failed
after the third.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Final, Unpack

from lxml import etree
from payments_plugins import Amount, SimulatorOptions
from payments_plugins.simulation import (
    Answer,
    CallKind,
    Notification,
    NotifiedStatus,
    PayerStep,
    Refusal,
    Request,
    Route,
    SimulatedPayment,
    SimulatorTiming,
    StepField,
    StepOutcome,
    StepVerdict,
    VendorSimulator,
    json_error,
    served_at,
)

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
    MAX_DESCRIPTION_LENGTH,
    MAX_URL_LENGTH,
    NOTIFICATION,
    SOAP_ACTION_PREFIX,
    SOFT_DECLINE_CODES,
    VENDOR_NS,
    DeclineType,
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

SIMULATOR_CREDENTIALS: Final = {
    "username": "simulated-merchant",
    "password": "simulated-merchant-password",
    "webhook_username": "simulated-vendor",
    "webhook_password": "simulated-vendor-password",
}
"""The fixed credentials a simulator and the gateway pointed at it share (they guard no money)."""

_WSDL_NSMAP: Final = {
    "wsdl": "http://schemas.xmlsoap.org/wsdl/",
    "soap": "http://schemas.xmlsoap.org/wsdl/soap/",
}

THREE_D_SECURE_CODE: Final = "123456"
"""The code the simulated bank "sends" the payer; its page says so."""
THREE_D_SECURE_TRIES: Final = 3
"""Wrong codes the bank takes: the last one fails the payment."""
THREE_D_SECURE: Final = PayerStep(
    name="3ds",
    title="3-D Secure",
    instructions=(
        "Your bank asks you to confirm this payment with the code it sent you by text message."
        f" In this simulation the code is {THREE_D_SECURE_CODE}."
    ),
    fields=(
        StepField(
            name="code",
            label="Code",
            simulated_value=THREE_D_SECURE_CODE,
            inputmode="numeric",
            autocomplete="one-time-code",
        ),
    ),
    confirm_label="Confirm",
)

_OperationHandler = Callable[[etree._Element, Request], Awaitable[Answer | None]]


class SoapVendorSimulator(VendorSimulator):
    """The SOAP vendor's service in memory, as an ASGI app.

    ``options.settings`` must be the :class:`SoapGatewaySettings` of the gateway that talks to
    it: calls must carry its ``username``/``password`` (as PasswordText or PasswordDigest), and
    notifications are sent with its ``webhook_username``/``webhook_password`` as a
    PasswordDigest. ``now`` is the clock tokens are made and judged by. ``timeout_seconds``,
    the lifespan and :meth:`aclose` are as :class:`~payments_plugins.simulation.VendorSimulator`
    describes.
    """

    currencies = CURRENCIES
    id_prefix = "soappay"
    vendor_name = "SOAP vendor"
    soft_decline_code = "try_again_later"

    def __init__(
        self, options: SimulatorOptions[SoapGatewaySettings], **timing: Unpack[SimulatorTiming]
    ) -> None:
        settings = options.settings
        self._caller = UsernameCredentials(username=settings.username, password=settings.password)
        self._notifier = UsernameCredentials(
            username=settings.webhook_username, password=settings.webhook_password
        )
        self._tolerance_seconds = settings.webhook_tolerance_seconds
        self._nonces = NonceMemory()
        self._wrong_codes: dict[str, int] = {}
        self._operations: dict[str, tuple[CallKind, _OperationHandler]] = {
            f"{{{VENDOR_NS}}}InitiatePayment": ("initiate", self._initiate),
            f"{{{VENDOR_NS}}}CancelPayment": ("cancel", self._cancel),
            f"{{{VENDOR_NS}}}CapturePayment": ("capture", self._capture),
            f"{{{VENDOR_NS}}}GetCaptureStatus": ("status", self._capture_status),
            f"{{{VENDOR_NS}}}VoidPayment": ("void", self._void),
            f"{{{VENDOR_NS}}}Refund": ("refund", self._refund),
            f"{{{VENDOR_NS}}}GetPaymentStatus": ("status", self._payment_status),
            f"{{{VENDOR_NS}}}GetRefundStatus": ("status", self._refund_status),
        }
        routes = (
            Route("GET", "", self._root),
            Route("POST", "", self._soap),
            Route("GET", "service.wsdl", self._wsdl),
        )
        super().__init__(options, routes, **timing)

    def error_answer(self, status: int, code: str, message: str) -> Answer:
        """A Client fault (HTTP 500, as SOAP 1.1 has it) for a 4xx, whose ``declineType`` says
        for a decline (402) whether its code is a soft one; for a 5xx, a Server fault whose
        ``processed`` is false for 503 and true otherwise."""
        if status < 500:
            decline_type: DeclineType | None = None
            if status == 402:
                decline_type = "soft" if code in SOFT_DECLINE_CODES else "hard"
            fault = fault_envelope(
                FaultKind.CLIENT, message, vendor_code=code, decline_type=decline_type
            )
            return Answer(status=500, body=fault, content_type=CONTENT_TYPE)
        fault = fault_envelope(FaultKind.SERVER, message, vendor_code=code, processed=status != 503)
        return Answer(status=status, body=fault, content_type=CONTENT_TYPE)

    def notification(self, external_id: str, status: NotifiedStatus) -> Notification:
        """The ``PaymentStatusNotification`` envelope this vendor posts, with a fresh token."""
        fields = {"externalId": external_id, "status": status}
        fields["reference"] = self.payment(external_id).reference
        body = envelope(
            vendor_record(NOTIFICATION.localname, fields),
            header=[security_header(self._notifier, now=self._now())],
        )
        headers = {
            "Content-Type": CONTENT_TYPE,
            "SOAPAction": f'"{SOAP_ACTION_PREFIX}{NOTIFICATION.localname}"',
        }
        return Notification(headers=headers, body=body)

    def payer_steps(self, payment: SimulatedPayment) -> Sequence[PayerStep]:
        """After Pay, the bank's 3-D Secure challenge."""
        return (THREE_D_SECURE,)

    def judge_step(
        self, payment: SimulatedPayment, step: PayerStep, answers: Mapping[str, str]
    ) -> StepVerdict:
        """The right code passes; a wrong one is asked again, and the third fails the
        payment."""
        code = answers.get("code", "").strip()
        if hmac.compare_digest(code.encode(), THREE_D_SECURE_CODE.encode()):
            return StepVerdict(StepOutcome.PASSED)
        wrong = self._wrong_codes.get(payment.id, 0) + 1
        self._wrong_codes[payment.id] = wrong
        if wrong >= THREE_D_SECURE_TRIES:
            return StepVerdict(
                StepOutcome.FAILED, f"{wrong} wrong codes: your bank refused the payment."
            )
        left = THREE_D_SECURE_TRIES - wrong
        return StepVerdict(
            StepOutcome.ASK_AGAIN,
            f"That code is not right. {left} {'try' if left == 1 else 'tries'} left.",
        )

    # The service description.

    async def _root(self, request: Request) -> Answer:
        if "wsdl" not in {key.lower() for key in request.query}:
            return json_error(404, "not_found", "GET /?wsdl for the service description")
        return await self._wsdl(request)

    async def _wsdl(self, request: Request) -> Answer:
        return Answer(
            status=200, body=served_wsdl(served_at(request.scope)), content_type=CONTENT_TYPE
        )

    # The vendor's service.

    async def _soap(self, request: Request) -> Answer | None:
        try:
            document = parse_envelope(request.body)
            call = body_element(document)
        except MalformedEnvelope as error:
            raise Refusal(400, "invalid_request", str(error)) from error
        known = self._operations.get(etree.QName(call).text)
        if known is None:
            raise Refusal(400, "unknown_operation", f"no operation {tag_of(call)}")
        kind, handler = known
        self.take_call(kind)
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
            fault = authentication_fault_envelope(str(error))
            return Answer(status=500, body=fault, content_type=CONTENT_TYPE)
        try:
            return await handler(call, request)
        except MalformedEnvelope as error:
            raise Refusal(400, "invalid_request", str(error)) from error

    async def _initiate(self, call: etree._Element, request: Request) -> Answer | None:
        fields = read_fields(
            call,
            ("amount", "currency", "reference"),
            ("returnUrl", "description", "captureMode"),
            longer={"returnUrl": MAX_URL_LENGTH, "description": MAX_DESCRIPTION_LENGTH},
        )
        capture = fields.get("captureMode", "automatic")
        if capture not in ("automatic", "manual"):
            raise MalformedEnvelope(f"captureMode {capture!r:.20} is not automatic or manual")
        amount = self.accepted_amount(f"{fields['amount']} {fields['currency']}")
        behaviour = self.behaviour_for(amount, "initiate", decline_code="payment_declined")
        payment, _ = self.take_payment(
            fields["reference"],
            amount,
            return_url=fields.get("returnUrl"),
            description=fields.get("description"),
            capture="manual" if capture == "manual" else "automatic",
        )
        answer = _response(
            "InitiatePaymentResponse",
            {"externalId": payment.id, "redirectUrl": self.page_url(request, payment)},
        )
        return await self.misbehave_or(behaviour, request, answer)

    async def _cancel(self, call: etree._Element, request: Request) -> Answer:
        payment = self.cancel_payment(read_fields(call, ("externalId",))["externalId"])
        return _response(
            "CancelPaymentResponse",
            {"externalId": payment.id, "reference": payment.reference, "status": payment.status},
        )

    async def _capture(self, call: etree._Element, request: Request) -> Answer | None:
        fields = read_fields(call, ("externalId", "amount", "currency", "reference", "final"))
        final = _xsd_boolean(fields["final"])
        amount = self.accepted_amount(f"{fields['amount']} {fields['currency']}")
        behaviour = self.behaviour_for(amount, "capture", decline_code="capture_declined")
        capture, _ = self.take_capture(
            fields["externalId"], fields["reference"], amount, final=final
        )
        answer = _response(
            "CapturePaymentResponse",
            {
                "captureId": capture.id,
                "reference": capture.reference,
                "externalId": capture.payment_id,
            },
        )
        return await self.misbehave_or(behaviour, request, answer)

    async def _capture_status(self, call: etree._Element, request: Request) -> Answer:
        capture = self.capture_with_reference(read_fields(call, ("reference",))["reference"])
        return _response(
            "GetCaptureStatusResponse",
            {
                "captureId": capture.id,
                "reference": capture.reference,
                "externalId": capture.payment_id,
                "amount": capture.amount.decimal_text(),
                "currency": capture.amount.currency,
            },
        )

    async def _void(self, call: etree._Element, request: Request) -> Answer | None:
        payment = self.payment(read_fields(call, ("externalId",))["externalId"])
        behaviour = self.behaviour_for(payment.amount, "void", decline_code="void_declined")
        voided = self.void_payment(payment.id)
        answer = _response(
            "VoidPaymentResponse",
            {"externalId": voided.id, "reference": voided.reference, "status": voided.status},
        )
        return await self.misbehave_or(behaviour, request, answer)

    async def _refund(self, call: etree._Element, request: Request) -> Answer | None:
        fields = read_fields(call, ("externalId", "amount", "currency", "reference"))
        amount = self.accepted_amount(f"{fields['amount']} {fields['currency']}")
        behaviour = self.behaviour_for(amount, "refund", decline_code="refund_declined")
        refund, _ = self.take_refund(fields["externalId"], fields["reference"], amount)
        answer = _response("RefundResponse", {"refundId": refund.id})
        return await self.misbehave_or(behaviour, request, answer)

    async def _payment_status(self, call: etree._Element, request: Request) -> Answer:
        fields = read_fields(call, (), ("externalId", "reference"))
        if len(fields) != 1:
            raise MalformedEnvelope("give exactly one of externalId and reference")
        if "externalId" in fields:
            payment = self.payment(fields["externalId"])
        else:
            payment = self.payment_with_reference(fields["reference"])
        fields = {
            "externalId": payment.id,
            "reference": payment.reference,
            "status": payment.status,
            "amount": payment.amount.decimal_text(),
            "currency": payment.amount.currency,
        }
        if payment.manual:
            shown = payment.to_json()
            if shown["authorized"] is not None:
                fields["authorizedAmount"] = Amount.parse(shown["authorized"]).decimal_text()
            fields["capturedAmount"] = Amount.parse(shown["captured"]).decimal_text()
            if shown["authorization_expires_at"] is not None:
                fields["authorizationExpiresAt"] = shown["authorization_expires_at"]
        return _response("GetPaymentStatusResponse", fields)

    async def _refund_status(self, call: etree._Element, request: Request) -> Answer:
        refund = self.refund_with_reference(read_fields(call, ("reference",))["reference"])
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


def build_simulator(options: SimulatorOptions[SoapGatewaySettings]) -> SoapVendorSimulator:
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


def _xsd_boolean(text: str) -> bool:
    """An ``xsd:boolean``'s value: ``true``/``1`` or ``false``/``0``."""
    if text.strip() in ("true", "1"):
        return True
    if text.strip() in ("false", "0"):
        return False
    raise MalformedEnvelope(f"{text!r:.20} is not an xsd:boolean")


def _response(name: str, fields: dict[str, str]) -> Answer:
    return Answer(status=200, body=envelope(vendor_record(name, fields)), content_type=CONTENT_TYPE)
