"""The store: reads and writes of payments, attempts, refunds, events and the rest, a module
per table; the statements every request runs are fixed SQL on the driver (:mod:`.sql`), the
others SQLAlchemy Core.

Each function runs in the transaction it is given (see :mod:`payments_platform.database`);
conditional updates return whether they took effect, which is how two racing requests find out
which one won.
"""

from payments_platform.store import (
    attempts,
    events,
    history,
    listing,
    notifications,
    payments,
    refunds,
)

__all__ = [
    "attempts",
    "events",
    "history",
    "listing",
    "notifications",
    "payments",
    "refunds",
]
