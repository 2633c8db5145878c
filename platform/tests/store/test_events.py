"""The webhooks received, as the console's webhooks page reads them from the audit trail
(``store/events``), on both backends: every event kept with a body's SHA-256 and nothing else,
newest first, filtered by gateway and verdict, paged without a webhook skipped or repeated; and
the period's counted by gateway and verdict."""

from __future__ import annotations

import uuid
from datetime import timedelta

import sqlalchemy as sa
from payments_platform.store import events
from payments_platform.store.events import ReceivedPosition

from store.payment_rows import NOW, InTransaction


def _webhook(
    conn: sa.Connection,
    number: int,
    *,
    gateway: str | None = "json",
    accepted: bool = True,
    kind: str = "webhook",
    seconds: int | None = None,
    body: bool = True,
) -> None:
    events.record(
        conn,
        payment_id=uuid.uuid4() if accepted else None,
        kind=kind,
        gateway=gateway,
        external_id=f"ext-{number}",
        accepted=accepted,
        reason=f"webhook {number}",
        body_sha256=f"{number:064x}" if body else None,
        now=NOW + timedelta(seconds=number if seconds is None else seconds),
    )


def _numbers(page: events.ReceivedPage) -> list[int]:
    return [int((event.reason or "").split()[-1]) for event in page.events]


async def test_webhooks_are_listed_newest_first_and_nothing_but_webhooks(
    in_transaction: InTransaction,
) -> None:
    def body(conn: sa.Connection) -> None:
        _webhook(conn, 1)
        _webhook(conn, 2, accepted=False, gateway=None)  # no gateway verified it
        _webhook(conn, 3, kind="webhook_replayed")
        _webhook(conn, 4, kind="recovered", accepted=False)  # another gateway holds it
        _webhook(conn, 5, kind="recovered", body=False)  # the platform's own finding
        _webhook(conn, 6, kind="status_changed", body=False)

        every = events.received_webhooks(conn, gateway=None, accepted=None, after=None, limit=10)
        assert _numbers(every) == [4, 3, 2, 1]
        assert every.next is None
        assert [e.kind for e in every.events] == [
            "recovered",
            "webhook_replayed",
            "webhook",
            "webhook",
        ]
        assert every.events[-1].body_sha256 == f"{1:064x}"

    await in_transaction(body)


async def test_webhooks_are_filtered_by_gateway_and_verdict(in_transaction: InTransaction) -> None:
    def body(conn: sa.Connection) -> None:
        _webhook(conn, 1, gateway="json")
        _webhook(conn, 2, gateway="json", accepted=False)
        _webhook(conn, 3, gateway="soap")
        _webhook(conn, 4, gateway=None, accepted=False)

        def listed(gateway: str | None, accepted: bool | None) -> list[int]:
            return _numbers(
                events.received_webhooks(
                    conn, gateway=gateway, accepted=accepted, after=None, limit=10
                )
            )

        assert listed("json", None) == [2, 1]
        assert listed("json", False) == [2]
        assert listed(None, False) == [4, 2]
        assert listed(None, True) == [3, 1]
        assert listed("", None) == [4]  # those no gateway verified
        assert listed("other", None) == []

    await in_transaction(body)


async def test_pages_follow_one_another_without_a_webhook_skipped_or_repeated(
    in_transaction: InTransaction,
) -> None:
    def body(conn: sa.Connection) -> None:
        for number in range(1, 24):
            # Three by three in the same microsecond: the event's id breaks the tie.
            _webhook(conn, number, seconds=number // 3)
        seen: list[int] = []
        after: ReceivedPosition | None = None
        while True:
            page = events.received_webhooks(conn, gateway=None, accepted=None, after=after, limit=5)
            seen += _numbers(page)
            if page.next is None:
                break
            after = page.next
        assert seen == list(range(23, 0, -1))

    await in_transaction(body)


async def test_the_periods_webhooks_are_counted_by_gateway_and_verdict(
    in_transaction: InTransaction,
) -> None:
    def body(conn: sa.Connection) -> None:
        _webhook(conn, 1, seconds=-7200)  # before the period
        _webhook(conn, 2)
        _webhook(conn, 3)
        _webhook(conn, 4, accepted=False)
        _webhook(conn, 5, gateway="soap", accepted=False)
        _webhook(conn, 6, gateway=None, accepted=False)
        _webhook(conn, 7, kind="status_changed", body=False)

        counts = events.received_counts(conn, NOW - timedelta(hours=1))
        assert counts == {
            ("json", True): 2,
            ("json", False): 1,
            ("soap", False): 1,
            ("", False): 1,
        }

    await in_transaction(body)
