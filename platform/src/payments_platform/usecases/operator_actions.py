"""What an operator may do from the console, each recorded in the payment's event log with the
operator's name (``operator_action`` events).

The actions are the platform's own: reviving a dead job is :func:`payments_platform.jobs.revive`
(what ``payments jobs retry`` does; a revived notification job sends its delivery again),
asking the gateway now is
:func:`payments_platform.usecases.reconcile.reconcile_payment` (what the reconcile job does
later). Nothing here decides a payment's status: the gateway's answer does, through the same
transitions as always.
"""

from __future__ import annotations

import enum
import functools
import uuid
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from payments_platform import errors, jobs
from payments_platform.jobs import Job, JobKind, JobStatus, RetryLater
from payments_platform.lifecycle import PaymentStatus, given_up_by_platform
from payments_platform.records import Payment
from payments_platform.store import events
from payments_platform.usecases.dependencies import Dependencies
from payments_platform.usecases.operator_reads import payment_by_id
from payments_platform.usecases.reconcile import recheck_given_up, reconcile_payment


class JobRetry(enum.StrEnum):
    """What became of an operator's retry of a job."""

    RETRIED = "retried"
    NOT_DEAD = "not_dead"
    """Someone or something ran it meanwhile: nothing to retry."""
    NOT_FOUND = "not_found"


@dataclass(frozen=True)
class JobRetryResult:
    """The outcome, and the job as it was found."""

    outcome: JobRetry
    job: Job | None


async def retry_dead_job(
    deps: Dependencies, job_id: int, operator: str, *, via: str = "console"
) -> JobRetryResult:
    """Give a dead job a fresh set of attempts, due now, and record who did, and from where
    (``console``, ``command line``)."""
    return await deps.database.write(
        functools.partial(_revive, deps=deps, job_id=job_id, operator=operator, via=via)
    )


BULK_RETRY_LIMIT = 1000
"""The most dead jobs one bulk retry revives; what is left shows, and is retried next."""


async def retry_dead_jobs(
    deps: Dependencies,
    operator: str,
    *,
    kinds: Collection[JobKind] | None = None,
    via: str = "console",
) -> int:
    """Revive the dead jobs (of ``kinds`` when given), the longest due first, at most
    :data:`BULK_RETRY_LIMIT`, each recorded in its payment's log as :func:`retry_dead_job`
    records one; how many were revived (another operator may have revived some meanwhile)."""
    dead = await deps.database.read(
        lambda conn: jobs.list_jobs(conn, [JobStatus.DEAD], kinds=kinds, limit=BULK_RETRY_LIMIT)
    )
    return await _revive_each(deps, dead, operator, via)


async def resend_delivery(
    deps: Dependencies, delivery_id: int, operator: str, *, via: str = "console"
) -> JobRetryResult:
    """Send a dead notification delivery again: revive its dead ``notify`` job, as
    :func:`retry_dead_job` does (NOT_DEAD: the delivery is not dead, or is being sent again
    already)."""
    dead = await deps.database.read(
        lambda conn: jobs.dead_delivery_jobs(conn, delivery_id=delivery_id, limit=1)
    )
    if not dead:
        return JobRetryResult(JobRetry.NOT_DEAD, None)
    return await retry_dead_job(deps, dead[0].id, operator, via=via)


async def resend_dead_deliveries(
    deps: Dependencies,
    operator: str,
    *,
    endpoint: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    via: str = "console",
) -> int:
    """Send again the dead notification deliveries (to ``endpoint`` when given) of the events
    of a period (from ``since``, before ``until``; the period ``payments notifications
    redeliver`` reads too): revive their dead ``notify`` jobs, the longest due first, at most
    :data:`BULK_RETRY_LIMIT`, each recorded in its payment's log as :func:`retry_dead_job`
    records one; how many were revived."""
    dead = await deps.database.read(
        lambda conn: jobs.dead_delivery_jobs(
            conn, endpoint=endpoint, since=since, until=until, limit=BULK_RETRY_LIMIT
        )
    )
    return await _revive_each(deps, dead, operator, via)


async def _revive_each(deps: Dependencies, dead: list[Job], operator: str, via: str) -> int:
    """Revive each job, one transaction each (another operator may have revived some
    meanwhile); how many this call revived."""
    revived = 0
    for job in dead:
        result = await retry_dead_job(deps, job.id, operator, via=via)
        revived += result.outcome is JobRetry.RETRIED
    return revived


