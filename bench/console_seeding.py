"""The console bench's history (:mod:`bench.console_history`) written straight into the tables
by the database itself: a statement per row family and fate or step, each an INSERT from a
SELECT over a batch's facts (:mod:`bench.console_facts`), so that a hundred thousand payments
and the million and more rows of their history take seconds, not the hours the API would.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from payments_platform.schema import (
    captures,
    jobs,
    notification_deliveries,
    notifications,
    payment_attempts,
    payment_events,
    payments,
    refunds,
)

from bench.console_facts import (
    DAY,
    ENDPOINTS,
    HOUR,
    MS,
    Facts,
    literal_int,
    literal_text,
    micros,
)
from bench.console_history import (
    ACCEPTED,
    ANSWERED,
    FATES,
    JOB_ATTEMPTS,
    NOTIFY_ATTEMPTS,
    REFUNDED,
    RETRYING_FOR,
    SHARED,
    STEPS,
    WAITING,
    among,
    answered,
    called,
    captured,
    fates,
    refunded,
    still_waiting,
)
from bench.seeding import write

BATCH = 100_000
"""Payments per pass: each row family of a pass is written in a transaction of its own."""
_Timestamp = payments.c.created_at.type


RowFamily = Callable[[Facts], Sequence[sa.Insert]]


def payment_rows(f: Facts) -> list[sa.Insert]:
    """The payments, a statement per fate."""
    columns = [
        "id",
        "merchant",
        "client_id",
        "currency",
        "amount_minor",
        "status",
        "gateway",
        "external_id",
        "refund_claimed_minor",
        "refunded_minor",
        "failure_code",
        "metadata",
        "description",
        "capture_mode",
        "authorized_minor",
        "capture_claimed_minor",
        "captured_minor",
        "authorization_expires_at",
        "created_at",
        "updated_at",
    ]
    c = f.c
    channel = sa.case(
        (c.n % literal_int(5) < literal_int(3), literal_text("web")),
        (c.n % literal_int(5) < literal_int(4), literal_text("app")),
        else_=literal_text("pos"),
    )
    statements = []
    for fate in FATES:
        status, last_change = literal_text(fate.status), f.time(fate.last_change(f))
        if fate.name == WAITING:
            status = sa.case((still_waiting(f), literal_text("initiated")), else_=status)
            last_change = sa.case((still_waiting(f), f.time(answered(f))), else_=last_change)
        refund = {"all": c.amount, "half": c.amount // literal_int(2), None: literal_int(0)}[
            fate.refunded
        ]
        rows = f.rows(
            f.payment_id,
            c.merchant,
            f.id(5),
            c.currency,
            c.amount,
            status,
            sa.null() if fate.answer is None else c.gateway,
            f.external_id if fate.answer == "accepted" else sa.null(),
            refund,
            refund,
            sa.null() if fate.failure_code is None else literal_text(fate.failure_code),
            f.json('{"order_id": "ORD-', f.number(c.n), '", "channel": "', channel, '"}'),
            literal_text("Order ORD-")
            + f.number(c.n)
            + literal_text(" for customer C-")
            + f.number(c.n % literal_int(7_919)),
            literal_text(fate.capture_mode),
            c.amount if fate.authorized else literal_int(0),
            c.amount if fate.captured else literal_int(0),
            c.amount if fate.captured else literal_int(0),
            f.time(c.created + literal_int(7 * DAY), capped=False)
            if fate.name == "authorized"
            else sa.null(),
            f.time(c.created),
            last_change,
        ).where(among(f, [fate]))
        statements.append(sa.insert(payments).from_select(columns, rows))
    return statements


def attempt_rows(f: Facts) -> list[sa.Insert]:
    """Each call to a gateway: one in twenty payments first tried the other gateway, which was
    unavailable; then the call its gateway answered."""
    columns = ["payment_id", "gateway", "reason", "outcome", "error", "external_id"]
    columns += ["started_at", "finished_at"]
    failed_over = f.every(20, 1)
    statements = [
        sa.insert(payment_attempts).from_select(
            columns,
            f.rows(
                f.payment_id,
                f.c.other_gateway,
                literal_text("weighted choice, breaker closed"),
                literal_text("unavailable"),
                literal_text("connection refused"),
                sa.null(),
                f.time(called(f)),
                f.time(called(f) + literal_int(30 * MS)),
            ).where(among(f, ANSWERED), failed_over),
        )
    ]
    errors = {"declined": "do_not_honor", "unknown": "read timed out after 10 s"}
    for outcome in ("accepted", "declined", "unknown"):
        answered_by = [fate for fate in FATES if fate.answer == outcome]
        rows = f.rows(
            f.payment_id,
            f.c.gateway,
            sa.case(
                (failed_over, f.said("next candidate: {other} was unavailable")),
                else_=literal_text("weighted choice, breaker closed"),
            ),
            literal_text(outcome),
            literal_text(errors[outcome]) if outcome in errors else sa.null(),
            f.external_id if outcome == "accepted" else sa.null(),
            f.time(called(f) + sa.case((failed_over, literal_int(40 * MS)), else_=literal_int(0))),
            f.time(answered(f)),
        ).where(among(f, answered_by))
        statements.append(sa.insert(payment_attempts).from_select(columns, rows))
    return statements


def event_rows(f: Facts) -> list[sa.Insert]:
    """The payments' events, a statement per step of their histories."""
    columns = ["payment_id", "kind", "from_status", "to_status", "gateway", "external_id"]
    columns += ["accepted", "reason", "body_sha256", "detail", "created_at", "operator"]
    statements = []
    for index, step in enumerate(STEPS):
        external_id = {
            "payment": f.external_id,
            "unknown": literal_text("vnd_") + f.hex(29),
            None: sa.null(),
        }[step.external_id]
        accepted = {None: sa.null(), True: sa.true(), False: sa.false()}[step.accepted]
        rows = f.rows(
            f.payment_id if step.about_payment else sa.null(),
            literal_text(step.kind),
            sa.null() if step.from_status is None else literal_text(step.from_status),
            sa.null() if step.to_status is None else literal_text(step.to_status),
            sa.null() if step.gateway is None else f.c[step.gateway],
            external_id,
            accepted,
            f.said(step.reason),
            f.sha256(101 + 8 * index) if step.webhook else sa.null(),
            sa.null() if step.detail is None else step.detail(f),
            f.time(step.at(f)),
            sa.null() if step.operator is None else step.operator(f),
        ).where(among(f, step.fates))
        if step.only is not None:
            rows = rows.where(step.only(f))
        statements.append(sa.insert(payment_events).from_select(columns, rows))
    return statements


