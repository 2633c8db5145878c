"""Authorize now, capture later (``usecases/captures``, and the routing, void, expiry and refunds
of a payment taken with manual capture): the claim of what is left of an authorization, what
each gateway type declares, captures whose outcome is unknown."""

from __future__ import annotations

import functools
import uuid
from datetime import timedelta

import pytest
from core_fixtures import Receiver, RuntimeFactory, WallClock, deliver_all, endpoint_settings
from payments_platform import errors
from payments_platform.jobs import JobKind
from payments_platform.lifecycle import CaptureStatus, PaymentStatus
from payments_platform.records import PaymentHistory
from payments_platform.runtime import Runtime
from payments_platform.usecases import cancel, captures, initiate, reads, refunds, webhooks
from payments_plugins import (
    AuthorizationExpired,
    CaptureMode,
    CaptureResult,
    CaptureStatusReport,
    GatewayDeclined,
    GatewayOutcomeUnknown,
    RefundResult,
    StatusReport,
    VendorCaptureStatus,
    VendorPaymentStatus,
    VoidResult,
)
from runtime_steps import AED_10, HELD, QUICK, authorized, job_rows, run_due_jobs, webhook
from scripted import accepted, new_script


async def payment_of(runtime: Runtime, payment_id: uuid.UUID) -> PaymentHistory:
    return await reads.payment_history(runtime.deps, payment_id)


def captured_as(reference: str) -> CaptureResult:
    return CaptureResult(external_capture_id=reference)


async def test_a_manual_payment_is_routed_only_to_a_gateway_that_captures(
    scripted_runtime: RuntimeFactory,
) -> None:
    plain, _ = new_script()
    capturing, script = new_script(capturing="multiple")
    script.answer("initiate", accepted("ext-route"))
    async with scripted_runtime({"plain": plain, "cap": capturing}) as runtime:
        payment_id = uuid.uuid4()
        outcome = await initiate.start_payment(
            runtime.deps, payment_id, AED_10, capture=CaptureMode.MANUAL
        )
        assert (outcome.payment.gateway, outcome.payment.capture_mode) == ("cap", "manual")
        assert script.calls["initiate"][0].capture is CaptureMode.MANUAL
        history = await payment_of(runtime, payment_id)
        (decision,) = [event for event in history.events if event.kind == "routing_decision"]
        assert decision.detail is not None
        assert decision.detail["left_out"] == [
            {"gateway": "plain", "reason": "type scripted does not declare manual_capture"}
        ]
        assert "plain left out" in (decision.reason or "")
        # The same id with another capture mode is another request.
        with pytest.raises(errors.IdempotencyKeyReused):
            await initiate.start_payment(runtime.deps, payment_id, AED_10)


async def test_a_manual_payment_no_gateway_can_capture_is_refused_before_any_call(
    scripted_runtime: RuntimeFactory,
) -> None:
    plain, script = new_script()
    async with scripted_runtime({"plain": plain}) as runtime:
        with pytest.raises(errors.NoGatewayCanCapture) as refused:
            await initiate.start_payment(
                runtime.deps, uuid.uuid4(), AED_10, capture=CaptureMode.MANUAL
            )
        assert (refused.value.status, refused.value.field) == (422, "capture")
        assert not script.calls["initiate"]


async def test_captures_in_parts_make_the_payment_paid_and_refunds_take_only_what_was_captured(
    scripted_runtime: RuntimeFactory,
) -> None:
    name, script = new_script(capturing="multiple")
    script.answer("capture", captured_as("cp-1")).answer("capture", captured_as("cp-2"))
    script.answer("refund", RefundResult(external_refund_id="rf-1"))
    async with scripted_runtime({"gw": name}) as runtime:
        payment_id = await authorized(runtime, script, "ext-parts")
        payment = (await payment_of(runtime, payment_id)).payment
        assert (payment.status, payment.authorized_minor, payment.refundable_minor) == (
            PaymentStatus.AUTHORIZED,
            1000,
            0,
        )
        with pytest.raises(errors.PaymentNotRefundable):
            await refunds.refund_payment(runtime.deps, payment_id)
        first = await captures.capture_payment(runtime.deps, payment_id, amount_minor=400)
        assert first.capture.status is CaptureStatus.SUCCEEDED
        assert (first.payment.status, first.payment.captured_minor) == (
            PaymentStatus.PARTIALLY_CAPTURED,
            400,
        )
        with pytest.raises(errors.CaptureExceedsAuthorization) as exceeded:
            await captures.capture_payment(runtime.deps, payment_id, amount_minor=601)
        assert exceeded.value.extra == {"capturable_fractions": 600}
        rest = await captures.capture_payment(runtime.deps, payment_id)
        assert (rest.capture.amount_minor, rest.capture.final) == (600, False)
        assert (rest.payment.status, rest.payment.captured_minor) == (PaymentStatus.PAID, 1000)
        sent = script.calls["capture"]
        assert [(c.amount.minor, c.final) for c in sent] == [(400, False), (600, False)]
        assert sent[0].capture_id == first.capture.id
        assert sent[0].external_id == "ext-parts"
        with pytest.raises(errors.PaymentNotCapturable):
            await captures.capture_payment(runtime.deps, payment_id, amount_minor=1)
        with pytest.raises(errors.RefundExceedsBalance):
            await refunds.refund_payment(runtime.deps, payment_id, amount_minor=1001)
        refunded = await refunds.refund_payment(runtime.deps, payment_id)
        assert (refunded.refund.amount_minor, refunded.payment.status) == (1000, "refunded")


