"""What a worker does with each kind of job (``usecases/job_handlers``): a queued payment waits
for its vendor with backoff, and is rejected once its job has run out of attempts."""

from __future__ import annotations

import functools
import uuid

from core_fixtures import RuntimeFactory, WallClock
from payments_platform import jobs
from payments_platform.jobs import JobStatus
from payments_platform.lifecycle import PaymentStatus
from payments_platform.usecases import initiate, reads
from payments_plugins import GatewayUnavailable
from runtime_steps import AED_10, job_rows, run_due_jobs
from scripted import accepted, new_script


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
