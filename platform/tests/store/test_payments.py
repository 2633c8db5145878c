"""Each conditional update of the store, tested on its own, on both backends.

A use case that moves a payment or settles a refund relies on the statement's own condition
(``... WHERE status = expected``), checked by the database against the row as it stands, not
as the caller read it. A test of the end result passes as long as some other guard (a lock, an
earlier check) happens to hold; these call the store directly with a stale expectation and check
that nothing is written.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from payments_platform.database import Database
from payments_platform.lifecycle import PaymentStatus, RefundStatus
from payments_platform.records import Payment
from payments_platform.store import payments, refunds

InTransaction = Callable[[Callable[[sa.Connection], None]], Awaitable[None]]
NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
LATER = NOW + timedelta(minutes=5)


@pytest.fixture
async def in_transaction(database_url: str) -> AsyncIterator[InTransaction]:
    """Run a test's body in one write transaction of the platform's database."""
    database = Database(database_url)
    await database.migrate()

    async def run(body: Callable[[sa.Connection], None]) -> None:
        await database.write(body)

    try:
        yield run
    finally:
        await database.dispose()


def _new_payment(conn: sa.Connection, status: PaymentStatus) -> Payment:
    payment_id = uuid.uuid4()
    assert payments.insert(
        conn,
        payment_id=payment_id,
        merchant="shop",
        client_id=uuid.uuid4(),
        currency="EUR",
        amount_minor=1000,
        metadata={"order": "42"},
        description=None,
        now=NOW,
    )
    if status is not PaymentStatus.PENDING:
        moved = payments.change(
            conn, payment_id, expected=PaymentStatus.PENDING, status=status, now=NOW
        )
        assert moved is not None
    return payments.load(conn, payment_id)


async def test_a_payment_moves_only_from_the_status_expected(in_transaction: InTransaction) -> None:
    def body(conn: sa.Connection) -> None:
        paid = _new_payment(conn, PaymentStatus.PAID)
        assert (
            payments.change(
                conn,
                paid.id,
                expected=PaymentStatus.INITIATED,
                status=PaymentStatus.FAILED,
                now=LATER,
            )
            is None
        )
        assert payments.load(conn, paid.id) == paid
        moved = payments.change(
            conn, paid.id, expected=PaymentStatus.PAID, status=PaymentStatus.REFUNDED, now=LATER
        )
        assert moved is not None
        assert (moved.status, moved.updated_at) == (PaymentStatus.REFUNDED, LATER)
        assert payments.load(conn, paid.id) == moved

    await in_transaction(body)


async def test_a_gateways_answer_settles_only_the_status_expected(
    in_transaction: InTransaction,
) -> None:
    def body(conn: sa.Connection) -> None:
        failed = _new_payment(conn, PaymentStatus.FAILED)
        refused = payments.change(
            conn,
            failed.id,
            expected=PaymentStatus.INITIATED,
            status=PaymentStatus.PAID,
            failure_code=None,
            gateway="acme",
            external_id="ext-1",
            now=LATER,
        )
        assert refused is None
        assert payments.load(conn, failed.id) == failed
        assert payments.find_by_external_id(conn, ["acme"], "ext-1") is None

        pending = _new_payment(conn, PaymentStatus.PENDING)
        settled = payments.change(
            conn,
            pending.id,
            expected=PaymentStatus.PENDING,
            status=PaymentStatus.INITIATED,
            failure_code=None,
            gateway="acme",
            external_id="ext-2",
            now=LATER,
        )
        assert settled is not None
        assert (settled.status, settled.gateway, settled.external_id) == (
            PaymentStatus.INITIATED,
            "acme",
            "ext-2",
        )
        assert payments.find_by_external_id(conn, ["acme"], "ext-2") == settled
        # Neither the gateway nor its id is cleared by an answer that does not name them.
        again = payments.change(
            conn,
            pending.id,
            expected=PaymentStatus.INITIATED,
            status=PaymentStatus.PAID,
            failure_code=None,
            gateway=None,
            external_id=None,
            now=LATER,
        )
        assert again is not None
        assert (again.gateway, again.external_id) == ("acme", "ext-2")

    await in_transaction(body)


async def test_only_a_rejected_payment_is_reopened(in_transaction: InTransaction) -> None:
    def body(conn: sa.Connection) -> None:
        initiated = _new_payment(conn, PaymentStatus.INITIATED)
        reopened = payments.change(
            conn,
            initiated.id,
            expected=PaymentStatus.REJECTED,
            status=PaymentStatus.PENDING,
            forget_gateway=True,
            now=LATER,
        )
        assert reopened is None
        assert payments.load(conn, initiated.id) == initiated

    await in_transaction(body)


async def test_a_change_sets_what_it_names_and_keeps_the_rest(
    in_transaction: InTransaction,
) -> None:
    """The one store function every status change goes through: the failure code is set (None
    clears it), the gateway and its id only when named, the gateway forgotten only when asked,
    and a refund's amount added to what was refunded."""

    def body(conn: sa.Connection) -> None:
        payment = _new_payment(conn, PaymentStatus.PENDING)
        rejected = payments.change(
            conn,
            payment.id,
            expected=PaymentStatus.PENDING,
            status=PaymentStatus.REJECTED,
            failure_code="not-received",
            gateway="acme",
            now=LATER,
        )
        assert rejected is not None
        assert (rejected.failure_code, rejected.gateway) == ("not-received", "acme")
        reopened = payments.change(
            conn,
            payment.id,
            expected=PaymentStatus.REJECTED,
            status=PaymentStatus.PENDING,
            forget_gateway=True,
            now=LATER,
        )
        assert reopened is not None
        assert (reopened.failure_code, reopened.gateway) == (None, None)
        paid = payments.change(
            conn,
            payment.id,
            expected=PaymentStatus.PENDING,
            status=PaymentStatus.PAID,
            gateway="acme",
            external_id="ext-9",
            now=LATER,
        )
        assert paid is not None
        assert payments.claim_refund_amount(conn, paid, 300, LATER)
        refunded = payments.change(
            conn,
            payment.id,
            expected=PaymentStatus.PAID,
            status=PaymentStatus.PARTIALLY_REFUNDED,
            refunded_minor=300,
            now=LATER,
        )
        assert refunded is not None
        assert (refunded.refunded_minor, refunded.gateway, refunded.external_id) == (
            300,
            "acme",
            "ext-9",
        )

    await in_transaction(body)


