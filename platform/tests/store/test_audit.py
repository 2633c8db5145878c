"""The operators' audit (``store/audit``): every operator action newest first, whatever payment it
is about, by operator and time, a page at a time by event id, read by index on both backends."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from payments_platform.records import Event
from payments_platform.schema import payment_events
from payments_platform.store import events
from payments_platform.store.audit import (
    ActionFilter,
    ActionPage,
    actions_query,
    operator_actions,
)

from store.payment_rows import NOW, InTransaction


def _act(
    conn: sa.Connection,
    operator: str,
    action: str,
    *,
    minutes: int = 0,
    payment_id: uuid.UUID | None = None,
) -> None:
    events.record_operator_action(
        conn,
        payment_id=payment_id,
        operator=operator,
        action=action,
        reason=f"{operator} did {action}",
        now=NOW + timedelta(minutes=minutes),
    )


def _actions(page: ActionPage) -> list[tuple[str, str]]:
    return [_who_what(event) for event in page.actions]


def _who_what(event: Event) -> tuple[str, str]:
    assert event.detail is not None
    return event.detail["operator"], event.detail["action"]


async def test_every_operator_action_is_listed_newest_first_with_or_without_a_payment(
    in_transaction: InTransaction,
) -> None:
    payment_id = uuid.uuid4()

    def body(conn: sa.Connection) -> None:
        _act(conn, "alice", "cancel", payment_id=payment_id)
        events.record(conn, payment_id=payment_id, kind="status_changed", now=NOW)
        _act(conn, "bob", "retry_job", minutes=1)
        _act(conn, "alice", "sign_out", minutes=2)

        found = operator_actions(conn, ActionFilter(), below=None, limit=10)

        assert _actions(found) == [("alice", "sign_out"), ("bob", "retry_job"), ("alice", "cancel")]
        assert [event.payment_id for event in found.actions] == [None, None, payment_id]
        assert found.next_below is None

    await in_transaction(body)


async def test_one_operator_and_a_time_range_since_inclusive_before_exclusive(
    in_transaction: InTransaction,
) -> None:
    def body(conn: sa.Connection) -> None:
        for minute, operator in enumerate(["alice", "bob", "alice", "alice", "bob", "alice"]):
            _act(conn, operator, f"act-{minute}", minutes=minute)

        alice = operator_actions(conn, ActionFilter(operator="alice"), below=None, limit=10)
        window = operator_actions(
            conn,
            ActionFilter(since=NOW + timedelta(minutes=1), before=NOW + timedelta(minutes=4)),
            below=None,
            limit=10,
        )
        both = operator_actions(
            conn,
            ActionFilter(operator="bob", since=NOW + timedelta(minutes=2)),
            below=None,
            limit=10,
        )
        nobody = operator_actions(conn, ActionFilter(operator="Alice"), below=None, limit=10)

        assert [action for _, action in _actions(alice)] == ["act-5", "act-3", "act-2", "act-0"]
        assert [action for _, action in _actions(window)] == ["act-3", "act-2", "act-1"]
        assert _actions(both) == [("bob", "act-4")]
        assert nobody.actions == []  # names are compared exactly

    await in_transaction(body)


async def test_pages_follow_one_another_by_event_id_none_skipped_or_repeated(
    in_transaction: InTransaction,
) -> None:
    def body(conn: sa.Connection) -> None:
        # Recorded within the same microsecond: the event id orders them.
        for index in range(7):
            _act(conn, "alice", f"act-{index}")

        seen: list[str] = []
        below = None
        pages = 0
        while True:
            page = operator_actions(conn, ActionFilter(), below=below, limit=3)
            seen += [action for _, action in _actions(page)]
            pages += 1
            if page.next_below is None:
                break
            below = page.next_below

        assert seen == [f"act-{index}" for index in reversed(range(7))]
        assert pages == 3

    await in_transaction(body)


async def test_the_operator_column_repeats_the_name_and_only_operator_actions_have_one(
    in_transaction: InTransaction,
) -> None:
    def body(conn: sa.Connection) -> None:
        _act(conn, "alice", "cancel")
        events.record(conn, payment_id=uuid.uuid4(), kind="webhook", now=NOW)

        stored = conn.execute(
            sa.select(payment_events.c.kind, payment_events.c.operator).order_by(
                payment_events.c.id
            )
        ).all()

        assert [tuple(row) for row in stored] == [("operator_action", "alice"), ("webhook", None)]
        with pytest.raises(ValueError, match="1 to 64 characters"):
            _act(conn, "x" * 65, "cancel")

    await in_transaction(body)


def _plan(conn: sa.Connection, query: sa.Select[tuple[Any, ...]]) -> str:
    text = str(query.compile(conn, compile_kwargs={"literal_binds": True}))
    if conn.dialect.name == "sqlite":
        return " | ".join(row[-1] for row in conn.execute(sa.text(f"EXPLAIN QUERY PLAN {text}")))
    return " | ".join(row[0] for row in conn.execute(sa.text(f"EXPLAIN {text}")))


async def test_the_audit_is_read_by_index_on_both_backends(in_transaction: InTransaction) -> None:
    """Among many events of other kinds (a few per payment, an operator action now and then),
    every operator's actions are read from ``ix_payment_events_kind_id``, one operator's from
    ``ix_payment_events_operator_id``: neither walks the table."""

    def body(conn: sa.Connection) -> None:
        for index in range(3000):
            if index % 100 == 0:
                _act(conn, ("alice", "bob", "carol")[index // 100 % 3], "cancel")
            else:
                events.record(
                    conn,
                    payment_id=uuid.uuid4(),
                    kind="webhook" if index % 2 else "status_changed",
                    now=NOW,
                )
        conn.execute(sa.text("ANALYZE"))

        every = _plan(conn, actions_query(ActionFilter(), below=None, limit=11))
        one = _plan(
            conn,
            actions_query(
                ActionFilter(operator="bob", since=NOW - timedelta(days=1)), below=2000, limit=11
            ),
        )

        assert "ix_payment_events_kind_id" in every, every
        assert "ix_payment_events_operator_id" in one, one

    await in_transaction(body)
