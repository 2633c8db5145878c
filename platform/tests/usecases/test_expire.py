"""Expiry (``usecases/expire``): a payment left ``initiated`` too long is expired unless its
gateway says it was paid, one that moved on is left alone, and a late "paid" counts only if the
platform expired the payment by its own judgement."""

from __future__ import annotations

import uuid

import pytest
from core_fixtures import RuntimeFactory, WallClock
from payments_platform import errors
from payments_platform.lifecycle import PaymentStatus
from payments_platform.usecases import initiate, reads, webhooks
from payments_plugins import StatusQuery, StatusReport, VendorPaymentStatus
from runtime_steps import AED_10, pay, run_due_jobs, webhook
from scripted import accepted, new_script, vendor_says


async def test_an_initiated_payment_expires_unless_the_vendor_says_it_was_paid(
    scripted_runtime: RuntimeFactory, wall_clock: WallClock
) -> None:
    name, script = new_script()
    script.answer("initiate", accepted("ext-5")).answer("initiate", accepted("ext-6"))
    vendor_view = {
        "ext-5": vendor_says(VendorPaymentStatus.INITIATED, "ext-5"),
        "ext-6": vendor_says(VendorPaymentStatus.PAID, "ext-6"),
    }

    async def lookup(query: StatusQuery) -> StatusReport:
        return vendor_view[query.external_id or ""]

    script.then("status", lookup).then("status", lookup)
    async with scripted_runtime({"gw": name}, payments={"expire_after_seconds": 3600}) as runtime:
        unpaid, missed_webhook = uuid.uuid4(), uuid.uuid4()
        await initiate.start_payment(runtime.deps, unpaid, AED_10)
        await initiate.start_payment(runtime.deps, missed_webhook, AED_10)
        wall_clock.advance(3599)
        assert await run_due_jobs(runtime) == 0
        wall_clock.advance(2)
        assert await run_due_jobs(runtime) == 2
        assert (
            await reads.payment_history(runtime.deps, unpaid)
        ).payment.status is PaymentStatus.EXPIRED
        paid = (await reads.payment_history(runtime.deps, missed_webhook)).payment
        assert paid.status is PaymentStatus.PAID


async def test_an_expire_job_leaves_a_payment_that_moved_on_alone(
    scripted_runtime: RuntimeFactory, wall_clock: WallClock
) -> None:
    name, script = new_script()
    script.answer("initiate", accepted("ext-7"))
    async with scripted_runtime({"gw": name}, payments={"expire_after_seconds": 60}) as runtime:
        payment_id = uuid.uuid4()
        await initiate.start_payment(runtime.deps, payment_id, AED_10)
        await pay(runtime, payment_id)
        wall_clock.advance(61)
        assert await run_due_jobs(runtime) == 1
        assert script.calls["status"] == []
        assert (
            await reads.payment_history(runtime.deps, payment_id)
        ).payment.status is PaymentStatus.PAID


@pytest.mark.parametrize(
    ("vendor_at_expiry", "failure_code", "late_paid_changes_it"),
    [
        # The platform expired it while the vendor still waited: the payer may pay after all.
        (VendorPaymentStatus.INITIATED, "age-limit", True),
        # The vendor expired it itself: a later "paid" contradicts the vendor's own word.
        (VendorPaymentStatus.EXPIRED, None, False),
    ],
)
async def test_a_late_paid_for_an_expired_payment_counts_only_if_the_platform_expired_it(
    scripted_runtime: RuntimeFactory,
    wall_clock: WallClock,
    vendor_at_expiry: VendorPaymentStatus,
    failure_code: str | None,
    late_paid_changes_it: bool,
) -> None:
    name, script = new_script()
    script.answer("initiate", accepted("ext-e"))
    script.answer("status", vendor_says(vendor_at_expiry, "ext-e"))
    async with scripted_runtime({"gw": name}, payments={"expire_after_seconds": 100}) as runtime:
        payment_id = uuid.uuid4()
        await initiate.start_payment(runtime.deps, payment_id, AED_10)
        wall_clock.advance(101)
        await runtime.worker().run_once()
        expired = (await reads.payment_history(runtime.deps, payment_id)).payment
        assert (expired.status, expired.failure_code) == (PaymentStatus.EXPIRED, failure_code)
        live = runtime.deps.gateways["gw"]

        if late_paid_changes_it:
            outcome = await webhooks.apply_webhook(
                runtime.deps, [live], {}, webhook("ext-e", "paid")
            )
            assert outcome.payment.status is PaymentStatus.PAID
        else:
            with pytest.raises(errors.TransitionNotAllowed):
                await webhooks.apply_webhook(runtime.deps, [live], {}, webhook("ext-e", "paid"))
            payment = (await reads.payment_history(runtime.deps, payment_id)).payment
            assert payment.status is PaymentStatus.EXPIRED
