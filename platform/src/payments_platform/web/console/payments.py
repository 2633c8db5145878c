"""Finding payments (a page at a time, or every one as a CSV file), and a payment's page: what
it is, its whole history as one timeline, and what an operator can do about it (ask the gateway
now, when its outcome is unknown; cancel it, while its payer has not paid; void, capture and
refund it: ``console/money``)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import msgspec
from litestar import Request, get, post
from litestar.di import NamedDependency
from litestar.exceptions import NotFoundException
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect, Stream, Template
from payments_plugins import Amount, NextAction
from payments_plugins.messages import NEXT_ACTION_TYPES

from payments_platform import errors
from payments_platform.lifecycle import (
    CAPTURABLE,
    REFUNDABLE,
    PaymentStatus,
    given_up_by_platform,
)
from payments_platform.records import Payment
from payments_platform.store.operator_sessions import OperatorSession
from payments_platform.usecases.cancel import CancelAnswer, cancel_payment
from payments_platform.usecases.operator_actions import Reconciliation, reconcile_now
from payments_platform.usecases.operator_reads import (
    every_payment,
    find_payments,
    payment_file,
    payments_known_as,
)
from payments_platform.web.console.access import CONSOLE, Console, refusal
from payments_platform.web.console.csv_files import csv_body, csv_download
from payments_platform.web.console.notices import notice_of, notice_query
from payments_platform.web.console.rendering import page
from payments_platform.web.console.search import read_search
from payments_platform.web.console.timeline import payment_timeline


def payment_path(payment_id: uuid.UUID) -> str:
    """Where a payment's page is."""
    return f"{CONSOLE}/payments/{payment_id}"


@get("/payments/{payment_id:uuid}", name="console:payment")
async def payment_page(
    payment_id: FromPath[uuid.UUID],
    console: NamedDependency[Console],
    session: NamedDependency[OperatorSession],
    notice: FromQuery[str | None] = None,
    job: FromQuery[int | None] = None,
    problem: FromQuery[str | None] = None,
) -> Template | Redirect:
    """The payment, its timeline, and the actions its status and gateway allow; an id a
    client gave leads to the payment it names (to the search, when several clients gave it)."""
    found = await payment_file(console.deps, payment_id)
    if found is None:
        known = await payments_known_as(console.deps, payment_id)
        if len(known) == 1:
            return Redirect(payment_path(known[0].id), status_code=303)
        if known:
            return Redirect(f"{CONSOLE}/payments?id={payment_id}", status_code=303)
        raise NotFoundException(f"no payment with id {payment_id}")
    payment = found.history.payment
    live = console.deps.gateways.get(payment.gateway or "")
    return page(
        console,
        session,
        "payment.html",
        title=f"Payment {payment.id}",
        section="payments",
        payment=payment,
        refunds=found.history.refunds,
        captures=found.history.captures,
        timeline=payment_timeline(found.history, found.jobs, found.early_webhooks),
        may_reconcile=payment.status is PaymentStatus.UNKNOWN and live is not None,
        given_up=given_up_by_platform(payment.status, payment.failure_code),
        may_cancel=payment.status is PaymentStatus.INITIATED,
        may_void=payment.status is PaymentStatus.AUTHORIZED
        and payment.capture_claimed_minor == 0
        and live is not None
        and live.capabilities.void,
        may_capture=payment.status in CAPTURABLE and payment.capturable_minor > 0,
        partial_capture=live is not None and live.capabilities.partial_capture,
        may_refund=payment.status in REFUNDABLE and payment.refundable_minor > 0,
        # Made once per page shown: the form sent twice is the one capture or refund.
        capture_id=uuid.uuid4(),
        refund_id=uuid.uuid4(),
        next_action=_shown(payment.payer_action),
        notice=notice_of(notice, job=job, problem=problem),
    )


def _shown(action: NextAction | None) -> dict[str, Any] | None:
    """The payer's next action as the page shows it: its fields, and its kind as ``type``."""
    if action is None:
        return None
    return {"type": NEXT_ACTION_TYPES[type(action)], **msgspec.structs.asdict(action)}


@post("/payments/{payment_id:uuid}/reconcile", name="console:reconcile", status_code=303)
async def reconcile(
    payment_id: FromPath[uuid.UUID],
    console: NamedDependency[Console],
    session: NamedDependency[OperatorSession],
) -> Redirect:
    """Ask the payment's gateway now what became of it (or, for a payment the platform gave up
    on, whether it took the money after all); the answer shows in the timeline."""
    result = await reconcile_now(console.deps, payment_id, session.operator)
    if result.outcome is Reconciliation.NOT_FOUND:
        raise NotFoundException(f"no payment with id {payment_id}")
    return Redirect(payment_path(payment_id) + notice_query(result.outcome), status_code=303)


