"""Every change of a payment's status goes through one door (``usecases/transitions``)."""

from __future__ import annotations

import uuid

import pytest
from core_fixtures import RuntimeFactory
from payments_platform.lifecycle import PaymentStatus
from payments_platform.usecases import initiate, reads, transitions
from runtime_steps import AED_10
from scripted import accepted, new_script


async def test_a_status_change_the_lifecycle_does_not_have_is_refused_and_writes_nothing(
    scripted_runtime: RuntimeFactory,
) -> None:
    """Every status change goes through one door, which refuses one the lifecycle never
    decides: a use case that asked for it has a bug, and nothing of it is written."""
    name, script = new_script()
    script.answer("initiate", accepted("ext-d"))
    async with scripted_runtime({"gw": name}) as runtime:
        payment_id = uuid.uuid4()
        await initiate.start_payment(runtime.deps, payment_id, AED_10)
        before = await reads.payment_history(runtime.deps, payment_id)
        forbidden = transitions.StatusChange(
            status=PaymentStatus.REFUNDED,
            reason="a bug",
            expected=(PaymentStatus.INITIATED,),
        )

        with pytest.raises(ValueError, match="no change from"):
            await runtime.database.write(
                lambda conn: transitions.change_status(conn, runtime.deps, payment_id, forbidden)
            )

        after = await reads.payment_history(runtime.deps, payment_id)
        assert (after.payment, after.events) == (before.payment, before.events)
