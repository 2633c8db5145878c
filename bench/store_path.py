"""Micro-benchmark of the store's own path, in this process, on the run's database: the
statements a webhook's transition runs (the payment read for update, its conditional change,
its event) and a read of its attempts, for a batch of payments in one transaction.

Process CPU, not wall time: what the store's code and the driver cost, without the HTTP
server, the event loop's other work or the machine's drift between runs (the bench's HTTP
figures move by several percent from one run to the next; this one by about one).
"""

from __future__ import annotations

import asyncio
import statistics
import time
import uuid
from datetime import UTC, datetime

import msgspec
import sqlalchemy as sa
from payments_platform.database import Database
from payments_platform.lifecycle import PaymentStatus
from payments_platform.store import attempts, events, payments

PAYMENTS = 200
ROUNDS = 15
MERCHANT = "bench-store-path"


class StorePathSpeed(msgspec.Struct, frozen=True, kw_only=True):
    """Microseconds of process CPU per payment: read locked, changed, event, attempts read."""

    backend: str
    median_us: float
    best_us: float


def measure_store_path(url: str) -> StorePathSpeed:
    """Time the store's path on the (migrated) database at ``url``."""
    return asyncio.run(_measure(url))


async def _measure(url: str) -> StorePathSpeed:
    database = Database(url)
    await database.migrate()
    ids = [uuid.uuid4() for _ in range(PAYMENTS)]

    def store(conn: sa.Connection) -> None:
        now = datetime.now(UTC)
        for payment_id in ids:
            payments.insert(
                conn,
                payment_id=payment_id,
                merchant=MERCHANT,
                client_id=payment_id,
                currency="AED",
                amount_minor=1000,
                metadata={"order": "A-1"},
                description="store path",
                now=now,
            )

    def path(conn: sa.Connection) -> None:
        now = datetime.now(UTC)
        for payment_id in ids:
            payment = payments.load(conn, payment_id, for_update=True)
            payments.change(
                conn, payment_id, expected=payment.status, status=PaymentStatus.PENDING, now=now
            )
            events.record(conn, payment_id=payment_id, kind="bench", now=now, detail={"n": 1})
            attempts.of_payment(conn, payment_id)

    try:
        await database.write(store)
        await database.write(path)  # warm the caches (prepared statements, imports)
        rounds = []
        for _ in range(ROUNDS):
            started = time.process_time()
            await database.write(path)
            rounds.append((time.process_time() - started) / PAYMENTS * 1e6)
    finally:
        await database.dispose()
    return StorePathSpeed(
        backend=sa.make_url(url).get_backend_name(),
        median_us=statistics.median(rounds),
        best_us=min(rounds),
    )
