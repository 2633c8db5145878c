"""What operators read, from the console or the command line: pages of payments found by what
an operator knows, everything stored about one payment, the jobs, and the records behind the
console's overview; each in one transaction.

Operators see every payment, whichever merchant it belongs to: the console has no merchant.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Collection, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa

from payments_platform import jobs
from payments_platform.gateway_health import FailureRun, LatencyCount, MinuteCount
from payments_platform.jobs import Job, JobKind, JobStatus
from payments_platform.lifecycle import PaymentStatus
from payments_platform.process_breakers import DROPPED_AFTER, BreakerReport
from payments_platform.records import Event, Payment, PaymentHistory
from payments_platform.store import (
    attempt_stats,
    audit,
    events,
    history,
    listing,
    notifications,
    payments,
    process_breakers,
)
from payments_platform.store.audit import ActionFilter, ActionPage
from payments_platform.store.listing import (
    EVERYONE,
    Cursor,
    Everyone,
    PaymentFilter,
    PaymentPage,
)
from payments_platform.usecases.dependencies import Dependencies

KNOWN_AS_LIMIT = 100
"""Payments shown for one client id at most: one per merchant that used it."""


@dataclass(frozen=True)
class PaymentFile:
    """A payment's history, its jobs, and the webhooks that named its external id before the
    payment was known by it (and were kept, not applied)."""

    history: PaymentHistory
    jobs: list[Job]
    early_webhooks: list[Event]


async def payment_file(deps: Dependencies, payment_id: uuid.UUID) -> PaymentFile | None:
    """Everything stored about the payment; None if there is no such payment."""
    return await deps.database.read(lambda conn: _read(conn, payment_id))


def _read(conn: sa.Connection, payment_id: uuid.UUID) -> PaymentFile | None:
    found = history.read(conn, payment_id)
    if found is None:
        return None
    payment = found.payment
    early = []
    if payment.gateway is not None and payment.external_id is not None:
        early = events.unmatched_webhooks(conn, [payment.gateway], payment.external_id)
    return PaymentFile(history=found, jobs=jobs.of_payment(conn, payment_id), early_webhooks=early)


async def find_payments(
    deps: Dependencies,
    *,
    merchant: str | Everyone,
    filters: PaymentFilter,
    after: Cursor | None,
    limit: int,
) -> PaymentPage:
    """A page of the payments that match, newest first, paged as ``GET /payments`` pages."""
    return await deps.database.read(
        lambda conn: listing.list_payments(
            conn, merchant=merchant, filters=filters, after=after, limit=limit
        )
    )


async def every_payment(
    deps: Dependencies, *, merchant: str | Everyone, filters: PaymentFilter, page_size: int
) -> AsyncIterator[list[Payment]]:
    """Every payment that matches, newest first, ``page_size`` at a time (each page read in a
    transaction of its own, none held between them: an export of a million payments neither
    holds a snapshot open nor blocks a writer). A payment created meanwhile is newer than the
    first page and left out; none is skipped or repeated (the pages' keyset). A page is empty
    only when nothing matches."""
    after: Cursor | None = None
    while True:
        page = await find_payments(
            deps, merchant=merchant, filters=filters, after=after, limit=page_size
        )
        yield page.payments
        if page.next is None:
            return
        after = page.next


async def operator_actions(
    deps: Dependencies, filters: ActionFilter, *, below: int | None, limit: int
) -> ActionPage:
    """A page of what operators did (every ``operator_action`` event, about a payment or not),
    newest first, below the event id ``below`` (None: from the newest)."""
    return await deps.database.read(
        lambda conn: audit.operator_actions(conn, filters, below=below, limit=limit)
    )


async def every_operator_action(
    deps: Dependencies, filters: ActionFilter, *, page_size: int
) -> AsyncIterator[list[Event]]:
    """Every operator action that matches, newest first, ``page_size`` at a time, each page
    read as :func:`every_payment` reads its pages."""
    below: int | None = None
    while True:
        page = await operator_actions(deps, filters, below=below, limit=page_size)
        yield page.actions
        if page.next_below is None:
            return
        below = page.next_below


async def payment_by_id(deps: Dependencies, payment_id: uuid.UUID) -> Payment | None:
    """The payment the platform knows by ``payment_id``."""
    return await deps.database.read(lambda conn: payments.get(conn, payment_id))


async def payments_known_as(deps: Dependencies, any_id: uuid.UUID) -> list[Payment]:
    """The payments an id may name, as someone may have it: the platform's own (the reference
    a gateway shows) first, then every payment a client gave that id, whatever its merchant."""

    def read(conn: sa.Connection) -> list[Payment]:
        own = payments.get(conn, any_id)
        given = listing.list_payments(
            conn,
            merchant=EVERYONE,
            filters=PaymentFilter(client_id=any_id),
            after=None,
            limit=KNOWN_AS_LIMIT,
        )
        others = [payment for payment in given.payments if payment.id != any_id]
        return ([own] if own is not None else []) + others

    return await deps.database.read(read)


JobCounts = dict[tuple[str, str], int]
"""Open jobs by kind and status."""


async def jobs_by_status(
    deps: Dependencies,
    statuses: Sequence[JobStatus],
    *,
    kinds: Collection[JobKind] | None = None,
    limit: int | None = None,
    offset: int = 0,
) -> tuple[list[Job], JobCounts]:
    """Jobs in ``statuses`` (of ``kinds`` when given), a status after another in the order
    given (so that dead jobs are never crowded out by pending ones), each the next due first,
    ``limit`` of them from ``offset``; and how many jobs are open, by kind and status."""

    def read(conn: sa.Connection) -> tuple[list[Job], JobCounts]:
        listed = jobs.list_jobs(conn, statuses, kinds=kinds, limit=limit, offset=offset)
        return listed, jobs.count_open(conn)

    return await deps.database.read(read)


async def open_job_counts(deps: Dependencies) -> JobCounts:
    """How many jobs of each kind are pending, running or dead."""
    return await deps.database.read(jobs.count_open)


@dataclass(frozen=True)
class OverviewRecords:
    """What the console's overview is made of, as stored."""

    minutes: list[MinuteCount]
    latencies: list[LatencyCount]
    runs: list[FailureRun]
    """Each gateway's latest run of failed calls in the period."""
    breakers: list[BreakerReport]
    """Every process's breakers, as last recorded by processes heard from lately."""
    open_jobs: JobCounts
    unknown: PaymentPage
    """Payments whose outcome is unknown, the newest first."""
    pending: PaymentPage
    """Payments pending since before the time asked."""
    recovered: list[Event]
    """The latest reports of a vendor that took money after the platform gave a payment up."""
    refused: dict[tuple[str, str], int]
    """Webhooks refused in the period, by gateway and reason."""


