"""Micro-benchmark of the routing decision alone: ``RoutingTable.decide`` among N gateways."""

from __future__ import annotations

import functools
import random
import statistics
import time
import timeit

import msgspec
from payments_platform.breaker import BreakerPolicy, CircuitBreaker
from payments_platform.routing import PaymentFacts, Route, RoutingTable, Strategy
from payments_platform.scoring import ScoreBoard, Tally, segment_of

CURRENCY = "AED"
FACTS = PaymentFacts(currency=CURRENCY, amount_minor=12_500)
CALLS_PER_ROUND = 2_000
ROUNDS = 9


class RoutingSpeed(msgspec.Struct, frozen=True, kw_only=True):
    """Microseconds per ``decide`` call: the median and the best of the timed rounds."""

    strategy: str
    gateways: int
    median_us: float
    best_us: float


def routing_table(gateways: int, strategy: Strategy) -> RoutingTable:
    """A table of ``gateways`` routes taking the same currency, with outcomes in every window.

    Weights differ and some calls failed, so that health factors and weights are all at work;
    no breaker is open, so every gateway is a candidate. Its score board is filled as a busy
    deployment's is (:func:`fill_scores`), so the adaptive strategy does all it does in
    production.
    """
    policy = BreakerPolicy()
    routes = []
    for index in range(gateways):
        breaker = CircuitBreaker(policy, time.monotonic)
        for call in range(20):
            if call % (index + 3) == 0:
                breaker.record_failure()
            else:
                breaker.record_success()
        routes.append(
            Route(
                name=f"gateway-{index}",
                currencies=frozenset({CURRENCY, "USD"}),
                weight=1.0 + index,
                breaker=breaker,
            )
        )
    table = RoutingTable(routes, strategy, random.Random(6))  # noqa: S311 - not for security
    fill_scores(table.scores, gateways)
    return table


def fill_scores(board: ScoreBoard, gateways: int) -> None:
    """Score every gateway in the payment's segment over a minute of refreshes, the last one
    failing enough to be eliminated."""
    policy = board.policy
    segment = segment_of(policy, CURRENCY, FACTS.amount_minor, FACTS.metadata)
    for step in range(30):
        tallies = [
            Tally(
                f"gateway-{index}",
                segment,
                accepted=0 if index == gateways - 1 else 20 - index,
                declined=index,
                failed=10 if index == gateways - 1 else 0,
            )
            for index in range(gateways)
        ]
        board.add(tallies, step * policy.refresh_seconds)


def measure_routing(gateways: int = 10) -> list[RoutingSpeed]:
    """Time ``decide`` for each strategy."""
    speeds = []
    for strategy in Strategy:
        table = routing_table(gateways, strategy)
        decision = table.decide(FACTS)
        if len(decision.order) != gateways:
            raise RuntimeError(f"expected {gateways} candidates, got {len(decision.order)}")
        if strategy is Strategy.ADAPTIVE and not decision.order[-1].eliminated:
            raise RuntimeError("the failing gateway should have been eliminated")
        timer = timeit.Timer(functools.partial(table.decide, FACTS))
        timer.timeit(CALLS_PER_ROUND)  # warm caches
        rounds = [
            seconds / CALLS_PER_ROUND * 1e6
            for seconds in timer.repeat(repeat=ROUNDS, number=CALLS_PER_ROUND)
        ]
        speeds.append(
            RoutingSpeed(
                strategy=strategy.value,
                gateways=gateways,
                median_us=statistics.median(rounds),
                best_us=min(rounds),
            )
        )
    return speeds
