"""The operators' audit: every ``operator_action`` event, whatever payment it is about (or none),
newest first, a page at a time.

Pages are cut by event id (a keyset: the next page has the ids below the last one shown), which
is the order events were recorded in. Both filters have an index: every operator's actions are
read newest first on ``ix_payment_events_kind_id``, one operator's on
``ix_payment_events_operator_id`` (the ``operator`` column repeats the name ``detail`` holds).
A time range is checked on the rows those indexes give, newest first: a range long past reads
the actions recorded since its end before its first row, a cost that grows with operator
actions, never with payments.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, NamedTuple

import msgspec
import sqlalchemy as sa

from payments_platform.records import Event
from payments_platform.schema import payment_events
from payments_platform.store.events import OPERATOR_ACTION, READER


class ActionFilter(msgspec.Struct, frozen=True, kw_only=True):
    """Which operator actions are listed; None matches any."""

    operator: str | None = None
    since: datetime | None = None
    """Recorded at or after this time."""
    before: datetime | None = None
    """Recorded strictly before this time."""


class ActionPage(NamedTuple):
    """One page of operator actions, newest first, and the id the next page starts below
    (None: this is the last)."""

    actions: list[Event]
    next_below: int | None


def operator_actions(
    conn: sa.Connection, filters: ActionFilter, *, below: int | None, limit: int
) -> ActionPage:
    """The operator actions that match ``filters`` with an id below ``below`` (None: the
    newest), newest first; at most ``limit`` of them."""
    rows = conn.execute(actions_query(filters, below=below, limit=limit + 1)).all()
    found = [READER.read_row(row) for row in rows[:limit]]
    return ActionPage(found, found[-1].id if len(rows) > limit else None)


def actions_query(
    filters: ActionFilter, *, below: int | None, limit: int
) -> sa.Select[tuple[Any, ...]]:
    """The statement that reads the actions, newest first (its plan is checked by the tests)."""
    events = payment_events.c
    if filters.operator is None:
        query = sa.select(payment_events).where(events.kind == OPERATOR_ACTION)
    else:
        # Only operator actions name an operator. Asking for the kind as well would have
        # PostgreSQL take the two conditions as independent, expect next to no row to match
        # both, and read every action of the operator to sort them, not the newest few.
        query = sa.select(payment_events).where(events.operator == filters.operator)
    if filters.since is not None:
        query = query.where(events.created_at >= filters.since)
    if filters.before is not None:
        query = query.where(events.created_at < filters.before)
    if below is not None:
        query = query.where(events.id < below)
    return query.order_by(events.id.desc()).limit(limit)