async def test_a_refund_settles_only_from_the_status_expected(
    in_transaction: InTransaction,
) -> None:
    def body(conn: sa.Connection) -> None:
        payment = _new_payment(conn, PaymentStatus.PAID)
        refund = refunds.insert(
            conn,
            refund_id=uuid.uuid4(),
            payment_id=payment.id,
            merchant="shop",
            client_refund_id=uuid.uuid4(),
            amount_minor=400,
            gateway="acme",
            now=NOW,
            sent=True,
        )
        assert refund is not None
        succeeded = refunds.finish(
            conn,
            refund.id,
            expected=[refund.status],
            status=RefundStatus.SUCCEEDED,
            external_refund_id="vr-1",
            now=LATER,
        )
        assert succeeded is not None
        assert succeeded.status is RefundStatus.SUCCEEDED
        # A late answer read the refund before it succeeded: it must not overwrite it.
        late = refunds.finish(
            conn,
            refund.id,
            expected=[refund.status],
            status=RefundStatus.FAILED,
            failure_code="declined",
            now=LATER,
        )
        assert late is None
        assert refunds.load(conn, refund.id) == succeeded

    await in_transaction(body)


async def test_a_refund_claim_takes_only_what_is_left(in_transaction: InTransaction) -> None:
    def body(conn: sa.Connection) -> None:
        payment = _new_payment(conn, PaymentStatus.PAID)
        assert payments.claim_refund_amount(conn, payment, 700, LATER)
        # ``payment`` still says nothing is claimed: the row says 700 is.
        assert not payments.claim_refund_amount(conn, payment, 301, LATER)
        assert payments.claim_refund_amount(conn, payment, 300, LATER)
        assert payments.load(conn, payment.id).refund_claimed_minor == 1000
        pending = _new_payment(conn, PaymentStatus.PENDING)
        assert not payments.claim_refund_amount(conn, pending, 1, LATER)

    await in_transaction(body)
