"""The synthetic gateways of the routing benchmark and the scenarios it runs them through.

A gateway accepts a payment with a probability that depends on the payment's currency and on
the simulated time: a base rate per currency, changed by episodes (a degradation, an outage, a
storm of declines). While an episode says it is down, every call finds it unavailable. Times
are in seconds of simulated time; ``scale`` compresses a scenario's whole timeline (a smoke
run plays each in a minute or so).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import NamedTuple

MINUTE = 60.0


class Episode(NamedTuple):
    """From ``start`` to ``end`` a gateway accepts at ``rate`` (None: it is down)."""

    start: float
    end: float
    rate: float | None
    currency: str | None = None
    """Only this currency's payments; None: every currency."""


@dataclass(frozen=True, kw_only=True)
class SyntheticGateway:
    """A vendor whose acceptance rate the scenario dictates."""

    name: str
    rates: Mapping[str, float]
    """The acceptance probability per currency when no episode says otherwise."""
    episodes: tuple[Episode, ...] = ()
    joins_at: float = 0.0
    """When the operator enables it (a new gateway added mid-run)."""

    def rate(self, at: float, currency: str) -> float | None:
        """The probability of acceptance at ``at`` for ``currency``; None when it is down."""
        rate: float | None = self.rates[currency]
        for episode in self.episodes:
            if episode.start <= at < episode.end and episode.currency in (None, currency):
                rate = episode.rate
        return rate


@dataclass(frozen=True, kw_only=True)
class Scenario:
    """Gateways (in the operator's priority order) and the payments sent to them."""

    key: str
    title: str
    gateways: tuple[SyntheticGateway, ...]
    currencies: tuple[str, ...]
    """Each payment's currency is drawn uniformly from these."""
    seconds: float
    warmup_seconds: float
    """Run but not counted: a deployment routes warm (its scores are read from the database)."""


def scenarios(scale: float = 1.0) -> tuple[Scenario, ...]:
    """The six scenarios, each 40 simulated minutes after 5 of warm-up (times times
    ``scale``)."""

    def minutes(value: float) -> float:
        return value * MINUTE * scale

    def steady(
        name: str, rate: float, *episodes: Episode, joins_at: float = 0.0
    ) -> SyntheticGateway:
        return SyntheticGateway(
            name=name, rates={"USD": rate}, episodes=episodes, joins_at=joins_at
        )

    warmup, length = minutes(5), minutes(45)
    flaps = tuple(Episode(minutes(start), minutes(start + 2), None) for start in range(15, 35, 4))
    return (
        Scenario(
            key="degradation",
            title="A degrades from 95% to 60% for ten minutes, then recovers",
            gateways=(
                steady("A", 0.95, Episode(minutes(15), minutes(25), 0.60)),
                steady("B", 0.90),
                steady("C", 0.85),
            ),
            currencies=("USD",),
            seconds=length,
            warmup_seconds=warmup,
        ),
        Scenario(
            key="flapping",
            title="A (the best) goes down and up every two minutes, for twenty minutes",
            gateways=(steady("A", 0.95, *flaps), steady("B", 0.90), steady("C", 0.85)),
            currencies=("USD",),
            seconds=length,
            warmup_seconds=warmup,
        ),
        Scenario(
            key="outage",
            title="A (the best) is down for ten minutes",
            gateways=(
                steady("A", 0.95, Episode(minutes(15), minutes(25), None)),
                steady("B", 0.90),
                steady("C", 0.85),
            ),
            currencies=("USD",),
            seconds=length,
            warmup_seconds=warmup,
        ),
        Scenario(
            key="currencies",
            title="A takes 95% of USD but 60% of AED; B and C are better for AED",
            gateways=(
                SyntheticGateway(name="A", rates={"USD": 0.95, "AED": 0.60}),
                SyntheticGateway(name="B", rates={"USD": 0.88, "AED": 0.90}),
                SyntheticGateway(name="C", rates={"USD": 0.85, "AED": 0.86}),
            ),
            currencies=("USD", "AED"),
            seconds=length,
            warmup_seconds=warmup,
        ),
        Scenario(
            key="newcomer",
            title="D, better than the others (96%), is enabled after 15 minutes",
            gateways=(
                steady("A", 0.90),
                steady("B", 0.88),
                steady("C", 0.85),
                steady("D", 0.96, joins_at=minutes(15)),
            ),
            currencies=("USD",),
            seconds=length,
            warmup_seconds=warmup,
        ),
        Scenario(
            key="decline_storm",
            title="A's issuers decline 70% of its payments for four minutes (soft declines)",
            gateways=(
                steady("A", 0.95, Episode(minutes(15), minutes(19), 0.30)),
                steady("B", 0.90),
                steady("C", 0.85),
            ),
            currencies=("USD",),
            seconds=length,
            warmup_seconds=warmup,
        ),
    )


SCENARIO_KEYS = tuple(scenario.key for scenario in scenarios())