def _revive(
    conn: sa.Connection, *, deps: Dependencies, job_id: int, operator: str, via: str
) -> JobRetryResult:
    job = jobs.find_job(conn, job_id)
    if job is None:
        return JobRetryResult(JobRetry.NOT_FOUND, None)
    if not jobs.revive(conn, job_id, deps.now()):
        return JobRetryResult(JobRetry.NOT_DEAD, job)
    done = f"retried dead {job.kind} job {job.id}"
    about: dict[str, Any] = {"job_id": job.id, "job": job.kind, "via": via}
    if job.delivery_id is not None:
        done = f"re-sent notification delivery {job.delivery_id}, reviving its dead job {job.id}"
        about["delivery_id"] = job.delivery_id
    events.record_operator_action(
        conn,
        payment_id=job.payment_id,
        operator=operator,
        action="retry_job",
        reason=f"{operator} {done} (last error: {job.last_error})"
        + ("" if via == "console" else f", from the {via}"),
        now=deps.now(),
        **about,
    )
    return JobRetryResult(JobRetry.RETRIED, job)


class Reconciliation(enum.StrEnum):
    """What became of an operator's request to ask the gateway now."""

    ANSWERED = "answered"
    """The gateway answered; the payment moved as its answer says."""
    UNANSWERED = "unanswered"
    """The gateway could not be asked or gave no usable answer; the job will ask again."""
    NOT_UNKNOWN = "not_unknown"
    """The payment's outcome is known (and not one the platform gave up on by its own
    judgement): there is nothing to ask."""
    NOT_FOUND = "not_found"


@dataclass(frozen=True)
class ReconciliationResult:
    """The outcome, the payment as it is afterwards, and why the gateway did not answer."""

    outcome: Reconciliation
    payment: Payment | None
    error: str | None = None


async def reconcile_now(
    deps: Dependencies, payment_id: uuid.UUID, operator: str
) -> ReconciliationResult:
    """Ask the gateway of a payment whose outcome is unknown what became of it, now; or ask the
    gateways of one the platform gave up on whether they took it after all."""
    payment = await payment_by_id(deps, payment_id)
    if payment is None:
        return ReconciliationResult(Reconciliation.NOT_FOUND, None)
    given_up = given_up_by_platform(payment.status, payment.failure_code)
    if payment.status is not PaymentStatus.UNKNOWN and not given_up:
        # A pending payment's call may still be under way in another process: only the job
        # the sweep writes once the call is overdue may declare it abandoned.
        return ReconciliationResult(Reconciliation.NOT_UNKNOWN, payment)
    gateway = payment.gateway or "its gateway"
    # Recorded before the call, so that the log says who asked even if the process dies.
    await _record(
        deps,
        payment_id,
        operator,
        f"{operator} asked {gateway} what became of the payment",
        accepted=None,
    )
    try:
        if given_up:
            await recheck_given_up(deps, payment_id)
        else:
            await reconcile_payment(deps, payment_id)
    except RetryLater as error:
        await _record(
            deps, payment_id, operator, f"{gateway} did not answer: {error}", accepted=False
        )
        return ReconciliationResult(
            Reconciliation.UNANSWERED, await payment_by_id(deps, payment_id), str(error)
        )
    return ReconciliationResult(Reconciliation.ANSWERED, await payment_by_id(deps, payment_id))


async def _record(
    deps: Dependencies, payment_id: uuid.UUID, operator: str, reason: str, *, accepted: bool | None
) -> None:
    await deps.database.write(
        lambda conn: events.record_operator_action(
            conn,
            payment_id=payment_id,
            operator=operator,
            action="reconcile",
            reason=reason,
            accepted=accepted,
            now=deps.now(),
        )
    )


async def record_refusal(
    deps: Dependencies,
    payment_id: uuid.UUID,
    operator: str,
    action: str,
    problem: errors.PaymentProblem,
) -> None:
    """Record in the payment's log that the platform refused ``operator``'s ``action``, and
    why (the problem's code and detail)."""
    await deps.database.write(
        lambda conn: events.record_operator_action(
            conn,
            payment_id=payment_id,
            operator=operator,
            action=action,
            reason=f"{operator}'s {action} was refused: {problem.detail}",
            accepted=False,
            now=deps.now(),
            problem=problem.code,
        )
    )
