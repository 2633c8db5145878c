"""The errors a gateway raises.

Routing depends on which one is raised, so every gateway maps its vendor's failures onto exactly
these. When in doubt between ``GatewayUnavailable`` and ``GatewayOutcomeUnknown``,
choose the latter: a wrong "unavailable" makes the platform try another gateway and can charge
the payer twice, a wrong "unknown" only costs a reconciliation.
"""


class GatewayError(Exception):
    """Base of every error a gateway raises."""


class GatewayUnavailable(GatewayError):
    """The vendor certainly did not process the request; another gateway may be tried.

    Examples: the connection was refused, the connect timed out, the vendor answered a status it
    documents as "not processed, retry" before doing anything.
    """


class GatewayDeclined(GatewayError):
    """The vendor processed the request and said no. Final: no other gateway is tried."""

    def __init__(self, message: str, *, vendor_code: str | None = None) -> None:
        super().__init__(message)
        self.vendor_code = vendor_code


class AuthorizationExpired(GatewayDeclined):
    """The vendor refused a capture or a void because it let the payment's authorization lapse:
    nothing can be captured under it any more. Since 2.1."""

    def __init__(self, message: str, *, vendor_code: str | None = "authorization_expired") -> None:
        super().__init__(message, vendor_code=vendor_code)


class GatewayOutcomeUnknown(GatewayError):
    """The request was sent and no usable answer came back.

    The vendor may or may not have acted on it. Never fail over on this: reconcile instead.
    """


class InvalidWebhook(GatewayError):
    """A webhook's signature, credentials or body are not acceptable; nothing may change."""


class InvalidSettings(ValueError):
    """A gateway's settings are not acceptable; the message names the offending setting."""
