"""Capturing an authorized payment: ``POST /payments/{id}/capture``.

When a capture may be sent: the payment is the caller's, it was taken with manual capture and
is authorized (or partially captured), its gateway's type declares what is asked (a capture of
less than is authorized needs ``partial_capture``, a second one ``multiple_captures``), and the
amount is still left once captures in flight are counted as taken. One transaction claims it:
it locks the payment's row, answers a known capture id with that capture, takes the amount out
of what is left with a conditional update (the claim's own guard, whatever the lock), and
writes the ``pending`` capture, marked sent: should this process die before the answer is
recorded, a worker's sweep finds it overdue and asks the vendor what became of it. With the
transaction committed the gateway is called, the capture id being the vendor's idempotency
reference, and the answer is recorded in another transaction: succeeded (the payment is
partially captured, or paid once the capture is final or nothing is left), failed (the claim is
given back), or no usable answer (the capture stays ``pending`` and a ``capture`` job asks the
vendor, sending it again under the same reference only if the vendor never received it).
"""

from __future__ import annotations

import functools
import uuid
from datetime import datetime
from typing import cast

import msgspec
import sqlalchemy as sa
from opentelemetry import trace
from payments_plugins import (
    Amount,
    AuthorizationExpired,
    CaptureRequest,
    CaptureResult,
    CaptureStatusQuery,
    CapturingGateway,
    VendorCaptureStatus,
)

from payments_platform import errors
from payments_platform.access import capture_key, payment_key
from payments_platform.jobs import JobKind, RetryLater
from payments_platform.lifecycle import (
    CAPTURABLE,
    GATEWAY_NOT_ENABLED,
    GATEWAY_UNAVAILABLE,
    AttemptOutcome,
    CaptureStatus,
    capture_can_transition,
    capture_may_retry,
    capture_status_reported,
    status_after_capture,
)
from payments_platform.logs import payment_logged
from payments_platform.records import Capture, Payment
from payments_platform.store import captures, events, payments
from payments_platform.telemetry import current_trace_parent
from payments_platform.usecases import notify
from payments_platform.usecases.dependencies import Dependencies, LiveGateway
from payments_platform.usecases.gateway_call import call_gateway
from payments_platform.usecases.transitions import (
    Recorded,
    StatusChange,
    change_status,
    schedule,
)

tracer = trace.get_tracer("payments_platform")


class CaptureOutcome(msgspec.Struct, frozen=True, kw_only=True):
    """A capture and its payment after a capture request; ``created`` is False for a
    repeat."""

    capture: Capture
    payment: Payment
    created: bool


class _Claimed(msgspec.Struct, frozen=True):
    """A capture claimed in the database and not yet answered by the gateway."""

    payment: Payment
    capture: Capture


async def capture_payment(
    deps: Dependencies,
    client_payment_id: uuid.UUID,
    *,
    amount_minor: int | None = None,
    client_capture_id: uuid.UUID | None = None,
    final: bool = False,
    merchant: str | None = None,
    operator: str | None = None,
) -> CaptureOutcome:
    """Capture ``amount_minor`` (default: all that is left) of the authorized payment
    ``merchant`` calls ``client_payment_id``; ``final``: release what stays uncaptured;
    ``operator``: who asked, from the console (recorded in the payment's log)."""
    payment_id = payment_key(merchant, client_payment_id)
    with tracer.start_as_current_span("payments.capture") as span, payment_logged(payment_id):
        span.set_attribute("payment.id", str(payment_id))
        client_capture_id = client_capture_id or uuid.uuid4()
        span.set_attribute("capture.id", str(client_capture_id))
        claimed = await deps.database.write(
            functools.partial(
                claim_capture,
                deps=deps,
                client_payment_id=client_payment_id,
                amount_minor=amount_minor,
                client_capture_id=client_capture_id,
                final=final,
                merchant=merchant,
                operator=operator,
                now=deps.now(),
            )
        )
        if isinstance(claimed, CaptureOutcome):
            return claimed
        outcome = await send_capture(deps, claimed.payment, claimed.capture, by_job=False)
        if outcome.capture.status is CaptureStatus.FAILED:
            raise capture_failed(outcome.capture)
        return outcome


