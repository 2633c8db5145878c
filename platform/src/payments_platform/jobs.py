"""The transactional outbox: jobs written with the state change that needs them, run by workers.

A job row is inserted in the same transaction as the change that calls for it, so the two are
never separated by a crash. Workers claim due jobs (``FOR UPDATE SKIP LOCKED`` on PostgreSQL; on
SQLite the write lock serialises claims), hold them under a lease, and on failure put them back
with exponential backoff and jitter; after the last attempt a job is parked as ``dead`` until an
operator revives it. A job whose worker died is claimed again once its lease has run out.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import os
import random
import socket
import uuid
from collections.abc import Awaitable, Callable, Collection
from datetime import datetime, timedelta
from typing import Annotated

import msgspec
import sqlalchemy as sa

from payments_platform.database import Database
from payments_platform.records import from_row
from payments_platform.schema import jobs

logger = logging.getLogger(__name__)


class JobKind(enum.StrEnum):
    """What a job does."""

    INITIATE = "initiate"
    """Route a queued payment to a gateway."""
    REFUND = "refund"
    """Send a queued refund, or find out what became of one sent without a recorded answer."""
    RECONCILE = "reconcile"
    """Ask the gateway what became of a payment whose outcome is unknown."""
    EXPIRE = "expire"
    """Close a payment left ``initiated`` past its age limit."""


class JobStatus(enum.StrEnum):
    """Where a job stands."""

    PENDING = "pending"
    RUNNING = "running"
    DONE = "done"
    DEAD = "dead"


class Job(msgspec.Struct, frozen=True, kw_only=True):
    """A job as stored."""

    id: int
    kind: JobKind
    payment_id: uuid.UUID
    refund_id: uuid.UUID | None
    status: JobStatus
    attempts: int
    max_attempts: int
    run_at: datetime
    locked_by: str | None
    locked_until: datetime | None
    last_error: str | None
    trace_parent: str | None
    created_at: datetime
    updated_at: datetime

    @property
    def is_last_attempt(self) -> bool:
        """This run is the job's last chance; a failure now makes it dead."""
        return self.attempts >= self.max_attempts


class WorkerSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """How workers claim and retry jobs."""

    enabled: bool = True
    """Run a worker inside ``payments serve`` (``payments worker`` runs one on its own)."""
    poll_seconds: Annotated[float, msgspec.Meta(gt=0, le=60)] = 0.5
    batch: Annotated[int, msgspec.Meta(ge=1, le=1000)] = 20
    concurrency: Annotated[int, msgspec.Meta(ge=1, le=1000)] = 10
    lease_seconds: Annotated[float, msgspec.Meta(gt=0, le=86_400)] = 300.0
    """How long a claimed job is held; longer than any job can run, gateway calls included."""
    max_attempts: Annotated[int, msgspec.Meta(ge=1, le=100)] = 8
    backoff_seconds: Annotated[float, msgspec.Meta(gt=0, le=3600)] = 2.0
    backoff_max_seconds: Annotated[float, msgspec.Meta(gt=0, le=86_400)] = 600.0
    shutdown_grace_seconds: Annotated[float, msgspec.Meta(ge=0, le=600)] = 10.0


class RetryLater(Exception):
    """The job could not finish now; run it again after a backoff."""


def backoff_delay(attempts: int, settings: WorkerSettings, rng: random.Random) -> float:
    """Seconds to wait before attempt ``attempts + 1``: exponential, capped, with jitter.

    Half the delay is fixed and half random, so retries spread out without ever coming back
    sooner than half the exponential step.
    """
    step = min(settings.backoff_max_seconds, settings.backoff_seconds * 2.0 ** max(0, attempts - 1))
    return step / 2 + rng.uniform(0, step / 2)


# Built once: jobs are written and dropped on every payment's hot path.
_INSERT_JOB = sa.insert(jobs).returning(jobs.c.id)
_CANCEL_JOB = sa.delete(jobs).where(
    jobs.c.id == sa.bindparam("job_id"), jobs.c.status == JobStatus.PENDING
)


