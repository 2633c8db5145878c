"""The vendor's books are the truth about money, tried the way it failed: with real processes.

A vendor under load held a payment's initiate longer than the platform waited. The platform,
its deadline passed, asked the vendor, which had nothing yet, and rejected the payment as never
received; then the vendor processed the call, the payer paid, and the vendor's signed webhook,
naming an external id the platform never learned, was answered 404: the payer's money was with
the vendor and nobody knew. Now the webhook is matched by the reference it carries, the payment
moves to paid with an event saying why, the merchant is notified, and it is counted and shown.
"""

from __future__ import annotations

import asyncio
import dataclasses
import re
import uuid
from pathlib import Path
from typing import cast

import httpx
import msgspec
import pytest
from console_app import console_factory
from core_fixtures import Receiver, RuntimeFactory, WallClock
from payments_platform import errors
from payments_platform.lifecycle import PaymentStatus
from payments_platform.runtime import Runtime
from payments_platform.usecases import initiate, operator_actions, reads, webhooks
from payments_platform.usecases.dependencies import LiveGateway
from payments_plugins import (
    Amount,
    GatewayOutcomeUnknown,
    GatewayUnavailable,
    VendorPaymentStatus,
    WebhookEvent,
)
from payments_plugins.testing.asgi_server import free_port
from prometheus_client import REGISTRY
from scripted import accepted, new_script, vendor_says

from .conftest import json_vendor
from .server_process import payments_serve
from .test_notifications import endpoint_settings
from .test_races import config_for, json_gateway, payment_status, vendor_state, wait_for

AED_10 = Amount(1000, "AED")


def test_a_payment_the_vendor_took_after_the_platform_gave_up_is_recovered(
    tmp_path: Path, database_url: str, receiver: Receiver
) -> None:
    port = free_port()
    webhook_url = f"http://127.0.0.1:{port}/external/json-webhook"
    with json_vendor(webhook_url=webhook_url) as vendor:
        # The vendor holds the call 4 s before processing it; the platform waits 1 s.
        asyncio.run(vendor.misbehave("77.77 AED", "slow", operation="initiate", seconds=4.0))
        config = config_for(
            tmp_path,
            database_url,
            {"json": json_gateway(vendor, deadline_seconds=1.0)},
            payments={"reconcile_after_seconds": 3.0},
            worker={"poll_seconds": 0.1, "backoff_seconds": 0.2},
            notifications=endpoint_settings(receiver.url),
        )
        with payments_serve(tmp_path, config=config, port=port) as server:
            payment_id = str(uuid.uuid4())
            answer = httpx.post(
                f"{server.base_url}/init-payment",
                json={"id": payment_id, "currency": "AED", "amount_fractions": 7777},
                timeout=30,
            )
            assert answer.status_code == 202, answer.text
            [attempt] = httpx.get(f"{server.base_url}/payments/{payment_id}").json()["attempts"]
            assert "deadline of 1 s" in attempt["error"]
            wait_for(lambda: payment_status(server, payment_id) == "rejected", "given up")
            given_up = httpx.get(f"{server.base_url}/payments/{payment_id}").json()["payment"]
            assert given_up["failure_code"] == "not-received"
            wait_for(lambda: payment_id in vendor_state(vendor), "the vendor processed it late")

            external_id = vendor_state(vendor)[payment_id]["id"]
            asyncio.run(vendor.payer_acts(external_id))

            detail = httpx.get(f"{server.base_url}/payments/{payment_id}").json()
            paid = detail["payment"]
            assert (paid["status"], paid["external_id"]) == ("paid", external_id)
            assert paid["failure_code"] is None
            recovered = [event for event in detail["events"] if event["kind"] == "recovered"]
            assert [(event["from_status"], event["to_status"]) for event in recovered] == [
                ("rejected", "paid")
            ]
            metrics = httpx.get(f"{server.base_url}/metrics").text
            held = 'payments_recovered_total{from_status="rejected",gateway="json",result="held"}'
            assert f"{held} 1.0" in metrics
            wait_for(
                lambda: "payment.paid" in {event["type"] for event in receiver.delivered()},
                "the merchant is told it is paid",
            )
            logged = [line for line in server.output().splitlines() if '"level":"error"' in line]
            assert any("given the payment up" in line and payment_id in line for line in logged)


