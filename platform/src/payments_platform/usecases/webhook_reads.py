"""What operators read of the webhooks vendors sent: every one the platform recorded, accepted
or refused and why, newest first, a page at a time, with the payment each applied to (or, for
one that named an external id no payment had yet, the payment that learned it later); and the
last hour's counted by gateway. Each read in one transaction.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from payments_platform.records import Event
from payments_platform.store import events, payments
from payments_platform.store.events import ReceivedPosition
from payments_platform.usecases.dependencies import Dependencies


@dataclass(frozen=True)
class ReceivedWebhook:
    """A webhook as it was recorded, and the payment it is about."""

    event: Event
    payment_id: uuid.UUID | None
    """The payment it applied to; for one that arrived before any payment was known by its
    external id, the payment known by it now (None: none is, yet or ever)."""

    @property
    def matched_later(self) -> bool:
        """It named no payment known when it came, and one is known by its external id now."""
        return self.event.payment_id is None and self.payment_id is not None


@dataclass(frozen=True)
class ReceivedWebhooks:
    """A page of webhooks received, where the next starts, and the period's counts."""

    webhooks: list[ReceivedWebhook]
    next: ReceivedPosition | None
    counts: dict[tuple[str, bool], int]
    """Webhooks received since the time asked, by gateway (``""``: none verified them, on a
    route several share) and whether they were accepted."""


async def webhooks_received(
    deps: Dependencies,
    *,
    gateway: str | None,
    accepted: bool | None,
    after: ReceivedPosition | None,
    limit: int,
    counted_since: datetime,
) -> ReceivedWebhooks:
    """A page of the webhooks received (of ``gateway``, ``""`` for those no gateway verified;
    accepted or refused as ``accepted`` says; None: any), newest first, after ``after``; and
    how many each gateway received since ``counted_since``, accepted and refused."""

    def read(conn: sa.Connection) -> ReceivedWebhooks:
        page = events.received_webhooks(
            conn, gateway=gateway, accepted=accepted, after=after, limit=limit
        )
        return ReceivedWebhooks(
            webhooks=[
                ReceivedWebhook(event, event.payment_id or _known_now(conn, deps, event))
                for event in page.events
            ],
            next=page.next,
            counts=events.received_counts(conn, counted_since),
        )

    return await deps.database.read(read)


def _known_now(conn: sa.Connection, deps: Dependencies, event: Event) -> uuid.UUID | None:
    """The payment known now by the external id an unmatched webhook named, at its gateway or
    one of the same type (whose webhooks share a route: those its replay would look at)."""
    if event.gateway is None or event.external_id is None:
        return None
    live = deps.gateways.get(event.gateway)
    siblings = [g.name for g in deps.gateways_of_type(live.type_name)] if live else []
    found = payments.find_by_external_id(conn, siblings or [event.gateway], event.external_id)
    return None if found is None else found.id
