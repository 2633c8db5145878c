"""Soft declines (``usecases/failover``): a payment a gateway declined softly, holding no money
for it, is offered to the routing decision's next candidate, at most
``routing.soft_decline_attempts`` times; a hard decline, a soft one with nothing left to try,
and every decline of a type that does not declare soft declines end it declined; an unknown
outcome is never passed on, whatever came before it.

Gateways are played by scripts in priority order (``gw1``, ``gw2``, ...), so the order the
candidates are tried in is known; the database is real (SQLite and PostgreSQL).
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from core_fixtures import RuntimeFactory, WallClock
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from payments_platform import errors
from payments_platform.lifecycle import AttemptOutcome, PaymentStatus, RefundStatus
from payments_platform.records import Payment
from payments_platform.runtime import Runtime
from payments_platform.usecases import initiate, reads, refunds
from payments_plugins import (
    GatewayDeclined,
    GatewayOutcomeUnknown,
    GatewayUnavailable,
    InitiateRequest,
    RefundResult,
    VendorPaymentStatus,
)
from prometheus_client import REGISTRY
from runtime_steps import AED_10, pay, run_due_jobs
from scripted import Script, accepted, new_script, vendor_says

PRIORITY = {"strategy": "priority"}


def soft(code: str = "issuer_unavailable") -> GatewayDeclined:
    return GatewayDeclined(f"declined: {code}", vendor_code=code, soft=True)


def hard(code: str = "do_not_honour") -> GatewayDeclined:
    return GatewayDeclined(f"declined: {code}", vendor_code=code)


def soft_declining(count: int) -> tuple[dict[str, str], list[Script]]:
    """``count`` gateways (``gw1``...) of the type that declares soft declines, in config
    order."""
    names: dict[str, str] = {}
    scripts: list[Script] = []
    for number in range(1, count + 1):
        name, script = new_script(soft_declines=True)
        names[f"gw{number}"] = name
        scripts.append(script)
    return names, scripts


def counted(gateway: str, result: str) -> float:
    """``payments_soft_declines_total`` for a gateway and result, so far in this process."""
    labels = {"gateway": gateway, "result": result}
    return REGISTRY.get_sample_value("payments_soft_declines_total", labels) or 0.0


async def start(runtime: Runtime) -> tuple[uuid.UUID, Payment]:
    """Start a payment of 10 AED; a decline is its payment."""
    payment_id = uuid.uuid4()
    try:
        outcome = await initiate.start_payment(runtime.deps, payment_id, AED_10)
    except errors.PaymentDeclined as declined:
        payment = declined.payment
    else:
        payment = outcome.payment
    assert payment is not None
    return payment_id, payment


def asked(script: Script) -> list[uuid.UUID]:
    """The payment ids a scripted gateway was asked to initiate."""
    calls: list[InitiateRequest] = script.calls["initiate"]
    return [request.payment_id for request in calls]


async def test_a_soft_decline_is_offered_to_the_next_candidate_which_takes_it(
    scripted_runtime: RuntimeFactory, spans: InMemorySpanExporter
) -> None:
    """Fails if a soft decline ends the payment as a hard one does, if the next gateway is
    asked for another payment, or if the records and the trace do not say why it was asked."""
    names, (first, second) = soft_declining(2)
    first.fail("initiate", soft())
    second.answer("initiate", accepted("ext-2"))
    retried = counted("gw1", "retried")
    async with scripted_runtime(names, routing=PRIORITY) as runtime:
        payment_id, payment = await start(runtime)

        assert (payment.status, payment.gateway, payment.external_id) == (
            PaymentStatus.INITIATED,
            "gw2",
            "ext-2",
        )
        assert asked(first) == asked(second) == [payment_id]
        history = await reads.payment_history(runtime.deps, payment_id)
        declined, taken = history.attempts
        assert (declined.gateway, declined.outcome) == ("gw1", AttemptOutcome.DECLINED)
        assert declined.error == "soft decline: declined: issuer_unavailable"
        assert (taken.gateway, taken.outcome) == ("gw2", AttemptOutcome.ACCEPTED)
        assert taken.reason == (
            "priority 2 in config order, breaker closed; failover after a soft decline at gw1"
        )
        assert history.payment.failure_code is None
    assert counted("gw1", "retried") == retried + 1
    calls = [s for s in spans.get_finished_spans() if s.name == "payments.gateway.initiate"]
    assert [dict(s.attributes or {}).get("gateway.decline") for s in calls] == ["soft", None]
    assert "after a soft decline at gw1" in str((calls[1].attributes or {})["gateway.reason"])
    [noted] = [
        event
        for s in spans.get_finished_spans()
        for event in s.events
        if event.name == "payments.soft_decline"
    ]
    assert dict(noted.attributes or {}) == {
        "gateway": "gw1",
        "vendor_code": "issuer_unavailable",
        "result": "retried",
        "next_gateway": "gw2",
    }


async def test_a_hard_decline_ends_the_payment_at_the_first_gateway(
    scripted_runtime: RuntimeFactory,
) -> None:
    """Fails if a hard decline (a stolen card, do not honour) is sent on to another gateway."""
    names, (first, second) = soft_declining(2)
    first.fail("initiate", hard("stolen_card"))
    async with scripted_runtime(names, routing=PRIORITY) as runtime:
        payment_id, payment = await start(runtime)

        assert (payment.status, payment.failure_code) == (PaymentStatus.REJECTED, "stolen_card")
        assert second.calls["initiate"] == []
        history = await reads.payment_history(runtime.deps, payment_id)
        [attempt] = history.attempts
        assert attempt.error == "hard decline: declined: stolen_card"
        assert any(
            (event.reason or "").startswith("declined by gw1 (hard decline): ")
            for event in history.events
        )


async def test_a_soft_decline_from_a_type_that_does_not_declare_them_is_final(
    scripted_runtime: RuntimeFactory,
) -> None:
    """Fails if the platform acts on a soft decline its type never declared it tells apart
    (a 2.1 plugin's, say)."""
    undeclared, first = new_script()
    declared, second = new_script(soft_declines=True)
    first.fail("initiate", soft())
    async with scripted_runtime({"gw1": undeclared, "gw2": declared}, routing=PRIORITY) as runtime:
        payment_id, payment = await start(runtime)

        assert (payment.status, payment.failure_code) == (
            PaymentStatus.REJECTED,
            "issuer_unavailable",
        )
        assert second.calls["initiate"] == []
        [attempt] = (await reads.payment_history(runtime.deps, payment_id)).attempts
        assert attempt.error == "hard decline: declined: issuer_unavailable"


@pytest.mark.parametrize(("budget", "asked_gateways"), [(0, 1), (1, 2), (2, 3), (3, 4)])
async def test_soft_declines_pass_the_payment_on_within_the_budget(
    scripted_runtime: RuntimeFactory, budget: int, asked_gateways: int
) -> None:
    """Four gateways that all decline softly: the payment is offered to ``budget`` more after
    the first, and ends declined by the last one asked. Fails on an off-by-one in the budget,
    or on a budget that is not read at all."""
    names, scripts = soft_declining(4)
    for number, script in enumerate(scripts[:asked_gateways], start=1):
        script.fail("initiate", soft(f"try_again_later_{number}"))
    spent = counted(f"gw{asked_gateways}", "budget_spent")
    routing = PRIORITY | {"soft_decline_attempts": budget}
    async with scripted_runtime(names, routing=routing) as runtime:
        payment_id, payment = await start(runtime)

        assert [len(script.calls["initiate"]) for script in scripts] == [1] * asked_gateways + [
            0
        ] * (4 - asked_gateways)
        assert (payment.status, payment.failure_code, payment.gateway) == (
            PaymentStatus.REJECTED,
            f"try_again_later_{asked_gateways}",
            f"gw{asked_gateways}",
        )
        history = await reads.payment_history(runtime.deps, payment_id)
        assert [a.outcome for a in history.attempts] == [AttemptOutcome.DECLINED] * asked_gateways
        assert any(
            f"routing.soft_decline_attempts ({budget}) used up" in (event.reason or "")
            for event in history.events
        )
    assert counted(f"gw{asked_gateways}", "budget_spent") == spent + 1


@pytest.mark.parametrize(("budget", "taken"), [(1, False), (2, True)])
async def test_only_soft_declines_spend_the_budget_an_unavailable_gateway_does_not(
    scripted_runtime: RuntimeFactory, budget: int, taken: bool
) -> None:
    """gw1 declines softly, gw2 cannot be reached, gw3 declines softly, gw4 would take it.
    Fails if an unavailable gateway is counted against the budget (gw4 never asked with a
    budget of 2), or if a soft decline after it is not (gw4 asked with a budget of 1)."""
    names, (first, second, third, fourth) = soft_declining(4)
    first.fail("initiate", soft())
    second.fail("initiate", GatewayUnavailable("connection refused"))
    third.fail("initiate", soft("processing_error"))
    if taken:
        fourth.answer("initiate", accepted("ext-4"))
    routing = PRIORITY | {"soft_decline_attempts": budget}
    async with scripted_runtime(names, routing=routing) as runtime:
        payment_id, payment = await start(runtime)

        if taken:
            assert (payment.status, payment.gateway) == (PaymentStatus.INITIATED, "gw4")
            last = (await reads.payment_history(runtime.deps, payment_id)).attempts[-1]
            assert last.reason.endswith(
                "; failover after a soft decline at gw1, gw2 unavailable, a soft decline at gw3"
            )
        else:
            assert (payment.status, payment.failure_code) == (
                PaymentStatus.REJECTED,
                "processing_error",
            )
            assert fourth.calls["initiate"] == []


async def test_a_soft_decline_with_no_other_candidate_ends_the_payment_declined(
    scripted_runtime: RuntimeFactory,
) -> None:
    """The only AED gateway declines softly. Fails if the payment is left pending, or told
    no gateway could be reached (a 503 the client would retry) instead of declined."""
    names, (only,) = soft_declining(1)
    only.fail("initiate", soft())
    no_candidate = counted("gw1", "no_candidate")
    async with scripted_runtime(names) as runtime:
        payment_id, payment = await start(runtime)

        assert (payment.status, payment.failure_code) == (
            PaymentStatus.REJECTED,
            "issuer_unavailable",
        )
        history = await reads.payment_history(runtime.deps, payment_id)
        assert any(
            (event.reason or "").startswith(
                "declined by gw1 (soft decline, no other gateway to try): "
            )
            for event in history.events
        )
    assert counted("gw1", "no_candidate") == no_candidate + 1


async def test_a_queued_payment_declined_softly_where_the_rest_are_down_ends_declined(
    scripted_runtime: RuntimeFactory,
) -> None:
    """gw1 declines softly, gw2 cannot be reached. Fails if the payment is kept for a retry of
    its job (it would be sent to gw1 again) or rejected as unroutable: gw1's decline is the
    answer."""
    names, (first, second) = soft_declining(2)
    first.fail("initiate", soft())
    second.fail("initiate", GatewayUnavailable("connection refused"))
    sections: dict[str, Any] = {"routing": PRIORITY, "payments": {"dispatch": "queue"}}
    async with scripted_runtime(names, **sections) as runtime:
        payment_id, queued = await start(runtime)
        assert queued.status is PaymentStatus.PENDING

        await run_due_jobs(runtime)

        history = await reads.payment_history(runtime.deps, payment_id)
        assert (history.payment.status, history.payment.failure_code) == (
            PaymentStatus.REJECTED,
            "issuer_unavailable",
        )
        assert history.payment.gateway == "gw1"
        assert [(a.gateway, a.outcome) for a in history.attempts] == [
            ("gw1", AttemptOutcome.DECLINED),
            ("gw2", AttemptOutcome.UNAVAILABLE),
        ]
        assert any(
            "no other gateway could take it: a soft decline at gw1, gw2 unavailable"
            in (event.reason or "")
            for event in history.events
        )
        assert await run_due_jobs(runtime) == 0  # nothing retried later
        assert len(first.calls["initiate"]) == 1


async def test_after_a_soft_decline_an_unknown_outcome_is_reconciled_never_passed_on(
    scripted_runtime: RuntimeFactory, wall_clock: WallClock
) -> None:
    """gw1 declines softly, gw2 times out, gw3 would take it. Fails if the budget left after
    the soft decline lets the payment go on to gw3 (gw2 may hold the money: the payer could be
    charged twice), or if the reconciliation asks gw1 instead of gw2."""
    names, (first, second, third) = soft_declining(3)
    first.fail("initiate", soft())
    second.fail("initiate", GatewayOutcomeUnknown("read timeout"))
    second.answer("status", vendor_says(VendorPaymentStatus.INITIATED, "ext-2"))
    async with scripted_runtime(names, routing=PRIORITY) as runtime:
        payment_id, payment = await start(runtime)

        assert (payment.status, payment.gateway) == (PaymentStatus.UNKNOWN, "gw2")
        assert third.calls["initiate"] == []

        wall_clock.advance(5)
        assert await run_due_jobs(runtime) == 1
        reconciled = (await reads.payment_history(runtime.deps, payment_id)).payment
        assert (reconciled.status, reconciled.gateway, reconciled.external_id) == (
            PaymentStatus.INITIATED,
            "gw2",
            "ext-2",
        )
        assert first.calls["status"] == []
        assert third.calls["initiate"] == []


async def test_an_unknown_outcome_at_a_gateway_that_declines_softly_is_never_passed_on(
    scripted_runtime: RuntimeFactory,
) -> None:
    """A gateway of a type that declines softly times out: fails if its declaring soft
    declines lets the payment go to the next candidate."""
    names, (first, second) = soft_declining(2)
    first.fail("initiate", GatewayOutcomeUnknown("read timeout"))
    async with scripted_runtime(names, routing=PRIORITY) as runtime:
        _, payment = await start(runtime)

        assert (payment.status, payment.gateway) == (PaymentStatus.UNKNOWN, "gw1")
        assert second.calls["initiate"] == []


async def test_a_soft_decline_of_a_refund_is_the_refund_s_answer_never_another_gateway_s(
    scripted_runtime: RuntimeFactory,
) -> None:
    """Only a payment's initiate is routed: fails if a refund declined softly were sent to
    another gateway (which does not hold the payment)."""
    names, (first, second) = soft_declining(2)
    first.answer("initiate", accepted("ext-1"))
    first.fail("refund", soft("try_again_later"))
    second.answer("refund", RefundResult(external_refund_id="rf-elsewhere"))
    async with scripted_runtime(names, routing=PRIORITY) as runtime:
        payment_id, _ = await start(runtime)
        await pay(runtime, payment_id, gateway="gw1")

        with pytest.raises(errors.RefundDeclined):
            await refunds.refund_payment(runtime.deps, payment_id)

        assert second.calls["refund"] == []
        history = await reads.payment_history(runtime.deps, payment_id)
        assert [refund.status for refund in history.refunds] == [RefundStatus.FAILED]
        assert history.payment.status is PaymentStatus.PAID
