"""The failover loop (``usecases/failover``): the routing decision it records, and traces."""

from __future__ import annotations

import uuid

from core_fixtures import RuntimeFactory
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from payments_platform.usecases import initiate, reads
from payments_plugins import Amount, GatewayUnavailable
from scripted import accepted, new_script


async def test_the_rule_a_payment_met_is_recorded_with_the_decision_its_attempts_and_span(
    scripted_runtime: RuntimeFactory, spans: InMemorySpanExporter
) -> None:
    first, first_script = new_script()
    pinned, pinned_script = new_script()
    pinned_script.fail("initiate", GatewayUnavailable("connection refused"))
    first_script.answer("initiate", accepted("ext-ruled"))
    rules = [
        {"name": "usd-large", "match": {"amount_min": 100_000}, "gateways": ["pinned"]},
    ]
    async with scripted_runtime(
        {"first": first, "pinned": pinned}, routing={"strategy": "priority", "rules": rules}
    ) as runtime:
        payment_id = uuid.uuid4()
        outcome = await initiate.start_payment(runtime.deps, payment_id, Amount(120_000, "USD"))

        assert outcome.payment.gateway == "first"
        history = await reads.payment_history(runtime.deps, payment_id)
        (decision,) = [event for event in history.events if event.kind == "routing_decision"]
        assert decision.reason == "rule usd-large, then the priority strategy, 2 candidate(s)"
        assert decision.detail is not None
        assert decision.detail["rule"] == "usd-large"
        assert [view["by_rule"] for view in decision.detail["order"]] == [
            "its gateway 1 of 1",
            None,
        ]
        assert [(attempt.gateway, attempt.reason) for attempt in history.attempts] == [
            ("pinned", "rule usd-large: its gateway 1 of 1, breaker closed"),
            (
                "first",
                "rule usd-large: fallback, priority 1 in config order, breaker closed;"
                " failover after pinned unavailable",
            ),
        ]
    (route,) = [span for span in spans.get_finished_spans() if span.name == "payments.route"]
    assert route.attributes is not None
    assert route.attributes["routing.rule"] == "usd-large"
    assert route.attributes["routing.candidates"] == ("pinned", "first")
