"""The ``payment_events`` table: the append-only audit of every state change and every webhook
received, accepted or not."""

from __future__ import annotations

import functools
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any, NamedTuple, cast

import sqlalchemy as sa

from payments_platform.records import Event
from payments_platform.schema import RECEIVED_WEBHOOK, payment_events
from payments_platform.store.sql import Json, Reader, Sql, changed, listed, placeholders, rows
from payments_platform.store.text import storable_text

READER = Reader(Event, payment_events)

OPERATOR_ACTION = "operator_action"
"""The kind of the events that say what an operator did (to a payment, mostly)."""
MAX_OPERATOR_LENGTH: int = cast(sa.String, payment_events.c.operator.type).length or 0
"""The longest operator name an event holds (the console's names are shorter; a name given on
the command line is checked against it)."""

_INSERT = Sql(
    "INSERT INTO payment_events (payment_id, kind, from_status, to_status, gateway,"
    " external_id, accepted, reason, body_sha256, detail, created_at, operator) VALUES"
    " (:payment_id, :kind, :from_status, :to_status, :gateway, :external_id, :accepted,"
    " :reason, :body_sha256, :detail, :created_at, :operator)"
)
_OF_PAYMENT = Sql(
    "SELECT {columns} FROM payment_events WHERE payment_id = :payment_id ORDER BY id",
    returns=READER,
)


def record(
    conn: sa.Connection,
    *,
    payment_id: uuid.UUID | None,
    kind: str,
    now: datetime,
    from_status: str | None = None,
    to_status: str | None = None,
    gateway: str | None = None,
    external_id: str | None = None,
    accepted: bool | None = None,
    reason: str | None = None,
    body_sha256: str | None = None,
    detail: dict[str, Any] | None = None,
) -> None:
    """Append to the audit trail. An operator action's operator (``detail["operator"]``) is
    also written to the column the operators' audit finds it by."""
    operator = detail.get("operator") if kind == OPERATOR_ACTION and detail else None
    changed(
        conn,
        _INSERT,
        payment_id=payment_id,
        kind=kind,
        from_status=from_status,
        to_status=to_status,
        gateway=gateway,
        external_id=external_id,
        accepted=accepted,
        reason=storable_text(reason),
        body_sha256=body_sha256,
        detail=None if detail is None else Json(detail),
        created_at=now,
        operator=operator,
    )


def record_operator_action(
    conn: sa.Connection,
    *,
    payment_id: uuid.UUID | None,
    operator: str,
    action: str,
    reason: str,
    now: datetime,
    accepted: bool | None = None,
    **detail: Any,
) -> None:
    """Record that ``operator`` did ``action`` to the payment (None: to none, such as signing
    in; ``accepted``: False when the platform refused it), with what the action was about in
    ``detail``. ``operator`` is at most :data:`MAX_OPERATOR_LENGTH` characters."""
    if not 0 < len(operator) <= MAX_OPERATOR_LENGTH:
        raise ValueError(f"an operator's name has 1 to {MAX_OPERATOR_LENGTH} characters")
    record(
        conn,
        payment_id=payment_id,
        kind=OPERATOR_ACTION,
        reason=reason,
        accepted=accepted,
        detail={"operator": operator, "action": action, **detail},
        now=now,
    )


@functools.cache
def _unmatched(gateways: int) -> Sql:
    return Sql(
        "SELECT {columns} FROM payment_events WHERE payment_id IS NULL"
        " AND external_id = :external_id AND gateway IN ({gateways}) AND kind = 'webhook'"
        " ORDER BY id",
        returns=READER,
        gateways=placeholders("gateway", gateways),
    )


def unmatched_webhooks(
    conn: sa.Connection, gateways: Sequence[str], external_id: str
) -> list[Event]:
    """Webhooks that named ``external_id`` before any payment was known under it."""
    if not gateways:
        return []
    found = rows(
        conn, _unmatched(len(gateways)), external_id=external_id, **listed("gateway", gateways)
    )
    return READER.read_all(conn, found)


def recovered(conn: sa.Connection, limit: int) -> list[Event]:
    """The latest reports of a vendor that took money after the platform gave a payment up,
    newest first (``recovered`` events)."""
    found = conn.execute(
        sa.select(payment_events)
        .where(payment_events.c.kind == "recovered")
        .order_by(payment_events.c.created_at.desc(), payment_events.c.id.desc())
        .limit(limit)
    )
    return [READER.read_row(row) for row in found]


