"""The problems a request can meet. Each has a stable ``code`` and the HTTP ``status`` it is
answered with (documented in docs/api.md); the web layer renders them as problem+json.

The names are the platform's own: the errors a gateway plugin raises
(:mod:`payments_plugins.errors`) are another vocabulary, which the use cases translate.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from payments_platform.records import Payment


class PaymentProblem(Exception):
    """A request the platform will not carry out, with a stable machine-readable code."""

    code: ClassVar[str] = "payment-problem"
    status: ClassVar[int] = 400
    title: ClassVar[str] = "The request cannot be carried out"

    def __init__(
        self,
        detail: str,
        *,
        field: str | None = None,
        retry_after: int | None = None,
        payment: Payment | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.field = field
        self.retry_after = retry_after
        self.payment = payment
        """The payment the problem is about, shown with it when the caller may see it."""
        self.extra = extra or {}


class MalformedJson(PaymentProblem):
    """The body is not JSON."""

    code = "malformed-json"
    status = 400
    title = "The request body is not valid JSON"


class Unauthorized(PaymentProblem):
    """The request carries no valid API key."""

    code = "unauthorized"
    status = 401
    title = "A valid API key is required"


class InvalidRequest(PaymentProblem):
    """A field of the body, a query parameter or the id in the path is not valid."""

    code = "invalid-request"
    status = 422
    title = "The request is not valid"


class NotACurrency(PaymentProblem):
    """The currency is not an ISO 4217 code."""

    code = "unknown-currency"
    status = 422
    title = "The currency is not an ISO 4217 code"


class CurrencyNotSupported(PaymentProblem):
    """No enabled gateway takes the currency."""

    code = "currency-not-supported"
    status = 422
    title = "No enabled gateway takes the currency"


class IdempotencyKeyReused(PaymentProblem):
    """The id was already used for a different request."""

    code = "idempotency-key-reused"
    status = 409
    title = "The id was already used for a different request"


class PaymentInProgress(PaymentProblem):
    """The payment is still being processed."""

    code = "payment-in-progress"
    status = 409
    title = "The payment is still being processed"


class PaymentNotFound(PaymentProblem):
    """No such payment."""

    code = "payment-not-found"
    status = 404
    title = "No such payment"


class NoGatewayAvailable(PaymentProblem):
    """No gateway could take the payment."""

    code = "no-gateway-available"
    status = 503
    title = "No gateway could take the payment"


class PaymentDeclined(PaymentProblem):
    """The gateway declined the payment."""

    code = "payment-declined"
    status = 402
    title = "The gateway declined the payment"


class TransitionNotAllowed(PaymentProblem):
    """The payment's lifecycle forbids that change."""

    code = "transition-not-allowed"
    status = 409
    title = "The payment's lifecycle forbids that change"


class WebhookRejected(PaymentProblem):
    """The webhook's credentials or body are not acceptable."""

    code = "invalid-webhook"
    status = 400
    title = "The webhook was not accepted"


class WebhookNotVerified(PaymentProblem):
    """The gateway could not tell whether the webhook is genuine (its plugin ran out of time or
    failed): nothing changed, and the vendor should send it again."""

    code = "webhook-not-verified"
    status = 503
    title = "The webhook could not be verified now"


class PaymentNotCancellable(PaymentProblem):
    """The payment cannot be cancelled: the payer paid it, it ended otherwise, or its outcome
    is not known yet."""

    code = "payment-not-cancellable"
    status = 409
    title = "The payment cannot be cancelled"


class CancelRefused(PaymentProblem):
    """The payment's vendor refused to cancel it; it is as the vendor says."""

    code = "cancel-refused"
    status = 409
    title = "The payment's vendor refused to cancel it"


class PaymentNotRefundable(PaymentProblem):
    """The payment cannot be refunded."""

    code = "payment-not-refundable"
    status = 409
    title = "The payment cannot be refunded"


class RefundExceedsBalance(PaymentProblem):
    """The refund exceeds what is left."""

    code = "refund-exceeds-balance"
    status = 409
    title = "The refund exceeds what is left"


class RefundIdReused(PaymentProblem):
    """The refund id was already used differently."""

    code = "refund-id-reused"
    status = 409
    title = "The refund id was already used differently"


class RefundDeclined(PaymentProblem):
    """The gateway declined the refund."""

    code = "refund-declined"
    status = 402
    title = "The gateway declined the refund"


class NoGatewayCanCapture(PaymentProblem):
    """A payment taken with manual capture, and no enabled gateway of its currency declares
    manual capture."""

    code = "manual-capture-not-supported"
    status = 422
    title = "No gateway takes this payment with manual capture"


class PaymentNotCapturable(PaymentProblem):
    """The payment is not authorized with manual capture (or its gateway cannot capture it
    as asked: in part, or a second time)."""

    code = "payment-not-capturable"
    status = 409
    title = "The payment cannot be captured"


class CaptureExceedsAuthorization(PaymentProblem):
    """The amount is more than is left to capture."""

    code = "capture-exceeds-authorization"
    status = 409
    title = "The capture exceeds what is left of the authorization"


class CaptureIdReused(PaymentProblem):
    """The capture id was used for another payment or another amount."""

    code = "capture-id-reused"
    status = 409
    title = "This capture id was used for another capture"


class CaptureDeclined(PaymentProblem):
    """The gateway refused the capture (its authorization lapsed, say)."""

    code = "capture-declined"
    status = 402
    title = "The gateway declined the capture"


class GatewayUnreachable(PaymentProblem):
    """The payment's gateway cannot be reached (or is no longer enabled): nothing was paid out."""

    code = "gateway-unavailable"
    status = 503
    title = "The payment's gateway cannot be reached"


class DatabaseUnavailable(PaymentProblem):
    """The database cannot be reached or is held by another writer past the wait allowed."""

    code = "database-unavailable"
    status = 503
    title = "The database cannot be reached"


def problem_types() -> list[type[PaymentProblem]]:
    """Every kind of problem the platform answers with (each subclass of
    :class:`PaymentProblem`, at any depth)."""
    found: list[type[PaymentProblem]] = []
    pending = list(PaymentProblem.__subclasses__())
    while pending:
        problem = pending.pop()
        pending.extend(problem.__subclasses__())
        found.append(problem)
    return found
