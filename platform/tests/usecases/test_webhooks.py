"""Applying a vendor's webhook (``usecases/webhooks``), the vendor's books being the truth about
money: a webhook naming an external id the platform never learned is matched by the reference
it carries (a payment given up on is recovered, one whose answer was lost is settled), kept
unmatched without one and applied once the payment learns it; money taken by a gateway that does
not hold the payment is kept for the operator; a webhook its gateway cannot verify in time is
refused, to be sent again.

Gateways are played by scripts, the database is real; ``tests/test_vendor_books.py`` tries the
same rule the way it failed, with real processes."""

from __future__ import annotations

import asyncio
import uuid

import msgspec
import pytest
from core_fixtures import RuntimeFactory, WallClock
from payments_platform import errors
from payments_platform.lifecycle import PaymentStatus
from payments_platform.usecases import initiate, reads, webhooks
from payments_plugins import (
    Amount,
    GatewayOutcomeUnknown,
    GatewayUnavailable,
    VendorPaymentStatus,
    WebhookEvent,
)
from prometheus_client import REGISTRY
from runtime_steps import QUICK, cut_deadline, given_up_as_not_received, webhook
from scripted import accepted, new_script, vendor_says

AED_10 = Amount(1000, "AED")


async def test_a_webhook_by_reference_recovers_a_payment_given_up_as_not_received(
    scripted_runtime: RuntimeFactory, wall_clock: WallClock
) -> None:
    name, script = new_script()
    script.fail("initiate", GatewayOutcomeUnknown("read timeout"))
    script.answer("status", vendor_says(VendorPaymentStatus.NOT_FOUND))
    async with scripted_runtime({"gw": name}, **QUICK) as runtime:
        payment_id = await given_up_as_not_received(runtime, wall_clock)
        live = runtime.deps.gateways["gw"]

        outcome = await webhooks.apply_webhook(
            runtime.deps, [live], {}, webhook("ext-late", "paid", payment_id)
        )

        assert (outcome.changed, outcome.payment.status) == (True, PaymentStatus.PAID)
        history = await reads.payment_history(runtime.deps, payment_id)
        assert (history.payment.external_id, history.payment.failure_code) == ("ext-late", None)
        [recovered] = [event for event in history.events if event.kind == "recovered"]
        assert (recovered.from_status, recovered.to_status, recovered.accepted) == (
            "rejected",
            "paid",
            True,
        )
        assert "vendor took the money" in (recovered.reason or "")
        # A repeat is a repeat, found now by the external id it taught the payment.
        again = await webhooks.apply_webhook(
            runtime.deps, [live], {}, webhook("ext-late", "paid", payment_id)
        )
        assert again.changed is False


async def test_without_a_reference_a_webhook_for_an_unknown_id_still_waits_unmatched(
    scripted_runtime: RuntimeFactory, wall_clock: WallClock
) -> None:
    """Vendors on contract 1.0 send no reference: their webhooks are kept and answered 404 as
    before, nothing is guessed."""
    name, script = new_script()
    script.fail("initiate", GatewayOutcomeUnknown("read timeout"))
    script.answer("status", vendor_says(VendorPaymentStatus.NOT_FOUND))
    async with scripted_runtime({"gw": name}, **QUICK) as runtime:
        payment_id = await given_up_as_not_received(runtime, wall_clock)
        live = runtime.deps.gateways["gw"]
        with pytest.raises(errors.PaymentNotFound):
            await webhooks.apply_webhook(runtime.deps, [live], {}, webhook("ext-x", "paid"))
        payment = (await reads.payment_history(runtime.deps, payment_id)).payment
        assert payment.status is PaymentStatus.REJECTED


async def test_a_webhook_by_reference_settles_a_payment_whose_answer_was_lost(
    scripted_runtime: RuntimeFactory,
) -> None:
    """An ``unknown`` payment learns its external id from the vendor's webhook, which names it
    by reference, without waiting for reconciliation."""
    name, script = new_script()
    script.fail("initiate", GatewayOutcomeUnknown("connection reset"))
    async with scripted_runtime({"gw": name}, **QUICK) as runtime:
        payment_id = uuid.uuid4()
        await initiate.start_payment(runtime.deps, payment_id, AED_10)
        live = runtime.deps.gateways["gw"]

        outcome = await webhooks.apply_webhook(
            runtime.deps, [live], {}, webhook("ext-9", "paid", payment_id)
        )

        assert outcome.payment.status is PaymentStatus.PAID
        assert outcome.payment.external_id == "ext-9"
        history = await reads.payment_history(runtime.deps, payment_id)
        assert [event.kind for event in history.events].count("recovered") == 0


