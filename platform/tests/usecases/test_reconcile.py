"""The payment lifecycle through crashes, lost answers, reordered webhooks, queues and expiry.

Gateways are played by scripts (no network), the database is real (SQLite and PostgreSQL), and
workers are driven by hand with a wall clock the test moves.
"""

from __future__ import annotations

import asyncio
import functools
import random
import uuid
from collections.abc import Callable
from datetime import datetime

import msgspec
import pytest
import sqlalchemy as sa
from core_fixtures import RuntimeFactory, WallClock
from payments_platform import errors, jobs, store
from payments_platform.config import WorkerSettings
from payments_platform.jobs import JobStatus
from payments_platform.lifecycle import PaymentStatus, RefundStatus
from payments_platform.runtime import Runtime
from payments_platform.schema import jobs as jobs_table
from payments_platform.usecases import initiate, reads, refunds, transitions, webhooks
from payments_platform.worker import Worker, backoff_delay
from payments_plugins import (
    Amount,
    GatewayDeclined,
    GatewayOutcomeUnknown,
    GatewayUnavailable,
    RefundResult,
    RefundStatusReport,
    StatusQuery,
    StatusReport,
    VendorPaymentStatus,
    VendorRefundStatus,
    WebhookEvent,
)
from scripted import accepted, new_script, vendor_says

AED_10 = Amount(1000, "AED")


async def run_due_jobs(runtime: Runtime) -> int:
    return await runtime.worker().run_once()


async def job_rows(runtime: Runtime) -> list[jobs.Job]:
    return await runtime.database.read(lambda conn: jobs.list_jobs(conn, list(JobStatus)))


async def enqueue_expiries(runtime: Runtime, count: int, now: datetime) -> None:
    def enqueue(conn: sa.Connection) -> None:
        for _ in range(count):
            jobs.enqueue(conn, jobs.JobKind.EXPIRE, uuid.uuid4(), now=now, max_attempts=3)

    await runtime.database.write(enqueue)


async def pay(runtime: Runtime, payment_id: uuid.UUID, gateway: str = "gw") -> None:
    payment = (await reads.payment_history(runtime.deps, payment_id)).payment
    live = runtime.deps.gateways[gateway]
    body = msgspec.json.encode(
        WebhookEvent(external_id=payment.external_id or "", status=VendorPaymentStatus.PAID)
    )
    await webhooks.apply_webhook(runtime.deps, [live], {}, body)


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


async def test_a_webhook_before_the_init_answer_is_applied_once_the_answer_is_recorded(
    scripted_runtime: RuntimeFactory,
) -> None:
    name, script = new_script()
    async with scripted_runtime({"gw": name}) as runtime:
        live = runtime.deps.gateways["gw"]

        async def notify_then_answer(_request: object) -> object:
            # The vendor's webhook overtakes its own answer to the initiate.
            body = msgspec.json.encode(
                WebhookEvent(external_id="ext-4", status=VendorPaymentStatus.PAID)
            )
            with pytest.raises(errors.PaymentNotFound):
                await webhooks.apply_webhook(runtime.deps, [live], {}, body)
            return accepted("ext-4")

        script.then("initiate", notify_then_answer)
        payment_id = uuid.uuid4()
        outcome = await initiate.start_payment(runtime.deps, payment_id, AED_10)
        assert outcome.payment.status is PaymentStatus.PAID
        history = await reads.payment_history(runtime.deps, payment_id)
        replayed = [e for e in history.events if e.kind == "webhook_replayed"]
        assert [(e.from_status, e.to_status, e.accepted) for e in replayed] == [
            ("initiated", "paid", True)
        ]


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


async def test_queued_payments_wait_for_the_vendor_with_backoff_then_complete(
    scripted_runtime: RuntimeFactory, wall_clock: WallClock
) -> None:
    name, script = new_script()
    script.fail("initiate", GatewayUnavailable("connection refused"))
    script.fail("initiate", GatewayUnavailable("connection refused"))
    script.answer("initiate", accepted("ext-10"))
    worker = {"backoff_seconds": 10, "backoff_max_seconds": 1000, "max_attempts": 5}
    async with scripted_runtime(
        {"gw": name}, payments={"dispatch": "queue"}, worker=worker
    ) as runtime:
        payment_id = uuid.uuid4()
        queued = await initiate.start_payment(runtime.deps, payment_id, AED_10)
        assert queued.payment.status is PaymentStatus.PENDING
        assert script.calls["initiate"] == []

        await run_due_jobs(runtime)
        [job] = [j for j in await job_rows(runtime) if j.kind == "initiate"]
        assert (job.status, job.attempts) == (JobStatus.PENDING, 1)
        delay = (job.run_at - wall_clock.now).total_seconds()
        assert 5 <= delay <= 10  # first backoff step, half of it jittered

        wall_clock.advance(10)
        await run_due_jobs(runtime)
        [job] = [j for j in await job_rows(runtime) if j.kind == "initiate"]
        delay = (job.run_at - wall_clock.now).total_seconds()
        assert 10 <= delay <= 20  # doubled
        assert (
            await reads.payment_history(runtime.deps, payment_id)
        ).payment.status is PaymentStatus.PENDING

        wall_clock.advance(20)
        await run_due_jobs(runtime)
        done = (await reads.payment_history(runtime.deps, payment_id)).payment
        assert (done.status, done.external_id) == (PaymentStatus.INITIATED, "ext-10")
        [job] = [j for j in await job_rows(runtime) if j.kind == "initiate"]
        assert job.status is JobStatus.DONE


