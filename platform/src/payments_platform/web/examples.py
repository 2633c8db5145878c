"""Realistic examples for the OpenAPI document: answers as the service gives them."""

from __future__ import annotations

from typing import Any

from litestar.openapi.spec import Example

from payments_platform import errors

PAYMENT_ID = "6b77a7bc-0bee-49ab-bbb0-70d5245a20f7"
REFUND_ID = "2d5a6f0c-8a3e-4f0b-9b1e-7c4d3e2a1f90"
CAPTURE_ID = "9e3c1b7a-4d2f-4a8e-b6c0-5f1d2e3a4b5c"

PAYMENT: dict[str, Any] = {
    "id": PAYMENT_ID,
    "status": "initiated",
    "amount": "999.99 AED",
    "amount_fractions": 99999,
    "currency": "AED",
    "gateway": "json",
    "external_id": "jsonpay_5c1f0e7a9b3d4c2e8f6a1b0d",
    "capture": "automatic",
    "authorized_fractions": 0,
    "captured_fractions": 0,
    "refunded_fractions": 0,
    "refundable_fractions": 0,
    "failure_code": None,
    "metadata": {"order_id": "A-10452"},
    "description": "Order A-10452: two tickets",
    "created_at": "2026-12-01T10:15:02.318204Z",
    "updated_at": "2026-12-01T10:15:02.412736Z",
}
PAID = {
    **PAYMENT,
    "status": "paid",
    "authorized_fractions": 99999,
    "captured_fractions": 99999,
    "refundable_fractions": 99999,
    "updated_at": "2026-12-01T10:16:40.102311Z",
}
AUTHORIZED = {
    **PAYMENT,
    "status": "authorized",
    "capture": "manual",
    "authorized_fractions": 99999,
    "updated_at": "2026-12-01T10:16:40.102311Z",
}
PARTIALLY_CAPTURED = {
    **AUTHORIZED,
    "status": "partially_captured",
    "captured_fractions": 40000,
    "refundable_fractions": 40000,
    "updated_at": "2026-12-01T14:30:11.220931Z",
}
CAPTURE: dict[str, Any] = {
    "id": CAPTURE_ID,
    "payment_id": PAYMENT_ID,
    "status": "succeeded",
    "amount": "400.00 AED",
    "amount_fractions": 40000,
    "final": False,
    "gateway": "json",
    "external_capture_id": "jsonpaycp_3e4f5a6b7c8d9e0f1a2b3c4d",
    "failure_code": None,
    "created_at": "2026-12-01T14:30:11.102764Z",
    "updated_at": "2026-12-01T14:30:11.220931Z",
}
REFUNDED = {
    **PAID,
    "status": "refunded",
    "refunded_fractions": 99999,
    "refundable_fractions": 0,
    "updated_at": "2026-12-01T11:02:09.551920Z",
}
REFUND: dict[str, Any] = {
    "id": REFUND_ID,
    "payment_id": PAYMENT_ID,
    "status": "succeeded",
    "amount": "999.99 AED",
    "amount_fractions": 99999,
    "gateway": "json",
    "external_refund_id": "jsonpayrf_0a9b8c7d6e5f4a3b2c1d0e9f",
    "failure_code": None,
    "created_at": "2026-12-01T11:02:09.402118Z",
    "updated_at": "2026-12-01T11:02:09.551920Z",
}

ATTEMPT: dict[str, Any] = {
    "id": 1,
    "gateway": "json",
    "reason": "weighted choice (share 1.00 = weight 1 x health 1.00), breaker closed",
    "outcome": "accepted",
    "error": None,
    "external_id": PAYMENT["external_id"],
    "started_at": "2026-12-01T10:15:02.320511Z",
    "finished_at": "2026-12-01T10:15:02.410027Z",
}
EVENT: dict[str, Any] = {
    "id": 3,
    "kind": "status_changed",
    "from_status": "pending",
    "to_status": "initiated",
    "gateway": "json",
    "external_id": None,
    "accepted": True,
    "reason": "accepted by json",
    "body_sha256": None,
    "detail": None,
    "created_at": "2026-12-01T10:15:02.411302Z",
}

