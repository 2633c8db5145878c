"""The transactional outbox: jobs written with the state change that needs them.

A job row is inserted in the same transaction as the change that calls for it, so the two are
never separated by a crash. Workers (:mod:`payments_platform.worker`) claim due jobs
(``FOR UPDATE SKIP LOCKED`` on PostgreSQL; on SQLite the write lock serialises claims), hold
them under a lease, and finish each as done, due again after a backoff, or ``dead`` after its
last attempt; an operator revives a dead job with :func:`revive` (``payments jobs retry``).
"""

from __future__ import annotations

import enum
import uuid
from collections.abc import Collection, Sequence
from datetime import datetime, timedelta

import msgspec
import sqlalchemy as sa

from payments_platform.lifecycle import DeliveryStatus
from payments_platform.schema import jobs, notification_deliveries, notifications
from payments_platform.store.sql import Reader, Sql, changed, first


class JobKind(enum.StrEnum):
    """What a job does."""

    INITIATE = "initiate"
    """Route a queued payment to a gateway."""
    REFUND = "refund"
    """Send a queued refund, or find out what became of one sent without a recorded answer."""
    RECONCILE = "reconcile"
    """Ask the gateway what became of a payment whose outcome is unknown."""
    EXPIRE = "expire"
    """Close a payment left ``initiated`` past its age limit, or an authorization past its
    expiry."""
    CAPTURE = "capture"
    """Find out what became of a capture sent without a recorded answer."""
    NOTIFY = "notify"
    """Deliver a notification to one of the merchant's endpoints."""


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
    capture_id: uuid.UUID | None = None
    delivery_id: int | None
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


_READER = Reader(Job, jobs)


class RetryLater(Exception):
    """The job could not finish now; run it again after a backoff.

    ``retry_in`` names the delay instead of the worker's backoff; ``spend_attempt=False`` puts
    the job back as if it had not run (it could not start: a busy endpoint, say).
    """

    def __init__(
        self, reason: str, *, retry_in: float | None = None, spend_attempt: bool = True
    ) -> None:
        super().__init__(reason)
        self.retry_in = retry_in
        self.spend_attempt = spend_attempt


SWEEP_LOCK = 0x7061796D656E7473
"""The PostgreSQL advisory lock :func:`guard_calls_in_flight` holds ("payments" in ASCII)."""

# Jobs are written on every payment's path: on the driver (``store.sql``).
_INSERT_JOB = Sql(
    "INSERT INTO jobs (kind, payment_id, refund_id, capture_id, delivery_id, status, attempts,"
    " max_attempts, run_at, trace_parent, created_at, updated_at)"
    " VALUES (:kind, :payment_id, :refund_id, :capture_id, :delivery_id, :status, 0,"
    " :max_attempts, :run_at, :trace_parent, :now, :now) RETURNING id"
)
# A gateway call with no recorded end past the cutoff gets the job that reconciles it, once: a
# job written after the call started (or, for a refund a job sends, the job still at work) is
# its guard already. The partial indexes hold only the calls in flight (hence the statuses
# written out: a parameter would not match their predicates). The kind the statement writes
# and the one it compares are two parameters: PostgreSQL gives a parameter one type, and the
# two uses would deduce two.
# The calls in flight are read first, through their partial index, in a subquery that SQLite
# may not flatten into the grouping (it has a LIMIT): grouped by payment in one statement, its
# planner would rather walk the payment_id index over every attempt ever made to save a sort
# (35 ms a sweep at 100,000 payments, twice a second), where those in flight are a handful. The
# limit bounds one sweep; those guarded drop out of the subquery, so the next sweep takes the
# rest.
_GUARD_ATTEMPTS = Sql(
    "INSERT INTO jobs (kind, payment_id, status, attempts, max_attempts, run_at, trace_parent,"
    " created_at, updated_at)"
    " SELECT :kind, f.payment_id, :status, 0, :max_attempts, :now, MAX(f.trace_parent), :now,"
    " :now FROM (SELECT a.payment_id, a.trace_parent FROM payment_attempts a"
    " WHERE a.outcome = 'in_flight' AND a.started_at < :cutoff"
    " AND NOT EXISTS (SELECT 1 FROM jobs j WHERE j.payment_id = a.payment_id"
    " AND j.kind = :kind_compared AND j.created_at >= a.started_at) LIMIT 1000) f"
    " GROUP BY f.payment_id"
)
_GUARD_REFUNDS = Sql(
    "INSERT INTO jobs (kind, payment_id, refund_id, status, attempts, max_attempts, run_at,"
    " trace_parent, created_at, updated_at)"
    " SELECT :kind, r.payment_id, r.id, :status, 0, :max_attempts, :now, r.trace_parent, :now,"
    " :now FROM refunds r WHERE r.status = 'pending' AND r.sent_at IS NOT NULL"
    " AND r.sent_at < :cutoff AND NOT EXISTS (SELECT 1 FROM jobs j"
    " WHERE j.payment_id = r.payment_id AND j.refund_id = r.id AND j.kind = :kind_compared"
    " AND (j.created_at >= r.sent_at OR j.status <> :done))"
)