async def test_money_taken_by_a_gateway_that_does_not_hold_the_payment_is_kept_for_the_operator(
    scripted_runtime: RuntimeFactory, wall_clock: WallClock
) -> None:
    """The client retried a payment given up as not received, and another gateway took it;
    then the first vendor says the payer paid there too. Nothing about the payment changes, but
    the vendor's word is recorded on it, counted and answered 200 (retrying cannot help)."""
    first, first_script = new_script()
    second, second_script = new_script()
    first_script.fail("initiate", GatewayOutcomeUnknown("read timeout"))
    first_script.answer("status", vendor_says(VendorPaymentStatus.NOT_FOUND))
    first_script.fail("initiate", GatewayUnavailable("down"))
    second_script.answer("initiate", accepted("ext-b"))
    sections = {**QUICK, "routing": {"strategy": "priority"}}
    async with scripted_runtime({"a": first, "b": second}, **sections) as runtime:
        payment_id = await given_up_as_not_received(runtime, wall_clock)
        retried = await initiate.start_payment(runtime.deps, payment_id, AED_10)
        assert (retried.payment.status, retried.payment.gateway) == (PaymentStatus.INITIATED, "b")
        stray_before = _recovered("a", "elsewhere")

        outcome = await webhooks.apply_webhook(
            runtime.deps,
            [runtime.deps.gateways["a"]],
            {},
            webhook("ext-a", "paid", payment_id),
        )

        assert (outcome.changed, outcome.payment.status) == (False, PaymentStatus.INITIATED)
        history = await reads.payment_history(runtime.deps, payment_id)
        [stray] = [event for event in history.events if event.kind == "recovered"]
        assert (stray.accepted, stray.gateway, stray.external_id) == (False, "a", "ext-a")
        assert "refund it there" in (stray.reason or "")
        assert _recovered("a", "elsewhere") == stray_before + 1


async def test_a_webhook_its_gateway_cannot_verify_in_time_is_recorded_and_asked_again(
    scripted_runtime: RuntimeFactory,
) -> None:
    name, _script = new_script()
    async with scripted_runtime({"gw": name}) as runtime:
        cut_deadline(runtime, "gw", 0.2)
        live = runtime.deps.gateways["gw"]

        async def hang(_headers: object, _body: bytes) -> WebhookEvent:
            await asyncio.Event().wait()
            raise AssertionError("unreachable")

        refused_before = _refused("gw", "webhook-not-verified")
        live.gateway.parse_webhook = hang  # type: ignore[method-assign,assignment]

        with pytest.raises(errors.WebhookNotVerified) as refused:
            await webhooks.apply_webhook(runtime.deps, [live], {}, b"{}")

        assert refused.value.status == 503
        assert refused.value.retry_after == 5
        assert _refused("gw", "webhook-not-verified") == refused_before + 1


async def test_a_webhook_before_the_init_answer_is_applied_once_the_answer_is_recorded(
    scripted_runtime: RuntimeFactory,
) -> None:
    name, script = new_script()
    async with scripted_runtime({"gw": name}) as runtime:
        live = runtime.deps.gateways["gw"]

        async def notify_then_answer(_request: object) -> object:
            # The vendor's webhook overtakes its own answer to the initiate.
            body = msgspec.json.encode(
                WebhookEvent(external_id="ext-4", status=VendorPaymentStatus.PAID)
            )
            with pytest.raises(errors.PaymentNotFound):
                await webhooks.apply_webhook(runtime.deps, [live], {}, body)
            return accepted("ext-4")

        script.then("initiate", notify_then_answer)
        payment_id = uuid.uuid4()
        outcome = await initiate.start_payment(runtime.deps, payment_id, AED_10)
        assert outcome.payment.status is PaymentStatus.PAID
        history = await reads.payment_history(runtime.deps, payment_id)
        replayed = [e for e in history.events if e.kind == "webhook_replayed"]
        assert [(e.from_status, e.to_status, e.accepted) for e in replayed] == [
            ("initiated", "paid", True)
        ]


def _recovered(gateway: str, result: str) -> float:
    labels = {"gateway": gateway, "from_status": "initiated", "result": result}
    return REGISTRY.get_sample_value("payments_recovered_total", labels) or 0.0


def _refused(gateway: str, reason: str) -> float:
    labels = {"gateway": gateway, "reason": reason}
    return REGISTRY.get_sample_value("payments_webhooks_refused_total", labels) or 0.0
