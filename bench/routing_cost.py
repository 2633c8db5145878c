"""What routing costs in CPU, measured directly with 10 gateways: one ``decide`` call per
strategy, and the score board's refresh at 1,000 attempts a second.

Both are process CPU (``time.process_time``) over batches, the median of several rounds: the
machine is shared, and CPU moves less than wall time does under a neighbour's load.

- **decide**: ``routing_speed.routing_table`` (10 gateways, mixed weights and breaker health,
  every gateway scored in the payment's segment and one eliminated), as the server bench's
  micro-benchmark times it in wall time.
- **refresh**: ``ScoreBoard.add`` every ``refresh_seconds`` with the tallies of
  ``refresh_seconds`` x 1,000 attempts spread over 10 gateways and 3 currencies, on a board
  whose window is already full (a process that has run for ``window_seconds``); its CPU per
  second of traffic. With the default policy a segment is a currency; the finer policy (amount
  bands and a card network tag) multiplies the segments, and the work, by 16.
"""

from __future__ import annotations

import functools
import random
import statistics
import time
from collections.abc import Callable

import msgspec
from payments_platform.routing import Strategy
from payments_platform.scoring import ScoreBoard, ScorePolicy, Segment, Tally, segment_of

from bench.routing_speed import FACTS, routing_table

GATEWAYS = 10
ATTEMPTS_PER_SECOND = 1_000
CURRENCIES = ("AED", "USD", "EUR")
NETWORKS = ("visa", "mastercard", "amex", "discover")
FINER_POLICY = ScorePolicy(amount_bands=(1_000, 10_000, 100_000), metadata_key="network")
"""Segments by amount band (4) and card network (4): 16 per currency."""


class DecisionCpu(msgspec.Struct, frozen=True, kw_only=True):
    """CPU of one ``decide`` call among ``gateways`` candidates."""

    strategy: str
    gateways: int
    median_us: float
    best_us: float


class RefreshCpu(msgspec.Struct, frozen=True, kw_only=True):
    """CPU of the score board's refresh, per second of traffic."""

    policy: str
    gateways: int
    attempts_per_second: int
    segments: int
    """Segments a gateway is scored in (the currency's own besides)."""
    median_ms_per_second: float
    best_ms_per_second: float
    median_ms_per_add: float


def _rounds(work: Callable[[], object], calls: int, rounds: int) -> list[float]:
    """CPU seconds per call of ``work``, one figure per round of ``calls`` calls."""
    figures = []
    for _ in range(rounds):
        started = time.process_time()
        for _ in range(calls):
            work()
        figures.append((time.process_time() - started) / calls)
    return figures


def measure_decisions(
    gateways: int = GATEWAYS, *, calls: int = 2_000, rounds: int = 9
) -> list[DecisionCpu]:
    """CPU per ``decide`` for each strategy, the adaptive one with a filled score board."""
    figures = []
    for strategy in Strategy:
        table = routing_table(gateways, strategy)
        decision = table.decide(FACTS)
        if len(decision.order) != gateways:
            raise RuntimeError(f"expected {gateways} candidates, got {len(decision.order)}")
        if strategy is Strategy.ADAPTIVE and not decision.order[-1].eliminated:
            raise RuntimeError("the failing gateway should have been eliminated")
        decide = functools.partial(table.decide, FACTS)
        _rounds(decide, calls, 1)  # warm caches
        seconds = _rounds(decide, calls, rounds)
        figures.append(
            DecisionCpu(
                strategy=strategy.value,
                gateways=gateways,
                median_us=statistics.median(seconds) * 1e6,
                best_us=min(seconds) * 1e6,
            )
        )
    return figures


def _segments(policy: ScorePolicy) -> list[tuple[str, Segment]]:
    """Every (currency, segment) a payment can fall in under ``policy``."""
    amounts = [0, *policy.amount_bands]
    tags = NETWORKS if policy.metadata_key else ("",)
    found = {
        segment_of(policy, currency, amount, {policy.metadata_key or "": tag})
        for currency in CURRENCIES
        for amount in amounts
        for tag in tags
    }
    return sorted((segment.currency, segment) for segment in found)


def measure_refresh(
    policy: ScorePolicy,
    label: str,
    *,
    gateways: int = GATEWAYS,
    attempts_per_second: int = ATTEMPTS_PER_SECOND,
    measured_adds: int = 150,
    rounds: int = 5,
    window_fill: float = 1.0,
) -> RefreshCpu:
    """CPU of ``ScoreBoard.add`` per second of traffic, on a board whose window is full
    (``window_fill`` of it, for a short run)."""
    # Not for security: a seeded spread of outcomes.
    rng = random.Random(11)  # noqa: S311
    segments = _segments(policy)
    keys = [(f"gateway-{index}", segment) for index in range(gateways) for _, segment in segments]
    per_refresh = round(attempts_per_second * policy.refresh_seconds)

    def tallies() -> list[Tally]:
        counts = [[0, 0, 0] for _ in keys]
        for _ in range(per_refresh):
            counts[rng.randrange(len(keys))][0 if rng.random() < 0.9 else 1] += 1
        return [
            Tally(gateway, segment, *count)
            for (gateway, segment), count in zip(keys, counts, strict=True)
            if any(count)
        ]

    board = ScoreBoard(policy)
    now = 0.0
    for _ in range(int(policy.window_seconds * window_fill / policy.refresh_seconds)):
        board.add(tallies(), now)
        now += policy.refresh_seconds
    prepared = [[tallies() for _ in range(measured_adds)] for _ in range(rounds)]
    per_add = []
    for batch in prepared:
        started = time.process_time()
        for block in batch:
            board.add(block, now)
            now += policy.refresh_seconds
        per_add.append((time.process_time() - started) / measured_adds)
    per_second = [seconds / policy.refresh_seconds * 1e3 for seconds in per_add]
    return RefreshCpu(
        policy=label,
        gateways=gateways,
        attempts_per_second=attempts_per_second,
        segments=len(segments) // len(CURRENCIES),
        median_ms_per_second=statistics.median(per_second),
        best_ms_per_second=min(per_second),
        median_ms_per_add=statistics.median(per_add) * 1e3,
    )