_GUARD_CAPTURES = Sql(
    "INSERT INTO jobs (kind, payment_id, capture_id, status, attempts, max_attempts, run_at,"
    " trace_parent, created_at, updated_at)"
    " SELECT :kind, c.payment_id, c.id, :status, 0, :max_attempts, :now, c.trace_parent, :now,"
    " :now FROM captures c WHERE c.status = 'pending' AND c.sent_at IS NOT NULL"
    " AND c.sent_at < :cutoff AND NOT EXISTS (SELECT 1 FROM jobs j"
    " WHERE j.payment_id = c.payment_id AND j.capture_id = c.id AND j.kind = :kind_compared"
    " AND (j.created_at >= c.sent_at OR j.status <> :done))"
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
    capture_id: uuid.UUID | None = None,
    delivery_id: int | None = None,
    trace_parent: str | None = None,
) -> int:
    """Write a job due ``delay`` seconds from ``now``, in the caller's transaction."""
    row = first(
        conn,
        _INSERT_JOB,
        kind=kind,
        payment_id=payment_id,
        refund_id=refund_id,
        capture_id=capture_id,
        delivery_id=delivery_id,
        status=JobStatus.PENDING,
        max_attempts=max_attempts,
        run_at=now + timedelta(seconds=delay),
        trace_parent=trace_parent,
        now=now,
    )
    if row is None:  # pragma: no cover - INSERT ... RETURNING returns the row
        raise RuntimeError("the job was not written")
    return int(row[0])


def guard_calls_in_flight(
    conn: sa.Connection, *, now: datetime, after_seconds: float, max_attempts: int
) -> int:
    """Write the job that reconciles each gateway call still without an answer
    ``after_seconds`` after it was made (its process died, or the call outlived every
    timeout); return how many were written.

    A call is written down before it is made (an ``in_flight`` attempt, a ``pending`` refund
    or capture with its ``sent_at``) and its end in the transaction that records the answer, so
    a call found here lost its answer. Each gets one job, linked to the trace of the request that
    made the call. On PostgreSQL one process sweeps at a time, so two never write the same job.
    """
    if (
        conn.dialect.name == "postgresql"
        and not conn.exec_driver_sql(f"SELECT pg_try_advisory_xact_lock({SWEEP_LOCK})").scalar_one()
    ):
        return 0
    shared = {
        "status": JobStatus.PENDING,
        "max_attempts": max_attempts,
        "now": now,
        "cutoff": now - timedelta(seconds=after_seconds),
    }
    reconcile, refund, capture = JobKind.RECONCILE, JobKind.REFUND, JobKind.CAPTURE
    return (
        changed(conn, _GUARD_ATTEMPTS, kind=reconcile, kind_compared=reconcile, **shared)
        + changed(
            conn, _GUARD_REFUNDS, kind=refund, kind_compared=refund, done=JobStatus.DONE, **shared
        )
        + changed(
            conn,
            _GUARD_CAPTURES,
            kind=capture,
            kind_compared=capture,
            done=JobStatus.DONE,
            **shared,
        )
    )