async def test_a_capture_whose_answer_the_vendor_s_paid_webhook_overtook_is_counted_captured(
    scripted_runtime: RuntimeFactory,
) -> None:
    # Found by 50 captures racing over two processes: the vendor, paid in full by the last
    # capture, notified "paid" to one process before the other recorded that capture's answer.
    name, script = new_script(capturing="multiple")
    script.answer("capture", captured_as("cp-first"))
    async with scripted_runtime({"gw": name}) as runtime:
        payment_id = await authorized(runtime, script, "ext-overtaken")
        live = runtime.deps.gateways["gw"]

        async def vendor_notifies_paid_before_answering(_request: object) -> CaptureResult:
            await webhooks.apply_webhook(runtime.deps, [live], {}, webhook("ext-overtaken", "paid"))
            return captured_as("cp-last")

        script.then("capture", vendor_notifies_paid_before_answering)
        await captures.capture_payment(runtime.deps, payment_id, amount_minor=600)
        last = await captures.capture_payment(runtime.deps, payment_id)
        history = await payment_of(runtime, payment_id)

    assert last.capture.status is CaptureStatus.SUCCEEDED
    # The vendor's word made it paid with what was captured then (600); the vendor took the
    # last 400 too, and the books say so.
    assert (history.payment.status, history.payment.captured_minor) == (PaymentStatus.PAID, 1000)
    assert history.payment.refundable_minor == 1000
    assert "counted captured after the payment became paid" in " ".join(
        event.reason or "" for event in history.events
    )


async def test_a_final_partial_capture_releases_the_rest_and_refunds_stop_at_what_was_captured(
    scripted_runtime: RuntimeFactory,
) -> None:
    name, script = new_script(capturing="multiple")
    script.answer("capture", captured_as("cp-final"))
    script.answer("refund", RefundResult(external_refund_id="rf-final"))
    async with scripted_runtime({"gw": name}) as runtime:
        payment_id = await authorized(runtime, script, "ext-final")
        done = await captures.capture_payment(
            runtime.deps, payment_id, amount_minor=300, final=True
        )
        assert (done.payment.status, done.payment.captured_minor) == (PaymentStatus.PAID, 300)
        assert script.calls["capture"][0].final is True
        with pytest.raises(errors.RefundExceedsBalance):
            await refunds.refund_payment(runtime.deps, payment_id, amount_minor=301)
        refunded = await refunds.refund_payment(runtime.deps, payment_id)
        assert (refunded.refund.amount_minor, refunded.payment.status) == (300, "refunded")


