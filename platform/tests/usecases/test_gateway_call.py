"""Every call to a gateway (``usecases/gateway_call``): its deadline, whatever the plugin does,
and answers the store cannot hold as they are (a vendor id too long or with a NUL character, a
decline code too long)."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from core_fixtures import RuntimeFactory
from payments_platform import errors
from payments_platform.lifecycle import PaymentStatus
from payments_platform.usecases import initiate, reads
from payments_plugins import GatewayDeclined
from prometheus_client import REGISTRY
from runtime_steps import AED_10, QUICK, cut_deadline
from scripted import accepted, new_script


@pytest.mark.parametrize("vendor_id", ["x" * 256, "ext\x00id"], ids=["long", "nul"])
async def test_a_vendor_id_that_cannot_be_stored_is_an_unknown_outcome_not_a_crash(
    scripted_runtime: RuntimeFactory, vendor_id: str
) -> None:
    name, script = new_script()
    script.answer("initiate", accepted(vendor_id))
    async with scripted_runtime({"gw": name}) as runtime:
        outcome = await initiate.start_payment(runtime.deps, uuid.uuid4(), AED_10)
        assert outcome.payment.status is PaymentStatus.UNKNOWN
        assert outcome.payment.external_id is None


async def test_a_decline_code_longer_than_stored_is_cut_not_a_crash(
    scripted_runtime: RuntimeFactory,
) -> None:
    name, script = new_script()
    script.fail("initiate", GatewayDeclined("no", vendor_code="c" * 500))
    async with scripted_runtime({"gw": name}) as runtime:
        with pytest.raises(errors.PaymentDeclined) as declined:
            await initiate.start_payment(runtime.deps, uuid.uuid4(), AED_10)
        assert declined.value.payment is not None
        assert declined.value.payment.status is PaymentStatus.REJECTED
        assert declined.value.payment.failure_code == "c" * 64


async def test_a_decline_whose_code_and_message_hold_nul_characters_is_recorded(
    scripted_runtime: RuntimeFactory,
) -> None:
    name, script = new_script()
    script.fail("initiate", GatewayDeclined("card\x00 refused", vendor_code="do\x00_not_honour"))
    async with scripted_runtime({"gw": name}) as runtime:
        payment_id = uuid.uuid4()
        with pytest.raises(errors.PaymentDeclined) as declined:
            await initiate.start_payment(runtime.deps, payment_id, AED_10)
        assert declined.value.payment is not None
        assert declined.value.payment.status is PaymentStatus.REJECTED
        assert declined.value.payment.failure_code == "do_not_honour"
        history = await reads.payment_history(runtime.deps, payment_id)
        assert history.attempts[-1].error == "hard decline: card\ufffd refused"
        assert any("card\ufffd refused" in (event.reason or "") for event in history.events)


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
        cut_deadline(runtime, "gw", 0.2)
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
        cut_deadline(runtime, "gw", 0.2)
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


def _late_answers(gateway: str) -> float:
    return (
        REGISTRY.get_sample_value(
            "payments_gateway_late_answers_total", {"gateway": gateway, "operation": "initiate"}
        )
        or 0.0
    )
