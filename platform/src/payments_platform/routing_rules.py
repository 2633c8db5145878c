"""Routing rules: the operator's word on where a payment goes first, before the strategy. Pure;
no I/O.

``[[routing.rules]]`` is an ordered list. The first rule whose ``match`` a payment meets puts its
own gateways at the head of the order: its ``gateways`` in the order written, or one gateway of
its ``split`` drawn by percentage. The strategy orders the other candidates after them, so a
payment still goes through when the rule's gateways cannot take it; with ``fallback = false``
the rule's gateways are the only ones tried (the others are left out, saying so). A gateway a
rule names that cannot take the payment (another currency, a capability it lacks, an open
breaker) is skipped like any other; when a split's gateway is, the others share its part. When
no rule matches, the strategy orders every candidate.
"""

from __future__ import annotations

import random
import re
from collections.abc import Collection, Mapping, Sequence
from typing import Annotated, NamedTuple, Protocol

import msgspec
from payments_plugins import CaptureMode
from payments_plugins.money import is_currency

RULE_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")


class PaymentTraits(Protocol):
    """What a rule's match looks at (:class:`~payments_platform.routing.PaymentFacts`)."""

    @property
    def currency(self) -> str: ...
    @property
    def amount_minor(self) -> int: ...
    @property
    def capture(self) -> CaptureMode: ...
    @property
    def merchant(self) -> str | None: ...
    @property
    def metadata(self) -> dict[str, str]: ...


