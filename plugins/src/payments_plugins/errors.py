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
    """The vendor processed the request and said no; it holds no money for it.

    ``vendor_code`` is the vendor's reason, as it wrote it. ``soft`` (since 2.2) says whether
    the payer may succeed on another gateway: a **soft** decline is about this vendor or this
    moment (the issuer is unavailable, try again later, a processing error), a **hard** one
    about the payer or the card (insufficient funds, a stolen card, do not honour). A decline
    is hard unless the plugin says otherwise, so a plugin built before 2.2 keeps declining for
    good.

    Only a payment's ``initiate`` is ever tried elsewhere, and only when the gateway's type
    declares ``Capabilities.soft_declines``: the platform then offers the payment to its next
    candidate within the operator's budget. Every other decline ends the operation, soft or
    not. When unsure, leave a decline hard: a soft one sends the payer's card to another
    vendor, which is exactly wrong after a stolen-card or fraud decline.
    """

    def __init__(self, message: str, *, vendor_code: str | None = None, soft: bool = False) -> None:
        # Checked at run time: a plugin may not be type-checked, and a truthy "hard" would
        # otherwise make a soft decline.
        if not isinstance(soft, bool):
            raise TypeError(f"GatewayDeclined(soft=...) takes True or False, not {soft!r}")
        super().__init__(message)
        self.vendor_code = vendor_code
        self.soft = soft


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
