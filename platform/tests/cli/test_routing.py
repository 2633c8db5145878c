"""``payments routing explain``: what it prints for a sample payment, from the routing the
config builds (the command as a process, and its help, are in ``tests/test_cli.py``)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from core_fixtures import OPEN
from databases import sqlite_url
from payments_platform.cli.routing import explanation
from payments_platform.config import decode_settings
from payments_platform.plugin_host import PluginHost
from payments_platform.routing import PaymentFacts
from payments_platform.runtime import Runtime, build_runtime
from payments_platform.usecases.failover import unable_to_take
from payments_plugins import CaptureMode
from scripted import ScriptedPlugin, new_script, type_of

RULES = [
    {
        "name": "usd-large",
        "match": {"currencies": ["USD"], "amount_min": 100_000},
        "gateways": ["capturing"],
    },
    {"name": "gold", "match": {"metadata": {"tier": "gold"}}, "split": {"plain": 100}},
]


@pytest.fixture
def runtime(tmp_path: Path) -> Iterator[Runtime]:
    """Gateways ``plain`` (AED, USD), ``capturing`` (AED, USD, manual capture), ``aed``
    (narrowed to AED) and ``off`` (disabled), in that order; routing by priority."""
    plain, _ = new_script()
    capturing, _ = new_script(capturing="once")
    gateways: dict[str, Any] = {
        "plain": {"type": type_of(plain), "settings": {"script": plain}},
        "capturing": {"type": type_of(capturing), "settings": {"script": capturing}},
        "aed": {"type": type_of(plain), "settings": {"script": plain}, "currencies": ["AED"]},
        "off": {"type": type_of(plain), "settings": {"script": plain}, "enabled": False},
    }
    settings = decode_settings(
        {
            "database": {"url": sqlite_url(tmp_path / "never-opened.db")},
            "security": OPEN,
            "gateways": gateways,
            "routing": {"strategy": "priority", "rules": RULES},
        }
    )
    plugins = PluginHost()
    plugins.register(ScriptedPlugin(), "scripted")
    built = build_runtime(settings, plugins)
    yield built
    asyncio.run(built.aclose())
    assert not (tmp_path / "never-opened.db").exists()


def explain(runtime: Runtime, facts: PaymentFacts) -> list[str]:
    decision = runtime.deps.routing.decide(facts, unable_to_take(runtime.deps, facts.capture))
    return explanation(runtime, facts, decision)


def test_explain_names_the_rule_then_each_candidate_and_why_then_the_others(
    runtime: Runtime,
) -> None:
    facts = PaymentFacts(currency="USD", amount_minor=120_000)

    assert explain(runtime, facts) == [
        "payment: 1200.00 USD (120000 minor units), capture automatic, merchant (none),"
        " metadata (none)",
        "rule: usd-large (routing.rules[0]): USD, amount >= 100000 -> capturing; then the"
        " strategy's order",
        "candidates, in the order they would be tried (priority strategy):",
        "  1. capturing  rule usd-large: its gateway 1 of 1, breaker closed",
        "  2. plain      rule usd-large: fallback, priority 1 in config order, breaker closed",
        "not candidates:",
        "  aed  does not take USD (takes AED)",
        "  off  disabled (enabled = false)",
        "notes:",
        "  breakers are taken as closed: each server process keeps its own (the console shows"
        " them)",
    ]


def test_explain_without_a_rule_leaves_the_order_to_the_strategy(runtime: Runtime) -> None:
    lines = explain(
        runtime,
        PaymentFacts(currency="AED", amount_minor=120_000, capture=CaptureMode.MANUAL),
    )

    assert lines[1:5] == [
        "rule: none matches; the priority strategy orders every candidate",
        "candidates, in the order they would be tried (priority strategy):",
        "  1. capturing  priority 1 in config order, breaker closed",
        "not candidates:",
    ]
    assert "  plain  type scripted does not declare manual_capture" in lines
    assert "  aed    type scripted does not declare manual_capture" in lines


def test_explain_of_a_split_says_the_order_is_one_draw(runtime: Runtime) -> None:
    lines = explain(
        runtime,
        PaymentFacts(currency="AED", amount_minor=5, merchant="shop", metadata={"tier": "gold"}),
    )

    assert lines[0] == (
        "payment: 0.05 AED (5 minor units), capture automatic, merchant shop, metadata tier=gold"
    )
    assert lines[1] == (
        "rule: gold (routing.rules[1]): metadata tier = gold -> split plain 100%; then the"
        " strategy's order"
    )
    assert lines[3] == (
        "  1. plain      rule gold: drawn by its split (100%, share 1.00), breaker closed"
    )
    assert any(line.startswith("  this is one draw: a split") for line in lines)


def test_explain_says_when_no_gateway_could_take_the_payment(runtime: Runtime) -> None:
    lines = explain(runtime, PaymentFacts(currency="EUR", amount_minor=5))

    assert lines[2] == (
        "no gateway can take it: the payment would be rejected (no-gateway-available)"
    )