def claim_capture(
    conn: sa.Connection,
    *,
    deps: Dependencies,
    client_payment_id: uuid.UUID,
    amount_minor: int | None,
    client_capture_id: uuid.UUID,
    final: bool,
    merchant: str | None,
    now: datetime,
    operator: str | None = None,
) -> _Claimed | CaptureOutcome:
    """Take the amount out of what is left to capture, in one transaction with the capture row
    (marked sent: it is sent once this transaction commits).

    A capture id seen before answers with that capture as it stands, and sends it again only
    when nothing reached the vendor the first time.
    """
    payment = payments.find_for_client(conn, merchant, client_payment_id, for_update=True)
    if payment is None:
        raise errors.PaymentNotFound(f"no payment with id {client_payment_id}", field="id")
    existing = captures.find_for_client(conn, merchant, client_capture_id)
    if existing is not None:
        _check_repeat(existing, payment, amount_minor)
        if not capture_may_retry(existing.status, existing.failure_code):
            if existing.status is CaptureStatus.FAILED:
                raise capture_failed(existing)
            return CaptureOutcome(capture=existing, payment=payment, created=False)
        amount_minor, final = existing.amount_minor, existing.final
    live = deps.gateways.get(payment.gateway or "")
    amount, final = _capturable(payment, amount_minor, final, live)
    if not payments.claim_capture_amount(conn, payment, amount, now):
        # Only reachable without the row lock (SQLite serialises writers instead).
        raise errors.CaptureExceedsAuthorization("another capture took the authorization first")
    trace_parent = current_trace_parent()
    if existing is None:
        capture = captures.insert(
            conn,
            capture_id=capture_key(merchant, client_capture_id),
            payment_id=payment.id,
            merchant=merchant,
            client_capture_id=client_capture_id,
            amount_minor=amount,
            final=final,
            gateway=payment.gateway or "",
            now=now,
            sent=True,
            trace_parent=trace_parent,
        )
        if capture is None:
            # A capture of another payment took the same id a moment ago.
            raise errors.CaptureIdReused(
                f"capture {client_capture_id} exists for another payment", field="capture_id"
            )
        why = ""
    else:
        capture = captures.reopen(conn, existing.id, now=now, sent=True, trace_parent=trace_parent)
        if capture is None:  # pragma: no cover - the payment's lock keeps the capture failed
            raise RuntimeError(f"capture {existing.id} changed under its payment's lock")
        why = f" again: nothing reached the gateway before ({existing.failure_code})"
    if operator is not None:
        events.record_operator_action(
            conn,
            payment_id=payment.id,
            operator=operator,
            action="capture",
            reason=f"{operator} asked for capture {client_capture_id} of"
            f" {Amount(amount, payment.currency).format()}",
            now=now,
            capture_id=str(client_capture_id),
        )
    events.record(
        conn,
        payment_id=payment.id,
        kind="capture_requested",
        gateway=payment.gateway,
        reason=f"capture {client_capture_id} of {Amount(amount, payment.currency).format()}"
        + (" (final)" if final else "")
        + why,
        detail=_capture_detail(capture),
        now=now,
    )
    claimed = msgspec.structs.replace(
        payment, capture_claimed_minor=payment.capture_claimed_minor + amount, updated_at=now
    )
    return _Claimed(claimed, capture)


def _capturable(
    payment: Payment, amount_minor: int | None, final: bool, live: LiveGateway | None
) -> tuple[int, bool]:
    """The amount a capture of the (locked) payment may claim, and whether it is the last;
    raises when none may be."""
    if not payment.manual:
        raise errors.PaymentNotCapturable(
            f"payment {payment.client_id} was taken with automatic capture: nothing to capture",
            extra={"payment_status": payment.status, "capture": payment.capture_mode},
        )
    if payment.status not in CAPTURABLE:
        raise errors.PaymentNotCapturable(
            f"payment {payment.client_id} is {payment.status}; only an authorized payment is"
            " captured",
            extra={"payment_status": payment.status},
        )
    if live is None:
        raise errors.GatewayUnreachable(
            f"gateway {payment.gateway} that holds the authorization is not enabled;"
            " nothing was captured",
            retry_after=30,
        )
    declared = live.capabilities
    if payment.capture_claimed_minor > 0 and not declared.multiple_captures:
        raise errors.PaymentNotCapturable(
            f"{payment.gateway} captures an authorization once, and a capture of it was made",
            extra={"payment_status": payment.status},
        )
    left = payment.capturable_minor
    amount = left if amount_minor is None else amount_minor
    if amount <= 0 or amount > left:
        raise errors.CaptureExceedsAuthorization(
            f"{Amount(left, payment.currency).format()} is left to capture"
            + ("" if amount_minor is None else f", not {amount_minor} minor units"),
            field="amount_fractions" if amount_minor is not None else None,
            extra={"capturable_fractions": left},
        )
    if amount < payment.authorized_minor and not declared.partial_capture:
        raise errors.PaymentNotCapturable(
            f"{payment.gateway} captures all of an authorization:"
            f" {Amount(payment.authorized_minor, payment.currency).format()}",
            field="amount_fractions",
            extra={"payment_status": payment.status},
        )
    # Without several captures, the vendor releases the rest of the first one. A capture of
    # all that is left is not marked final: captures claimed before it may still be on their
    # way to the vendor, which a final one would have refused; the payment is paid once they
    # reach the authorized amount.
    return amount, final or not declared.multiple_captures