class RuleMatch(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The payments a rule is for: every condition given must hold; none given matches every
    payment."""

    currencies: list[str] | None = None
    """ISO 4217 codes; the payment's is one of them."""
    amount_min: Annotated[int, msgspec.Meta(ge=0)] | None = None
    """In minor units, inclusive: the amount is at least this."""
    amount_max: Annotated[int, msgspec.Meta(ge=1)] | None = None
    """In minor units, exclusive: the amount is below this (so that ``amount_max = 100000`` in
    one rule and ``amount_min = 100000`` in the next leave no gap and no overlap)."""
    capture: CaptureMode | None = None
    merchants: list[str] | None = None
    """The payment's merchant is one of them (a payment made while the client API is open
    has none, and no rule that names merchants matches it)."""
    metadata: dict[str, str | list[str]] = msgspec.field(default_factory=dict)
    """For each key, the payment's metadata has it with this value, or one of these values."""

    def holds_for(self, payment: PaymentTraits) -> bool:
        """Whether the payment meets every condition."""
        return (
            (self.currencies is None or payment.currency in self.currencies)
            and (self.amount_min is None or payment.amount_minor >= self.amount_min)
            and (self.amount_max is None or payment.amount_minor < self.amount_max)
            and (self.capture is None or payment.capture is self.capture)
            and (self.merchants is None or payment.merchant in self.merchants)
            and all(
                payment.metadata.get(key) in _values(wanted)
                for key, wanted in self.metadata.items()
            )
        )

    def covers(self, other: RuleMatch) -> bool:
        """Whether every payment ``other`` matches, this matches too (so that a rule with
        ``other`` placed after one with this is never reached)."""
        if not _covers_set(self.currencies, other.currencies):
            return False
        if not _covers_set(self.merchants, other.merchants):
            return False
        if self.amount_min is not None and (
            other.amount_min is None or other.amount_min < self.amount_min
        ):
            return False
        if self.amount_max is not None and (
            other.amount_max is None or other.amount_max > self.amount_max
        ):
            return False
        if self.capture is not None and other.capture is not self.capture:
            return False
        return all(
            key in other.metadata and set(_values(other.metadata[key])) <= set(_values(wanted))
            for key, wanted in self.metadata.items()
        )

    def describe(self) -> str:
        """The conditions, as ``payments config check`` lists them."""
        parts = []
        if self.currencies is not None:
            parts.append(", ".join(self.currencies))
        if self.amount_min is not None and self.amount_max is not None:
            parts.append(f"{self.amount_min} <= amount < {self.amount_max}")
        elif self.amount_min is not None:
            parts.append(f"amount >= {self.amount_min}")
        elif self.amount_max is not None:
            parts.append(f"amount < {self.amount_max}")
        if self.capture is not None:
            parts.append(f"capture {self.capture}")
        if self.merchants is not None:
            parts.append("merchant " + " or ".join(self.merchants))
        for key, wanted in self.metadata.items():
            parts.append(f"metadata {key} = " + " or ".join(_values(wanted)))
        return ", ".join(parts) or "every payment"


def _values(wanted: str | list[str]) -> list[str]:
    return [wanted] if isinstance(wanted, str) else wanted


def _covers_set(wider: list[str] | None, narrower: list[str] | None) -> bool:
    return wider is None or (narrower is not None and set(narrower) <= set(wider))


class RoutingRule(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """One ``[[routing.rules]]`` entry: the payments it is for, and where they go first
    (exactly one of ``gateways`` and ``split``)."""

    name: str
    """Recorded with every decision it makes: 1-64 of a-z, 0-9, '-', '_', unique."""
    match: RuleMatch = RuleMatch()
    gateways: list[str] | None = None
    """Tried first, in this order."""
    split: dict[str, Annotated[int, msgspec.Meta(ge=0, le=100)]] | None = None
    """Gateway -> percentage of the payments it is tried first for; they add up to 100."""
    fallback: bool = True
    """After the rule's gateways, the other candidates in the strategy's order; false: only
    the rule's gateways are tried."""

    @property
    def named(self) -> list[str]:
        """The gateways the rule names, in the order it names them."""
        return list(self.gateways or self.split or ())

    def describe(self) -> str:
        """What it matches and where it sends, as ``payments config check`` lists it."""
        if self.split is not None:
            target = "split " + ", ".join(f"{name} {share}%" for name, share in self.split.items())
        else:
            target = ", ".join(self.gateways or ())
        after = "then the strategy's order" if self.fallback else "no other gateway"
        return f"{self.match.describe()} -> {target}; {after}"


def first_rule(rules: Sequence[RoutingRule], payment: PaymentTraits) -> RoutingRule | None:
    """The first rule whose match the payment meets, or None."""
    for rule in rules:
        if rule.match.holds_for(payment):
            return rule
    return None


class RuleChoice(NamedTuple):
    """A candidate a rule puts at the head of the order."""

    gateway: str
    share: float
    """Its chance of being tried first."""
    why: str


class RuledOrder(NamedTuple):
    """What the matching rule makes of the candidates, before the strategy orders the rest."""

    rule: RoutingRule | None
    first: tuple[RuleChoice, ...]
    """Tried first, in this order."""
    rest: frozenset[str]
    """The candidates the strategy orders after them."""
    excluded: tuple[tuple[str, str], ...]
    """Candidates the rule does not send to (``fallback = false``), each with why."""


def order_by_rules(
    rules: Sequence[RoutingRule],
    payment: PaymentTraits,
    candidates: Sequence[str],
    rng: random.Random,
) -> RuledOrder:
    """Apply the first rule the payment meets to the ``candidates`` (the gateways that can
    take it now, in config order); a split draws with ``rng``."""
    rule = first_rule(rules, payment)
    if rule is None:
        return RuledOrder(None, (), frozenset(candidates), ())
    able = set(candidates)
    first: list[RuleChoice] = []
    if rule.gateways is not None:
        listed = len(rule.gateways)
        for index, name in enumerate(rule.gateways):
            if name in able:
                why = f"its gateway {index + 1} of {listed}"
                first.append(RuleChoice(name, 0.0 if first else 1.0, why))
    elif rule.split is not None:
        drawn = _draw(rule.split, able, rng)
        if drawn is not None:
            first = [drawn]
    chosen = {choice.gateway for choice in first}
    own = set(rule.named)
    rest = frozenset(
        name for name in candidates if name not in chosen and (rule.fallback or name in own)
    )
    why = f"rule {rule.name} sends only to its own gateways (fallback = false)"
    excluded = tuple((name, why) for name in candidates if not rule.fallback and name not in own)
    return RuledOrder(rule, tuple(first), rest, excluded)


def _draw(split: Mapping[str, int], able: Collection[str], rng: random.Random) -> RuleChoice | None:
    """One gateway of the split that can take the payment, drawn by its percentage; None when
    none with a percentage above 0 can."""
    shares = {name: percent for name, percent in split.items() if name in able and percent > 0}
    if not shares:
        return None
    (name,) = rng.choices(list(shares), weights=list(shares.values()))
    share = shares[name] / sum(shares.values())
    return RuleChoice(name, share, f"drawn by its split ({split[name]}%, share {share:.2f})")


def check_rules(rules: Sequence[RoutingRule], gateways: Collection[str]) -> None:
    """Raise ValueError, naming the key (`` - at `$.routing.rules[i]...` ``), for the first
    rule that cannot be used: a name that is not one or is used twice, neither or both of
    ``gateways`` and ``split``, a gateway not among ``gateways`` (the configured ones, enabled
    or not), a split that does not add up to 100, a match no payment can meet."""
    seen: dict[str, int] = {}
    for index, rule in enumerate(rules):
        at = f"$.routing.rules[{index}]"
        if not RULE_NAME.fullmatch(rule.name):
            raise ValueError(
                f"rule name {rule.name!r} must be 1-64 of a-z, 0-9, '-', '_' - at `{at}.name`"
            )
        if rule.name in seen:
            raise ValueError(
                f"rule name {rule.name!r} is used twice (routing.rules[{seen[rule.name]}] and"
                f" routing.rules[{index}]): each decision records its rule by name"
                f" - at `{at}.name`"
            )
        seen[rule.name] = index
        said = f"rule {rule.name!r}"
        if (rule.gateways is None) == (rule.split is None):
            raise ValueError(
                f"{said} must have exactly one of `gateways` (tried in that order) and `split`"
                f" (gateway -> percentage) - at `{at}`"
            )
        key = "gateways" if rule.gateways is not None else "split"
        named = rule.named
        if not named:
            raise ValueError(f"{said} names no gateway - at `{at}.{key}`")
        if len(set(named)) != len(named):
            raise ValueError(f"{said} names a gateway twice - at `{at}.{key}`")
        unknown = [name for name in named if name not in gateways]
        if unknown:
            raise ValueError(
                f"{said} names {', '.join(repr(name) for name in unknown)}, which"
                f" {'is' if len(unknown) == 1 else 'are'} not configured (gateways:"
                f" {', '.join(gateways) or 'none'}) - at `{at}.{key}`"
            )
        if rule.split is not None and sum(rule.split.values()) != 100:
            raise ValueError(
                f"{said}: its split adds up to {sum(rule.split.values())}, not 100"
                f" - at `{at}.split`"
            )
        _check_match(rule.match, said, f"{at}.match")


def _check_match(match: RuleMatch, said: str, at: str) -> None:
    if (
        match.amount_min is not None
        and match.amount_max is not None
        and match.amount_min >= match.amount_max
    ):
        raise ValueError(
            f"{said}: amount_min ({match.amount_min}) must be below amount_max"
            f" ({match.amount_max}), which is exclusive - at `{at}.amount_min`"
        )
    for key, values in (("currencies", match.currencies), ("merchants", match.merchants)):
        if values is not None and not values:
            raise ValueError(
                f"{said}: an empty list matches no payment; leave `{key}` out to match every"
                f" payment - at `{at}.{key}`"
            )
    for code in match.currencies or ():
        if not is_currency(code):
            raise ValueError(
                f"{said}: {code!r} is not an ISO 4217 currency code - at `{at}.currencies`"
            )
    for key, wanted in match.metadata.items():
        if not _values(wanted):
            raise ValueError(f"{said}: an empty list matches no payment - at `{at}.metadata.{key}`")


class ConfiguredGateway(NamedTuple):
    """What a rule's warnings need to know of a configured gateway."""

    enabled: bool
    currencies: frozenset[str]
    manual_capture: bool


def rule_warnings(
    rules: Sequence[RoutingRule],
    gateways: Mapping[str, ConfiguredGateway],
    merchants: Collection[str] | None,
) -> list[str]:
    """What makes a rule never match, or never send a payment to its gateways: a rule before it
    that matches every payment it would, merchants no payment can have (``merchants``: those
    with API keys; None while the client API is open, when payments have none), its gateways
    disabled or taking none of its currencies, or none of them taking manual capture."""
    found: list[str] = []
    for index, rule in enumerate(rules):
        said = f"rule {rule.name}"
        match = rule.match
        shadow = next((before for before in rules[:index] if before.match.covers(match)), None)
        if shadow is not None:
            found.append(
                f"{said} never matches: rule {shadow.name} before it matches every payment it would"
            )
            continue
        if match.merchants is not None:
            if merchants is None:
                found.append(
                    f"{said} never matches: the client API is open, so payments have no merchant"
                )
                continue
            missing = [name for name in match.merchants if name not in merchants]
            if len(missing) == len(match.merchants):
                found.append(
                    f"{said} never matches: no merchant it names has API keys"
                    f" ({', '.join(missing)})"
                )
                continue
            if missing:
                found.append(f"{said}: merchant {', '.join(missing)} has no API keys here")
        sending = [name for name in rule.named if rule.split is None or rule.split[name] > 0]
        enabled = [name for name in sending if gateways[name].enabled]
        disabled = [name for name in sending if not gateways[name].enabled]
        if disabled:
            found.append(f"{said}: {', '.join(disabled)} disabled (enabled = false): skipped")
        if not enabled:
            found.append(f"{said} never sends a payment to its gateways: none is enabled")
            continue
        takes = set().union(*(gateways[name].currencies for name in enabled))
        if match.currencies is not None:
            untaken = [code for code in match.currencies if code not in takes]
            if len(untaken) == len(match.currencies):
                found.append(
                    f"{said} never sends a payment to its gateways: none of"
                    f" {', '.join(enabled)} takes {', '.join(untaken)}"
                )
                continue
            if untaken:
                found.append(
                    f"{said}: none of {', '.join(enabled)} takes {', '.join(untaken)}; such"
                    " payments go "
                    + ("by the strategy" if rule.fallback else "nowhere (fallback = false)")
                )
        if match.capture is CaptureMode.MANUAL and not any(
            gateways[name].manual_capture for name in enabled
        ):
            found.append(
                f"{said} never sends a payment to its gateways: none of {', '.join(enabled)}"
                " declares manual capture"
            )
    return found