async def test_captures_refused_by_the_payment_or_the_request_call_no_gateway(
    scripted_runtime: RuntimeFactory,
) -> None:
    name, script = new_script(capturing="multiple")
    script.answer("initiate", accepted("ext-auto"))
    script.answer("initiate", accepted("ext-unpaid"))
    script.answer("capture", captured_as("cp-same"))
    async with scripted_runtime({"gw": name}) as runtime:
        automatic = uuid.uuid4()
        await initiate.start_payment(runtime.deps, automatic, AED_10)
        with pytest.raises(errors.PaymentNotCapturable, match="automatic capture"):
            await captures.capture_payment(runtime.deps, automatic)
        unpaid = uuid.uuid4()
        await initiate.start_payment(runtime.deps, unpaid, AED_10, capture=CaptureMode.MANUAL)
        with pytest.raises(errors.PaymentNotCapturable, match="is initiated"):
            await captures.capture_payment(runtime.deps, unpaid)
        with pytest.raises(errors.PaymentNotFound):
            await captures.capture_payment(runtime.deps, uuid.uuid4())
        payment_id = await authorized(runtime, script, "ext-same")
        for too_much in (0, 1001):
            with pytest.raises(errors.CaptureExceedsAuthorization):
                await captures.capture_payment(runtime.deps, payment_id, amount_minor=too_much)
        capture_id = uuid.uuid4()
        first = await captures.capture_payment(
            runtime.deps, payment_id, amount_minor=200, client_capture_id=capture_id
        )
        again = await captures.capture_payment(
            runtime.deps, payment_id, amount_minor=200, client_capture_id=capture_id
        )
        assert (again.created, again.capture.id) == (False, first.capture.id)
        with pytest.raises(errors.CaptureIdReused):
            await captures.capture_payment(
                runtime.deps, payment_id, amount_minor=300, client_capture_id=capture_id
            )
        with pytest.raises(errors.CaptureIdReused):
            await captures.capture_payment(runtime.deps, unpaid, client_capture_id=capture_id)
        assert len(script.calls["capture"]) == 1


async def test_a_gateway_that_captures_once_takes_all_of_the_authorization_once(
    scripted_runtime: RuntimeFactory, wall_clock: WallClock
) -> None:
    name, script = new_script(capturing="once")
    script.fail("capture", GatewayOutcomeUnknown("connection reset"))
    script.answer("capture_status", CaptureStatusReport(status=VendorCaptureStatus.SUCCEEDED))
    async with scripted_runtime({"gw": name}) as runtime:
        payment_id = await authorized(runtime, script, "ext-once")
        with pytest.raises(errors.PaymentNotCapturable, match="captures all"):
            await captures.capture_payment(runtime.deps, payment_id, amount_minor=400)
        unknown = await captures.capture_payment(runtime.deps, payment_id)
        assert unknown.capture.status is CaptureStatus.PENDING
        assert unknown.capture.final is True
        # The first capture is still being found out about: no second one.
        with pytest.raises(errors.PaymentNotCapturable, match="once"):
            await captures.capture_payment(runtime.deps, payment_id)
        # Nor a void: something may have been captured.
        with pytest.raises(errors.PaymentNotCancellable, match="capture"):
            await cancel.cancel_payment(runtime.deps, payment_id)
        wall_clock.advance(2)
        await run_due_jobs(runtime)  # asks what became of the capture, once
        history = await payment_of(runtime, payment_id)
        assert history.payment.status is PaymentStatus.PAID
        assert history.payment.captured_minor == 1000
        assert len(script.calls["capture"]) == 1
        assert [c.capture_id for c in script.calls["capture_status"]] == [unknown.capture.id]
        wall_clock.advance(60)
        await run_due_jobs(runtime)
        assert len(script.calls["capture_status"]) == 1


async def test_a_capture_the_vendor_never_received_is_sent_again_under_the_same_id(
    scripted_runtime: RuntimeFactory, wall_clock: WallClock
) -> None:
    name, script = new_script(capturing="multiple")
    script.fail("capture", GatewayOutcomeUnknown("timed out"))
    script.answer("capture_status", CaptureStatusReport(status=VendorCaptureStatus.NOT_FOUND))
    script.answer("capture", captured_as("cp-again"))
    async with scripted_runtime({"gw": name}) as runtime:
        payment_id = await authorized(runtime, script, "ext-again")
        pending = await captures.capture_payment(runtime.deps, payment_id, amount_minor=250)
        assert pending.capture.status is CaptureStatus.PENDING
        wall_clock.advance(2)
        await run_due_jobs(runtime)
        sent = script.calls["capture"]
        assert [c.capture_id for c in sent] == [pending.capture.id] * 2
        history = await payment_of(runtime, payment_id)
        assert history.payment.status is PaymentStatus.PARTIALLY_CAPTURED
        assert (history.payment.captured_minor, history.payment.capture_claimed_minor) == (250, 250)