def claim(
    conn: sa.Connection,
    *,
    worker_id: str,
    now: datetime,
    lease_seconds: float,
    limit: int,
    kinds: Collection[JobKind] = tuple(JobKind),
) -> list[Job]:
    """Take up to ``limit`` due jobs of ``kinds`` (and such jobs whose lease ran out) for
    ``worker_id``."""
    due = (
        sa.select(jobs.c.id)
        .where(
            sa.or_(
                sa.and_(jobs.c.status == JobStatus.PENDING, jobs.c.run_at <= now),
                sa.and_(jobs.c.status == JobStatus.RUNNING, jobs.c.locked_until < now),
            ),
            jobs.c.kind.in_(list(kinds)),
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
    return sorted((_READER.read_row(row) for row in result), key=lambda job: job.run_at)


def finish(conn: sa.Connection, job: Job, worker_id: str, now: datetime, **values: object) -> None:
    """Record how the run of a job ``worker_id`` claimed ended (``status`` and the like)."""
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


def list_jobs(
    conn: sa.Connection,
    statuses: Sequence[JobStatus],
    *,
    kinds: Collection[JobKind] | None = None,
    limit: int | None = None,
    offset: int = 0,
) -> list[Job]:
    """Jobs in ``statuses``, a status after another in the order given, each the next due
    first; only of ``kinds`` when given; ``limit`` of them from ``offset`` when given."""
    order = sa.case(
        *((jobs.c.status == status, position) for position, status in enumerate(statuses)),
        else_=len(statuses),
    )
    query = sa.select(jobs).where(jobs.c.status.in_(list(statuses)))
    if kinds is not None:
        query = query.where(jobs.c.kind.in_(list(kinds)))
    query = query.order_by(order, jobs.c.run_at, jobs.c.id).offset(offset)
    result = conn.execute(query if limit is None else query.limit(limit))
    return [_READER.read_row(row) for row in result]


def dead_delivery_jobs(
    conn: sa.Connection,
    *,
    delivery_id: int | None = None,
    endpoint: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int,
) -> list[Job]:
    """The dead ``notify`` jobs of dead deliveries: of one delivery, or to ``endpoint``, or of
    the events of a period (from ``since``, before ``until``); each the last job its delivery
    was given (``payments notifications redeliver`` gives one another); the longest due
    first, at most ``limit`` of them. Read from the dead jobs (``ix_jobs_status_run_at``),
    which are few, and each one's payment's jobs."""
    d, n = notification_deliveries.c, notifications.c
    later = jobs.alias("later")
    query = (
        sa.select(jobs)
        .join(notification_deliveries, d.id == jobs.c.delivery_id)
        .where(
            jobs.c.status == JobStatus.DEAD,
            jobs.c.kind == JobKind.NOTIFY,
            d.status == DeliveryStatus.DEAD,
            ~sa.exists().where(
                later.c.payment_id == jobs.c.payment_id,
                later.c.delivery_id == jobs.c.delivery_id,
                later.c.id > jobs.c.id,
            ),
        )
    )
    if delivery_id is not None:
        query = query.where(d.id == delivery_id)
    if endpoint is not None:
        query = query.where(d.endpoint == endpoint)
    if since is not None or until is not None:
        query = query.join(notifications, n.id == d.notification_id)
        if since is not None:
            query = query.where(n.created_at >= since)
        if until is not None:
            query = query.where(n.created_at < until)
    found = conn.execute(query.order_by(jobs.c.run_at, jobs.c.id).limit(limit))
    return [_READER.read_row(row) for row in found]


def of_payment(conn: sa.Connection, payment_id: uuid.UUID) -> list[Job]:
    """Every job written for the payment (and its refunds), in the order they were written."""
    result = conn.execute(
        sa.select(jobs).where(jobs.c.payment_id == payment_id).order_by(jobs.c.id)
    )
    return [_READER.read_row(row) for row in result]


def find_job(conn: sa.Connection, job_id: int) -> Job | None:
    """The job with this id, if there is one."""
    row = conn.execute(sa.select(jobs).where(jobs.c.id == job_id)).one_or_none()
    return None if row is None else _READER.read_row(row)


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
