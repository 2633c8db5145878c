"""Bounds for counting how often something with a known chance happened, which a correct
implementation leaves with a chance below ``tail``: tests of random draws that cannot flake."""

from __future__ import annotations

import math


def binomial_bounds(trials: int, chance: float, tail: float = 1e-6) -> tuple[int, int]:
    """The widest ``(low, high)`` range of successes out of ``trials`` outside which each side
    holds at most ``tail / 2`` of the exact binomial probability."""

    def probability(successes: int) -> float:
        return math.exp(
            math.lgamma(trials + 1)
            - math.lgamma(successes + 1)
            - math.lgamma(trials - successes + 1)
            + successes * math.log(chance)
            + (trials - successes) * math.log1p(-chance)
        )

    low, below = 0, 0.0
    while below + probability(low) <= tail / 2:
        below += probability(low)
        low += 1
    high, above = trials, 0.0
    while above + probability(high) <= tail / 2:
        above += probability(high)
        high -= 1
    return low, high
