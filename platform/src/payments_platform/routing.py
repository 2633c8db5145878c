"""The routing chain: which gateways may take a payment, and in which order. Pure; no I/O.

Candidates are the enabled gateways that support the currency (and can do what the payment
needs). ``adaptive`` orders them by the success rate every process learned for the payment's
segment (:mod:`payments_platform.scoring`) times the gateway's health in this process: the
leaders (within ``tolerance`` of the best) share the first place by their configured weights,
a small ``exploration`` share goes first to a gateway whose score is too uncertain to rule it
out, and a gateway whose recent calls mostly failed is tried last. ``weighted`` orders them by
a weighted random permutation, the weight being the configured weight times the gateway's
recent health, so traffic moves off a degrading gateway before its breaker trips. ``priority``
keeps the configured order. Whatever the strategy, a gateway whose breaker refuses calls is
skipped at call time, and only ``GatewayUnavailable`` moves on to the next candidate (the
caller enforces that).

Before the strategy, the first ``[[routing.rules]]`` entry the payment meets
(:mod:`payments_platform.routing_rules`) puts its own gateways first; the strategy orders the
other candidates after them.
"""

from __future__ import annotations

import enum
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import msgspec
from payments_plugins import CaptureMode

from payments_platform.breaker import BreakerState, CircuitBreaker
from payments_platform.routing_rules import RoutingRule, order_by_rules
from payments_platform.scoring import Score, ScoreBoard, ScorePolicy, Segment, segment_of


class Strategy(enum.StrEnum):
    """How the chain orders its candidates."""

    ADAPTIVE = "adaptive"
    WEIGHTED = "weighted"
    PRIORITY = "priority"


class PaymentFacts(msgspec.Struct, frozen=True, kw_only=True):
    """What routing knows of a payment: what rules match and segments are made of."""

    currency: str
    amount_minor: int
    capture: CaptureMode = CaptureMode.AUTOMATIC
    merchant: str | None = None
    metadata: dict[str, str] = msgspec.field(default_factory=dict)


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
    """The chance of being tried first (weighted, adaptive) or 1 for the first in config
    order."""
    score: float | None = None
    """The learned success rate (adaptive), None when nothing is learned yet."""
    samples: int = 0
    """The attempts the score is learned from."""
    scored_in: str | None = None
    """The segment the score was learned in."""
    eliminated: bool = False
    """Its recent calls mostly failed: tried last (adaptive)."""
    by_rule: str | None = None
    """Why the decision's rule put it at the head of the order; None when the strategy placed
    it (its ``share`` is then its chance of leading the candidates the strategy ordered)."""


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
    segment: str | None = None
    """The payment's segment, as scores are learned in (adaptive)."""
    explored: bool = False
    """The first candidate was chosen to explore (adaptive), not as the leader."""
    rule: str | None = None
    """The name of the routing rule the payment met; None when it met none."""

    def reason(self, position: int, previous_failures: Sequence[str]) -> str:
        """Explain, for humans, why the candidate at ``position`` is being tried."""
        if self.rule is not None:
            return self._ruled_reason(position, previous_failures)
        view = self.order[position]
        if self.strategy is Strategy.ADAPTIVE:
            learned = (
                "nothing learned yet"
                if view.score is None
                else f"success {view.score:.2f} over {view.samples} attempt(s) in {view.scored_in}"
            )
            if view.eliminated:
                why = f"tried last: its recent calls mostly failed ({learned})"
            elif position == 0 and self.explored:
                why = f"exploring (share {view.share:.2f}; {learned})"
            else:
                why = f"adaptive rank {position + 1} (share {view.share:.2f}; {learned})"
            why += f", health {view.health:.2f}"
        elif self.strategy is Strategy.WEIGHTED:
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

    def _ruled_reason(self, position: int, previous_failures: Sequence[str]) -> str:
        """``rule <name>: ...``: why the rule put the candidate first, or, for one the
        strategy placed after the rule's, the strategy's reason among those it ordered."""
        view = self.order[position]
        if view.by_rule is not None:
            why = f"{view.by_rule}, breaker {view.breaker}"
        else:
            head = sum(1 for candidate in self.order if candidate.by_rule is not None)
            ordered = msgspec.structs.replace(self, rule=None, order=self.order[head:])
            why = "fallback, " + ordered.reason(position - head, ())
        why = f"rule {self.rule}: {why}"
        if previous_failures:
            why += "; failover after " + ", ".join(previous_failures)
        return why