def enqueue(
    conn: sa.Connection,
    kind: JobKind,
    payment_id: uuid.UUID,
    *,
    now: datetime,
    max_attempts: int,
    delay: float = 0.0,
    refund_id: uuid.UUID | None = None,
    trace_parent: str | None = None,
) -> int:
    """Write a job due ``delay`` seconds from ``now``, in the caller's transaction."""
    result = conn.execute(
        _INSERT_JOB,
        {
            "kind": kind,
            "payment_id": payment_id,
            "refund_id": refund_id,
            "status": JobStatus.PENDING,
            "attempts": 0,
            "max_attempts": max_attempts,
            "run_at": now + timedelta(seconds=delay),
            "trace_parent": trace_parent,
            "created_at": now,
            "updated_at": now,
        },
    )
    return int(result.scalar_one())


def cancel(conn: sa.Connection, job_id: int) -> None:
    """Drop a job no worker has claimed yet (a guard whose work finished normally)."""
    conn.execute(_CANCEL_JOB, {"job_id": job_id})


def claim(
    conn: sa.Connection, *, worker_id: str, now: datetime, lease_seconds: float, limit: int
) -> list[Job]:
    """Take up to ``limit`` due jobs (and jobs whose lease ran out) for ``worker_id``."""
    due = (
        sa.select(jobs.c.id)
        .where(
            sa.or_(
                sa.and_(jobs.c.status == JobStatus.PENDING, jobs.c.run_at <= now),
                sa.and_(jobs.c.status == JobStatus.RUNNING, jobs.c.locked_until < now),
            )
        )
        .order_by(jobs.c.run_at)
        .limit(limit)
    )
    if conn.dialect.name == "postgresql":
        due = due.with_for_update(skip_locked=True)
    result = conn.execute(
        sa.update(jobs)
        .where(jobs.c.id.in_(due.scalar_subquery()))
        .values(
            status=JobStatus.RUNNING,
            locked_by=worker_id,
            locked_until=now + timedelta(seconds=lease_seconds),
            attempts=jobs.c.attempts + 1,
            updated_at=now,
        )
        .returning(*jobs.c)
    )
    return sorted((from_row(Job, row) for row in result), key=lambda job: job.run_at)


def _settle(conn: sa.Connection, job: Job, worker_id: str, now: datetime, **values: object) -> None:
    conn.execute(
        sa.update(jobs)
        .where(jobs.c.id == job.id, jobs.c.locked_by == worker_id)
        .values(locked_by=None, locked_until=None, updated_at=now, **values)
    )


def release(conn: sa.Connection, worker_id: str, job_ids: Collection[int]) -> None:
    """Hand claimed jobs that never started back to the queue, their attempt not spent."""
    if not job_ids:
        return
    conn.execute(
        sa.update(jobs)
        .where(
            jobs.c.id.in_(list(job_ids)),
            jobs.c.locked_by == worker_id,
            jobs.c.status == JobStatus.RUNNING,
        )
        .values(
            status=JobStatus.PENDING,
            attempts=jobs.c.attempts - 1,
            locked_by=None,
            locked_until=None,
        )
    )


def list_jobs(conn: sa.Connection, statuses: Collection[JobStatus]) -> list[Job]:
    """Jobs in the given statuses, oldest due first."""
    result = conn.execute(
        sa.select(jobs).where(jobs.c.status.in_(list(statuses))).order_by(jobs.c.run_at, jobs.c.id)
    )
    return [from_row(Job, row) for row in result]


def find_job(conn: sa.Connection, job_id: int) -> Job | None:
    """The job with this id, if there is one."""
    row = conn.execute(sa.select(jobs).where(jobs.c.id == job_id)).one_or_none()
    return None if row is None else from_row(Job, row)


def count_open(conn: sa.Connection) -> dict[tuple[str, str], int]:
    """How many jobs of each kind are pending, running or dead."""
    result = conn.execute(
        sa.select(jobs.c.kind, jobs.c.status, sa.func.count())
        .where(jobs.c.status != JobStatus.DONE)
        .group_by(jobs.c.kind, jobs.c.status)
    )
    return {(kind, status): count for kind, status, count in result}


