"""Building blocks for a vendor simulator: an in-memory stand-in for a vendor's API.

Subclass ``VendorSimulator`` with the vendor's routes, error format and notification; it
brings the ASGI plumbing, the standard ``/_simulator/`` control surface the conformance kit
drives, the vendor's books (payments and refunds idempotent on the caller's reference, with
each payment's return URL and description; cancel; authorizations captured all or part,
idempotent on the capture's reference, voided, or lapsing; behaviours per amount, call
counts, down mode) and the payer's hosted payment page (Pay, Decline, the vendor's own steps
such as a 3-D Secure challenge; the notification; back to the return URL).
``docs/plugin-authors.md`` shows how.
"""

from payments_plugins.simulation.asgi import (
    MAX_REQUEST_BYTES,
    Answer,
    Request,
    Route,
    json_answer,
    json_error,
    served_at,
)
from payments_plugins.simulation.payment_page import (
    PayerStep,
    StepField,
    StepOutcome,
    StepVerdict,
)
from payments_plugins.simulation.records import (
    CallKind,
    CaptureModeText,
    Misbehaviour,
    Notification,
    NotifiedStatus,
    Operation,
    SimulatedCapture,
    SimulatedPayment,
    SimulatedRefund,
)
from payments_plugins.simulation.vendor import (
    AUTHORIZATION_LIFETIME_SECONDS,
    PAGE_PATH,
    Refusal,
    SimulatorTiming,
    VendorSimulator,
    decoded,
    return_url_problem,
)

__all__ = [
    "AUTHORIZATION_LIFETIME_SECONDS",
    "MAX_REQUEST_BYTES",
    "PAGE_PATH",
    "Answer",
    "CallKind",
    "CaptureModeText",
    "Misbehaviour",
    "Notification",
    "NotifiedStatus",
    "Operation",
    "PayerStep",
    "Refusal",
    "Request",
    "Route",
    "SimulatedCapture",
    "SimulatedPayment",
    "SimulatedRefund",
    "SimulatorTiming",
    "StepField",
    "StepOutcome",
    "StepVerdict",
    "VendorSimulator",
    "decoded",
    "json_answer",
    "json_error",
    "return_url_problem",
    "served_at",
]