async def test_a_queued_payment_is_rejected_and_its_job_dead_after_the_last_attempt(
    scripted_runtime: RuntimeFactory, wall_clock: WallClock
) -> None:
    name, script = new_script()
    for _ in range(2):
        script.fail("initiate", GatewayUnavailable("connection refused"))
    worker = {"backoff_seconds": 1, "max_attempts": 2}
    async with scripted_runtime(
        {"gw": name}, payments={"dispatch": "queue"}, worker=worker
    ) as runtime:
        payment_id = uuid.uuid4()
        await initiate.start_payment(runtime.deps, payment_id, AED_10)
        await run_due_jobs(runtime)
        wall_clock.advance(5)
        await run_due_jobs(runtime)
        [job] = [j for j in await job_rows(runtime) if j.kind == "initiate"]
        assert (job.status, job.attempts) == (JobStatus.DEAD, 2)
        payment = (await reads.payment_history(runtime.deps, payment_id)).payment
        assert (payment.status, payment.failure_code) == (
            PaymentStatus.REJECTED,
            "no-gateway-available",
        )
        revive = functools.partial(jobs.revive, job_id=job.id, now=wall_clock.now)
        assert await runtime.database.write(revive)
        assert not await runtime.database.write(revive)

        # The operator revived it once the vendor was back: the payment goes through.
        script.answer("initiate", accepted("ext-11"))
        await run_due_jobs(runtime)
        revived = (await reads.payment_history(runtime.deps, payment_id)).payment
        assert (revived.status, revived.external_id) == (PaymentStatus.INITIATED, "ext-11")


async def test_a_job_whose_worker_died_is_claimed_again_when_its_lease_runs_out(
    scripted_runtime: RuntimeFactory, wall_clock: WallClock
) -> None:
    name, _script = new_script()
    async with scripted_runtime({"gw": name}, worker={"lease_seconds": 30}) as runtime:
        await runtime.database.write(
            lambda conn: jobs.enqueue(
                conn, jobs.JobKind.EXPIRE, uuid.uuid4(), now=wall_clock.now, max_attempts=3
            )
        )

        def claim(worker_id: str) -> Callable[[sa.Connection], list[jobs.Job]]:
            return functools.partial(
                jobs.claim, worker_id=worker_id, now=wall_clock.now, lease_seconds=30, limit=10
            )

        [claimed] = await runtime.database.write(claim("dead-worker"))
        assert await runtime.database.write(claim("other")) == []
        wall_clock.advance(31)
        [again] = await runtime.database.write(claim("other"))
        assert again.id == claimed.id
        assert (again.attempts, again.locked_by) == (2, "other")


async def test_a_job_whose_worker_died_on_its_last_attempt_is_dead_and_never_runs_again(
    scripted_runtime: RuntimeFactory, wall_clock: WallClock
) -> None:
    name, _script = new_script()
    async with scripted_runtime({"gw": name}, worker={"lease_seconds": 30}) as runtime:
        await runtime.database.write(
            lambda conn: jobs.enqueue(
                conn, jobs.JobKind.EXPIRE, uuid.uuid4(), now=wall_clock.now, max_attempts=1
            )
        )
        # A worker claims it and dies under it: its one attempt is spent.
        [claimed] = await runtime.database.write(
            functools.partial(
                jobs.claim, worker_id="dead-worker", now=wall_clock.now, lease_seconds=30, limit=1
            )
        )
        assert claimed.attempts == claimed.max_attempts == 1
        wall_clock.advance(31)
        ran: list[int] = []

        async def handler(job: jobs.Job) -> None:
            ran.append(job.id)

        worker = Worker(runtime.database, handler, runtime.settings.worker, wall_clock)
        assert await worker.run_once() == 1
        assert ran == []
        [job] = await job_rows(runtime)
        assert (job.status, job.attempts, job.max_attempts) == (JobStatus.DEAD, 2, 1)
        assert job.last_error == "the last attempt's lease ran out"
        assert await worker.run_once() == 0


