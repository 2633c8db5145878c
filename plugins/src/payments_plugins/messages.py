"""The typed records that cross the boundary between the platform and a gateway."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import Literal
from urllib.parse import urlsplit

import msgspec

from payments_plugins.money import Amount


class VendorPaymentStatus(enum.StrEnum):
    """What a vendor says about a payment, in the platform's words."""

    INITIATED = "initiated"
    """Accepted by the vendor, waiting for the payer."""
    AUTHORIZED = "authorized"
    """The payer completed a payment taken with ``CaptureMode.MANUAL``: the money is held for
    the merchant, and nothing of it, or not all, is captured yet. Since 2.1."""
    PAID = "paid"
    """The payer paid; for a payment taken with ``CaptureMode.MANUAL``, fully captured."""
    FAILED = "failed"
    """The payer's payment failed (final)."""
    EXPIRED = "expired"
    """Nobody paid in time (final)."""
    CANCELLED = "cancelled"
    """Cancelled before the payer paid (final): nothing can be paid under it any more. Since
    2.0."""
    VOIDED = "voided"
    """The authorization was released before anything was captured, or what was left of it
    after a final capture (final). Since 2.1."""
    NOT_FOUND = "not_found"
    """The vendor has no payment under that reference: the initiate never reached it."""


class CaptureMode(enum.StrEnum):
    """When the vendor takes the money of a payment the payer completes. Since 2.1."""

    AUTOMATIC = "automatic"
    """At once: the payer's payment is ``PAID``."""
    MANUAL = "manual"
    """Later, when the merchant captures it (``CapturingGateway.capture``): the payer's payment
    is ``AUTHORIZED`` until then. The platform asks for it only of a gateway whose type
    declares ``Capabilities.manual_capture``."""


class InitiateRequest(msgspec.Struct, frozen=True, kw_only=True):
    """Ask the vendor to start collecting ``amount``; ``payment_id`` is the vendor's reference."""

    payment_id: uuid.UUID
    """The platform's id of the payment: send it as the vendor's idempotency reference, so
    that initiating it again creates nothing more."""
    amount: Amount
    """What to collect, in a currency the type declares."""
    return_url: str | None = None
    """Where the vendor sends the payer back once they have acted (an absolute http(s) URL the
    client gave), or None; pass it to the vendor as its API takes it. Since 2.0."""
    description: str | None = None
    """What the payment is for, in the merchant's words, for the vendor to show the payer.
    Since 2.0."""
    capture: CaptureMode = CaptureMode.AUTOMATIC
    """When the vendor takes the money: ``MANUAL`` only for a type that declares
    ``Capabilities.manual_capture``, and then the payer's payment is ``AUTHORIZED``, not
    ``PAID``, until it is captured. Since 2.1."""


class NextActionType(enum.StrEnum):
    """The kinds of step a payer may have to take at the vendor (``NextAction``)."""

    REDIRECT = "redirect"
    DISPLAY = "display"


MAX_URL_LENGTH = 2048
"""The longest URL a next action may carry, as browsers and the platform take them."""


class RedirectAction(msgspec.Struct, frozen=True, kw_only=True, tag="redirect", tag_field="type"):
    """Send the payer to the vendor's page (a hosted payment page, a 3-D Secure challenge, a
    bank's app), with a GET, or a form POST of ``fields``. Since 2.0."""

    url: str
    """Where to send the payer: an absolute http or https URL without credentials."""
    method: Literal["GET", "POST"] = "GET"
    fields: dict[str, str] = msgspec.field(default_factory=dict)
    """The form's fields, for ``POST``; the query is part of ``url`` for ``GET``."""

    def __post_init__(self) -> None:
        _check_url(self, "url", self.url)
        if self.fields and self.method != "POST":
            raise ValueError("RedirectAction.fields are a POST form's: give method='POST'")
        _check_fields(self, self.fields)


