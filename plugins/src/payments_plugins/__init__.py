"""The plugin contract of the payments platform, and the SDK plugin authors build on.

Not a plugin itself: gateway plugins are distributions of their own (``payments-plugin-json-
gateway``, a vendor's ``payments-plugin-acme``) that depend on this one only, plus their vendor's
client library, never on the platform. Here: the hook and the gateway protocol with its messages,
money and errors (this package); vendor calls (``vendor_call``, ``http_client``) and settings
(``settings``); simulators of a vendor (``simulation``); the conformance kit (``testing``); the
scaffold of a new plugin (``scaffold``) and its SDK wheel (``sdk``).
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
    CancellingGateway,
    Capabilities,
    Gateway,
    GatewayResources,
    GatewayType,
    Simulator,
    SimulatorOptions,
)
from payments_plugins.markers import PROJECT_NAME, hookimpl
from payments_plugins.messages import (
    CancelRequest,
    CancelResult,
    DisplayAction,
    InitiateRequest,
    InitiateResult,
    NextAction,
    NextActionType,
    RedirectAction,
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
    "CancelRequest",
    "CancelResult",
    "CancellingGateway",
    "Capabilities",
    "DisplayAction",
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
    "NextAction",
    "NextActionType",
    "RedirectAction",
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
