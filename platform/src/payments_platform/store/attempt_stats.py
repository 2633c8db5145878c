"""What the stored attempts say about each gateway over a recent period, aggregated by the
database: calls by minute and outcome, how long the finished ones took (as a histogram), and
since when a gateway's calls have been failing.

Every process of a deployment records its attempts in the same table, so these numbers are the
same whichever replica is asked. The database returns a few rows per gateway and minute, however
many payments there were; the percentiles are read from the histogram
(:mod:`payments_platform.gateway_health`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa

from payments_platform.gateway_health import LATENCY_BOUNDS, LatencyCount, MinuteCount
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


def latency_histogram(conn: sa.Connection, since: datetime) -> list[LatencyCount]:
    """Finished attempts started at or after ``since``, counted by gateway and latency bucket."""
    duration = _duration_seconds(conn)
    bucket = sa.case(
        *((duration < bound, index) for index, bound in enumerate(LATENCY_BOUNDS)),
        else_=len(LATENCY_BOUNDS),
    ).label("bucket")
    rows = conn.execute(
        sa.select(payment_attempts.c.gateway, bucket, sa.func.count())
        .where(
            payment_attempts.c.started_at >= since,
            payment_attempts.c.finished_at.is_not(None),
        )
        .group_by(payment_attempts.c.gateway, bucket)
    )
    return [LatencyCount(gateway, int(index), count) for gateway, index, count in rows]


ANSWERED = (AttemptOutcome.ACCEPTED, AttemptOutcome.DECLINED)
FAILED = (AttemptOutcome.UNAVAILABLE, AttemptOutcome.UNKNOWN)


def failing_since(conn: sa.Connection, since: datetime) -> dict[str, datetime]:
    """For each gateway failing now, when it started: the start of its first failed call
    (unavailable, or no usable answer) after its last answered one, both since ``since``."""
    failed = payment_attempts.alias("failed")
    answered = payment_attempts.alias("answered")
    last_answer = (
        sa.select(sa.func.max(answered.c.started_at))
        .where(
            answered.c.gateway == failed.c.gateway,
            answered.c.started_at >= since,
            answered.c.outcome.in_(ANSWERED),
        )
        .scalar_subquery()
    )
    rows = conn.execute(
        sa.select(failed.c.gateway, sa.func.min(failed.c.started_at))
        .where(
            failed.c.started_at >= since,
            failed.c.outcome.in_(FAILED),
            sa.or_(last_answer.is_(None), failed.c.started_at > last_answer),
        )
        .group_by(failed.c.gateway)
    )
    return dict(rows.all())


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
