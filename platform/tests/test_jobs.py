"""The outbox (``jobs``): due jobs claimed by one worker each, again once a lease runs out, and
the sweep that guards gateway calls left without an answer, each of its guards on its own.

A call is written down before it is made (an ``in_flight`` attempt, a refund marked sent) and
its end in the transaction that records the answer. A worker's sweep writes the job that
reconciles a call still open ``reconcile_after_seconds`` after it started. It must write that
job once per call: a second sweep of the same call finds the job it wrote (its own guard), and
on PostgreSQL two processes sweeping at once are kept apart by an advisory lock (the second
guard, which the first alone cannot replace under READ COMMITTED).
"""

from __future__ import annotations

import asyncio
import functools
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest
import sqlalchemy as sa
from core_fixtures import RuntimeFactory, WallClock
from payments_platform import jobs
from payments_platform.database import Database
from payments_platform.jobs import Job, JobKind, JobStatus
from payments_platform.lifecycle import AttemptOutcome, PaymentStatus
from payments_platform.schema import jobs as jobs_table
from payments_platform.store import attempts, payments, refunds
from runtime_steps import enqueue_expiries
from scripted import new_script
from store.delivery_rows import DEAD, DELIVERED, PENDING, bury, new_delivery
from store.payment_rows import NOW

STARTED = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
AFTER = 60.0
TRACE = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


@pytest.fixture
async def database(database_url: str) -> AsyncIterator[Database]:
    """The platform's database, migrated."""
    database = Database(database_url)
    await database.migrate()
    try:
        yield database
    finally:
        await database.dispose()


def _payment(conn: sa.Connection, status: PaymentStatus) -> uuid.UUID:
    payment_id = uuid.uuid4()
    payments.insert(
        conn,
        payment_id=payment_id,
        merchant=None,
        client_id=payment_id,
        currency="EUR",
        amount_minor=1000,
        metadata={},
        description=None,
        now=STARTED,
    )
    moved = payments.change(
        conn,
        payment_id,
        expected=PaymentStatus.PENDING,
        status=status,
        failure_code=None,
        gateway="acme",
        external_id="ext-1" if status is PaymentStatus.PAID else None,
        now=STARTED,
    )
    assert moved is not None
    return payment_id


def _call_in_flight(conn: sa.Connection) -> uuid.UUID:
    payment_id = _payment(conn, PaymentStatus.PENDING)
    attempts.insert(
        conn, payment_id=payment_id, gateway="acme", reason="r", now=STARTED, trace_parent=TRACE
    )
    return payment_id


async def _sweep(database: Database, seconds_later: float) -> int:
    now = STARTED + timedelta(seconds=seconds_later)
    return await database.write(
        lambda conn: jobs.guard_calls_in_flight(conn, now=now, after_seconds=AFTER, max_attempts=5)
    )


async def _jobs(database: Database, payment_id: uuid.UUID) -> list[Job]:
    return await database.read(lambda conn: jobs.of_payment(conn, payment_id))


async def test_an_overdue_call_gets_one_reconcile_job_with_its_requests_trace(
    database: Database,
) -> None:
    payment_id = await database.write(_call_in_flight)
    assert await _sweep(database, AFTER - 1) == 0  # still within its time
    assert await _sweep(database, AFTER + 1) == 1
    # The job it wrote is the call's guard: later sweeps leave the call alone, even once the
    # job has run.
    assert await _sweep(database, AFTER + 2) == 0
    [job] = await _jobs(database, payment_id)
    assert (job.kind, job.status, job.trace_parent) == (
        JobKind.RECONCILE,
        JobStatus.PENDING,
        TRACE,
    )
    assert job.run_at == STARTED + timedelta(seconds=AFTER + 1)
    await database.write(
        lambda conn: conn.execute(
            sa.update(jobs_table).where(jobs_table.c.id == job.id).values(status=JobStatus.DONE)
        )
    )
    assert await _sweep(database, AFTER + 3) == 0


async def test_a_call_that_ended_is_never_swept(database: Database) -> None:
    def ended(conn: sa.Connection) -> uuid.UUID:
        payment_id = _payment(conn, PaymentStatus.PENDING)
        attempt = attempts.insert(
            conn, payment_id=payment_id, gateway="acme", reason="r", now=STARTED
        )
        attempts.finish(conn, attempt, outcome=AttemptOutcome.UNAVAILABLE, now=STARTED)
        return payment_id

    payment_id = await database.write(ended)
    assert await _sweep(database, AFTER * 10) == 0
    assert await _jobs(database, payment_id) == []