class DisplayAction(msgspec.Struct, frozen=True, kw_only=True, tag="display", tag_field="type"):
    """Show the payer what to do elsewhere: a bank transfer's details, a QR code to scan in an
    app. Since 2.0."""

    instructions: str
    """What the payer is to do, in the vendor's words (1 to 1000 characters)."""
    fields: dict[str, str] = msgspec.field(default_factory=dict)
    """What the payer needs, by name: ``{"iban": "...", "reference": "..."}``."""
    qr_payload: str | None = None
    """The text a QR code is to encode, when the vendor gives one."""
    expires_at: datetime | None = None
    """When the instructions stop working (an aware time), when the vendor says."""

    def __post_init__(self) -> None:
        _check_text(self, "instructions", self.instructions)
        if not 1 <= len(self.instructions) <= 1000:
            raise ValueError("DisplayAction.instructions must be 1 to 1000 characters")
        _check_fields(self, self.fields)
        if self.expires_at is not None and self.expires_at.tzinfo is None:
            raise ValueError("DisplayAction.expires_at must be an aware time (with its zone)")


NextAction = RedirectAction | DisplayAction
"""The step the payer must take at the vendor for the payment to go on. Since 2.0."""

NEXT_ACTION_TYPES: dict[type[RedirectAction | DisplayAction], NextActionType] = {
    RedirectAction: NextActionType.REDIRECT,
    DisplayAction: NextActionType.DISPLAY,
}
"""The kind of each next action."""


class InitiateResult(msgspec.Struct, frozen=True, kw_only=True):
    """The vendor accepted the payment under ``external_id``."""

    external_id: str
    """The vendor's id of the payment (1 to 255 characters): webhooks name the payment by it."""
    next_action: NextAction | None = None
    """What the payer must do at the vendor, when anything (one of the kinds the type
    declares in ``Capabilities.next_actions``). Since 2.0."""

    def __post_init__(self) -> None:
        _check_text(self, "external_id", self.external_id)
        if self.next_action is not None and not isinstance(
            self.next_action, RedirectAction | DisplayAction
        ):
            raise TypeError(
                "InitiateResult.next_action must be a RedirectAction or a DisplayAction, not"
                f" {type(self.next_action).__name__}"
            )


class CancelRequest(msgspec.Struct, frozen=True, kw_only=True):
    """Ask the vendor to cancel a payment the payer has not paid, so that nothing can be paid
    under it any more. Since 2.0."""

    payment_id: uuid.UUID
    """The platform's id of the payment (the reference it was initiated under)."""
    external_id: str
    """The vendor's id of the payment."""


class CancelResult(msgspec.Struct, frozen=True, kw_only=True):
    """The vendor cancelled the payment (or had already). Since 2.0."""


class CaptureRequest(msgspec.Struct, frozen=True, kw_only=True):
    """Ask the vendor to capture ``amount`` of an authorized payment. Since 2.1.

    ``capture_id`` is sent as the vendor's idempotency reference: the same capture id never
    captures twice, so a retried capture is always safe.
    """

    payment_id: uuid.UUID
    """The platform's id of the payment (the reference it was initiated under)."""
    capture_id: uuid.UUID
    """The platform's id of this capture: the vendor's idempotency reference."""
    external_id: str
    """The vendor's id of the payment (what ``initiate`` returned)."""
    amount: Amount
    """What to capture: all or part of what is left of the authorization, in its currency."""
    final: bool
    """True: this is the last capture; the vendor releases whatever stays uncaptured after it.
    False: more captures may follow (a type declaring ``multiple_captures``)."""


class CaptureResult(msgspec.Struct, frozen=True, kw_only=True):
    """The vendor captured the amount under ``external_capture_id``. Since 2.1."""

    external_capture_id: str
    """The vendor's id of the capture."""

    def __post_init__(self) -> None:
        _check_text(self, "external_capture_id", self.external_capture_id)