@post("/payments/{payment_id:uuid}/cancel", name="console:cancel", status_code=303)
async def cancel(
    payment_id: FromPath[uuid.UUID],
    console: NamedDependency[Console],
    session: NamedDependency[OperatorSession],
) -> Redirect:
    """Cancel the payment, as its client could (``POST /payments/{id}/cancel``), in the
    operator's name."""
    found = await payment_file(console.deps, payment_id)
    if found is None:
        raise NotFoundException(f"no payment with id {payment_id}")
    payment = found.history.payment
    try:
        outcome = await cancel_payment(
            console.deps,
            payment.client_id,
            merchant=payment.merchant,
            operator=session.operator,
        )
    except errors.PaymentNotCancellable:
        notice = "not_cancellable"
    except (errors.CancelRefused, errors.GatewayUnreachable):
        notice = "cancel_refused"
    else:
        if outcome.answer is CancelAnswer.IN_PROGRESS:
            notice = "cancelling"
        else:
            notice = "voided" if outcome.payment.status is PaymentStatus.VOIDED else "cancelled"
    return Redirect(payment_path(payment_id) + notice_query(notice), status_code=303)


PAGE_SIZE = 50


@get("/payments", name="console:payments")
async def search_page(
    request: Request[Any, Any, Any],
    console: NamedDependency[Console],
    session: NamedDependency[OperatorSession],
) -> Template | Redirect:
    """Find payments by id, external id, status, gateway, currency, merchant, metadata and
    creation time, newest first, a page at a time; an id that names one payment opens it."""
    search = read_search(request.query_params)
    found: list[Payment] = []
    next_page = None
    if not search.errors and search.any_id is not None:
        found = await payments_known_as(console.deps, search.any_id)
        if len(found) == 1:
            return Redirect(payment_path(found[0].id), status_code=303)
    elif not search.errors:
        page_found = await find_payments(
            console.deps,
            merchant=search.merchant,
            filters=search.filters,
            after=search.after,
            limit=PAGE_SIZE,
        )
        found, next_page = page_found.payments, page_found.next
    return page(
        console,
        session,
        "search.html",
        title="Payments",
        section="payments",
        search=search,
        found=found,
        next_query=search.query(next_page) if next_page is not None else None,
        first_query=search.query() if search.after is not None else None,
        statuses=list(PaymentStatus),
        gateways=sorted(console.runtime.settings.gateways),
    )


CSV_PAGE_SIZE = 200
"""Payments read per transaction while a CSV file is written: reading and writing a page takes
the event loop for about 15 ms (docs/performance.md), between which other requests run."""
CSV_HEADER = (
    "id",
    "client_id",
    "merchant",
    "status",
    "amount",
    "currency",
    "captured",
    "refunded",
    "gateway",
    "external_id",
    "description",
    "created_at_utc",
    "updated_at_utc",
)


@get("/payments.csv", name="console:payments-csv")
async def payments_csv(
    request: Request[Any, Any, Any], console: NamedDependency[Console]
) -> Stream | Template:
    """Every payment the search page's filters find (not its page: all of them, newest first),
    as CSV, amounts in the currency's units."""
    search = read_search(request.query_params)
    if search.errors:
        return refusal(400, "Bad request", "Nothing to download: " + "; ".join(search.errors))
    pages: AsyncIterator[list[Payment]]
    if search.any_id is not None:
        first, pages = await payments_known_as(console.deps, search.any_id), _nothing_more()
    else:
        pages = every_payment(
            console.deps,
            merchant=search.merchant,
            filters=search.filters,
            page_size=CSV_PAGE_SIZE,
        )
        # Read before the answer starts: a database out of reach is an error page, not a file
        # cut short.
        first = await anext(pages)
    name = f"payments-{console.deps.now():%Y%m%dT%H%M%SZ}.csv"
    return csv_download(name, csv_body(CSV_HEADER, first, pages, _row))


async def _nothing_more() -> AsyncIterator[list[Payment]]:
    return
    yield


def _row(payment: Payment) -> tuple[object, ...]:
    def units(minor: int) -> str:
        return Amount(minor, payment.currency).decimal_text()

    return (
        payment.id,
        payment.client_id,
        payment.merchant,
        payment.status,
        units(payment.amount_minor),
        payment.currency,
        units(payment.captured_minor),
        units(payment.refunded_minor),
        payment.gateway,
        payment.external_id,
        payment.description,
        payment.created_at,
        payment.updated_at,
    )
