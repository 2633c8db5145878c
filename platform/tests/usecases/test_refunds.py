"""Refunding a payment (``usecases/refunds``): the claim of what is left, against refunds whose
outcome is unknown and against a second request for the same refund."""

from __future__ import annotations

import uuid
from collections.abc import Coroutine
from typing import Any

import pytest
from core_fixtures import RuntimeFactory
from databases import behind_a_held_row, postgresql_only
from payments_platform import errors
from payments_platform.lifecycle import PaymentStatus, RefundStatus
from payments_platform.usecases import initiate, reads, refunds
from payments_plugins import Amount, GatewayOutcomeUnknown, RefundResult
from runtime_steps import pay
from scripted import accepted, new_script

AED_10 = Amount(1000, "AED")


@postgresql_only  # only PostgreSQL runs two writers at once; SQLite serialises them
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


async def test_while_an_unknown_refund_holds_the_whole_balance_another_refund_is_refused(
    scripted_runtime: RuntimeFactory,
) -> None:
    name, script = new_script()
    script.answer("initiate", accepted("ext-8b"))
    script.fail("refund", GatewayOutcomeUnknown("read timeout"))
    async with scripted_runtime({"gw": name}) as runtime:
        payment_id = uuid.uuid4()
        await initiate.start_payment(runtime.deps, payment_id, AED_10)
        await pay(runtime, payment_id)
        unknown = await refunds.refund_payment(runtime.deps, payment_id)
        assert unknown.refund.status is RefundStatus.UNKNOWN
        assert unknown.payment.refundable_minor == 0
        for amount in (None, 1):
            with pytest.raises(errors.RefundExceedsBalance) as refused:
                await refunds.refund_payment(runtime.deps, payment_id, amount_minor=amount)
            assert refused.value.extra["refundable_fractions"] == 0
        # Only the first refund reached the gateway; the script would fail any other call.
        assert len(script.calls["refund"]) == 1
        history = await reads.payment_history(runtime.deps, payment_id)
        assert history.payment.status is PaymentStatus.PAID
        assert [refund.status for refund in history.refunds] == [RefundStatus.UNKNOWN]
