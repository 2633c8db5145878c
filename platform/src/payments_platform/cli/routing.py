"""``payments routing explain``: where a sample payment would go, and why, without making it."""

from __future__ import annotations

import argparse
import asyncio

from payments_plugins import Amount, CaptureMode
from payments_plugins.money import is_currency

from payments_platform.cli.common import Options, add_command, help_of, runtime_of, settings_of
from payments_platform.routing import PaymentFacts, RouteDecision, Strategy
from payments_platform.runtime import Runtime
from payments_platform.usecases.failover import unable_to_take


def _explain(args: argparse.Namespace) -> int:
    settings = settings_of(args)
    runtime = runtime_of(settings)
    try:
        facts = PaymentFacts(
            currency=args.currency,
            amount_minor=args.amount,
            capture=CaptureMode(args.capture),
            merchant=args.merchant,
            metadata=dict(args.metadata or ()),
        )
        decision = runtime.deps.routing.decide(facts, unable_to_take(runtime.deps, facts.capture))
        for line in explanation(runtime, facts, decision):
            print(line)
    finally:
        asyncio.run(runtime.aclose())
    return 0


def explanation(runtime: Runtime, facts: PaymentFacts, decision: RouteDecision) -> list[str]:
    """The lines ``routing explain`` prints for ``facts`` and the decision made for it."""
    settings = runtime.settings
    amount = Amount(facts.amount_minor, facts.currency)
    metadata = ", ".join(f"{key}={value}" for key, value in facts.metadata.items())
    lines = [
        f"payment: {amount.format()} ({facts.amount_minor} minor units), capture"
        f" {facts.capture}, merchant {facts.merchant or '(none)'},"
        f" metadata {metadata or '(none)'}"
    ]
    rules = settings.routing.rules
    strategy = settings.routing.strategy
    matched = next((i for i, rule in enumerate(rules) if rule.name == decision.rule), None)
    if matched is None:
        lines.append(f"rule: none matches; the {strategy} strategy orders every candidate")
    else:
        rule = rules[matched]
        lines.append(f"rule: {rule.name} (routing.rules[{matched}]): {rule.describe()}")
    if decision.order:
        lines.append(f"candidates, in the order they would be tried ({strategy} strategy):")
        width = max(len(view.gateway) for view in decision.order)
        for position, view in enumerate(decision.order):
            lines.append(
                f"  {position + 1}. {view.gateway:<{width}}  {decision.reason(position, ())}"
            )
    else:
        lines.append("no gateway can take it: the payment would be rejected (no-gateway-available)")
    others = _not_candidates(runtime, facts, decision)
    if others:
        lines.append("not candidates:")
        width = max(len(name) for name in others)
        lines += [f"  {name:<{width}}  {why}" for name, why in others.items()]
    lines.append("notes:")
    drawn = strategy in (Strategy.WEIGHTED, Strategy.ADAPTIVE) or (
        matched is not None and rules[matched].split is not None
    )
    if drawn:
        lines.append(
            "  this is one draw: a split and the weighted and adaptive strategies draw anew for"
            " every payment (a share is the chance of coming first: among the split's gateways,"
            " or among the candidates the strategy orders)"
        )
    lines.append(
        "  breakers are taken as closed: each server process keeps its own (the console shows them)"
    )
    if strategy is Strategy.ADAPTIVE:
        lines.append("  learned scores are not read by explain: every gateway is scored as unknown")
    return lines


def _not_candidates(
    runtime: Runtime, facts: PaymentFacts, decision: RouteDecision
) -> dict[str, str]:
    """Every configured gateway that is not a candidate for the payment, and why."""
    placed = {view.gateway for view in decision.order}
    found = {view.gateway: f"breaker {view.breaker}" for view in decision.skipped}
    found |= {left.gateway: left.reason for left in decision.left_out}
    currencies = {route.name: route.currencies for route in runtime.deps.routing.routes}
    for name in runtime.settings.gateways:
        if name in placed or name in found:
            continue
        if name not in currencies:
            found[name] = "disabled (enabled = false)"
        else:
            found[name] = (
                f"does not take {facts.currency} (takes {', '.join(sorted(currencies[name]))})"
            )
    return found


def _currency(text: str) -> str:
    code = text.upper()
    if not is_currency(code):
        raise argparse.ArgumentTypeError(f"{text!r} is not an ISO 4217 currency code")
    return code


def _amount(text: str) -> int:
    try:
        amount = int(text)
    except ValueError:
        amount = -1
    if amount < 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not an amount in minor units (0 or more)")
    return amount


def _metadata(text: str) -> tuple[str, str]:
    key, equals, value = text.partition("=")
    if not equals or not key:
        raise argparse.ArgumentTypeError(f"{text!r} is not KEY=VALUE")
    return key, value


def add_commands(
    commands: argparse._SubParsersAction[argparse.ArgumentParser], options: Options
) -> None:
    """``routing explain``."""
    routing = add_command(
        commands,
        "routing",
        "explain where payments go",
        "Routing commands.",
        parents=[options.logging],
    )
    routing.set_defaults(run=help_of(routing))
    routing_commands = routing.add_subparsers(title="commands", metavar="COMMAND")
    explain = add_command(
        routing_commands,
        "explain",
        "show where a sample payment would go, and why",
        """\
Show where a sample payment would be sent, making no payment and calling no
gateway: the [[routing.rules]] entry it meets (the first whose match holds),
or none, then every candidate in the order it would be tried, with the reason
an attempt would record, and the configured gateways that are not candidates
and why. A split and the weighted and adaptive strategies draw anew for every
payment: the order shown is one draw, with each candidate's share. Breakers
are taken as closed (each server process keeps its own) and learned scores
are not read, so the database is not opened.""",
        parents=[options.configured],
    )
    explain.add_argument(
        "--currency", required=True, type=_currency, help="the ISO 4217 code, e.g. EUR"
    )
    explain.add_argument(
        "--amount",
        required=True,
        type=_amount,
        metavar="MINOR",
        help="the amount in minor units, as amount_fractions in the API (120000 = 1200.00 EUR)",
    )
    explain.add_argument(
        "--capture",
        choices=[mode.value for mode in CaptureMode],
        default=CaptureMode.AUTOMATIC.value,
        help="when the money is taken (default: automatic)",
    )
    explain.add_argument(
        "--merchant",
        metavar="NAME",
        help="the merchant whose API key would make it (default: none, as while the client"
        " API is open)",
    )
    explain.add_argument(
        "--metadata",
        action="append",
        type=_metadata,
        metavar="KEY=VALUE",
        help="a metadata entry of the payment; repeat for more",
    )
    explain.set_defaults(run=_explain)
