"""A vendor-style gateway plugin with an in-process vendor, used to prove plugin discovery."""

from __future__ import annotations

import hmac
import uuid
from collections.abc import Callable, Mapping
from typing import Any

import msgspec
from payments_plugins import (
    GatewayDeclined,
    GatewayResources,
    GatewayType,
    InitiateRequest,
    InitiateResult,
    InvalidWebhook,
    RefundRequest,
    RefundResult,
    RefundStatusQuery,
    RefundStatusReport,
    StatusQuery,
    StatusReport,
    VendorPaymentStatus,
    VendorRefundStatus,
    WebhookEvent,
    hookimpl,
)


class TestGatewaySettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Settings of a ``testgw`` gateway."""

    token: str | None = None
    decline_amounts: list[int] = msgspec.field(default_factory=list)


class _Notification(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    ref: str
    state: VendorPaymentStatus


_decode_notification = msgspec.json.Decoder(_Notification)


class TestGateway:
    """A gateway whose vendor lives in memory: payments, refunds and statuses by reference."""

    def __init__(self, settings: TestGatewaySettings) -> None:
        self.settings = settings
        self.payments: dict[str, VendorPaymentStatus] = {}
        self.references: dict[uuid.UUID, str] = {}
        self.refunds: dict[uuid.UUID, str] = {}

    async def initiate(self, request: InitiateRequest) -> InitiateResult:
        """Accept the payment under ``testgw-<reference>`` unless its amount is declined."""
        if request.amount.minor in self.settings.decline_amounts:
            raise GatewayDeclined("amount declined by test vendor", vendor_code="test_decline")
        external_id = self.references.setdefault(request.payment_id, f"testgw-{request.payment_id}")
        self.payments.setdefault(external_id, VendorPaymentStatus.INITIATED)
        return InitiateResult(external_id=external_id)

    async def refund(self, request: RefundRequest) -> RefundResult:
        """Refund once per refund id."""
        if request.external_id not in self.payments:
            raise GatewayDeclined("unknown payment", vendor_code="unknown_payment")
        refund_id = self.refunds.setdefault(request.refund_id, f"testgw-refund-{request.refund_id}")
        return RefundResult(external_refund_id=refund_id)

    async def parse_webhook(self, headers: Mapping[str, str], body: bytes) -> WebhookEvent:
        """Check the token header, then decode the notification."""
        if self.settings.token is not None:
            given = next(
                (value for key, value in headers.items() if key.lower() == "x-testgw-token"), ""
            )
            if not hmac.compare_digest(given.encode(), self.settings.token.encode()):
                raise InvalidWebhook("missing or wrong X-Testgw-Token")
        try:
            notification = _decode_notification.decode(body)
        except msgspec.DecodeError as error:
            raise InvalidWebhook(f"malformed notification: {error}") from None
        if notification.ref in self.payments:
            self.payments[notification.ref] = notification.state
        return WebhookEvent(external_id=notification.ref, status=notification.state)

    async def fetch_status(self, query: StatusQuery) -> StatusReport:
        """What the in-memory vendor holds."""
        external_id = query.external_id or self.references.get(query.payment_id)
        if external_id is None or external_id not in self.payments:
            return StatusReport(status=VendorPaymentStatus.NOT_FOUND)
        return StatusReport(status=self.payments[external_id], external_id=external_id)

    async def fetch_refund_status(self, query: RefundStatusQuery) -> RefundStatusReport:
        """A refund the in-memory vendor holds has gone through."""
        refund_id = self.refunds.get(query.refund_id)
        if refund_id is None:
            return RefundStatusReport(status=VendorRefundStatus.NOT_FOUND)
        return RefundStatusReport(status=VendorRefundStatus.SUCCEEDED, external_refund_id=refund_id)

    async def aclose(self) -> None:
        """Nothing to release."""


def _build(settings: TestGatewaySettings, _resources: GatewayResources) -> TestGateway:
    return TestGateway(settings)


GATEWAY_TYPE = GatewayType(
    name="testgw",
    currencies=frozenset({"EUR", "JPY"}),
    settings_type=TestGatewaySettings,
    build=_build,
    description="In-process test vendor (EUR, JPY)",
    unverified_webhooks=lambda settings: None if settings.token else "token is not set",
    secret_settings=frozenset({"token"}),
)


@hookimpl
def payments_register_gateway_types(register: Callable[[GatewayType[Any]], None]) -> None:
    """Contribute the ``testgw`` gateway type."""
    register(GATEWAY_TYPE)