REFUSAL_REASONS = ("invalid-webhook", "payment-not-found", "transition-not-allowed")
"""Why webhooks were refused, as :func:`refused_webhooks` counts them: not verified or not
readable; naming no payment known; contradicting its payment's lifecycle."""


def refused_webhooks(conn: sa.Connection, since: datetime) -> dict[tuple[str, str], int]:
    """Webhooks refused since ``since``, counted by gateway (``""`` when the route named a
    type several gateways share) and reason (one of :data:`REFUSAL_REASONS`)."""
    events = payment_events.c
    reason = sa.case(
        (events.payment_id.is_not(None), REFUSAL_REASONS[2]),
        (events.external_id.is_not(None), REFUSAL_REASONS[1]),
        else_=REFUSAL_REASONS[0],
    )
    found = conn.execute(
        sa.select(events.gateway, reason, sa.func.count())
        .where(events.kind == "webhook", events.accepted == sa.false(), events.created_at >= since)
        .group_by(events.gateway, reason)
    )
    return {(gateway or "", why): count for gateway, why, count in found}


class ReceivedPosition(NamedTuple):
    """Where a page of webhooks received ended: the last one's time and event id."""

    created_at: datetime
    id: int


class ReceivedPage(NamedTuple):
    """Webhooks received, newest first, and where the next page starts (None: the last)."""

    events: list[Event]
    next: ReceivedPosition | None


def received_webhooks(
    conn: sa.Connection,
    *,
    gateway: str | None,
    accepted: bool | None,
    after: ReceivedPosition | None,
    limit: int,
) -> ReceivedPage:
    """The webhooks vendors sent, accepted or not, newest first, after ``after``; at most
    ``limit`` of them; of ``gateway`` when given (``""``: those no gateway verified, on a route
    several share), accepted or refused when ``accepted`` says.

    They are the events stored with the SHA-256 of a body
    (:data:`~payments_platform.schema.RECEIVED_WEBHOOK`): ``webhook`` (as it arrived),
    ``webhook_replayed`` (one that arrived before its payment was known, applied once it was)
    and ``recovered`` (kept for the operator: another gateway holds the payment it names; a
    ``recovered`` event without a body is the platform's own finding, not a webhook). Read
    backwards along ``ix_payment_events_received``, whatever the filters.
    """
    events = payment_events.c
    query = sa.select(payment_events).where(RECEIVED_WEBHOOK)
    if gateway is not None:
        query = query.where(events.gateway == gateway if gateway else events.gateway.is_(None))
    if accepted is not None:
        query = query.where(events.accepted == (sa.true() if accepted else sa.false()))
    if after is not None:
        query = query.where(
            sa.tuple_(events.created_at, events.id) < sa.tuple_(after.created_at, after.id)
        )
    found = conn.execute(
        query.order_by(events.created_at.desc(), events.id.desc()).limit(limit + 1)
    ).all()
    listed = [READER.read_row(row) for row in found[:limit]]
    if len(found) <= limit:
        return ReceivedPage(listed, None)
    return ReceivedPage(listed, ReceivedPosition(listed[-1].created_at, listed[-1].id))


def received_counts(conn: sa.Connection, since: datetime) -> dict[tuple[str, bool], int]:
    """The webhooks received since ``since``, counted by gateway (``""``: none verified them,
    on a route several share) and whether they were accepted; from the index alone."""
    events = payment_events.c
    found = conn.execute(
        sa.select(events.gateway, events.accepted, sa.func.count())
        .where(RECEIVED_WEBHOOK, events.created_at >= since)
        .group_by(events.gateway, events.accepted)
    )
    counts: dict[tuple[str, bool], int] = {}
    for gateway, accepted, count in found:
        key = (gateway or "", bool(accepted))
        counts[key] = counts.get(key, 0) + count
    return counts


def of_payment(conn: sa.Connection, payment_id: uuid.UUID) -> list[Event]:
    """The payment's audit trail, oldest first."""
    return READER.read_all(conn, rows(conn, _OF_PAYMENT, payment_id=payment_id))
