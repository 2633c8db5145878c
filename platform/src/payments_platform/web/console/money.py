"""Moving money from a payment's page: capture (all or part of an authorization) and refund
(all or part of what was captured), in the operator's name.

Each form carries the id of the capture or refund it asks for, made when the page was shown:
the id is the platform's idempotency key, so a form sent twice (a double click, a reload after
a lost answer) is the one capture or refund, never two. The amount is typed in the currency's
major units (``12.50``), empty for all that is left. What the platform refuses is recorded in
the payment's log with the operator's name and why, and the page says so.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from litestar import Request, post
from litestar.di import NamedDependency
from litestar.exceptions import NotFoundException
from litestar.params import FromPath
from litestar.response import Redirect
from payments_plugins import Amount

from payments_platform import errors
from payments_platform.lifecycle import CaptureStatus, RefundStatus
from payments_platform.records import Payment
from payments_platform.store.operator_sessions import OperatorSession
from payments_platform.usecases.captures import capture_payment
from payments_platform.usecases.operator_actions import record_refusal
from payments_platform.usecases.operator_reads import payment_by_id
from payments_platform.usecases.refunds import refund_payment
from payments_platform.web.console.access import Console, form_value
from payments_platform.web.console.notices import notice_query
from payments_platform.web.console.payments import payment_path


@post("/payments/{payment_id:uuid}/capture", name="console:capture", status_code=303)
async def capture(
    payment_id: FromPath[uuid.UUID],
    request: Request[Any, Any, Any],
    console: NamedDependency[Console],
    session: NamedDependency[OperatorSession],
) -> Redirect:
    """Capture the amount typed (all that is left when empty) of an authorized payment;
    ``final`` releases the rest."""
    payment = await _payment(console, payment_id)
    final = await form_value(request, "final") == "on"

    async def act(amount: int | None, key: uuid.UUID) -> str:
        outcome = await capture_payment(
            console.deps,
            payment.client_id,
            amount_minor=amount,
            client_capture_id=key,
            final=final,
            merchant=payment.merchant,
            operator=session.operator,
        )
        return "captured" if outcome.capture.status is CaptureStatus.SUCCEEDED else "capturing"

    notice = await _move(console, session, request, payment, "capture", act)
    return Redirect(payment_path(payment_id) + notice, status_code=303)


@post("/payments/{payment_id:uuid}/refund", name="console:refund", status_code=303)
async def refund(
    payment_id: FromPath[uuid.UUID],
    request: Request[Any, Any, Any],
    console: NamedDependency[Console],
    session: NamedDependency[OperatorSession],
) -> Redirect:
    """Refund the amount typed (all that is left when empty) of what was captured."""
    payment = await _payment(console, payment_id)

    async def act(amount: int | None, key: uuid.UUID) -> str:
        outcome = await refund_payment(
            console.deps,
            payment.client_id,
            amount_minor=amount,
            client_refund_id=key,
            merchant=payment.merchant,
            operator=session.operator,
        )
        return "refunded" if outcome.refund.status is RefundStatus.SUCCEEDED else "refunding"

    notice = await _move(console, session, request, payment, "refund", act)
    return Redirect(payment_path(payment_id) + notice, status_code=303)


async def _payment(console: Console, payment_id: uuid.UUID) -> Payment:
    payment = await payment_by_id(console.deps, payment_id)
    if payment is None:
        raise NotFoundException(f"no payment with id {payment_id}")
    return payment


async def _move(
    console: Console,
    session: OperatorSession,
    request: Request[Any, Any, Any],
    payment: Payment,
    action: str,
    act: Callable[[int | None, uuid.UUID], Awaitable[str]],
) -> str:
    """Read the form's amount and id, act, and say how it went (as a notice's query)."""
    try:
        key = uuid.UUID(await form_value(request, f"{action}_id"))
    except ValueError:
        return notice_query("form_expired")
    typed = (await form_value(request, "amount")).strip()
    try:
        amount = Amount.parse(f"{typed} {payment.currency}").minor if typed else None
    except ValueError:
        return notice_query("bad_amount")
    if amount == 0:
        return notice_query("bad_amount")
    try:
        return notice_query(await act(amount, key))
    except errors.PaymentProblem as problem:
        await record_refusal(console.deps, payment.id, session.operator, action, problem)
        return notice_query("refused", problem=problem.code)
