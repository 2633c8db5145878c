"""The comparison the routing benchmark measures ours against: the success-rate routing that
Juspay's decision engine (the router behind Hyperswitch) publishes as its v3, with its
documented defaults, and its elimination. Written for the bench from the published
description; it is not platform code.

- **Score**: per gateway and segment, the last ``bucket_size`` outcomes (default 125); the
  score is successes / ``bucket_size``. A gateway nothing is known of scores 1.0 (its window
  starts full of successes), so a new gateway is tried at once.
- **Hedging** (default 5%): with that probability the leader is scored 0.5 and every other
  gateway 1.0, so another gateway (drawn among the others, who tie) goes first.
- **Elimination**: a leaky bucket per gateway for one failure type, "unavailable" (declines
  are the score's business: at 20 payments a second every gateway declines more than five in
  five minutes). A gateway is eliminated while ``elimination_failures`` failures (default 5)
  are in its bucket; each leaks out ``leak_seconds`` (default 300) after it went in. An
  eliminated gateway is put last rather than removed, so a payment that finds every other
  gateway unavailable may still try it.

Outcomes are recorded as each payment ends (the engine's score update), not in batches.
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True, kw_only=True)
class SuccessRateV3Policy:
    """The published defaults."""

    bucket_size: int = 125
    hedging: float = 0.05
    elimination_failures: int = 5
    leak_seconds: float = 300.0


class SuccessRateV3:
    """Orders gateways by their success over their last outcomes; learns from each one."""

    def __init__(self, policy: SuccessRateV3Policy, rng: random.Random) -> None:
        self.policy = policy
        self._rng = rng
        self._windows: dict[tuple[str, str], deque[bool]] = {}
        self._successes: dict[tuple[str, str], int] = {}
        self._buckets: dict[str, deque[float]] = {}

    def score(self, gateway: str, segment: str) -> float:
        """Successes over the window's size; 1.0 before any outcome."""
        successes = self._successes.get((gateway, segment))
        if successes is None:
            return 1.0
        return successes / self.policy.bucket_size

    def eliminated(self, gateway: str, now: float) -> bool:
        """Whether the gateway's bucket is full at ``now`` (what leaked is let out first)."""
        bucket = self._buckets.get(gateway)
        if not bucket:
            return False
        while bucket and bucket[0] <= now - self.policy.leak_seconds:
            bucket.popleft()
        return len(bucket) >= self.policy.elimination_failures

    def order(self, gateways: Sequence[str], segment: str, now: float) -> list[str]:
        """The gateways to try, first to last, for a payment in ``segment``."""
        live: list[str] = []
        eliminated: list[str] = []
        for gateway in gateways:
            (eliminated if self.eliminated(gateway, now) else live).append(gateway)
        # Equal scores are ordered at random (a new gateway ties with another at 1.0).
        ranked = sorted(
            live,
            key=lambda gateway: (self.score(gateway, segment), self._rng.random()),
            reverse=True,
        )
        if len(ranked) > 1 and self._rng.random() < self.policy.hedging:
            leader, others = ranked[0], ranked[1:]
            self._rng.shuffle(others)
            ranked = [*others, leader]
        return ranked + eliminated

    def record(
        self, gateway: str, segment: str, *, accepted: bool, unavailable: bool, now: float
    ) -> None:
        """One call's outcome: into the score's window, and a failure into the bucket."""
        key = (gateway, segment)
        window = self._windows.get(key)
        if window is None:
            window = self._windows[key] = deque([True] * self.policy.bucket_size)
            self._successes[key] = self.policy.bucket_size
        window.append(accepted)
        self._successes[key] += accepted - window.popleft()
        if unavailable:
            self._buckets.setdefault(gateway, deque()).append(now)