NOTIFICATION: dict[str, Any] = {
    "id": "evt_8e1f4c2a9b7d4e6f8a0b1c2d3e4f5a6b",
    "type": "payment.refunded",
    "sequence": 4,
    "created_at": "2026-12-01T11:02:09.551920Z",
    "deliveries": [
        {
            "endpoint": "shop-main",
            "status": "delivered",
            "attempts": 1,
            "last_status_code": 204,
            "last_error": None,
            "delivered_at": "2026-12-01T11:02:09.803114Z",
        }
    ],
}


def example(summary: str, value: Any) -> Example:
    """An example answer."""
    return Example(summary=summary, value=value)


def problem_example(problem: type[errors.PaymentProblem], detail: str) -> Example:
    """The body a problem is answered with."""
    return example(
        problem.code,
        {
            "type": f"urn:payments:problem:{problem.code}",
            "title": problem.title,
            "status": problem.status,
            "detail": detail,
            "code": problem.code,
            "instance": "/init-payment",
        },
    )


PROBLEM_DETAILS: dict[type[errors.PaymentProblem], str] = {
    errors.MalformedJson: "Input data was truncated",
    errors.InvalidRequest: "Expected `int` >= 1 - at `$.amount_fractions`",
    errors.NotACurrency: "'XYZ' is not an ISO 4217 currency code",
    errors.CurrencyNotSupported: "no enabled gateway takes JPY",
    errors.IdempotencyKeyReused: (
        f"payment {PAYMENT_ID} exists with 999.99 AED; this request asks for 99.99 AED"
    ),
    errors.PaymentInProgress: f"payment {PAYMENT_ID} is being sent to a gateway; ask again shortly",
    errors.PaymentNotFound: f"no payment with id {PAYMENT_ID}",
    errors.NoGatewayAvailable: "no gateway could take the payment now; retry with the same id",
    errors.PaymentDeclined: "the gateway declined the payment (insufficient_funds)",
    errors.TransitionNotAllowed: "json reports failed, which the lifecycle forbids after paid",
    errors.WebhookRejected: "signature does not match",
    errors.WebhookNotVerified: (
        "json could not verify the webhook: no answer within its deadline of 30 s"
    ),
    errors.PaymentNotCancellable: (
        f"payment {PAYMENT_ID} is paid; only an initiated one is cancelled"
    ),
    errors.CancelRefused: (
        f"json refused to cancel payment {PAYMENT_ID} (payment_already_paid); it is paid"
    ),
    errors.PaymentNotRefundable: (
        f"payment {PAYMENT_ID} is initiated; only paid payments are refunded"
    ),
    errors.RefundExceedsBalance: "9.99 AED is left to refund, not 10000 minor units",
    errors.RefundIdReused: f"refund {REFUND_ID} exists, for another payment or amount",
    errors.RefundDeclined: (
        f"refund {REFUND_ID} failed (refund_window_closed); nothing was paid out"
    ),
    errors.NoGatewayCanCapture: (
        "no enabled gateway takes AED with manual capture: soap: type soap does not declare"
        " manual_capture"
    ),
    errors.PaymentNotCapturable: (
        f"payment {PAYMENT_ID} was taken with automatic capture: nothing to capture"
    ),
    errors.CaptureExceedsAuthorization: "599.99 AED is left to capture, not 70000 minor units",
    errors.CaptureIdReused: f"capture {CAPTURE_ID} exists, for another payment or amount",
    errors.CaptureDeclined: (
        f"capture {CAPTURE_ID} failed (authorization_expired); nothing was captured"
    ),
    errors.GatewayUnreachable: (
        f"refund {REFUND_ID} failed (gateway-unavailable); nothing was paid out; send the same"
        " request (same refund_id) again to retry it"
    ),
    errors.DatabaseUnavailable: (
        "the database could not be reached; what was recorded before stands, and the request"
        " may be retried with the same ids"
    ),
    errors.Unauthorized: "send `Authorization: Bearer <API key>` with a key this service knows",
}
"""A typical detail of each problem."""
