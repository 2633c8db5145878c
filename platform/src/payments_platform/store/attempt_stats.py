"""What the stored attempts say about each gateway over a recent period, aggregated by the
database: calls by minute and outcome, how long the finished ones took (as a histogram, for the
period and for its last minutes), and each gateway's latest run of failed calls.

Every process of a deployment records its attempts in the same table, so these numbers are the
same whichever replica is asked. The database returns a few rows per gateway and minute, however
many payments there were; the percentiles are read from the histogram
(:mod:`payments_platform.gateway_health`). Everything is read through the index on
``started_at`` the overview already had: the payment path writes nothing more for it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa

from payments_platform.gateway_health import (
    LATENCY_BOUNDS,
    FailureRun,
    LatencyCount,
    MinuteCount,
)
from payments_platform.lifecycle import AttemptOutcome
from payments_platform.schema import payment_attempts, payments
from payments_platform.scoring import ScorePolicy, Segment, Tally


def outcomes_by_minute(conn: sa.Connection, since: datetime) -> list[MinuteCount]:
    """Attempts started at or after ``since``, counted by gateway, minute and outcome."""
    started = payment_attempts.c.started_at
    minute = (_epoch_seconds(conn, started) // 60).label("minute")
    rows = conn.execute(
        sa.select(payment_attempts.c.gateway, minute, payment_attempts.c.outcome, sa.func.count())
        .where(started >= since)
        .group_by(payment_attempts.c.gateway, minute, payment_attempts.c.outcome)
    )
    return [MinuteCount(gateway, int(at), outcome, count) for gateway, at, outcome, count in rows]


def latency_histogram(
    conn: sa.Connection, since: datetime, recent_since: datetime
) -> list[LatencyCount]:
    """Finished attempts started at or after ``since``, counted by gateway and latency bucket,
    those started at or after ``recent_since`` apart (``recent``)."""
    started = payment_attempts.c.started_at
    duration = _duration_seconds(conn)
    bucket = sa.case(
        *((duration < bound, index) for index, bound in enumerate(LATENCY_BOUNDS)),
        else_=len(LATENCY_BOUNDS),
    ).label("bucket")
    recent = sa.case((started >= recent_since, 1), else_=0).label("recent")
    rows = conn.execute(
        sa.select(payment_attempts.c.gateway, bucket, recent, sa.func.count())
        .where(started >= since, payment_attempts.c.finished_at.is_not(None))
        .group_by(payment_attempts.c.gateway, bucket, recent)
    )
    return [
        LatencyCount(gateway, int(index), count, recent=bool(is_recent))
        for gateway, index, is_recent, count in rows
    ]


ANSWERED = (AttemptOutcome.ACCEPTED, AttemptOutcome.DECLINED)
FAILED = (AttemptOutcome.UNAVAILABLE, AttemptOutcome.UNKNOWN)


def failure_runs(conn: sa.Connection, since: datetime) -> list[FailureRun]:
    """Each gateway's latest run of failed calls (unavailable, or no usable answer) among those
    started at or after ``since``: from the first failure after the last answered call (accepted
    or declined) before its latest failure, to that latest failure; the first answered call
    after it, if there was one; and the gateway's latest call. Gateways none of whose calls
    failed have none."""
    attempts = payment_attempts
    latest = (
        sa.select(
            attempts.c.gateway,
            sa.func.max(attempts.c.started_at).label("last_call"),
            sa.func.max(sa.case((attempts.c.outcome.in_(FAILED), attempts.c.started_at))).label(
                "last_failure"
            ),
        )
        .where(attempts.c.started_at >= since)
        .group_by(attempts.c.gateway)
        .subquery("latest")
    )

    def of_gateway(alias: sa.FromClause, outcomes: tuple[AttemptOutcome, ...]) -> list[Any]:
        return [
            alias.c.gateway == latest.c.gateway,
            alias.c.outcome.in_(outcomes),
            alias.c.started_at >= since,
        ]

    answered = attempts.alias("answered")
    answer_before = (
        sa.select(sa.func.max(answered.c.started_at))
        .where(*of_gateway(answered, ANSWERED), answered.c.started_at < latest.c.last_failure)
        .correlate(latest)
        .scalar_subquery()
    )
    failed = attempts.alias("failed")
    first_failure = (
        sa.select(sa.func.min(failed.c.started_at))
        .where(
            *of_gateway(failed, FAILED),
            sa.or_(answer_before.is_(None), failed.c.started_at > answer_before),
        )
        .correlate(latest)
        .scalar_subquery()
    )
    after = attempts.alias("answered_after")
    recovered_at = (
        sa.select(sa.func.min(after.c.started_at))
        .where(*of_gateway(after, ANSWERED), after.c.started_at > latest.c.last_failure)
        .correlate(latest)
        .scalar_subquery()
    )
    rows = conn.execute(
        sa.select(
            latest.c.gateway,
            first_failure,
            latest.c.last_failure,
            recovered_at,
            latest.c.last_call,
        ).where(latest.c.last_failure.is_not(None))
    )
    return [
        FailureRun(
            gateway=gateway,
            first_failure=first,
            last_failure=last,
            recovered_at=recovered,
            last_call=call,
        )
        for gateway, first, last, recovered, call in rows
    ]


def tallies(
    conn: sa.Connection, policy: ScorePolicy, since: datetime, until: datetime
) -> list[Tally]:
    """Attempts that finished at or after ``since`` and before ``until``, counted by gateway,
    segment (its payment's currency, amount band and tag) and outcome: a few rows however many
    attempts, read through the index on ``finished_at``."""
    attempt, payment = payment_attempts, payments
    bounds = policy.amount_bands
    band: Any = (
        sa.case(
            *((payment.c.amount_minor < bound, index) for index, bound in enumerate(bounds)),
            else_=len(bounds),
        )
        if bounds
        else sa.literal(0)
    )
    tag: Any = (
        sa.func.coalesce(payment.c.metadata[policy.metadata_key].as_string(), "")
        if policy.metadata_key
        else sa.literal("")
    )
    band, tag = band.label("band"), tag.label("tag")
    rows = conn.execute(
        sa.select(
            attempt.c.gateway, payment.c.currency, band, tag, attempt.c.outcome, sa.func.count()
        )
        .select_from(attempt.join(payment, payment.c.id == attempt.c.payment_id))
        .where(attempt.c.finished_at >= since, attempt.c.finished_at < until)
        .group_by(attempt.c.gateway, payment.c.currency, band, tag, attempt.c.outcome)
    )
    counted: dict[tuple[str, Segment], list[int]] = {}
    for gateway, currency, at_band, at_tag, outcome, count in rows:
        counts = counted.setdefault(
            (gateway, Segment(currency, int(at_band), str(at_tag)[:64])), [0, 0, 0]
        )
        if outcome == AttemptOutcome.ACCEPTED:
            counts[0] += count
        elif outcome == AttemptOutcome.DECLINED:
            counts[1] += count
        elif outcome in FAILED:
            counts[2] += count
    return [
        Tally(gateway, segment, accepted, declined, failed)
        for (gateway, segment), (accepted, declined, failed) in counted.items()
    ]


def _epoch_seconds(conn: sa.Connection, column: Any) -> Any:
    """Whole seconds since the Unix epoch of a timestamp column, as an integer."""
    if conn.dialect.name == "postgresql":
        return sa.cast(sa.func.floor(sa.extract("epoch", column)), sa.BigInteger)
    # SQLite stores UTC timestamps as text, which its date functions read.
    return sa.cast(sa.func.strftime("%s", column), sa.Integer)


def _duration_seconds(conn: sa.Connection) -> Any:
    """How long an attempt took, in (fractional) seconds."""
    started, finished = payment_attempts.c.started_at, payment_attempts.c.finished_at
    if conn.dialect.name == "postgresql":
        return sa.extract("epoch", finished - started)
    # Julian days in a double: about 20 microseconds of precision, plenty for vendor calls.
    return (sa.func.julianday(finished) - sa.func.julianday(started)) * 86400.0
