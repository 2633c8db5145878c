"""The plugin contract of the payments platform.

A gateway plugin depends on this distribution only (plus its vendor's client library).
"""

from payments_plugins.errors import (
    GatewayDeclined,
    GatewayError,
    GatewayOutcomeUnknown,
    GatewayUnavailable,
    InvalidSettings,
    InvalidWebhook,
)
from payments_plugins.gateway import (
    ASGIApp,
    Gateway,
    GatewayResources,
    GatewayType,
    Simulator,
    SimulatorOptions,
)
from payments_plugins.markers import PROJECT_NAME, hookimpl
from payments_plugins.messages import (
    InitiateRequest,
    InitiateResult,
    RefundRequest,
    RefundResult,
    RefundStatusQuery,
    RefundStatusReport,
    StatusQuery,
    StatusReport,
    VendorPaymentStatus,
    VendorRefundStatus,
    WebhookAck,
    WebhookEvent,
    WebhookReply,
)
from payments_plugins.money import MAX_MINOR_UNITS, Amount, UnknownCurrency

__all__ = [
    "MAX_MINOR_UNITS",
    "PROJECT_NAME",
    "ASGIApp",
    "Amount",
    "Gateway",
    "GatewayDeclined",
    "GatewayError",
    "GatewayOutcomeUnknown",
    "GatewayResources",
    "GatewayType",
    "GatewayUnavailable",
    "InitiateRequest",
    "InitiateResult",
    "InvalidSettings",
    "InvalidWebhook",
    "RefundRequest",
    "RefundResult",
    "RefundStatusQuery",
    "RefundStatusReport",
    "Simulator",
    "SimulatorOptions",
    "StatusQuery",
    "StatusReport",
    "UnknownCurrency",
    "VendorPaymentStatus",
    "VendorRefundStatus",
    "WebhookAck",
    "WebhookEvent",
    "WebhookReply",
    "hookimpl",
]