def revive(conn: sa.Connection, job_id: int, now: datetime) -> bool:
    """Give a dead job a fresh set of attempts, due now; False if it is not dead."""
    result = conn.execute(
        sa.update(jobs)
        .where(jobs.c.id == job_id, jobs.c.status == JobStatus.DEAD)
        .values(status=JobStatus.PENDING, attempts=0, run_at=now, updated_at=now)
    )
    return result.rowcount == 1


JobHandler = Callable[[Job], Awaitable[None]]


def default_worker_id() -> str:
    """Host, process and a random suffix: unique across restarts and machines."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class Worker:
    """Claims due jobs and runs them through ``handler``, which raises to ask for a retry."""

    def __init__(
        self,
        database: Database,
        handler: JobHandler,
        settings: WorkerSettings,
        clock: Callable[[], datetime],
        *,
        worker_id: str | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.database = database
        self.handler = handler
        self.settings = settings
        self.worker_id = worker_id or default_worker_id()
        self._now = clock
        # Jitter only spreads retries out; it needs no cryptographic strength.
        self._rng = rng or random.Random()  # noqa: S311
        self._stopping = asyncio.Event()
        self._waiting: set[int] = set()

    async def run_once(self) -> int:
        """Claim one batch of due jobs and run it to the end; return how many were claimed."""
        now = self._now()
        claimed = await self.database.write(
            lambda conn: claim(
                conn,
                worker_id=self.worker_id,
                now=now,
                lease_seconds=self.settings.lease_seconds,
                limit=self.settings.batch,
            )
        )
        if not claimed:
            return 0
        self._waiting.update(job.id for job in claimed)
        limit = asyncio.Semaphore(self.settings.concurrency)

        async def run(job: Job) -> None:
            async with limit:
                if self._stopping.is_set():
                    return
                self._waiting.discard(job.id)
                await self._run(job)

        try:
            await asyncio.gather(*(run(job) for job in claimed))
        finally:
            unstarted = [job.id for job in claimed if job.id in self._waiting]
            self._waiting.difference_update(unstarted)
            if unstarted:
                await self.database.write(lambda conn: release(conn, self.worker_id, unstarted))
        return len(claimed)

    async def _run(self, job: Job) -> None:
        if job.attempts > job.max_attempts:
            # Its last run never finished (the worker died under it): do not run it again.
            await self._finish(job, JobStatus.DEAD, "the last attempt's lease ran out")
            return
        try:
            await self.handler(job)
        except Exception as error:
            reason = f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
            if not isinstance(error, RetryLater):
                logger.exception("job %s (%s) failed", job.id, job.kind)
            if job.is_last_attempt:
                logger.warning(
                    "job %s (%s) is dead after %d attempts", job.id, job.kind, job.attempts
                )
                await self._finish(job, JobStatus.DEAD, reason)
            else:
                delay = backoff_delay(job.attempts, self.settings, self._rng)
                await self._finish(job, JobStatus.PENDING, reason, delay)
            return
        await self._finish(job, JobStatus.DONE, None)

    async def _finish(
        self, job: Job, status: JobStatus, error: str | None, delay: float = 0.0
    ) -> None:
        now = self._now()
        values: dict[str, object] = {"status": status, "last_error": error}
        if status is JobStatus.PENDING:
            values["run_at"] = now + timedelta(seconds=delay)
        await self.database.write(lambda conn: _settle(conn, job, self.worker_id, now, **values))

    async def run_forever(self) -> None:
        """Poll for jobs until :meth:`stop` is called."""
        logger.info("worker %s started", self.worker_id)
        while not self._stopping.is_set():
            try:
                claimed = await self.run_once()
            except Exception:
                logger.exception("worker %s could not claim jobs; retrying", self.worker_id)
                claimed = 0
            if claimed < self.settings.batch:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), self.settings.poll_seconds)
        logger.info("worker %s stopped", self.worker_id)

    def stop(self) -> None:
        """Stop claiming; jobs already started finish, claimed ones not started are released."""
        self._stopping.set()
