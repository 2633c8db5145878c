"""What the console reads about payments: pages of them found by what an operator knows, and
everything stored about one, in one transaction.

Operators see every payment, whichever merchant it belongs to: the console has no merchant.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import sqlalchemy as sa

from payments_platform import jobs
from payments_platform.jobs import Job
from payments_platform.records import Event, Payment, PaymentHistory
from payments_platform.store import events, history, listing, payments
from payments_platform.store.listing import (
    EVERYONE,
    Cursor,
    Everyone,
    PaymentFilter,
    PaymentPage,
)
from payments_platform.usecases.context import Platform

KNOWN_AS_LIMIT = 100
"""Payments shown for one client id at most: one per merchant that used it."""


@dataclass(frozen=True)
class PaymentFile:
    """A payment's history, its jobs, and the webhooks that named its external id before the
    payment was known by it (and were kept, not applied)."""

    history: PaymentHistory
    jobs: list[Job]
    early_webhooks: list[Event]


async def payment_file(platform: Platform, payment_id: uuid.UUID) -> PaymentFile | None:
    """Everything stored about the payment; None if there is no such payment."""
    return await platform.database.read(lambda conn: _read(conn, payment_id))


def _read(conn: sa.Connection, payment_id: uuid.UUID) -> PaymentFile | None:
    found = history.read(conn, payment_id)
    if found is None:
        return None
    payment = found.payment
    early = []
    if payment.gateway is not None and payment.external_id is not None:
        early = events.unmatched_webhooks(conn, [payment.gateway], payment.external_id)
    return PaymentFile(history=found, jobs=jobs.of_payment(conn, payment_id), early_webhooks=early)


async def find_payments(
    platform: Platform,
    *,
    merchant: str | Everyone,
    filters: PaymentFilter,
    after: Cursor | None,
    limit: int,
) -> PaymentPage:
    """A page of the payments that match, newest first, paged as ``GET /payments`` pages."""
    return await platform.database.read(
        lambda conn: listing.list_payments(
            conn, merchant=merchant, filters=filters, after=after, limit=limit
        )
    )


async def payments_known_as(platform: Platform, any_id: uuid.UUID) -> list[Payment]:
    """The payments an id may name, as someone may have it: the platform's own (the reference
    a gateway shows) first, then every payment a client gave that id, whatever its merchant."""

    def read(conn: sa.Connection) -> list[Payment]:
        own = payments.get(conn, any_id)
        given = listing.list_payments(
            conn,
            merchant=EVERYONE,
            filters=PaymentFilter(client_id=any_id),
            after=None,
            limit=KNOWN_AS_LIMIT,
        )
        others = [payment for payment in given.payments if payment.id != any_id]
        return ([own] if own is not None else []) + others

    return await platform.database.read(read)