class VoidRequest(msgspec.Struct, frozen=True, kw_only=True):
    """Ask the vendor to release the authorization of a payment nothing was captured of.
    Since 2.1."""

    payment_id: uuid.UUID
    """The platform's id of the payment (the reference it was initiated under)."""
    external_id: str
    """The vendor's id of the payment."""


class VoidResult(msgspec.Struct, frozen=True, kw_only=True):
    """The vendor released the authorization (or had already). Since 2.1."""


class RefundRequest(msgspec.Struct, frozen=True, kw_only=True):
    """Ask the vendor to pay ``amount`` back.

    ``refund_id`` is sent as the vendor's idempotency reference: the same refund id must never
    pay out twice, so a retried refund is always safe.
    """

    refund_id: uuid.UUID
    """The platform's id of the refund: the vendor's idempotency reference."""
    payment_id: uuid.UUID
    """The platform's id of the payment refunded."""
    external_id: str
    """The vendor's id of the payment refunded (what ``initiate`` returned)."""
    amount: Amount
    """What to pay back: all or part of what is left, in the payment's currency."""


class RefundResult(msgspec.Struct, frozen=True, kw_only=True):
    """The vendor accepted the refund under ``external_refund_id``."""

    external_refund_id: str
    """The vendor's id of the refund."""

    def __post_init__(self) -> None:
        _check_text(self, "external_refund_id", self.external_refund_id)


class StatusQuery(msgspec.Struct, frozen=True, kw_only=True):
    """Which payment to ask the vendor about.

    ``external_id`` is None when the initiate's answer never arrived; the gateway then looks the
    payment up by ``payment_id``, the reference it sent.
    """

    payment_id: uuid.UUID
    """The platform's id of the payment, sent as the vendor's reference."""
    external_id: str | None = None
    """The vendor's id of the payment, when its answer to ``initiate`` arrived."""

    def mismatch(self, *, reference: str, external_id: str) -> str | None:
        """Why the vendor's answer about its payment ``external_id``, made under ``reference``,
        is not about this payment; None when it is.

        An answer about some other payment must never be taken for this one's status.
        """
        if not _is_id(reference, self.payment_id):
            return f"answer is for reference {reference!r}, not {self.payment_id}"
        if self.external_id and external_id != self.external_id:
            return f"answer is for payment {external_id!r}, not {self.external_id!r}"
        return None


class StatusReport(msgspec.Struct, frozen=True, kw_only=True):
    """The vendor's current view of a payment."""

    status: VendorPaymentStatus
    """Where the payment stands, in the platform's words; ``NOT_FOUND`` only on the vendor's own
    definite "no such payment"."""
    external_id: str | None = None
    """The vendor's id of the payment, when it has one."""
    authorized: Amount | None = None
    """What the vendor holds as authorized for a payment taken with ``CaptureMode.MANUAL``,
    when it says. Since 2.1."""
    captured: Amount | None = None
    """What the vendor has captured of it in all, when it says. Since 2.1."""
    authorization_expires_at: datetime | None = None
    """When the vendor lets the authorization lapse (an aware time), when it says. Since 2.1."""

    def __post_init__(self) -> None:
        _check_member(self, "status", self.status, VendorPaymentStatus)
        if self.external_id is not None:
            _check_text(self, "external_id", self.external_id)
        for name in ("authorized", "captured"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, Amount):
                raise TypeError(
                    f"StatusReport.{name} must be a payments_plugins.Amount, not"
                    f" {type(value).__name__} {value!r}: read it with Amount.parse or"
                    " Amount(minor, currency)"
                )
        expiry = self.authorization_expires_at
        if expiry is not None and (not isinstance(expiry, datetime) or expiry.tzinfo is None):
            raise ValueError(
                "StatusReport.authorization_expires_at must be an aware datetime (with its"
                f" zone), not {expiry!r}"
            )