# The same rule, each of its paths on its own: gateways played by scripts, a real database.


def _webhook(external_id: str, status: str, reference: uuid.UUID | None = None) -> bytes:
    event = WebhookEvent(
        external_id=external_id, status=VendorPaymentStatus(status), reference=reference
    )
    return msgspec.json.encode(event)


async def _given_up_as_not_received(runtime: Runtime, wall_clock: WallClock) -> uuid.UUID:
    """A payment whose call went unanswered and whose vendor said, twice, it has no such
    payment: rejected ``not-received`` by the platform's own judgement."""
    payment_id = uuid.uuid4()
    await initiate.start_payment(runtime.deps, payment_id, AED_10)
    wall_clock.advance(61)
    await runtime.worker().run_once()
    payment = (await reads.payment_history(runtime.deps, payment_id)).payment
    assert (payment.status, payment.failure_code) == (PaymentStatus.REJECTED, "not-received")
    return payment_id


QUICK = {"payments": {"reconcile_after_seconds": 60}}


async def test_a_call_that_never_returns_ends_at_its_deadline_as_an_unknown_outcome(
    scripted_runtime: RuntimeFactory,
) -> None:
    """Every call into a plugin runs under its gateway's deadline: a plugin that never answers
    holds neither the client nor the platform past it, and the payment is reconciled."""
    name, script = new_script()

    async def never(_request: object) -> object:
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    script.then("initiate", never)
    gateways = {"gw": name}
    async with scripted_runtime(gateways, **QUICK) as runtime:
        _deadline(runtime, "gw", 0.2)
        payment_id = uuid.uuid4()
        outcome = await asyncio.wait_for(
            initiate.start_payment(runtime.deps, payment_id, AED_10), timeout=30
        )
        assert outcome.payment.status is PaymentStatus.UNKNOWN
        [attempt] = (await reads.payment_history(runtime.deps, payment_id)).attempts
        assert attempt.outcome == "unknown"
        assert "no answer within its deadline of 0.2 s" in (attempt.error or "")


async def test_a_plugin_that_swallows_its_cancellation_is_still_left_at_its_deadline(
    scripted_runtime: RuntimeFactory,
) -> None:
    """Whatever the plugin does: one that catches the cancellation and goes on waiting is left
    behind, and what it does later is counted as a late answer, never used."""
    name, script = new_script()
    release = asyncio.Event()

    async def stubborn(_request: object) -> object:
        while True:
            try:
                await release.wait()
                return accepted("ext-late")
            except asyncio.CancelledError:
                continue

    script.then("initiate", stubborn)
    async with scripted_runtime({"gw": name}, **QUICK) as runtime:
        _deadline(runtime, "gw", 0.2)
        late_before = _late_answers("gw")
        payment_id = uuid.uuid4()
        outcome = await asyncio.wait_for(
            initiate.start_payment(runtime.deps, payment_id, AED_10), timeout=30
        )
        release.set()
        for _ in range(100):
            if _late_answers("gw") > late_before:
                break
            await asyncio.sleep(0.01)
        assert outcome.payment.status is PaymentStatus.UNKNOWN
        assert _late_answers("gw") == late_before + 1
        payment = (await reads.payment_history(runtime.deps, payment_id)).payment
        assert payment.external_id is None  # the late answer is not used