def _check_repeat(existing: Capture, payment: Payment, amount_minor: int | None) -> None:
    """A capture id seen before may only be the same request again."""
    if existing.payment_id != payment.id or (
        amount_minor is not None and amount_minor != existing.amount_minor
    ):
        raise errors.CaptureIdReused(
            f"capture {existing.client_capture_id} exists, for another payment or amount",
            field="capture_id",
        )


def _capture_detail(capture: Capture) -> dict[str, object]:
    detail: dict[str, object] = {
        "capture_id": str(capture.client_capture_id),
        "amount_fractions": capture.amount_minor,
        "final": capture.final,
    }
    if capture.id != capture.client_capture_id:
        detail["reference"] = str(capture.id)  # what the gateway knows it by
    return detail


async def send_capture(
    deps: Dependencies, payment: Payment, capture: Capture, *, by_job: bool
) -> CaptureOutcome:
    """Send a claimed capture to the payment's gateway and record the answer."""
    record = functools.partial(record_capture, deps=deps, capture=capture, by_job=by_job)
    if capture.gateway not in deps.gateways:
        if by_job:
            raise RetryLater(f"gateway {capture.gateway!r} that holds the authorization is off")
        return await deps.database.write(
            functools.partial(record, status=CaptureStatus.FAILED, failure_code=GATEWAY_NOT_ENABLED)
        )
    request = CaptureRequest(
        payment_id=payment.id,
        capture_id=capture.id,
        external_id=payment.external_id or "",
        amount=Amount(capture.amount_minor, payment.currency),
        final=capture.final,
    )
    result = await call_gateway(
        deps,
        capture.gateway,
        "capture",
        lambda gateway: cast(CapturingGateway, gateway).capture(request),
        vendor_id=lambda answer: answer.external_capture_id,
        attributes={"capture.id": str(capture.id)},
    )
    if result.outcome is AttemptOutcome.ACCEPTED and isinstance(result.answer, CaptureResult):
        status = functools.partial(
            record,
            status=CaptureStatus.SUCCEEDED,
            external_capture_id=result.answer.external_capture_id,
        )
    elif result.outcome is AttemptOutcome.UNAVAILABLE:
        status = functools.partial(
            record,
            status=CaptureStatus.FAILED,
            failure_code=GATEWAY_UNAVAILABLE,
            reason=result.error,
        )
    elif result.outcome is AttemptOutcome.DECLINED:
        status = functools.partial(
            record,
            status=CaptureStatus.FAILED,
            failure_code=result.failure_code,
            reason=result.error,
            lapsed=isinstance(result.failure, AuthorizationExpired),
        )
    else:
        status = functools.partial(record, status=CaptureStatus.PENDING, reason=result.error)
    return await deps.database.write(status)