async def test_an_overdue_refund_gets_one_job_unless_a_job_is_sending_it(
    database: Database,
) -> None:
    def two_refunds(conn: sa.Connection) -> tuple[uuid.UUID, uuid.UUID]:
        payment_id = _payment(conn, PaymentStatus.PAID)
        sent = refunds.insert(
            conn,
            refund_id=uuid.uuid4(),
            payment_id=payment_id,
            merchant=None,
            client_refund_id=uuid.uuid4(),
            amount_minor=100,
            gateway="acme",
            now=STARTED,
            sent=True,
            trace_parent=TRACE,
        )
        queued = refunds.insert(
            conn,
            refund_id=uuid.uuid4(),
            payment_id=payment_id,
            merchant=None,
            client_refund_id=uuid.uuid4(),
            amount_minor=100,
            gateway="acme",
            now=STARTED - timedelta(seconds=1),
            sent=False,
        )
        assert sent is not None
        assert queued is not None
        # The queued refund's job sends it: the job, still running, is its guard.
        jobs.enqueue(
            conn,
            JobKind.REFUND,
            payment_id,
            now=STARTED - timedelta(seconds=1),
            max_attempts=5,
            refund_id=queued.id,
        )
        refunds.mark_sent(conn, queued.id, STARTED)
        return sent.id, queued.id

    sent_id, _queued_id = await database.write(two_refunds)
    assert await _sweep(database, AFTER + 1) == 1
    assert await _sweep(database, AFTER + 2) == 0
    swept = [
        job
        for job in await database.read(lambda conn: conn.execute(sa.select(jobs_table)).all())
        if job.refund_id == sent_id
    ]
    assert [(job.kind, job.trace_parent) for job in swept] == [(JobKind.REFUND, TRACE)]


# SQLite's write lock already lets one sweep run at a time: the lock is PostgreSQL's guard.
@pytest.mark.parametrize("backend", ["postgresql"])
async def test_one_process_sweeps_at_a_time_on_postgresql(database: Database) -> None:
    await database.write(_call_in_flight)
    url = database.url.set(drivername="postgresql").render_as_string(hide_password=False)
    other = await asyncpg.connect(url)
    try:
        transaction = other.transaction()
        await transaction.start()
        # Another process is sweeping: it holds the sweep's lock until it commits.
        await other.execute(f"SELECT pg_advisory_xact_lock({jobs.SWEEP_LOCK})")
        assert await _sweep(database, AFTER + 1) == 0
        await transaction.commit()
    finally:
        await other.close()
    assert await _sweep(database, AFTER + 1) == 1


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


async def test_the_dead_jobs_of_dead_deliveries_are_found_one_each_by_endpoint_and_period(
    database: Database,
) -> None:
    """What a re-send of dead deliveries revives: the dead ``notify`` jobs of dead deliveries,
    the one a delivery was last given when it was sent again before, the longest due first."""

    def body(conn: sa.Connection) -> None:
        old = new_delivery(conn, "shop", DEAD, minutes=-120, job=True)
        recent = new_delivery(conn, "shop", DEAD, job=True)
        elsewhere = new_delivery(conn, "other", DEAD, job=True)
        new_delivery(conn, "shop", PENDING, attempts=2, job=True)  # retrying: not dead
        new_delivery(conn, "shop", DELIVERED, job=True)
        [first] = [job for job in _dead_notify_jobs(conn) if job.delivery_id == recent]
        again = jobs.enqueue(
            conn, JobKind.NOTIFY, first.payment_id, now=NOW, max_attempts=1, delivery_id=recent
        )
        bury(conn, again)  # sent again before, and dead again

        def found(
            endpoint: str | None = None,
            since: datetime | None = None,
            until: datetime | None = None,
        ) -> list[int | None]:
            dead = jobs.dead_delivery_jobs(
                conn, endpoint=endpoint, since=since, until=until, limit=10
            )
            return [job.delivery_id for job in dead]

        assert found() == [old, elsewhere, recent]
        assert found(endpoint="shop", since=NOW - timedelta(hours=1)) == [recent]
        assert found(until=NOW - timedelta(hours=1)) == [old]
        [job] = jobs.dead_delivery_jobs(conn, delivery_id=recent, limit=1)
        assert job.id == again
        assert jobs.dead_delivery_jobs(conn, delivery_id=first.id + 1000, limit=1) == []

    await database.write(body)


def _dead_notify_jobs(conn: sa.Connection) -> list[Job]:
    return jobs.list_jobs(conn, [JobStatus.DEAD], kinds=[JobKind.NOTIFY])
