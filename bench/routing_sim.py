"""One simulated run of a routing strategy through a scenario, against the oracle.

Payments arrive at a fixed rate of simulated time. Each is routed, and its candidates are
called in order as the platform's failover loop calls them (``usecases/failover.py``): a
candidate whose breaker refuses a permit is skipped; a call to a gateway that is down finds it
unavailable and the next candidate is tried; otherwise the gateway accepts with its current
probability or declines, and the payment ends there (a decline is never sent elsewhere).

The platform's strategies run on the real code: ``RoutingTable.decide`` with real circuit
breakers and a real ``ScoreBoard`` on a simulated clock. The breakers are those of one
process; every ``refresh_seconds`` the attempts that finished up to ``refresh_lag_seconds``
ago are added to the board as tallies per gateway and segment, as the background refresh adds
what it reads from the database (``score_refresh.py``). The decision engine's algorithm
(``bench/decision_engine.py``) decides from its own state and learns from every outcome as it
happens; it does not use our breakers (its elimination is its own).

The oracle sends every payment to the gateway with the highest acceptance probability for
its segment at that moment (a gateway that is down has none). A strategy's **regret** is the
oracle's probability minus the probability of the gateway that answered (0 when none did),
averaged over payments: the expected shortfall, free of the coin flips' noise. Every
strategy sees the same payments and the same draws (common random numbers).
"""

from __future__ import annotations

import enum
import random
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from payments_platform.breaker import BreakerPolicy, CircuitBreaker
from payments_platform.routing import PaymentFacts, Route, RoutingTable, Strategy
from payments_platform.scoring import ScoreBoard, ScorePolicy, Segment, Tally, segment_of

from bench.decision_engine import SuccessRateV3, SuccessRateV3Policy
from bench.routing_world import Scenario, SyntheticGateway

PAYMENTS_PER_SECOND = 20.0
AMOUNT_MINOR = 12_500
DECISION_ENGINE = "decision_engine"
STRATEGIES = (
    Strategy.PRIORITY.value,
    Strategy.WEIGHTED.value,
    DECISION_ENGINE,
    Strategy.ADAPTIVE.value,
)
"""Every strategy a run compares, in the order the table shows them."""


class Outcome(enum.Enum):
    """What one call to a gateway ended with."""

    ACCEPTED = "accepted"
    DECLINED = "declined"
    UNAVAILABLE = "unavailable"