def refund_rows(f: Facts) -> list[sa.Insert]:
    """The refunds: all of the payment, or half of it."""
    columns = ["id", "payment_id", "merchant", "client_refund_id", "amount_minor", "status"]
    columns += ["gateway", "external_refund_id", "sent_at", "created_at", "updated_at"]
    amount = sa.case((among(f, fates("refunded")), f.c.amount), else_=f.c.amount // literal_int(2))
    rows = f.rows(
        f.id(11),
        f.payment_id,
        f.c.merchant,
        f.id(13),
        amount,
        literal_text("succeeded"),
        f.c.gateway,
        literal_text("rf_") + f.hex(19),
        f.time(refunded(f)),
        f.time(refunded(f)),
        f.time(refunded(f) + literal_int(400 * MS)),
    ).where(among(f, REFUNDED))
    return [sa.insert(refunds).from_select(columns, rows)]


def capture_rows(f: Facts) -> list[sa.Insert]:
    """The captures of payments taken with manual capture: all of it, at once."""
    columns = ["id", "payment_id", "merchant", "client_capture_id", "amount_minor", "final"]
    columns += ["status", "gateway", "external_capture_id", "sent_at", "created_at", "updated_at"]
    rows = f.rows(
        f.id(15),
        f.payment_id,
        f.c.merchant,
        f.id(17),
        f.c.amount,
        sa.true(),
        literal_text("succeeded"),
        f.c.gateway,
        literal_text("cp_") + f.hex(19),
        f.time(captured(f)),
        f.time(captured(f)),
        f.time(captured(f) + literal_int(250 * MS)),
    ).where(among(f, fates("captured")))
    return [sa.insert(captures).from_select(columns, rows)]


@dataclass(frozen=True)
class _Notified:
    """A family of notifications: of the payment's ``initiated`` step, or of its last status."""

    salt: int
    kind: str
    """``initiated`` or ``last``."""

    def rows_of(self, f: Facts) -> tuple[Any, Any, Any, Any]:
        """Its event's id, type, sequence and time; and which payments have one."""
        if self.kind == "initiated":
            return (
                literal_text("payment.initiated"),
                literal_int(1),
                answered(f),
                among(f, ACCEPTED),
            )
        status = sa.case(*((among(f, [fate]), literal_text(fate.status)) for fate in FATES))
        sequence = sa.case((among(f, ACCEPTED), literal_int(2)), else_=literal_int(1))
        at = sa.case(*((among(f, [fate]), fate.last_change(f)) for fate in FATES))
        last = sa.and_(
            among(f, [fate for fate in FATES if fate.name != "pending"]),
            sa.not_(still_waiting(f)),
        )
        return (literal_text("payment.") + status, sequence, at, last)

    def id(self, f: Facts) -> Any:
        return literal_text("evt_") + f.hex32(self.salt)


NOTIFIED = (_Notified(21, "initiated"), _Notified(23, "last"))


def notification_rows(f: Facts) -> list[sa.Insert]:
    """The events the merchants with an endpoint were sent: of the payment's ``initiated``
    step, and of its last status."""
    columns = ["id", "payment_id", "merchant", "type", "sequence", "payload", "created_at"]
    statements = []
    for family in NOTIFIED:
        event_type, sequence, at, which = family.rows_of(f)
        payload = f.json(
            '{"id": "',
            family.id(f),
            '", "type": "',
            event_type,
            '", "sequence": ',
            f.number(sequence),
            ', "data": {"payment": {"id": "',
            f.hex32(1),
            '", "amount": {"minor": ',
            f.number(f.c.amount),
            ', "currency": "',
            f.c.currency,
            '"}, "merchant": "',
            f.c.merchant,
            '", "metadata": {"order_id": "ORD-',
            f.number(f.c.n),
            '"}}}}',
        )
        rows = f.rows(
            family.id(f),
            f.payment_id,
            f.c.merchant,
            event_type,
            sequence,
            payload,
            f.time(at),
        ).where(which, f.notified())
        statements.append(sa.insert(notifications).from_select(columns, rows))
    return statements


def delivery_rows(f: Facts) -> list[sa.Insert]:
    """A delivery of each event to its merchant's endpoint: delivered (one in thirteen at the
    second attempt, after a 503); of the last status, one in 150 kept failing: retrying for
    those younger than :data:`RETRYING_FOR`, dead for the others."""
    columns = ["notification_id", "endpoint", "status", "attempts", "last_status_code"]
    columns += ["last_error", "last_duration_ms", "delivered_at", "created_at", "updated_at"]
    endpoint = sa.case(
        *(
            (f.c.merchant == literal_text(merchant), literal_text(name))
            for merchant, name in ENDPOINTS.items()
        )
    )
    statements = []
    for family in NOTIFIED:
        _type, _sequence, at, which = family.rows_of(f)
        failing = f.every(150, 11) if family.kind == "last" else sa.false()
        retrying = sa.and_(failing, f.since(RETRYING_FOR))
        took = literal_int(40) + f.c.n % literal_int(200)
        rows = f.rows(
            family.id(f),
            endpoint,
            sa.case(
                (retrying, literal_text("pending")),
                (failing, literal_text("dead")),
                else_=literal_text("delivered"),
            ),
            sa.case(
                (retrying, literal_int(3)),
                (failing, literal_int(NOTIFY_ATTEMPTS)),
                (f.every(13, 0), literal_int(2)),
                else_=literal_int(1),
            ),
            sa.case((retrying, sa.null()), (failing, literal_int(503)), else_=literal_int(200)),
            sa.case(
                (retrying, literal_text("connect timeout after 10 s")),
                (failing, literal_text("HTTP 503 from the endpoint")),
                else_=sa.null(),
            ),
            sa.case((retrying, literal_int(10_000)), else_=took),
            sa.case((failing, sa.null()), else_=f.time(at + literal_int(300 * MS))),
            f.time(at),
            sa.case(
                (retrying, f.time(at + literal_int(HOUR))),
                (failing, f.time(at + literal_int(micros(RETRYING_FOR)))),
                else_=f.time(at + literal_int(300 * MS)),
            ),
        ).where(which, f.notified())
        statements.append(sa.insert(notification_deliveries).from_select(columns, rows))
    return statements


def job_rows(f: Facts) -> list[sa.Insert]:
    """The jobs the payments' changes wrote (the deliveries' apart: :func:`notify_jobs`): an
    expire job of every payment that was initiated (done, or pending and due later for those
    still waiting and those authorized), and a reconcile job of every payment of unknown
    outcome, dead after its last attempt."""
    columns = ["kind", "payment_id", "status", "attempts", "max_attempts", "run_at"]
    columns += ["last_error", "created_at", "updated_at"]
    waits = sa.or_(still_waiting(f), among(f, fates("authorized")))
    due = sa.case(
        (among(f, fates("authorized")), f.c.created + literal_int(7 * DAY)),
        else_=answered(f) + literal_int(DAY),
    )
    expiring = f.rows(
        literal_text("expire"),
        f.payment_id,
        sa.case((waits, literal_text("pending")), else_=literal_text("done")),
        sa.case((waits, literal_int(0)), else_=literal_int(1)),
        literal_int(JOB_ATTEMPTS),
        f.time(due, capped=False),
        sa.null(),
        f.time(answered(f)),
        sa.case((waits, f.time(answered(f))), else_=f.time(due)),
    ).where(among(f, ACCEPTED))
    reconciling = f.rows(
        literal_text("reconcile"),
        f.payment_id,
        literal_text("dead"),
        literal_int(JOB_ATTEMPTS),
        literal_int(JOB_ATTEMPTS),
        f.time(answered(f) + literal_int(2 * HOUR)),
        f.said("{gateway} did not answer: read timed out after 10 s"),
        f.time(answered(f)),
        f.time(answered(f) + literal_int(2 * HOUR)),
    ).where(among(f, fates("unknown")))
    return [
        sa.insert(jobs).from_select(columns, expiring),
        sa.insert(jobs).from_select(columns, reconciling),
    ]


ROW_FAMILIES: tuple[RowFamily, ...] = (
    payment_rows,
    attempt_rows,
    event_rows,
    refund_rows,
    capture_rows,
    notification_rows,
    delivery_rows,
    job_rows,
)


def notify_jobs(after_delivery: int, retry_at: datetime) -> sa.Insert:
    """The ``notify`` job of every delivery whose id is above ``after_delivery``: done, dead,
    or (retrying) pending and due at ``retry_at``."""
    d, n = notification_deliveries.c, notifications.c
    status = sa.case(
        (d.status == literal_text("delivered"), literal_text("done")),
        (d.status == literal_text("dead"), literal_text("dead")),
        else_=literal_text("pending"),
    )
    rows = (
        sa.select(
            literal_text("notify"),
            n.payment_id,
            d.id,
            status,
            d.attempts,
            literal_int(NOTIFY_ATTEMPTS),
            sa.case(
                (d.status == literal_text("pending"), sa.literal(retry_at, _Timestamp)),
                else_=d.updated_at,
            ),
            d.last_error,
            d.created_at,
            d.updated_at,
        )
        .select_from(notification_deliveries.join(notifications, n.id == d.notification_id))
        .where(d.id > literal_int(after_delivery))
    )
    columns = ["kind", "payment_id", "delivery_id", "status", "attempts", "max_attempts"]
    columns += ["run_at", "last_error", "created_at", "updated_at"]
    return sa.insert(jobs).from_select(columns, rows)


async def write_history(url: str, count: int, now: datetime) -> None:
    """Store ``count`` payments with their history, the newest created just before ``now``,
    :data:`BATCH` at a time; each row family of a batch in a transaction of its own."""
    for first in range(0, count, BATCH):
        size = min(BATCH, count - first)
        last_delivery = await write(url, _last_delivery)
        for family in ROW_FAMILIES:

            def store(
                conn: sa.Connection,
                family: RowFamily = family,
                first: int = first,
                size: int = size,
            ) -> None:
                facts = Facts(conn, first=first, count=size, total=count, now=now, fates=SHARED)
                for statement in family(facts):
                    conn.execute(statement)

            await write(url, store)
        jobs_of_deliveries = notify_jobs(last_delivery, retry_at=now + timedelta(minutes=30))
        await write(url, functools.partial(_execute, statement=jobs_of_deliveries))


def _last_delivery(conn: sa.Connection) -> int:
    """The id of the latest delivery (0: none yet)."""
    latest = sa.func.max(notification_deliveries.c.id)
    return int(conn.execute(sa.select(sa.func.coalesce(latest, 0))).scalar_one())


def _execute(conn: sa.Connection, statement: sa.Insert) -> None:
    conn.execute(statement)