async def test_a_capture_whose_process_died_after_the_vendor_took_it_is_found_never_resent(
    scripted_runtime: RuntimeFactory, wall_clock: WallClock
) -> None:
    name, script = new_script(capturing="multiple")
    script.answer(
        "capture_status",
        CaptureStatusReport(status=VendorCaptureStatus.SUCCEEDED, external_capture_id="cp-x"),
    )
    async with scripted_runtime({"gw": name}, **QUICK) as runtime:
        payment_id = await authorized(runtime, script, "ext-crash")
        await run_due_jobs(runtime)  # the authorization's expiry: the vendor gave none
        # The claim commits and the vendor takes the capture; the process dies before the
        # answer is recorded (nothing after the claim runs).
        claimed = await runtime.deps.database.write(
            functools.partial(
                captures.claim_capture,
                deps=runtime.deps,
                client_payment_id=payment_id,
                amount_minor=700,
                client_capture_id=uuid.uuid4(),
                final=False,
                merchant=None,
                now=wall_clock(),
            )
        )
        assert isinstance(claimed, captures._Claimed)
        await run_due_jobs(runtime)  # too early: the call may still be running
        assert not script.calls["capture_status"]
        wall_clock.advance(61)
        await run_due_jobs(runtime)  # the sweep writes the capture's guard job...
        await run_due_jobs(runtime)  # ...which asks the vendor
        payment = (await payment_of(runtime, payment_id)).payment
        assert (payment.status, payment.captured_minor) == (PaymentStatus.PARTIALLY_CAPTURED, 700)
        assert [query.capture_id for query in script.calls["capture_status"]] == [
            claimed.capture.id
        ]
        assert not script.calls["capture"]


async def test_a_declined_capture_gives_its_claim_back(scripted_runtime: RuntimeFactory) -> None:
    name, script = new_script(capturing="multiple")
    script.fail("capture", AuthorizationExpired("the authorization lapsed"))
    async with scripted_runtime({"gw": name}) as runtime:
        payment_id = await authorized(runtime, script, "ext-lapsed")
        await run_due_jobs(runtime)  # the authorization's expiry asks the vendor: no expiry
        script.answer("status", StatusReport(status=VendorPaymentStatus.EXPIRED))
        with pytest.raises(errors.CaptureDeclined, match="authorization_expired"):
            await captures.capture_payment(runtime.deps, payment_id, amount_minor=100)
        await run_due_jobs(runtime)  # the vendor says it lapsed: asked at once, and expired
        payment = (await payment_of(runtime, payment_id)).payment
        assert (payment.status, payment.capture_claimed_minor) == (PaymentStatus.EXPIRED, 0)
        with pytest.raises(errors.PaymentNotCapturable, match="expired"):
            await captures.capture_payment(runtime.deps, payment_id)


async def test_an_authorization_expires_when_its_vendor_said_once_the_vendor_confirms(
    scripted_runtime: RuntimeFactory, wall_clock: WallClock
) -> None:
    name, script = new_script(capturing="multiple")
    async with scripted_runtime({"gw": name}) as runtime:
        expires_at = wall_clock() + timedelta(seconds=600)
        held = StatusReport(
            status=VendorPaymentStatus.AUTHORIZED,
            authorized=AED_10,
            authorization_expires_at=expires_at,
        )
        payment_id = await authorized(runtime, script, "ext-expiry", holds=held)
        await run_due_jobs(runtime)  # learns the expiry, and waits for it
        expiries = [job for job in await job_rows(runtime) if job.kind is JobKind.EXPIRE]
        assert [job.status for job in expiries if job.run_at == expires_at] == ["pending"]
        assert (await payment_of(runtime, payment_id)).payment.status is PaymentStatus.AUTHORIZED
        script.answer("status", StatusReport(status=VendorPaymentStatus.EXPIRED))
        wall_clock.advance(601)
        await run_due_jobs(runtime)
        payment = (await payment_of(runtime, payment_id)).payment
        assert (payment.status, payment.failure_code) == (PaymentStatus.EXPIRED, None)
        assert len(script.calls["status"]) == 2


async def test_a_manual_payment_whose_authorization_was_not_notified_is_authorized_at_its_age_limit(
    scripted_runtime: RuntimeFactory, wall_clock: WallClock
) -> None:
    name, script = new_script(capturing="multiple")
    script.answer("initiate", accepted("ext-quiet"))
    script.answer("status", StatusReport(status=VendorPaymentStatus.AUTHORIZED, authorized=AED_10))
    script.answer("status", HELD)  # the expiry job written with the authorization
    sections = {"payments": {"expire_after_seconds": 60}}
    async with scripted_runtime({"gw": name}, **sections) as runtime:
        payment_id = uuid.uuid4()
        await initiate.start_payment(runtime.deps, payment_id, AED_10, capture=CaptureMode.MANUAL)
        wall_clock.advance(61)
        await run_due_jobs(runtime)
        payment = (await payment_of(runtime, payment_id)).payment
        assert (payment.status, payment.authorized_minor) == (PaymentStatus.AUTHORIZED, 1000)


