"""Cancelling a payment its payer has not paid (``usecases/cancel``): the vendor is asked once,
only where its gateway declares it can cancel; every answer, and none, ends where the vendor's
books say."""

from __future__ import annotations

import uuid

import pytest
from core_fixtures import RuntimeFactory, WallClock
from payments_platform import errors
from payments_platform.lifecycle import CANCELLED_HERE, PaymentStatus
from payments_platform.usecases import cancel, initiate, reads
from payments_plugins import (
    CancelRequest,
    CancelResult,
    GatewayDeclined,
    GatewayOutcomeUnknown,
    GatewayUnavailable,
    InitiateResult,
    RedirectAction,
    VendorPaymentStatus,
)
from runtime_steps import AED_10, QUICK, pay, run_due_jobs
from scripted import accepted, new_script, vendor_says

PAGE = RedirectAction(url="https://vendor.example/pay/ext-1")


async def test_a_cancel_asks_the_vendor_once_and_a_replay_answers_the_same(
    scripted_runtime: RuntimeFactory,
) -> None:
    name, script = new_script(capable=True)
    script.answer("initiate", InitiateResult(external_id="ext-1", next_action=PAGE))
    script.answer("cancel", CancelResult())
    async with scripted_runtime({"gw": name}) as runtime:
        client_id = uuid.uuid4()
        started = await initiate.start_payment(runtime.deps, client_id, AED_10)
        done = await cancel.cancel_payment(runtime.deps, client_id)
        assert done.answer is cancel.CancelAnswer.CANCELLED
        assert done.payment.status is PaymentStatus.CANCELLED
        assert done.payment.payer_action is None
        assert script.calls["cancel"] == [
            CancelRequest(payment_id=started.payment.id, external_id="ext-1")
        ]
        again = await cancel.cancel_payment(runtime.deps, client_id)
        assert again.answer is cancel.CancelAnswer.REPEATED
        assert len(script.calls["cancel"]) == 1


async def test_a_gateway_that_cannot_cancel_is_never_asked_and_the_payment_is_cancelled_here(
    scripted_runtime: RuntimeFactory,
) -> None:
    name, script = new_script()  # its type declares no cancel; a call would fail the test
    script.answer("initiate", accepted("ext-2"))
    async with scripted_runtime({"gw": name}) as runtime:
        client_id = uuid.uuid4()
        await initiate.start_payment(runtime.deps, client_id, AED_10)
        done = await cancel.cancel_payment(runtime.deps, client_id)
        assert done.payment.status is PaymentStatus.CANCELLED
        assert done.payment.failure_code == CANCELLED_HERE
        assert script.calls["cancel"] == []

        # Should its vendor take the payer's money after all, its word wins.
        await pay(runtime, client_id)
        after = (await reads.payment_history(runtime.deps, client_id)).payment
        assert after.status is PaymentStatus.PAID


@pytest.mark.parametrize("status", [PaymentStatus.PAID, PaymentStatus.UNKNOWN])
async def test_only_an_initiated_payment_is_cancelled(
    scripted_runtime: RuntimeFactory, status: PaymentStatus
) -> None:
    name, script = new_script(capable=True)
    if status is PaymentStatus.PAID:
        script.answer("initiate", accepted("ext-3"))
    else:
        script.fail("initiate", GatewayOutcomeUnknown("read timeout"))
    async with scripted_runtime({"gw": name}) as runtime:
        client_id = uuid.uuid4()
        await initiate.start_payment(runtime.deps, client_id, AED_10)
        if status is PaymentStatus.PAID:
            await pay(runtime, client_id)
        with pytest.raises(errors.PaymentNotCancellable) as refused:
            await cancel.cancel_payment(runtime.deps, client_id)
        assert refused.value.extra["payment_status"] == status
        assert script.calls["cancel"] == []


async def test_an_unknown_payment_id_is_not_found(scripted_runtime: RuntimeFactory) -> None:
    name, _script = new_script(capable=True)
    async with scripted_runtime({"gw": name}) as runtime:
        with pytest.raises(errors.PaymentNotFound):
            await cancel.cancel_payment(runtime.deps, uuid.uuid4())


async def test_a_vendor_that_cannot_be_reached_cancelled_nothing_and_the_payer_may_still_pay(
    scripted_runtime: RuntimeFactory,
) -> None:
    name, script = new_script(capable=True)
    script.answer("initiate", InitiateResult(external_id="ext-4", next_action=PAGE))
    script.fail("cancel", GatewayUnavailable("connection refused"))
    async with scripted_runtime({"gw": name}) as runtime:
        client_id = uuid.uuid4()
        await initiate.start_payment(runtime.deps, client_id, AED_10)
        with pytest.raises(errors.GatewayUnreachable):
            await cancel.cancel_payment(runtime.deps, client_id)
        after = (await reads.payment_history(runtime.deps, client_id)).payment
        assert after.status is PaymentStatus.INITIATED
        assert after.payer_action == PAGE


async def test_a_cancel_without_an_answer_is_reconciled_by_asking_never_by_cancelling_again(
    scripted_runtime: RuntimeFactory, wall_clock: WallClock
) -> None:
    name, script = new_script(capable=True)
    script.answer("initiate", accepted("ext-5"))
    script.fail("cancel", GatewayOutcomeUnknown("read timeout"))
    script.answer("status", vendor_says(VendorPaymentStatus.CANCELLED, "ext-5"))
    async with scripted_runtime({"gw": name}, **QUICK) as runtime:
        client_id = uuid.uuid4()
        await initiate.start_payment(runtime.deps, client_id, AED_10)
        first = await cancel.cancel_payment(runtime.deps, client_id)
        assert first.answer is cancel.CancelAnswer.IN_PROGRESS
        assert first.payment.status is PaymentStatus.CANCELLING
        again = await cancel.cancel_payment(runtime.deps, client_id)
        assert again.answer is cancel.CancelAnswer.IN_PROGRESS
        assert len(script.calls["cancel"]) == 1

        wall_clock.advance(61)
        await run_due_jobs(runtime)
        after = (await reads.payment_history(runtime.deps, client_id)).payment
        assert after.status is PaymentStatus.CANCELLED
        assert len(script.calls["cancel"]) == 1
        assert len(script.calls["status"]) == 1


async def test_the_payer_s_paid_while_the_cancel_is_in_flight_wins(
    scripted_runtime: RuntimeFactory,
) -> None:
    """The vendor refuses the cancel because its payer paid: the client hears 409 naming the
    status, and the payment is paid, as the vendor's books say."""
    name, script = new_script(capable=True)
    script.answer("initiate", accepted("ext-6"))
    script.fail("cancel", GatewayDeclined("already paid", vendor_code="payment_paid"))
    script.answer("status", vendor_says(VendorPaymentStatus.PAID, "ext-6"))
    async with scripted_runtime({"gw": name}) as runtime:
        client_id = uuid.uuid4()
        await initiate.start_payment(runtime.deps, client_id, AED_10)
        with pytest.raises(errors.CancelRefused) as refused:
            await cancel.cancel_payment(runtime.deps, client_id)
        assert refused.value.extra["payment_status"] == PaymentStatus.PAID
        after = (await reads.payment_history(runtime.deps, client_id)).payment
        assert after.status is PaymentStatus.PAID
