"""The row lock of each claim, tested on its own (PostgreSQL, where writers run concurrently).

Every claim of a payment first locks its row (``SELECT ... FOR UPDATE``) and then changes it
with a conditional update. The conditional update alone keeps money from moving twice, so tests
of the end result pass without the lock; these tests hold the payment's row from outside, let
two requests queue behind it, and check that each one reads the row only once it holds it: the
second then sees what the first did, and answers as a repeat instead of failing.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Coroutine
from typing import Any

import asyncpg
import pytest
from core_fixtures import RuntimeFactory
from payments_platform import errors
from payments_platform.lifecycle import PaymentStatus, RefundStatus
from payments_platform.runtime import Runtime
from payments_platform.usecases import initiate, reads, refunds
from payments_plugins import Amount, GatewayUnavailable, RefundResult
from scripted import accepted, new_script

from .test_lifecycle_flows import pay

AED_10 = Amount(1000, "AED")


@pytest.fixture
def backend() -> str:
    """Only PostgreSQL runs two writers at once; SQLite serialises them instead."""
    return "postgresql"


class HeldRow:
    """A transaction from outside the platform holding one payment's row lock."""

    def __init__(self, connection: asyncpg.Connection, database: str) -> None:
        self.connection = connection
        self.database = database

    async def waiting(self) -> int:
        """How many other sessions of the database are waiting for a lock."""
        # Within a transaction the statistics views keep their first snapshot unless told.
        await self.connection.execute("SELECT pg_stat_clear_snapshot()")
        count: int = await self.connection.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = $1 AND wait_event_type = 'Lock'",
            self.database,
        )
        return count


async def behind_a_held_row(
    runtime: Runtime, payment_id: uuid.UUID, calls: list[Callable[[], Coroutine[Any, Any, Any]]]
) -> list[Any]:
    """Start ``calls`` while the payment's row is locked; release it once all of them wait."""
    url = runtime.database.url
    connection = await asyncpg.connect(
        url.set(drivername="postgresql").render_as_string(hide_password=False)
    )
    try:
        held = HeldRow(connection, url.database or "")
        transaction = connection.transaction()
        await transaction.start()
        await connection.execute("SELECT 1 FROM payments WHERE id = $1 FOR UPDATE", payment_id)
        tasks = [asyncio.create_task(call()) for call in calls]
        for _ in range(500):
            if await held.waiting() == len(calls):
                break
            await asyncio.sleep(0.01)
        else:
            raise AssertionError("the requests never queued behind the held row")
        await transaction.commit()
        return await asyncio.gather(*tasks, return_exceptions=True)
    finally:
        await connection.close()


async def test_two_refunds_with_one_refund_id_queue_on_the_payment_row(
    scripted_runtime: RuntimeFactory,
) -> None:
    name, script = new_script()
    script.answer("initiate", accepted("ext-lock-1"))
    script.answer("refund", RefundResult(external_refund_id="rf-lock-1"))
    async with scripted_runtime({"gw": name}) as runtime:
        payment_id = uuid.uuid4()
        await initiate.start_payment(runtime.deps, payment_id, AED_10)
        await pay(runtime, payment_id)
        refund_id = uuid.uuid4()

        def refund() -> Coroutine[Any, Any, Any]:
            return refunds.refund_payment(
                runtime.deps, payment_id, amount_minor=100, client_refund_id=refund_id
            )

        answers = await behind_a_held_row(runtime, payment_id, [refund, refund])

        failures = [answer for answer in answers if isinstance(answer, BaseException)]
        assert failures == []
        assert sorted(answer.created for answer in answers) == [False, True]
        assert {answer.refund.id for answer in answers} == {refund_id}
        assert len(script.calls["refund"]) == 1
        history = await reads.payment_history(runtime.deps, payment_id)
        assert [(r.id, r.status) for r in history.refunds] == [(refund_id, RefundStatus.SUCCEEDED)]
        assert history.payment.refunded_minor == 100


async def test_two_retries_of_a_rejected_payment_queue_on_its_row(
    scripted_runtime: RuntimeFactory,
) -> None:
    name, script = new_script()
    script.fail("initiate", GatewayUnavailable("connection refused"))
    script.answer("initiate", accepted("ext-lock-2"))
    async with scripted_runtime({"gw": name}) as runtime:
        payment_id = uuid.uuid4()
        with pytest.raises(errors.NoGatewayAvailable) as first:
            await initiate.start_payment(runtime.deps, payment_id, AED_10)
        assert first.value.payment is not None
        assert first.value.payment.status is PaymentStatus.REJECTED

        def retry() -> Coroutine[Any, Any, Any]:
            return initiate.start_payment(runtime.deps, payment_id, AED_10)

        answers = await behind_a_held_row(runtime, payment_id, [retry, retry])

        # The second reads the row after the first moved it: the payment is on its way (or
        # already initiated), never the rejection the first retry just undid.
        routed = [a for a in answers if not isinstance(a, BaseException)]
        refused = [a for a in answers if isinstance(a, BaseException)]
        assert routed
        assert all(a.payment.status is PaymentStatus.INITIATED for a in routed), routed
        assert all(isinstance(a, errors.PaymentInProgress) for a in refused), refused
        assert len(script.calls["initiate"]) == 2
        history = await reads.payment_history(runtime.deps, payment_id)
        assert history.payment.status is PaymentStatus.INITIATED