class VendorRefundStatus(enum.StrEnum):
    """What a vendor says about a refund."""

    PENDING = "pending"
    """The vendor has the refund and has not paid it out yet."""
    SUCCEEDED = "succeeded"
    """The refund was paid out."""
    FAILED = "failed"
    """The vendor refused the refund after taking it."""
    NOT_FOUND = "not_found"
    """The vendor has no refund under that reference: it never reached it."""


class RefundStatusQuery(msgspec.Struct, frozen=True, kw_only=True):
    """Which refund to ask the vendor about: ``refund_id`` is the reference the refund was sent
    with; ``external_id`` is the payment's id at the vendor."""

    refund_id: uuid.UUID
    """The platform's id of the refund, sent as the vendor's reference."""
    external_id: str
    """The vendor's id of the payment refunded."""

    def mismatch(self, *, reference: str, external_id: str) -> str | None:
        """Why the vendor's answer about a refund made under ``reference`` of its payment
        ``external_id`` is not about this refund; None when it is."""
        if _is_id(reference, self.refund_id) and external_id == self.external_id:
            return None
        return (
            f"answer is for refund {reference!r} of {external_id!r}, "
            f"not {self.refund_id} of {self.external_id!r}"
        )


class RefundStatusReport(msgspec.Struct, frozen=True, kw_only=True):
    """The vendor's current view of a refund."""

    status: VendorRefundStatus
    """Where the refund stands; ``NOT_FOUND`` only on the vendor's own "no such refund"."""
    external_refund_id: str | None = None
    """The vendor's id of the refund, when it has one."""

    def __post_init__(self) -> None:
        _check_member(self, "status", self.status, VendorRefundStatus)
        if self.external_refund_id is not None:
            _check_text(self, "external_refund_id", self.external_refund_id)


class VendorCaptureStatus(enum.StrEnum):
    """What a vendor says about a capture. Since 2.1."""

    PENDING = "pending"
    """The vendor has the capture and has not taken the money yet."""
    SUCCEEDED = "succeeded"
    """The amount was captured."""
    FAILED = "failed"
    """The vendor refused the capture after taking it."""
    NOT_FOUND = "not_found"
    """The vendor has no capture under that reference: it never reached it."""


class CaptureStatusQuery(msgspec.Struct, frozen=True, kw_only=True):
    """Which capture to ask the vendor about: ``capture_id`` is the reference the capture was
    sent with; ``external_id`` is the payment's id at the vendor. Since 2.1."""

    payment_id: uuid.UUID
    """The platform's id of the payment captured."""
    capture_id: uuid.UUID
    """The platform's id of the capture, sent as the vendor's reference."""
    external_id: str
    """The vendor's id of the payment captured."""
    external_capture_id: str | None = None
    """The vendor's id of the capture, when its answer to ``capture`` arrived."""

    def mismatch(self, *, reference: str, external_id: str) -> str | None:
        """Why the vendor's answer about a capture made under ``reference`` of its payment
        ``external_id`` is not about this capture; None when it is."""
        if _is_id(reference, self.capture_id) and external_id == self.external_id:
            return None
        return (
            f"answer is for capture {reference!r} of {external_id!r}, "
            f"not {self.capture_id} of {self.external_id!r}"
        )


class CaptureStatusReport(msgspec.Struct, frozen=True, kw_only=True):
    """The vendor's current view of a capture. Since 2.1."""

    status: VendorCaptureStatus
    """Where the capture stands; ``NOT_FOUND`` only on the vendor's own "no such capture"."""
    external_capture_id: str | None = None
    """The vendor's id of the capture, when it has one."""

    def __post_init__(self) -> None:
        _check_member(self, "status", self.status, VendorCaptureStatus)
        if self.external_capture_id is not None:
            _check_text(self, "external_capture_id", self.external_capture_id)


