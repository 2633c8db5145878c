"""Errors the use cases raise. Each has a stable ``code``; the HTTP layer maps codes to statuses."""

from __future__ import annotations

from typing import Any


class PaymentProblem(Exception):
    """A request the platform will not carry out, with a stable machine-readable code."""

    code: str = "payment-problem"
    title: str = "The request cannot be carried out"

    def __init__(
        self,
        detail: str,
        *,
        field: str | None = None,
        retry_after: int | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.field = field
        self.retry_after = retry_after
        self.extra = extra or {}


class InvalidRequest(PaymentProblem):
    """The request body is not valid."""

    code = "invalid-request"
    title = "The request body is not valid"


class UnknownCurrency(PaymentProblem):
    """The currency is not an ISO 4217 code."""

    code = "unknown-currency"
    title = "The currency is not an ISO 4217 code"


class CurrencyNotSupported(PaymentProblem):
    """No enabled gateway takes the currency."""

    code = "currency-not-supported"
    title = "No enabled gateway takes the currency"


class IdempotencyKeyReused(PaymentProblem):
    """The id was already used for a different request."""

    code = "idempotency-key-reused"
    title = "The id was already used for a different request"


class PaymentInProgress(PaymentProblem):
    """The payment is still being processed."""

    code = "payment-in-progress"
    title = "The payment is still being processed"


class PaymentNotFound(PaymentProblem):
    """No such payment."""

    code = "payment-not-found"
    title = "No such payment"


class NoGatewayAvailable(PaymentProblem):
    """No gateway could take the payment."""

    code = "no-gateway-available"
    title = "No gateway could take the payment"


class PaymentDeclined(PaymentProblem):
    """The gateway declined the payment."""

    code = "payment-declined"
    title = "The gateway declined the payment"


class TransitionNotAllowed(PaymentProblem):
    """The payment's lifecycle forbids that change."""

    code = "transition-not-allowed"
    title = "The payment's lifecycle forbids that change"


class InvalidWebhook(PaymentProblem):
    """The webhook was not accepted."""

    code = "invalid-webhook"
    title = "The webhook was not accepted"


class PaymentNotRefundable(PaymentProblem):
    """The payment cannot be refunded."""

    code = "payment-not-refundable"
    title = "The payment cannot be refunded"


class RefundExceedsBalance(PaymentProblem):
    """The refund exceeds what is left."""

    code = "refund-exceeds-balance"
    title = "The refund exceeds what is left"


class RefundIdReused(PaymentProblem):
    """The refund id was already used differently."""

    code = "refund-id-reused"
    title = "The refund id was already used differently"


class RefundDeclined(PaymentProblem):
    """The gateway declined the refund."""

    code = "refund-declined"
    title = "The gateway declined the refund"


class GatewayUnavailable(PaymentProblem):
    """The payment's gateway cannot be reached."""

    code = "gateway-unavailable"
    title = "The payment's gateway cannot be reached"


class DatabaseUnavailable(PaymentProblem):
    """The database cannot be reached or is held by another writer past the wait allowed."""

    code = "database-unavailable"
    title = "The database cannot be reached"


class Unauthorized(PaymentProblem):
    """The request carries no valid API key."""

    code = "unauthorized"
    title = "A valid API key is required"
