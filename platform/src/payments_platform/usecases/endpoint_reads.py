"""What operators read of the merchants' endpoints: for each, its deliveries failing now (retrying
and dead, with the latest failure) and what its latest deliveries say of it
(:mod:`payments_platform.notifications.health`); and a page of deliveries, the latest first.
Read in one transaction.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from payments_platform.lifecycle import DeliveryStatus
from payments_platform.notifications.health import EndpointHealth, endpoint_health
from payments_platform.store import notifications
from payments_platform.store.notifications import DeliveryPage
from payments_platform.usecases.dependencies import Dependencies

LOOKED_AT = 100
"""How many of an endpoint's latest deliveries its health is made of."""


@dataclass(frozen=True)
class EndpointState:
    """An endpoint, as its deliveries stand."""

    name: str
    retrying: int
    """Deliveries that failed and will be tried again."""
    dead: int
    """Deliveries that failed for as long as the settings allow retries: re-send them."""
    last_failure_at: datetime | None
    last_error: str | None
    health: EndpointHealth


@dataclass(frozen=True)
class EndpointRecords:
    """Every endpoint shown, and a page of deliveries."""

    endpoints: list[EndpointState]
    deliveries: DeliveryPage


async def endpoint_records(
    deps: Dependencies,
    configured: Collection[str],
    *,
    endpoint: str | None,
    statuses: Sequence[DeliveryStatus] | None,
    failed_only: bool,
    below: int | None,
    limit: int,
) -> EndpointRecords:
    """The ``configured`` endpoints, and any other that has deliveries failing (one taken out
    of the config, say), each with its state; and a page of the deliveries (to ``endpoint``
    when given; in ``statuses``; that failed at least once when ``failed_only``), the latest
    first, with ids below ``below``."""

    def read(conn: sa.Connection) -> EndpointRecords:
        failing = {entry["endpoint"]: entry for entry in notifications.dead_or_retrying(conn)}
        names = sorted(set(configured) | set(failing))
        states = []
        for name in names:
            entry = failing.get(name, {})
            latest = notifications.latest_deliveries(conn, name, LOOKED_AT)
            states.append(
                EndpointState(
                    name=name,
                    retrying=int(entry.get("retrying", 0)),
                    dead=int(entry.get("dead", 0)),
                    last_failure_at=entry.get("last_failure_at"),
                    last_error=entry.get("last_error"),
                    health=endpoint_health(latest),
                )
            )
        # Every endpoint's deliveries of every status are read along the primary key; those of
        # some statuses, per endpoint, from the index of endpoint and status.
        listed = [endpoint] if endpoint is not None else None
        if listed is None and statuses is not None:
            listed = names
        page = notifications.list_deliveries(
            conn,
            endpoints=listed,
            statuses=statuses,
            failed_only=failed_only,
            below=below,
            limit=limit,
        )
        return EndpointRecords(endpoints=states, deliveries=page)

    return await deps.database.read(read)
