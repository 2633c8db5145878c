"""The deliveries as the console's attention bar reads them (``store/notifications``), on both
backends: the endpoints with deliveries failing."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa
from payments_platform.store import notifications

from store.delivery_rows import DEAD, DELIVERED, PENDING, new_delivery
from store.payment_rows import NOW, InTransaction


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