def record_capture(
    conn: sa.Connection,
    *,
    deps: Dependencies,
    capture: Capture,
    status: CaptureStatus,
    by_job: bool,
    external_capture_id: str | None = None,
    failure_code: str | None = None,
    reason: str | None = None,
    lapsed: bool = False,
) -> CaptureOutcome:
    """Record what became of a capture, moving the payment's captured amount with it.

    The first definitive answer stands. A success counts towards the payment (partially
    captured, or paid once final or nothing is left), a failure gives its claim back (and,
    when the vendor says the authorization lapsed, the payment's expiry is looked into now),
    and no usable answer (``status`` pending) gets a job that asks the gateway (unless a job
    sent it, ``by_job``: that job retries).
    """
    now = deps.now()
    payment = payments.load(conn, capture.payment_id, for_update=True)
    amount = Amount(capture.amount_minor, payment.currency).format()
    said = (
        f"capture {capture.client_capture_id} of {amount}: "
        + ("no usable answer" if status is CaptureStatus.PENDING else str(status))
        + (f" ({failure_code})" if failure_code else "")
        + (f": {reason}" if reason else "")
    )
    if status is CaptureStatus.PENDING:
        if not by_job:
            schedule(conn, deps, JobKind.CAPTURE, payment.id, capture_id=capture.id, delay=1.0)
        events.record(
            conn,
            payment_id=payment.id,
            kind="capture_unknown",
            gateway=capture.gateway,
            accepted=False,
            reason=said,
            detail=_capture_detail(capture),
            now=now,
        )
        return CaptureOutcome(capture=capture, payment=payment, created=True)
    # Conditional on the capture being still open, as the row stands under the payment's lock.
    finished = captures.finish(
        conn,
        capture.id,
        expected=[was for was in CaptureStatus if capture_can_transition(was, status)],
        status=status,
        external_capture_id=external_capture_id,
        failure_code=failure_code,
        now=now,
    )
    if finished is None:
        # Settled meanwhile (by its reconciliation): the first definitive answer stands.
        current = captures.load(conn, capture.id)
        return CaptureOutcome(capture=current, payment=payment, created=True)
    detail = _capture_detail(finished)
    if status is CaptureStatus.SUCCEEDED and payment.status in CAPTURABLE:
        moved = change_status(
            conn,
            deps,
            payment.id,
            StatusChange(
                status=status_after_capture(
                    payment.authorized_minor,
                    payment.captured_minor + capture.amount_minor,
                    final=capture.final,
                ),
                reason=said,
                expected=(payment.status,),
                captured_minor=capture.amount_minor,
            ),
            recorded=Recorded(kind="capture_succeeded", gateway=capture.gateway, detail=detail),
            cause_notified=lambda now_is: notify.capture_changed(conn, deps, finished, now_is),
        ).payment
        return CaptureOutcome(capture=finished, payment=moved, created=True)
    after = payment
    if status is CaptureStatus.FAILED:
        payments.release_capture_amount(conn, payment.id, capture.amount_minor, now)
        after = msgspec.structs.replace(
            payment,
            capture_claimed_minor=payment.capture_claimed_minor - capture.amount_minor,
            updated_at=now,
        )
        if lapsed:
            # The vendor let the authorization lapse: the expiry asks it and closes the payment.
            schedule(conn, deps, JobKind.EXPIRE, payment.id)
    # A success recorded after the payment moved on by the vendor's word (its "paid" webhook
    # can overtake the answer of the capture that made it paid): the vendor took the money, so
    # it is counted captured, unless the vendor's word counted the whole authorization already.
    # The status stays as the vendor said.
    if status is CaptureStatus.SUCCEEDED and payments.count_late_capture(
        conn, payment.id, capture.amount_minor, now
    ):
        after = payments.load(conn, payment.id)
        said += f"; counted captured after the payment became {payment.status}"
    notify.capture_changed(conn, deps, finished, after)
    events.record(
        conn,
        payment_id=payment.id,
        kind=f"capture_{status}",
        gateway=capture.gateway,
        accepted=status is CaptureStatus.SUCCEEDED,
        reason=said,
        detail=detail,
        now=now,
    )
    return CaptureOutcome(capture=finished, payment=after, created=True)


async def reconcile_capture(deps: Dependencies, capture_id: uuid.UUID) -> None:
    """Find out what became of a capture sent without a recorded answer: the vendor's answer
    decides it; one the vendor never received is sent again under the same reference (which
    captures at most once); one it is still at is asked about later."""
    found = await deps.database.read(lambda conn: captures.get(conn, capture_id))
    if found is None or found.status is not CaptureStatus.PENDING:
        return
    capture = found
    payment = await deps.database.read(lambda conn: payments.load(conn, capture.payment_id))
    if capture.gateway not in deps.gateways:
        raise RetryLater(f"gateway {capture.gateway!r} that holds the authorization is off")
    query = CaptureStatusQuery(
        payment_id=payment.id,
        capture_id=capture.id,
        external_id=payment.external_id or "",
        external_capture_id=capture.external_capture_id,
    )
    result = await call_gateway(
        deps,
        capture.gateway,
        "capture_status",
        lambda gateway: cast(CapturingGateway, gateway).fetch_capture_status(query),
        vendor_id=lambda answer: answer.external_capture_id,
    )
    report = result.answer
    if report is None:
        raise RetryLater(f"{capture.gateway} capture lookup failed: {result.error}")
    status = capture_status_reported(report.status)
    if status is not None:
        await deps.database.write(
            functools.partial(
                record_capture,
                deps=deps,
                capture=capture,
                status=status,
                by_job=True,
                external_capture_id=report.external_capture_id,
                failure_code="declined" if status is CaptureStatus.FAILED else None,
                reason=f"reconciled: {capture.gateway} reports it {report.status}",
            )
        )
        return
    if report.status is VendorCaptureStatus.PENDING:
        raise RetryLater(f"{capture.gateway} is still processing capture {capture.id}")
    outcome = await send_capture(deps, payment, capture, by_job=True)
    if outcome.capture.status is CaptureStatus.PENDING:
        raise RetryLater(f"capture {capture.id}: no usable answer from {capture.gateway}")


def capture_failed(capture: Capture) -> errors.PaymentProblem:
    """The problem a failed capture is answered with."""
    detail = (
        f"capture {capture.client_capture_id} failed ({capture.failure_code}); nothing was captured"
    )
    extra = {"capture_id": str(capture.client_capture_id)}
    if capture_may_retry(capture.status, capture.failure_code):
        return errors.GatewayUnreachable(
            detail + "; send the same request again (same capture_id) to retry it",
            retry_after=5,
            extra=extra,
        )
    return errors.CaptureDeclined(detail, extra=extra)
