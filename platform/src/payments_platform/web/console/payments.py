"""A payment's page: what it is, its whole history as one timeline, and what an operator can do
about it (ask the gateway now, when its outcome is unknown)."""

from __future__ import annotations

import uuid
from typing import Annotated

from litestar import get, post
from litestar.di import NamedDependency
from litestar.exceptions import NotFoundException
from litestar.params import FromPath, FromQuery, QueryParameter
from litestar.response import Redirect, Template

from payments_platform.lifecycle import PaymentStatus
from payments_platform.store.operator_sessions import OperatorSession
from payments_platform.usecases.operator_actions import Reconciliation, reconcile_now
from payments_platform.usecases.operator_reads import payment_file
from payments_platform.web.console.access import CONSOLE, Console
from payments_platform.web.console.notices import notice_of, notice_query
from payments_platform.web.console.rendering import page
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
) -> Template:
    """The payment and its timeline."""
    found = await payment_file(console.platform, payment_id)
    if found is None:
        raise NotFoundException(f"no payment with id {payment_id}")
    payment = found.history.payment
    return page(
        console,
        session,
        "payment.html",
        title=f"Payment {payment.id}",
        section="payments",
        payment=payment,
        refunds=found.history.refunds,
        timeline=payment_timeline(found.history, found.jobs, found.early_webhooks),
        may_reconcile=payment.status is PaymentStatus.UNKNOWN
        and payment.gateway in console.platform.gateways,
        notice=notice_of(notice, job=job),
    )


@post("/payments/{payment_id:uuid}/reconcile", name="console:reconcile", status_code=303)
async def reconcile(
    payment_id: FromPath[uuid.UUID],
    console: NamedDependency[Console],
    session: NamedDependency[OperatorSession],
) -> Redirect:
    """Ask the payment's gateway now what became of it; the answer shows in the timeline."""
    result = await reconcile_now(console.platform, payment_id, session.operator)
    if result.outcome is Reconciliation.NOT_FOUND:
        raise NotFoundException(f"no payment with id {payment_id}")
    return Redirect(payment_path(payment_id) + notice_query(result.outcome), status_code=303)


@get("/payments", name="console:payments")
async def search_page(
    console: NamedDependency[Console],
    session: NamedDependency[OperatorSession],
    payment_id: Annotated[str | None, QueryParameter(name="id")] = None,
) -> Template | Redirect:
    """Find a payment by its id."""
    wanted = (payment_id or "").strip()
    error = None
    if wanted:
        try:
            return Redirect(payment_path(uuid.UUID(wanted)), status_code=303)
        except ValueError:
            error = f"{wanted!r} is not a payment id (a UUID)"
    return page(
        console,
        session,
        "search.html",
        title="Payments",
        section="payments",
        error=error,
        id=wanted,
    )