class RoutingTable:
    """The enabled gateways and their breakers, in config order."""

    def __init__(
        self,
        routes: Sequence[Route],
        strategy: Strategy,
        rng: random.Random | None = None,
        scores: ScoreBoard | None = None,
        rules: Sequence[RoutingRule] = (),
    ) -> None:
        self.routes = tuple(routes)
        self.strategy = strategy
        self.rules = tuple(rules)
        """``[[routing.rules]]``, in order: the first the payment meets goes before the
        strategy."""
        # Not for security: weighted routing only needs a well-spread, seedable source.
        self._rng = rng or random.Random()  # noqa: S311
        self._by_name = {route.name: route for route in self.routes}
        self.scores = scores or ScoreBoard(ScorePolicy())
        """What every process's attempts taught (refreshed in the background)."""

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

    def decide(self, facts: PaymentFacts, unable: Mapping[str, str] | None = None) -> RouteDecision:
        """Order the candidates for a payment; ``unable`` names the gateways that cannot do
        what the payment needs, with why (they are left out, and said to be)."""
        currency = facts.currency
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
        rule, first, available = self._apply_rules(facts, available, left_out)
        segment: Segment | None = None
        explored = False
        if self.strategy is Strategy.ADAPTIVE:
            segment = segment_of(self.scores.policy, currency, facts.amount_minor, facts.metadata)
            ordered, explored = self._adaptive_order(
                [view for _, view in available], segment, self.scores.eliminated(currency)
            )
        elif self.strategy is Strategy.WEIGHTED:
            ordered = self._weighted_order([view for _, view in available])
        else:
            ordered = [
                msgspec.structs.replace(view, share=1.0 if index == 0 else 0.0)
                for index, (_, view) in enumerate(available)
            ]
        return RouteDecision(
            strategy=self.strategy,
            currency=currency,
            order=(*first, *ordered),
            skipped=tuple(skipped),
            left_out=tuple(left_out),
            segment=None if segment is None else segment.label(self.scores.policy),
            explored=explored,
            rule=rule,
        )

    def _apply_rules(
        self,
        facts: PaymentFacts,
        available: list[tuple[Route, CandidateView]],
        left_out: list[LeftOut],
    ) -> tuple[str | None, list[CandidateView], list[tuple[Route, CandidateView]]]:
        """The first rule the payment meets, if any: its name, the candidates it puts first
        (each with its share and why), and those left for the strategy to order; the
        candidates it sends nowhere are added to ``left_out``."""
        if not self.rules:
            return None, [], available
        ruled = order_by_rules(
            self.rules, facts, [view.gateway for _, view in available], self._rng
        )
        if ruled.rule is None:
            return None, [], available
        by_name = {view.gateway: view for _, view in available}
        first = [
            msgspec.structs.replace(by_name[choice.gateway], share=choice.share, by_rule=choice.why)
            for choice in ruled.first
        ]
        left_out += [LeftOut(gateway=name, reason=why) for name, why in ruled.excluded]
        rest = [pair for pair in available if pair[1].gateway in ruled.rest]
        return ruled.rule.name, first, rest

    def _adaptive_order(
        self, views: list[CandidateView], segment: Segment, eliminated: Sequence[str]
    ) -> tuple[list[CandidateView], bool]:
        """The leaders first (drawn by weight), the others by score, the eliminated last; and
        whether the first was put there to explore."""
        policy = self.scores.policy
        scored: list[tuple[float, CandidateView, Score | None]] = []
        last: list[CandidateView] = []
        for candidate in views:
            score = self.scores.score(candidate.gateway, segment)
            view = msgspec.structs.replace(
                candidate,
                score=None if score is None else score.rate,
                samples=0 if score is None else score.samples,
                scored_in=None if score is None else score.segment.label(policy),
                eliminated=candidate.gateway in eliminated,
            )
            if view.eliminated:
                last.append(view)
            else:
                rate = policy.prior_rate if score is None else score.rate
                scored.append((rate * view.health, view, score))
        if not scored:
            return self._shares(last, {}), False
        best = max(value for value, _, _ in scored)
        leaders = [view for value, view, _ in scored if value >= best - policy.tolerance]
        # A leader weighted 0 (or with no health left) still leads the others, after its peers.
        leading = self._weighted_order(leaders, share=False)
        leading += [view for view in leaders if view.effective_weight <= 0]
        rest = sorted(
            (entry for entry in scored if entry[0] < best - policy.tolerance),
            key=lambda entry: entry[0],
            reverse=True,
        )
        # Worth exploring: a gateway not among the leaders that may yet be the best, because
        # little is known of it or its optimistic bound still reaches the best.
        explorable = [
            view
            for value, view, score in rest
            if score is None
            or score.samples < policy.min_segment_samples
            or score.upper(policy) * view.health >= best
        ]
        ordered = leading + [view for _, view, _ in rest]
        first_share = self._leader_shares(leaders)
        explored = False
        if explorable and self._rng.random() < policy.exploration:
            chosen = explorable[self._rng.randrange(len(explorable))]
            ordered.remove(chosen)
            ordered.insert(0, chosen)
            explored = True
        shares = {
            view.gateway: (1 - policy.exploration) * first_share.get(view.gateway, 0.0)
            if explorable
            else first_share.get(view.gateway, 0.0)
            for view in ordered
        }
        for view in explorable:
            shares[view.gateway] += policy.exploration / len(explorable)
        return self._shares(ordered + last, shares), explored

    @staticmethod
    def _leader_shares(leaders: list[CandidateView]) -> dict[str, float]:
        total = sum(view.weight for view in leaders)
        if total <= 0:
            return {view.gateway: 1 / len(leaders) for view in leaders}
        return {view.gateway: view.weight / total for view in leaders}

    @staticmethod
    def _shares(views: list[CandidateView], shares: dict[str, float]) -> list[CandidateView]:
        return [
            msgspec.structs.replace(view, share=shares.get(view.gateway, 0.0)) for view in views
        ]

    def _weighted_order(
        self, views: list[CandidateView], *, share: bool = True
    ) -> list[CandidateView]:
        """A weighted random permutation by effective weight (``share``: each view's share of
        the first place set)."""
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
        if not share:
            return [view for _, view in keyed]
        return [
            msgspec.structs.replace(view, share=view.effective_weight / total) for _, view in keyed
        ]
