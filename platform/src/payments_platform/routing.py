"""The routing chain: which gateways may take a payment, and in which order. Pure; no I/O.

Candidates are the enabled gateways that support the currency. ``weighted`` orders them by a
weighted random permutation, the weight being the configured weight times the gateway's recent
health, so traffic moves off a degrading gateway before its breaker trips. ``priority`` keeps the
configured order. Either way a gateway whose breaker refuses calls is skipped at call time, and
only ``GatewayUnavailable`` moves on to the next candidate (the caller enforces that).
"""

from __future__ import annotations

import enum
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import msgspec

from payments_platform.breaker import BreakerState, CircuitBreaker


class Strategy(enum.StrEnum):
    """How the chain orders its candidates."""

    WEIGHTED = "weighted"
    PRIORITY = "priority"


@dataclass(frozen=True, kw_only=True)
class Route:
    """One enabled gateway as the chain sees it."""

    name: str
    currencies: frozenset[str]
    weight: float
    breaker: CircuitBreaker


class CandidateView(msgspec.Struct, frozen=True, kw_only=True):
    """A candidate at the moment of the decision, as recorded and traced."""

    gateway: str
    weight: float
    health: float
    effective_weight: float
    breaker: BreakerState
    share: float
    """The chance of being tried first (weighted) or 1 for the first in config order."""


class LeftOut(msgspec.Struct, frozen=True, kw_only=True):
    """A gateway of the currency the payment may not go to, and why."""

    gateway: str
    reason: str


class RouteDecision(msgspec.Struct, frozen=True, kw_only=True):
    """The ordered candidates for one payment, with what the choice was based on."""

    strategy: Strategy
    currency: str
    order: tuple[CandidateView, ...]
    skipped: tuple[CandidateView, ...]
    """Candidates left out because their breaker refused calls when the decision was made."""
    left_out: tuple[LeftOut, ...] = ()
    """Gateways of the currency that cannot do what the payment needs (manual capture)."""

    def reason(self, position: int, previous_failures: Sequence[str]) -> str:
        """Explain, for humans, why the candidate at ``position`` is being tried."""
        view = self.order[position]
        if self.strategy is Strategy.WEIGHTED:
            why = (
                f"weighted choice (share {view.share:.2f} = weight {view.weight:g}"
                f" x health {view.health:.2f})"
            )
        else:
            why = f"priority {position + 1} in config order"
        why += f", breaker {view.breaker}"
        if previous_failures:
            why += "; failover after " + ", ".join(previous_failures)
        return why


class RoutingTable:
    """The enabled gateways and their breakers, in config order."""

    def __init__(
        self, routes: Sequence[Route], strategy: Strategy, rng: random.Random | None = None
    ) -> None:
        self.routes = tuple(routes)
        self.strategy = strategy
        # Not for security: weighted routing only needs a well-spread, seedable source.
        self._rng = rng or random.Random()  # noqa: S311
        self._by_name = {route.name: route for route in self.routes}

    def breaker(self, name: str) -> CircuitBreaker:
        """The circuit breaker of gateway ``name``; KeyError if it is not enabled."""
        return self._by_name[name].breaker

    def supports(self, currency: str, unable: Mapping[str, str] | None = None) -> bool:
        """Tell whether any enabled gateway takes ``currency``, healthy or not (and is not
        one of ``unable``)."""
        return any(
            currency in route.currencies and route.name not in (unable or {})
            for route in self.routes
        )

    def decide(self, currency: str, unable: Mapping[str, str] | None = None) -> RouteDecision:
        """Order the candidates for a payment in ``currency``; ``unable`` names the gateways
        that cannot do what the payment needs, with why (they are left out, and said to be)."""
        available: list[tuple[Route, CandidateView]] = []
        skipped: list[CandidateView] = []
        left_out: list[LeftOut] = []
        for route in self.routes:
            if currency not in route.currencies:
                continue
            if unable and route.name in unable:
                left_out.append(LeftOut(gateway=route.name, reason=unable[route.name]))
                continue
            health = route.breaker.snapshot().health
            state = route.breaker.state
            view = CandidateView(
                gateway=route.name,
                weight=route.weight,
                health=health,
                effective_weight=route.weight * health,
                breaker=state,
                share=0.0,
            )
            if route.breaker.allows_calls():
                available.append((route, view))
            else:
                skipped.append(view)
        if self.strategy is Strategy.WEIGHTED:
            ordered = self._weighted_order([view for _, view in available])
        else:
            ordered = [
                msgspec.structs.replace(view, share=1.0 if index == 0 else 0.0)
                for index, (_, view) in enumerate(available)
            ]
        return RouteDecision(
            strategy=self.strategy,
            currency=currency,
            order=tuple(ordered),
            skipped=tuple(skipped),
            left_out=tuple(left_out),
        )

    def _weighted_order(self, views: list[CandidateView]) -> list[CandidateView]:
        total = sum(view.effective_weight for view in views)
        if total <= 0:
            return views
        # Efraimidis-Spirakis: sorting by u ** (1 / w) draws a weighted permutation, so the
        # first pick follows the weights and the failover order does too.
        keyed = [
            (self._rng.random() ** (1.0 / view.effective_weight), view)
            for view in views
            if view.effective_weight > 0
        ]
        keyed.sort(key=lambda pair: pair[0], reverse=True)
        return [
            msgspec.structs.replace(view, share=view.effective_weight / total) for _, view in keyed
        ]