class WebhookEvent(msgspec.Struct, frozen=True, kw_only=True):
    """A verified notification from the vendor about one of its payments."""

    external_id: str
    """The vendor's id of the payment (what ``initiate`` returned)."""
    status: VendorPaymentStatus
    """The status the vendor reports (``AUTHORIZED`` and ``VOIDED`` since 2.1)."""
    reference: uuid.UUID | None = None
    """The reference the vendor holds the payment under (``InitiateRequest.payment_id``), when
    the notification carries it. A notification naming an external id the platform never
    learned (its answer to ``initiate`` was lost, or came after the platform gave up) is matched
    to its payment by this reference, so that a payment the payer paid is never lost. Since 1.1.
    """

    def __post_init__(self) -> None:
        _check_text(self, "external_id", self.external_id)
        _check_member(self, "status", self.status, VendorPaymentStatus)
        if self.reference is not None and not isinstance(self.reference, uuid.UUID):
            raise TypeError(
                f"WebhookEvent.reference must be a uuid.UUID (the payment_id the payment was"
                f" initiated with), not {type(self.reference).__name__} {self.reference!r}:"
                " convert it, e.g. uuid.UUID(notification['reference'])"
            )


class WebhookAck(msgspec.Struct, frozen=True, kw_only=True):
    """What the platform made of a webhook, for gateways that answer their vendor in its format."""

    accepted: bool
    """True when the notification was applied or was an exact repeat."""
    status_code: int
    """The HTTP status the platform answers with by default (200, 400, 404, 409, ...)."""
    code: str
    """``"ok"``, or the stable problem code (``invalid-webhook``, ``payment-not-found``, ...)."""
    detail: str
    """A sentence saying what was done or why not."""
    changed: bool = False
    """True when the notification changed the payment's status."""


class WebhookReply(msgspec.Struct, frozen=True, kw_only=True):
    """The HTTP answer a gateway wants its vendor to get for a webhook."""

    status_code: int
    """The HTTP status to answer the vendor with."""
    content_type: str
    """The answer's content type, e.g. ``text/xml; charset=utf-8``."""
    body: bytes
    """The answer's body."""


# msgspec checks types when it decodes, not when a Struct is made in code; a gateway's result
# is made in code, so its ids and statuses are checked here, where the gateway's own line
# raises, rather than deep in the platform with a message about something else.
def _check_text(record: msgspec.Struct, name: str, value: object) -> None:
    if not isinstance(value, str):
        raise TypeError(
            f"{type(record).__name__}.{name} must be a str (the vendor's id as text), not"
            f" {type(value).__name__} {value!r}: convert it, e.g. str(answer[...])"
        )


def _check_member(record: msgspec.Struct, name: str, value: object, kind: type[enum.Enum]) -> None:
    if not isinstance(value, kind):
        raise TypeError(
            f"{type(record).__name__}.{name} must be a {kind.__name__}, not"
            f" {type(value).__name__} {value!r}: map the vendor's word onto it, e.g."
            f" {kind.__name__}({next(iter(kind)).value!r})"
        )


def _check_url(record: msgspec.Struct, name: str, value: object) -> None:
    _check_text(record, name, value)
    url = str(value)
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(
            f"{type(record).__name__}.{name} must be an absolute http or https URL,"
            f" not {url!r:.100}"
        )
    if parts.username is not None or parts.password is not None:
        raise ValueError(f"{type(record).__name__}.{name} must not carry credentials")
    if len(url) > MAX_URL_LENGTH:
        raise ValueError(f"{type(record).__name__}.{name} is longer than {MAX_URL_LENGTH}")


def _check_fields(record: msgspec.Struct, fields: object) -> None:
    if not isinstance(fields, dict) or not all(
        isinstance(key, str) and isinstance(value, str) for key, value in fields.items()
    ):
        raise TypeError(f"{type(record).__name__}.fields must map str to str, not {fields!r:.100}")


def _is_id(text: str, wanted: uuid.UUID) -> bool:
    try:
        return uuid.UUID(text) == wanted
    except ValueError:
        return False