class SimClock:
    """Simulated time, read by the breakers as their clock."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class Router(Protocol):
    """A strategy as the simulation drives it."""

    decide_cpu_seconds: float
    """CPU spent choosing the order (``time.process_time`` around each decision)."""
    decisions: int

    def enable(self, gateways: Sequence[SyntheticGateway]) -> None:
        """The gateways the operator has enabled now."""

    def refresh(self, now: float) -> None:
        """Time passed up to ``now`` (the background refresh runs when due)."""

    def order(self, facts: PaymentFacts) -> Sequence[str]:
        """The candidates for a payment, first to last."""

    def permit(self, gateway: str) -> bool:
        """Whether a call to ``gateway`` may be made now (its breaker's permit)."""

    def record(self, gateway: str, facts: PaymentFacts, outcome: Outcome) -> None:
        """What the call ended with."""


class PlatformRouter:
    """One process of the platform: its routing table, breakers and score board."""

    def __init__(
        self, strategy: Strategy, policy: ScorePolicy, clock: SimClock, rng: random.Random
    ) -> None:
        self.strategy = strategy
        self.policy = policy
        self.board = ScoreBoard(policy)
        self.decide_cpu_seconds = 0.0
        self.decisions = 0
        self._clock = clock
        self._rng = rng
        self._breakers: dict[str, CircuitBreaker] = {}
        self._table = RoutingTable([], strategy, rng, self.board)
        self._finished: deque[tuple[float, str, Segment, Outcome]] = deque()
        self._next_refresh = 0.0
        # Only the adaptive strategy reads the board; the others need no refresh.
        self._learns = strategy is Strategy.ADAPTIVE

    def enable(self, gateways: Sequence[SyntheticGateway]) -> None:
        routes = [
            Route(
                name=gateway.name,
                currencies=frozenset(gateway.rates),
                weight=1.0,
                breaker=self._breakers.setdefault(
                    gateway.name, CircuitBreaker(BreakerPolicy(), self._clock)
                ),
            )
            for gateway in gateways
        ]
        self._table = RoutingTable(routes, self.strategy, self._rng, self.board)

    def refresh(self, now: float) -> None:
        while self._learns and self._next_refresh <= now:
            self._add_finished(self._next_refresh - self.policy.refresh_lag_seconds)
            self._next_refresh += self.policy.refresh_seconds

    def _add_finished(self, until: float) -> None:
        counts: dict[tuple[str, Segment], list[int]] = {}
        finished = self._finished
        while finished and finished[0][0] < until:
            _, gateway, segment, outcome = finished.popleft()
            tally = counts.setdefault((gateway, segment), [0, 0, 0])
            if outcome is Outcome.ACCEPTED:
                tally[0] += 1
            elif outcome is Outcome.DECLINED:
                tally[1] += 1
            else:
                tally[2] += 1
        self.board.add(
            [Tally(gateway, segment, *tally) for (gateway, segment), tally in counts.items()],
            until,
        )

    def order(self, facts: PaymentFacts) -> Sequence[str]:
        started = time.process_time()
        decision = self._table.decide(facts)
        self.decide_cpu_seconds += time.process_time() - started
        self.decisions += 1
        return [view.gateway for view in decision.order]

    def permit(self, gateway: str) -> bool:
        return self._table.breaker(gateway).try_acquire()

    def record(self, gateway: str, facts: PaymentFacts, outcome: Outcome) -> None:
        breaker = self._table.breaker(gateway)
        if outcome is Outcome.UNAVAILABLE:
            breaker.record_failure()
        else:
            breaker.record_success()
        if self._learns:
            segment = segment_of(self.policy, facts.currency, facts.amount_minor, facts.metadata)
            self._finished.append((self._clock.now, gateway, segment, outcome))


class DecisionEngineRouter:
    """The decision engine's success-rate algorithm, deciding from its own state."""

    def __init__(self, clock: SimClock, rng: random.Random) -> None:
        self.engine = SuccessRateV3(SuccessRateV3Policy(), rng)
        self.decide_cpu_seconds = 0.0
        self.decisions = 0
        self._clock = clock
        self._gateways: tuple[SyntheticGateway, ...] = ()

    def enable(self, gateways: Sequence[SyntheticGateway]) -> None:
        self._gateways = tuple(gateways)

    def refresh(self, now: float) -> None:
        """It learns from each outcome as it happens: nothing to refresh."""

    def order(self, facts: PaymentFacts) -> Sequence[str]:
        started = time.process_time()
        names = [gateway.name for gateway in self._gateways if facts.currency in gateway.rates]
        ordered = self.engine.order(names, facts.currency, self._clock.now)
        self.decide_cpu_seconds += time.process_time() - started
        self.decisions += 1
        return ordered

    def permit(self, gateway: str) -> bool:
        return True

    def record(self, gateway: str, facts: PaymentFacts, outcome: Outcome) -> None:
        self.engine.record(
            gateway,
            facts.currency,
            accepted=outcome is Outcome.ACCEPTED,
            unavailable=outcome is Outcome.UNAVAILABLE,
            now=self._clock.now,
        )


@dataclass(frozen=True, kw_only=True)
class RunTally:
    """What one strategy did in one scenario with one seed (warm-up left out)."""

    payments: int
    accepted: int
    oracle_accepted: int
    """Payments the oracle's gateway would have accepted, on the same draws."""
    regret: float
    """Sum over payments of the oracle's probability minus the answering gateway's."""
    oracle_rate: float
    """Sum over payments of the oracle's probability."""
    calls: int
    unanswered: int
    """Payments no candidate answered (every one unavailable or refused by its breaker)."""
    decide_cpu_seconds: float
    decisions: int


def router_for(strategy: str, clock: SimClock, rng: random.Random, policy: ScorePolicy) -> Router:
    """The router that runs ``strategy`` (one of :data:`STRATEGIES`)."""
    if strategy == DECISION_ENGINE:
        return DecisionEngineRouter(clock, rng)
    return PlatformRouter(Strategy(strategy), policy, clock, rng)


def simulate(
    scenario: Scenario,
    strategy: str,
    seed: int,
    *,
    policy: ScorePolicy | None = None,
    payments_per_second: float = PAYMENTS_PER_SECOND,
    make_router: Callable[[str, SimClock, random.Random, ScorePolicy], Router] = router_for,
) -> RunTally:
    """Run ``strategy`` through ``scenario``; the payments and draws depend on the seed and
    scenario only, so every strategy meets the same ones."""
    clock = SimClock()
    # Not for security: seeded, reproducible simulation draws.
    draws = random.Random(f"{scenario.key}/{seed}")  # noqa: S311
    router = make_router(
        strategy,
        clock,
        random.Random(f"{scenario.key}/{seed}/{strategy}"),  # noqa: S311
        policy or ScorePolicy(),
    )
    facts = {
        currency: PaymentFacts(currency=currency, amount_minor=AMOUNT_MINOR)
        for currency in scenario.currencies
    }
    interval = 1.0 / payments_per_second
    enabled: tuple[SyntheticGateway, ...] = ()
    payments = accepted = oracle_accepted = calls = unanswered = 0
    regret = oracle_rate = 0.0
    cpu_before, decisions_before = 0.0, 0
    counted = False
    for index in range(int(scenario.seconds * payments_per_second)):
        now = clock.now = index * interval
        if not counted and now >= scenario.warmup_seconds:
            counted = True
            cpu_before, decisions_before = router.decide_cpu_seconds, router.decisions
        currency = scenario.currencies[draws.randrange(len(scenario.currencies))]
        draw = draws.random()
        present = tuple(gateway for gateway in scenario.gateways if gateway.joins_at <= now)
        if present != enabled:
            enabled = present
            router.enable(enabled)
        router.refresh(now)
        payment = facts[currency]
        rates = {gateway.name: gateway.rate(now, currency) for gateway in enabled}
        best = max((rate or 0.0) for rate in rates.values())
        answered_rate: float | None = None
        took = False
        tried = 0
        for gateway in router.order(payment):
            if not router.permit(gateway):
                continue
            tried += 1
            rate = rates[gateway]
            if rate is None:
                router.record(gateway, payment, Outcome.UNAVAILABLE)
                continue
            # A decline ends the payment: it is never sent elsewhere.
            took, answered_rate = draw < rate, rate
            router.record(gateway, payment, Outcome.ACCEPTED if took else Outcome.DECLINED)
            break
        if counted:
            payments += 1
            accepted += took
            oracle_accepted += draw < best
            regret += best - (answered_rate or 0.0)
            oracle_rate += best
            calls += tried
            unanswered += answered_rate is None
    return RunTally(
        payments=payments,
        accepted=accepted,
        oracle_accepted=oracle_accepted,
        regret=regret,
        oracle_rate=oracle_rate,
        calls=calls,
        unanswered=unanswered,
        decide_cpu_seconds=router.decide_cpu_seconds - cpu_before,
        decisions=router.decisions - decisions_before,
    )
