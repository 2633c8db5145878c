"""The worker loop (``worker``): a job whose last lease ran out is dead and never runs again,
stopping a worker lets go of the jobs it claimed and did not start, and the backoff between
attempts doubles, with jitter, up to a cap."""

from __future__ import annotations

import asyncio
import functools
import random
import uuid

import pytest
from core_fixtures import RuntimeFactory, WallClock
from payments_platform import jobs
from payments_platform.config import WorkerSettings
from payments_platform.jobs import JobStatus
from payments_platform.worker import Worker, backoff_delay
from runtime_steps import enqueue_expiries, job_rows
from scripted import new_script


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


@pytest.mark.parametrize(
    ("attempts", "low", "high"), [(1, 1, 2), (2, 2, 4), (5, 16, 32), (30, 150, 300)]
)
def test_backoff_doubles_with_jitter_up_to_a_cap(attempts: int, low: float, high: float) -> None:
    settings = WorkerSettings(backoff_seconds=2, backoff_max_seconds=300)
    rng = random.Random(1)
    delays = [backoff_delay(attempts, settings, rng) for _ in range(200)]
    assert all(low <= delay <= high for delay in delays)
    assert max(delays) - min(delays) > (high - low) / 2  # jittered, not fixed