async def overview_records(
    deps: Dependencies,
    *,
    since: datetime,
    recent_since: datetime,
    pending_before: datetime,
    shown: int,
) -> OverviewRecords:
    """The period's attempts, aggregated by the database (latencies since ``recent_since``
    apart), every process's breakers, and what needs an operator: at most ``shown`` payments
    of each kind that is stuck, and of recovered ones."""

    def stuck(conn: sa.Connection, filters: PaymentFilter) -> PaymentPage:
        return listing.list_payments(
            conn, merchant=EVERYONE, filters=filters, after=None, limit=shown
        )

    def read(conn: sa.Connection) -> OverviewRecords:
        return OverviewRecords(
            minutes=attempt_stats.outcomes_by_minute(conn, since),
            latencies=attempt_stats.latency_histogram(conn, since, recent_since),
            runs=attempt_stats.failure_runs(conn, since),
            breakers=process_breakers.heard_since(conn, deps.now() - DROPPED_AFTER),
            open_jobs=jobs.count_open(conn),
            unknown=stuck(conn, PaymentFilter(status=PaymentStatus.UNKNOWN)),
            pending=stuck(
                conn, PaymentFilter(status=PaymentStatus.PENDING, created_before=pending_before)
            ),
            recovered=events.recovered(conn, shown),
            refused=events.refused_webhooks(conn, since),
        )

    return await deps.database.read(read)


ATTENTION_SHOWN = 100
"""Past this many of one thing, the attention bar says "100+"."""


@dataclass(frozen=True)
class AttentionRecords:
    """What needs an operator now, as stored (every process's), counted."""

    dead_jobs: int
    unknown_overdue: int
    """Payments whose outcome is unknown past the time their reconcile job should have asked."""
    recovered: int
    """Payments a vendor took after the platform gave them up, reported in the last day."""
    failing_endpoints: list[str]
    """Merchant endpoints with deliveries retrying or dead."""
    refused_webhooks: dict[str, int]
    """Webhooks refused in the last hour, by gateway (``""``: a route several share)."""
    breakers: list[BreakerReport]
    """Every process's breakers, as last recorded by processes heard from lately."""


async def attention_records(
    deps: Dependencies, *, now: datetime, unknown_before: datetime
) -> AttentionRecords:
    """What the console's attention bar counts, read in one transaction."""

    def read(conn: sa.Connection) -> AttentionRecords:
        overdue = listing.list_payments(
            conn,
            merchant=EVERYONE,
            filters=PaymentFilter(status=PaymentStatus.UNKNOWN, created_before=unknown_before),
            after=None,
            limit=ATTENTION_SHOWN,
        )
        day_ago = now - timedelta(days=1)
        refused: dict[str, int] = {}
        for (gateway, _reason), count in events.refused_webhooks(
            conn, now - timedelta(hours=1)
        ).items():
            refused[gateway] = refused.get(gateway, 0) + count
        return AttentionRecords(
            dead_jobs=sum(
                count
                for (_kind, status), count in jobs.count_open(conn).items()
                if status == JobStatus.DEAD
            ),
            unknown_overdue=len(overdue.payments),
            recovered=sum(
                1
                for event in events.recovered(conn, ATTENTION_SHOWN)
                if event.created_at >= day_ago
            ),
            failing_endpoints=[
                str(entry["endpoint"]) for entry in notifications.dead_or_retrying(conn)
            ],
            refused_webhooks=refused,
            breakers=process_breakers.heard_since(conn, now - DROPPED_AFTER),
        )

    return await deps.database.read(read)