async def test_a_webhook_by_reference_recovers_a_payment_given_up_as_not_received(
    scripted_runtime: RuntimeFactory, wall_clock: WallClock
) -> None:
    name, script = new_script()
    script.fail("initiate", GatewayOutcomeUnknown("read timeout"))
    script.answer("status", vendor_says(VendorPaymentStatus.NOT_FOUND))
    async with scripted_runtime({"gw": name}, **QUICK) as runtime:
        payment_id = await _given_up_as_not_received(runtime, wall_clock)
        live = runtime.deps.gateways["gw"]

        outcome = await webhooks.apply_webhook(
            runtime.deps, [live], {}, _webhook("ext-late", "paid", payment_id)
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
            runtime.deps, [live], {}, _webhook("ext-late", "paid", payment_id)
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
        payment_id = await _given_up_as_not_received(runtime, wall_clock)
        live = runtime.deps.gateways["gw"]
        with pytest.raises(errors.PaymentNotFound):
            await webhooks.apply_webhook(runtime.deps, [live], {}, _webhook("ext-x", "paid"))
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
            runtime.deps, [live], {}, _webhook("ext-9", "paid", payment_id)
        )

        assert outcome.payment.status is PaymentStatus.PAID
        assert outcome.payment.external_id == "ext-9"
        history = await reads.payment_history(runtime.deps, payment_id)
        assert [event.kind for event in history.events].count("recovered") == 0


@pytest.mark.parametrize(
    ("vendor_at_expiry", "failure_code", "late_paid_changes_it"),
    [
        # The platform expired it while the vendor still waited: the payer may pay after all.
        (VendorPaymentStatus.INITIATED, "age-limit", True),
        # The vendor expired it itself: a later "paid" contradicts the vendor's own word.
        (VendorPaymentStatus.EXPIRED, None, False),
    ],
)
async def test_a_late_paid_for_an_expired_payment_counts_only_if_the_platform_expired_it(
    scripted_runtime: RuntimeFactory,
    wall_clock: WallClock,
    vendor_at_expiry: VendorPaymentStatus,
    failure_code: str | None,
    late_paid_changes_it: bool,
) -> None:
    name, script = new_script()
    script.answer("initiate", accepted("ext-e"))
    script.answer("status", vendor_says(vendor_at_expiry, "ext-e"))
    async with scripted_runtime({"gw": name}, payments={"expire_after_seconds": 100}) as runtime:
        payment_id = uuid.uuid4()
        await initiate.start_payment(runtime.deps, payment_id, AED_10)
        wall_clock.advance(101)
        await runtime.worker().run_once()
        expired = (await reads.payment_history(runtime.deps, payment_id)).payment
        assert (expired.status, expired.failure_code) == (PaymentStatus.EXPIRED, failure_code)
        live = runtime.deps.gateways["gw"]

        if late_paid_changes_it:
            outcome = await webhooks.apply_webhook(
                runtime.deps, [live], {}, _webhook("ext-e", "paid")
            )
            assert outcome.payment.status is PaymentStatus.PAID
        else:
            with pytest.raises(errors.TransitionNotAllowed):
                await webhooks.apply_webhook(runtime.deps, [live], {}, _webhook("ext-e", "paid"))
            payment = (await reads.payment_history(runtime.deps, payment_id)).payment
            assert payment.status is PaymentStatus.EXPIRED


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
        payment_id = await _given_up_as_not_received(runtime, wall_clock)
        retried = await initiate.start_payment(runtime.deps, payment_id, AED_10)
        assert (retried.payment.status, retried.payment.gateway) == (PaymentStatus.INITIATED, "b")
        stray_before = _recovered("a", "elsewhere")

        outcome = await webhooks.apply_webhook(
            runtime.deps,
            [runtime.deps.gateways["a"]],
            {},
            _webhook("ext-a", "paid", payment_id),
        )

        assert (outcome.changed, outcome.payment.status) == (False, PaymentStatus.INITIATED)
        history = await reads.payment_history(runtime.deps, payment_id)
        [stray] = [event for event in history.events if event.kind == "recovered"]
        assert (stray.accepted, stray.gateway, stray.external_id) == (False, "a", "ext-a")
        assert "refund it there" in (stray.reason or "")
        assert _recovered("a", "elsewhere") == stray_before + 1