async def test_a_partially_captured_payment_whose_authorization_lapses_is_paid_of_its_captures(
    scripted_runtime: RuntimeFactory,
) -> None:
    name, script = new_script(capturing="multiple")
    script.answer("capture", captured_as("cp-lapse"))
    async with scripted_runtime({"gw": name}) as runtime:
        payment_id = await authorized(runtime, script, "ext-lapse")
        await captures.capture_payment(runtime.deps, payment_id, amount_minor=400)
        live = runtime.deps.gateways["gw"]
        await webhooks.apply_webhook(runtime.deps, [live], {}, webhook("ext-lapse", "expired"))
        payment = (await payment_of(runtime, payment_id)).payment
        assert (payment.status, payment.captured_minor, payment.refundable_minor) == (
            PaymentStatus.PAID,
            400,
            400,
        )


async def test_cancelling_an_authorized_payment_voids_it_where_the_gateway_can(
    scripted_runtime: RuntimeFactory,
) -> None:
    voiding, script = new_script(capturing="multiple")
    once, once_script = new_script(capturing="once")
    script.answer("void", VoidResult())
    script.answer("capture", captured_as("cp-void"))
    async with scripted_runtime({"gw": voiding}) as runtime:
        payment_id = await authorized(runtime, script, "ext-void")
        voided = await cancel.cancel_payment(runtime.deps, payment_id)
        assert voided.payment.status is PaymentStatus.VOIDED
        assert script.calls["void"][0].external_id == "ext-void"
        again = await cancel.cancel_payment(runtime.deps, payment_id)
        assert again.answer is cancel.CancelAnswer.REPEATED
        with pytest.raises(errors.PaymentNotCapturable, match="voided"):
            await captures.capture_payment(runtime.deps, payment_id)
        captured = await authorized(runtime, script, "ext-captured")
        await captures.capture_payment(runtime.deps, captured, amount_minor=100)
        with pytest.raises(errors.PaymentNotCancellable, match="partially_captured"):
            await cancel.cancel_payment(runtime.deps, captured)
        assert len(script.calls["void"]) == 1
    async with scripted_runtime({"once": once}) as runtime:
        cannot = await authorized(runtime, once_script, "ext-no-void", gateway="once")
        with pytest.raises(errors.PaymentNotCancellable, match="cannot void"):
            await cancel.cancel_payment(runtime.deps, cannot)
        assert not once_script.calls["void"]


async def test_the_merchant_is_notified_of_the_authorization_its_captures_and_the_void(
    scripted_runtime: RuntimeFactory, receiver: Receiver
) -> None:
    name, script = new_script(capturing="multiple")
    script.answer("capture", captured_as("cp-n1"))
    script.fail("capture", GatewayDeclined("no", vendor_code="capture_declined"))
    script.answer("void", VoidResult())
    sections = {"notifications": endpoint_settings(receiver.url)}
    async with scripted_runtime({"gw": name}, **sections) as runtime:
        payment_id = await authorized(runtime, script, "ext-notify")
        await captures.capture_payment(runtime.deps, payment_id, amount_minor=100)
        with pytest.raises(errors.CaptureDeclined):
            await captures.capture_payment(runtime.deps, payment_id, amount_minor=100)
        voided_id = await authorized(runtime, script, "ext-notify-void")
        await cancel.cancel_payment(runtime.deps, voided_id)
        await deliver_all(runtime)
    delivered = sorted(receiver.delivered(), key=lambda event: event["sequence"])
    of_captured = [e for e in delivered if e["data"]["payment"]["id"] == str(payment_id)]
    assert [e["type"] for e in of_captured] == [
        "payment.initiated",
        "payment.authorized",
        "capture.succeeded",
        "payment.partially_captured",
        "capture.failed",
    ]
    last = of_captured[-1]["data"]
    assert (last["capture"]["status"], last["capture"]["failure_code"]) == (
        "failed",
        "capture_declined",
    )
    shown = last["payment"]
    assert (shown["capture"], shown["authorized_fractions"], shown["captured_fractions"]) == (
        "manual",
        1000,
        100,
    )
    assert shown["refundable_fractions"] == 100
    of_voided = [e["type"] for e in delivered if e["data"]["payment"]["id"] == str(voided_id)]
    assert of_voided[-1] == "payment.voided"