async def test_stopping_a_worker_releases_claimed_jobs_it_did_not_start(
    scripted_runtime: RuntimeFactory, wall_clock: WallClock
) -> None:
    name, _script = new_script()
    async with scripted_runtime({"gw": name}, worker={"concurrency": 1, "batch": 5}) as runtime:
        await enqueue_expiries(runtime, 3, wall_clock.now)
        started = asyncio.Event()
        release = asyncio.Event()

        async def slow(_job: jobs.Job) -> None:
            started.set()
            await release.wait()

        worker = Worker(runtime.database, slow, runtime.settings.worker, runtime.deps.clock)
        batch = asyncio.create_task(worker.run_once())
        await started.wait()
        worker.stop()
        release.set()
        assert await batch == 3
        statuses = sorted((j.status, j.attempts) for j in await job_rows(runtime))
        assert statuses == [
            (JobStatus.DONE, 1),
            (JobStatus.PENDING, 0),
            (JobStatus.PENDING, 0),
        ]


async def test_due_jobs_are_claimed_by_exactly_one_of_several_workers(
    scripted_runtime: RuntimeFactory, wall_clock: WallClock
) -> None:
    name, _script = new_script()
    async with scripted_runtime({"gw": name}) as runtime:
        await enqueue_expiries(runtime, 40, wall_clock.now)

        async def claim_as(worker_id: str) -> list[int]:
            taken: list[int] = []
            while True:
                batch = await runtime.database.write(
                    functools.partial(
                        jobs.claim,
                        worker_id=worker_id,
                        now=wall_clock.now,
                        lease_seconds=60,
                        limit=3,
                    )
                )
                if not batch:
                    return taken
                taken += [job.id for job in batch]

        claims = await asyncio.gather(*(claim_as(f"w{i}") for i in range(4)))
        every = [job_id for taken in claims for job_id in taken]
        assert len(every) == len(set(every)) == 40
        running = await runtime.database.read(
            lambda conn: conn.scalar(
                sa.select(sa.func.count()).where(jobs_table.c.status == JobStatus.RUNNING)
            )
        )
        assert running == 40


@pytest.mark.parametrize(
    ("attempts", "low", "high"), [(1, 1, 2), (2, 2, 4), (5, 16, 32), (30, 150, 300)]
)
def test_backoff_doubles_with_jitter_up_to_a_cap(attempts: int, low: float, high: float) -> None:
    settings = WorkerSettings(backoff_seconds=2, backoff_max_seconds=300)
    rng = random.Random(1)
    delays = [backoff_delay(attempts, settings, rng) for _ in range(200)]
    assert all(low <= delay <= high for delay in delays)
    assert max(delays) - min(delays) > (high - low) / 2  # jittered, not fixed


@pytest.mark.parametrize("vendor_id", ["x" * 256, "ext\x00id"], ids=["long", "nul"])
async def test_a_vendor_id_that_cannot_be_stored_is_an_unknown_outcome_not_a_crash(
    scripted_runtime: RuntimeFactory, vendor_id: str
) -> None:
    name, script = new_script()
    script.answer("initiate", accepted(vendor_id))
    async with scripted_runtime({"gw": name}) as runtime:
        outcome = await initiate.start_payment(runtime.deps, uuid.uuid4(), AED_10)
        assert outcome.payment.status is PaymentStatus.UNKNOWN
        assert outcome.payment.external_id is None


async def test_a_decline_code_longer_than_stored_is_cut_not_a_crash(
    scripted_runtime: RuntimeFactory,
) -> None:
    name, script = new_script()
    script.fail("initiate", GatewayDeclined("no", vendor_code="c" * 500))
    async with scripted_runtime({"gw": name}) as runtime:
        with pytest.raises(errors.PaymentDeclined) as declined:
            await initiate.start_payment(runtime.deps, uuid.uuid4(), AED_10)
        assert declined.value.payment is not None
        assert declined.value.payment.status is PaymentStatus.REJECTED
        assert declined.value.payment.failure_code == "c" * 64


async def test_a_decline_whose_code_and_message_hold_nul_characters_is_recorded(
    scripted_runtime: RuntimeFactory,
) -> None:
    name, script = new_script()
    script.fail("initiate", GatewayDeclined("card\x00 refused", vendor_code="do\x00_not_honour"))
    async with scripted_runtime({"gw": name}) as runtime:
        payment_id = uuid.uuid4()
        with pytest.raises(errors.PaymentDeclined) as declined:
            await initiate.start_payment(runtime.deps, payment_id, AED_10)
        assert declined.value.payment is not None
        assert declined.value.payment.status is PaymentStatus.REJECTED
        assert declined.value.payment.failure_code == "do_not_honour"
        history = await reads.payment_history(runtime.deps, payment_id)
        assert history.attempts[-1].error == "card\ufffd refused"
        assert any("card\ufffd refused" in (event.reason or "") for event in history.events)


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