async def test_an_operator_asking_again_recovers_a_payment_its_vendor_took(
    scripted_runtime: RuntimeFactory, wall_clock: WallClock
) -> None:
    name, script = new_script()
    script.fail("initiate", GatewayOutcomeUnknown("read timeout"))
    script.answer("status", vendor_says(VendorPaymentStatus.NOT_FOUND))
    script.answer("status", vendor_says(VendorPaymentStatus.PAID, "ext-7"))
    async with scripted_runtime({"gw": name}, **QUICK) as runtime:
        payment_id = await _given_up_as_not_received(runtime, wall_clock)

        result = await operator_actions.reconcile_now(runtime.deps, payment_id, "alice")

        assert result.outcome is operator_actions.Reconciliation.ANSWERED
        assert result.payment is not None
        assert (result.payment.status, result.payment.external_id) == (PaymentStatus.PAID, "ext-7")
        [query] = script.calls["status"][1:]
        assert (query.payment_id, query.external_id) == (payment_id, None)


async def test_a_webhook_its_gateway_cannot_verify_in_time_is_recorded_and_asked_again(
    scripted_runtime: RuntimeFactory,
) -> None:
    name, _script = new_script()
    async with scripted_runtime({"gw": name}) as runtime:
        _deadline(runtime, "gw", 0.2)
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


def _deadline(runtime: Runtime, gateway: str, seconds: float) -> None:
    """Give ``gateway`` a short deadline, as ``deadline_seconds`` would."""
    live = runtime.deps.gateways[gateway]
    changed = dataclasses.replace(live, deadline_seconds=seconds)
    gateways = cast(dict[str, LiveGateway], runtime.deps.gateways)
    gateways[gateway] = changed


def _late_answers(gateway: str) -> float:
    return (
        REGISTRY.get_sample_value(
            "payments_gateway_late_answers_total", {"gateway": gateway, "operation": "initiate"}
        )
        or 0.0
    )


def _recovered(gateway: str, result: str) -> float:
    labels = {"gateway": gateway, "from_status": "initiated", "result": result}
    return REGISTRY.get_sample_value("payments_recovered_total", labels) or 0.0


def _refused(gateway: str, reason: str) -> float:
    labels = {"gateway": gateway, "reason": reason}
    return REGISTRY.get_sample_value("payments_webhooks_refused_total", labels) or 0.0


async def test_the_overview_shows_money_taken_after_giving_up_and_refused_webhooks(
    database_url: str, wall_clock: WallClock
) -> None:
    """The operator sees each payment a vendor took after the platform gave it up, and the
    webhooks refused by gateway and reason (a wrong webhook secret shows as many
    invalid-webhook refusals), on the overview."""
    name, script = new_script()
    script.fail("initiate", GatewayOutcomeUnknown("read timeout"))
    script.answer("status", vendor_says(VendorPaymentStatus.NOT_FOUND))
    open_console = console_factory(database_url, wall_clock)
    async with open_console({"gw": name}, **QUICK) as console:
        runtime = console.runtime
        payment_id = await _given_up_as_not_received(runtime, wall_clock)
        live = runtime.deps.gateways["gw"]
        await webhooks.apply_webhook(
            runtime.deps, [live], {}, _webhook("ext-r", "paid", payment_id)
        )
        for body in (b"not json", b"[]"):
            with pytest.raises(errors.WebhookRejected):
                await webhooks.apply_webhook(runtime.deps, [live], {}, body)
        with pytest.raises(errors.PaymentNotFound):
            await webhooks.apply_webhook(runtime.deps, [live], {}, _webhook("nobody", "paid"))
        await console.sign_in()

        page = (await console.get("/console/")).text

        recovered = page.split("data-recovered", 1)[1].split("</div>", 1)[0]
        assert str(payment_id) in recovered
        assert "recovered to paid" in recovered
        refused = page.split("data-refused-webhooks", 1)[1].split("</div>", 1)[0]
        rows = re.findall(
            r"<th scope=\"row\">(\w+)</th><td>([\w-]+)</td><td[^>]*>(\d+)</td>", refused
        )
        assert rows == [("gw", "invalid-webhook", "2"), ("gw", "payment-not-found", "1")]
