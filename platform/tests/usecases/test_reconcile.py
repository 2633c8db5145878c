"""Reconciliation (``usecases/reconcile``): a call whose answer was lost, or whose process died
before recording it, is settled by asking the gateway, for payments and refunds alike; only what
the vendor says it never received is sent again, under the same reference.

Gateways are played by scripts (no network), the database is real (SQLite and PostgreSQL), and
workers are driven by hand with a wall clock the test moves.
"""

from __future__ import annotations

import asyncio
import uuid

import pytest
from core_fixtures import RuntimeFactory, WallClock
from payments_platform import errors
from payments_platform.jobs import JobStatus
from payments_platform.lifecycle import PaymentStatus, RefundStatus
from payments_platform.usecases import initiate, reads, refunds
from payments_plugins import (
    Amount,
    GatewayOutcomeUnknown,
    RefundResult,
    RefundStatusReport,
    VendorPaymentStatus,
    VendorRefundStatus,
)
from runtime_steps import job_rows, pay, run_due_jobs
from scripted import accepted, new_script, vendor_says

AED_10 = Amount(1000, "AED")


async def test_an_unknown_outcome_is_reconciled_from_fetch_status_without_a_second_initiate(
    scripted_runtime: RuntimeFactory, wall_clock: WallClock
) -> None:
    name, script = new_script()
    script.fail("initiate", GatewayOutcomeUnknown("read timeout"))
    script.answer("status", vendor_says(VendorPaymentStatus.PAID, "ext-1"))
    backup_name, backup = new_script()
    priority = {"strategy": "priority"}
    async with scripted_runtime({"gw": name, "backup": backup_name}, routing=priority) as runtime:
        payment_id = uuid.uuid4()
        outcome = await initiate.start_payment(runtime.deps, payment_id, AED_10)
        assert outcome.payment.status is PaymentStatus.UNKNOWN
        assert outcome.payment.gateway == "gw"
        assert backup.calls["initiate"] == []  # never fail over after an ambiguous outcome

        assert await run_due_jobs(runtime) == 0  # the reconcile job is not due yet
        wall_clock.advance(5)
        assert await run_due_jobs(runtime) == 1

        reconciled = (await reads.payment_history(runtime.deps, payment_id)).payment
        assert reconciled.status is PaymentStatus.PAID
        assert reconciled.external_id == "ext-1"
        assert len(script.calls["initiate"]) == 1
        [query] = script.calls["status"]
        assert (query.payment_id, query.external_id) == (payment_id, None)


async def test_a_payment_the_vendor_never_received_is_rejected_and_may_be_sent_again(
    scripted_runtime: RuntimeFactory, wall_clock: WallClock
) -> None:
    name, script = new_script()
    script.fail("initiate", GatewayOutcomeUnknown("connection reset"))
    script.answer("status", vendor_says(VendorPaymentStatus.NOT_FOUND))
    script.answer("status", vendor_says(VendorPaymentStatus.NOT_FOUND))
    script.answer("initiate", accepted("ext-2"))
    async with scripted_runtime({"gw": name}, payments={"reconcile_after_seconds": 60}) as runtime:
        payment_id = uuid.uuid4()
        await initiate.start_payment(runtime.deps, payment_id, AED_10)
        wall_clock.advance(5)
        await run_due_jobs(runtime)
        # The call may still be in the vendor's queue: "no such payment" is not believed yet.
        asked_early = (await reads.payment_history(runtime.deps, payment_id)).payment
        assert asked_early.status is PaymentStatus.UNKNOWN
        wall_clock.advance(56)
        await run_due_jobs(runtime)
        rejected = (await reads.payment_history(runtime.deps, payment_id)).payment
        assert (rejected.status, rejected.failure_code) == (PaymentStatus.REJECTED, "not-received")

        again = await initiate.start_payment(runtime.deps, payment_id, AED_10)
        assert again.payment.status is PaymentStatus.INITIATED
        assert again.payment.external_id == "ext-2"


