"""The payments' conditional updates (``store/payments``), each tested on its own, on both
backends.

A use case that moves a payment or settles a refund relies on the statement's own condition
(``... WHERE status = expected``), checked by the database against the row as it stands, not
as the caller read it. A test of the end result passes as long as some other guard (a lock, an
earlier check) happens to hold; these call the store directly with a stale expectation and check
that nothing is written.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable

import sqlalchemy as sa
from core_fixtures import RuntimeFactory, WallClock
from payments_platform import store
from payments_platform.lifecycle import PaymentStatus
from payments_platform.store import payments
from payments_platform.usecases import initiate, reads, refunds
from payments_plugins import RefundResult
from runtime_steps import AED_10, pay
from scripted import accepted, new_script

from store.payment_rows import LATER, InTransaction, new_payment


async def test_a_payment_moves_only_from_the_status_expected(in_transaction: InTransaction) -> None:
    def body(conn: sa.Connection) -> None:
        paid = new_payment(conn, PaymentStatus.PAID)
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
        failed = new_payment(conn, PaymentStatus.FAILED)
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

        pending = new_payment(conn, PaymentStatus.PENDING)
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
        initiated = new_payment(conn, PaymentStatus.INITIATED)
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
        payment = new_payment(conn, PaymentStatus.PENDING)
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
        assert (paid.authorized_minor, paid.captured_minor) == (paid.amount_minor,) * 2
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


async def test_a_refund_claim_takes_only_what_is_left(in_transaction: InTransaction) -> None:
    def body(conn: sa.Connection) -> None:
        payment = new_payment(conn, PaymentStatus.PAID)
        assert payments.claim_refund_amount(conn, payment, 700, LATER)
        # ``payment`` still says nothing is claimed: the row says 700 is.
        assert not payments.claim_refund_amount(conn, payment, 301, LATER)
        assert payments.claim_refund_amount(conn, payment, 300, LATER)
        assert payments.load(conn, payment.id).refund_claimed_minor == 1000
        pending = new_payment(conn, PaymentStatus.PENDING)
        assert not payments.claim_refund_amount(conn, pending, 1, LATER)

    await in_transaction(body)


async def test_a_capture_claim_takes_only_what_is_left_of_the_authorization(
    in_transaction: InTransaction,
) -> None:
    # The conditional update is the claim's own guard, whatever the row lock: each call is
    # given the payment as read before any claim (it says nothing is claimed), as a process
    # that did not lock the row would have it.
    def body(conn: sa.Connection) -> None:
        payment = new_payment(conn, PaymentStatus.PENDING)
        authorized = payments.change(
            conn,
            payment.id,
            expected=PaymentStatus.PENDING,
            status=PaymentStatus.AUTHORIZED,
            authorized_minor=1000,
            now=LATER,
        )
        assert authorized is not None
        assert payments.claim_capture_amount(conn, authorized, 700, LATER)
        assert not payments.claim_capture_amount(conn, authorized, 301, LATER)
        assert payments.claim_capture_amount(conn, authorized, 300, LATER)
        assert not payments.claim_capture_amount(conn, authorized, 1, LATER)
        assert payments.load(conn, payment.id).capture_claimed_minor == 1000
        payments.release_capture_amount(conn, payment.id, 300, LATER)
        assert payments.claim_capture_amount(conn, authorized, 300, LATER)
        pending = new_payment(conn, PaymentStatus.PENDING)
        assert not payments.claim_capture_amount(conn, pending, 1, LATER)

    await in_transaction(body)


async def test_a_refund_claim_takes_only_what_is_still_left_whatever_its_caller_read(
    scripted_runtime: RuntimeFactory, wall_clock: WallClock
) -> None:
    name, script = new_script()
    script.answer("initiate", accepted("ext-8c"))
    script.answer("refund", RefundResult(external_refund_id="rf-8c"))
    async with scripted_runtime({"gw": name}) as runtime:
        payment_id = uuid.uuid4()
        await initiate.start_payment(runtime.deps, payment_id, AED_10)
        await pay(runtime, payment_id)
        stale = (await reads.payment_history(runtime.deps, payment_id)).payment
        await refunds.refund_payment(runtime.deps, payment_id, amount_minor=700)

        # The balance condition is the claim's own guard: a claim worked out from a row read
        # before the refund above (1000 left, it says) cannot take more than the 300 left.
        def claim(amount: int) -> Callable[[sa.Connection], bool]:
            return lambda conn: store.payments.claim_refund_amount(
                conn, stale, amount, wall_clock.now
            )

        assert await runtime.database.write(claim(400)) is False
        after = (await reads.payment_history(runtime.deps, payment_id)).payment
        assert after.refund_claimed_minor == 700
        assert await runtime.database.write(claim(300)) is True
        after = (await reads.payment_history(runtime.deps, payment_id)).payment
        assert after.refund_claimed_minor == 1000
