"""Building blocks for a vendor simulator: an in-memory stand-in for a vendor's API.

Subclass ``VendorSimulator`` with the vendor's routes, error format and notification; it
brings the ASGI plumbing, the standard ``/_simulator/`` control surface the conformance kit
drives, and the vendor's books (payments and refunds idempotent on the caller's reference,
behaviours per amount, call counts, down mode). ``docs/plugin-authors.md`` shows how.
"""

from payments_plugins.simulation.asgi import (
    MAX_REQUEST_BYTES,
    Answer,
    Request,
    Route,
    json_answer,
    json_error,
)
from payments_plugins.simulation.records import (
    CallKind,
    Misbehaviour,
    Notification,
    NotifiedStatus,
    Operation,
    SimulatedPayment,
    SimulatedRefund,
)
from payments_plugins.simulation.vendor import (
    Refusal,
    SimulatorTiming,
    VendorSimulator,
    decoded,
)

__all__ = [
    "MAX_REQUEST_BYTES",
    "Answer",
    "CallKind",
    "Misbehaviour",
    "Notification",
    "NotifiedStatus",
    "Operation",
    "Refusal",
    "Request",
    "Route",
    "SimulatedPayment",
    "SimulatedRefund",
    "SimulatorTiming",
    "VendorSimulator",
    "decoded",
    "json_answer",
    "json_error",
]
