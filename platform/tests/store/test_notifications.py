"""The deliveries as the console's endpoints page and its attention bar read them
(``store/notifications``), on both backends: a page of deliveries by endpoint and status, an
endpoint's latest, and the endpoints with deliveries failing."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from payments_platform.store import notifications

from store.delivery_rows import DEAD, DELIVERED, PENDING, new_delivery
from store.payment_rows import NOW, InTransaction


def _ids(page: notifications.DeliveryPage) -> list[int]:
    return [listed.delivery.id for listed in page.deliveries]


async def test_deliveries_are_listed_latest_first_by_endpoint_and_status_a_page_at_a_time(
    in_transaction: InTransaction,
) -> None:
    def body(conn: sa.Connection) -> None:
        shop = [new_delivery(conn, "shop", DELIVERED, minutes=n) for n in range(5)]
        waiting = new_delivery(conn, "shop", PENDING, attempts=0)
        retrying = new_delivery(conn, "shop", PENDING, attempts=2)
        dead = new_delivery(conn, "shop", DEAD, attempts=3)
        other = new_delivery(conn, "other", DEAD)

        def listed(endpoints: list[str] | None, **options: Any) -> list[int]:
            return _ids(
                notifications.list_deliveries(conn, endpoints=endpoints, limit=20, **options)
            )

        assert listed(None) == [other, dead, retrying, waiting, *reversed(shop)]
        assert listed(["shop"]) == [dead, retrying, waiting, *reversed(shop)]
        failing = {"statuses": [PENDING, DEAD], "failed_only": True}
        assert listed(["shop", "other"], **failing) == [other, dead, retrying]
        assert listed(["shop"], statuses=[DEAD]) == [dead]

        first = notifications.list_deliveries(conn, endpoints=["shop"], limit=3)
        assert _ids(first) == [dead, retrying, waiting]
        second = notifications.list_deliveries(conn, endpoints=["shop"], below=first.next, limit=3)
        assert _ids(second) == [shop[4], shop[3], shop[2]]
        assert second.next == shop[2]
        last = notifications.list_deliveries(conn, endpoints=["shop"], below=second.next, limit=3)
        assert (_ids(last), last.next) == ([shop[1], shop[0]], None)

        [row] = notifications.list_deliveries(conn, endpoints=["other"], limit=1).deliveries
        assert (row.event_type, row.delivery.status, row.delivery.attempts) == (
            "payment.paid",
            DEAD,
            1,
        )
        assert row.event_at == NOW
        assert row.delivery.last_duration_ms == 10 * other

    await in_transaction(body)


async def test_an_endpoints_latest_deliveries_are_its_own_latest_first(
    in_transaction: InTransaction,
) -> None:
    def body(conn: sa.Connection) -> None:
        mine = [new_delivery(conn, "shop", DELIVERED) for _ in range(4)]
        new_delivery(conn, "other", DELIVERED)
        latest = notifications.latest_deliveries(conn, "shop", 3)
        assert [d.id for d in latest] == [mine[3], mine[2], mine[1]]

    await in_transaction(body)


async def test_endpoints_failing_are_counted_with_their_latest_failure(
    in_transaction: InTransaction,
) -> None:
    def body(conn: sa.Connection) -> None:
        new_delivery(conn, "quiet", DELIVERED)
        new_delivery(conn, "quiet", PENDING, attempts=0)  # not tried yet: not failing
        new_delivery(conn, "shop", DEAD, minutes=0, error="connection refused")
        new_delivery(conn, "shop", PENDING, attempts=2, minutes=5, error="answered 502")
        new_delivery(conn, "shop", DEAD, minutes=1, error="answered 500")
        new_delivery(conn, "shop", DELIVERED, minutes=9)

        [shop] = notifications.dead_or_retrying(conn)
        assert shop == {
            "endpoint": "shop",
            "retrying": 1,
            "dead": 2,
            "last_failure_at": NOW + timedelta(minutes=7),
            "last_error": "answered 502",
        }
        assert notifications.dead_or_retrying(conn, ["quiet"]) == []

    await in_transaction(body)