async def test_a_call_whose_process_died_is_reconciled_by_its_guard_job(
    scripted_runtime: RuntimeFactory, wall_clock: WallClock
) -> None:
    name, script = new_script()
    reached_vendor = asyncio.Event()

    async def hang(_request: object) -> object:
        reached_vendor.set()
        await asyncio.Event().wait()  # the answer never comes: the process dies first
        raise AssertionError("unreachable")

    script.then("initiate", hang)
    script.answer("status", vendor_says(VendorPaymentStatus.INITIATED, "ext-3"))
    async with scripted_runtime({"gw": name}, payments={"reconcile_after_seconds": 60}) as runtime:
        payment_id = uuid.uuid4()
        call = asyncio.create_task(initiate.start_payment(runtime.deps, payment_id, AED_10))
        await reached_vendor.wait()
        call.cancel()  # nothing after the gateway call runs, as if the process were killed
        with pytest.raises(asyncio.CancelledError):
            await call

        history = await reads.payment_history(runtime.deps, payment_id)
        assert history.payment.status is PaymentStatus.PENDING
        assert [a.outcome for a in history.attempts] == ["in_flight"]

        wall_clock.advance(59)
        assert await run_due_jobs(runtime) == 0
        wall_clock.advance(2)
        await run_due_jobs(runtime)
        history = await reads.payment_history(runtime.deps, payment_id)
        assert history.payment.status is PaymentStatus.INITIATED
        assert history.payment.external_id == "ext-3"
        assert [a.outcome for a in history.attempts] == ["unknown"]
        assert len(script.calls["initiate"]) == 1


async def test_a_refund_with_a_lost_answer_is_reconciled_from_the_vendors_refund_status(
    scripted_runtime: RuntimeFactory, wall_clock: WallClock
) -> None:
    name, script = new_script()
    script.answer("initiate", accepted("ext-8"))
    script.fail("refund", GatewayOutcomeUnknown("read timeout"))
    script.answer("refund_status", RefundStatusReport(status=VendorRefundStatus.PENDING)).answer(
        "refund_status",
        RefundStatusReport(status=VendorRefundStatus.SUCCEEDED, external_refund_id="rf-1"),
    )
    async with scripted_runtime({"gw": name}) as runtime:
        payment_id = uuid.uuid4()
        await initiate.start_payment(runtime.deps, payment_id, AED_10)
        await pay(runtime, payment_id)
        outcome = await refunds.refund_payment(runtime.deps, payment_id, amount_minor=400)
        assert outcome.refund.status is RefundStatus.UNKNOWN
        # The claim is held while nobody knows: no second refund can take the same money.
        assert outcome.payment.refundable_minor == 600
        with pytest.raises(errors.RefundExceedsBalance):
            await refunds.refund_payment(runtime.deps, payment_id, amount_minor=601)

        wall_clock.advance(5)
        await run_due_jobs(runtime)  # the vendor is still processing it
        [job] = [j for j in await job_rows(runtime) if j.kind == "refund"]
        assert job.status is JobStatus.PENDING
        assert job.last_error is not None
        assert "still processing" in job.last_error
        wall_clock.advance(600)
        await run_due_jobs(runtime)

        history = await reads.payment_history(runtime.deps, payment_id)
        [refund] = history.refunds
        assert (refund.status, refund.external_refund_id) == (RefundStatus.SUCCEEDED, "rf-1")
        assert history.payment.status is PaymentStatus.PARTIALLY_REFUNDED
        assert history.payment.refunded_minor == 400
        assert len(script.calls["refund"]) == 1


async def test_a_refund_the_vendor_never_received_is_sent_again_under_the_same_reference(
    scripted_runtime: RuntimeFactory, wall_clock: WallClock
) -> None:
    name, script = new_script()
    script.answer("initiate", accepted("ext-9"))
    script.fail("refund", GatewayOutcomeUnknown("connection reset"))
    script.answer("refund_status", RefundStatusReport(status=VendorRefundStatus.NOT_FOUND))
    script.answer("refund", RefundResult(external_refund_id="rf-2"))
    async with scripted_runtime({"gw": name}) as runtime:
        payment_id = uuid.uuid4()
        await initiate.start_payment(runtime.deps, payment_id, AED_10)
        await pay(runtime, payment_id)
        first = await refunds.refund_payment(runtime.deps, payment_id)
        wall_clock.advance(5)
        await run_due_jobs(runtime)
        history = await reads.payment_history(runtime.deps, payment_id)
        assert history.payment.status is PaymentStatus.REFUNDED
        sent, resent = script.calls["refund"]
        assert sent.refund_id == resent.refund_id == first.refund.id
