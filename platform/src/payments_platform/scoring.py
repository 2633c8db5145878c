"""Success rates learned from every process's attempts, per gateway and segment. Pure; no I/O.

Every process of a deployment stores its attempts in one table; a background task of each
process reads, every few seconds, what finished since it last looked, counted by gateway,
segment and outcome (:mod:`payments_platform.store.attempt_stats`), and adds it here as one
block. So every process routes on what all of them saw, and a process that starts reads the
whole window first: it starts warm.

A gateway's score in a segment is its share of attempts accepted, over its newest blocks until
``max_samples`` attempts or ``window_seconds``, whichever comes first (a busy gateway's score
follows the last few seconds, a quiet one's the last minutes), shrunk towards ``prior_rate`` by
``prior_strength`` pseudo-attempts so that a handful of outcomes does not swing it. A segment
with fewer than ``min_segment_samples`` falls back to the gateway's score for the currency.

Elimination is separate from the score: a gateway whose calls mostly fail (unavailable, or no
usable answer: not a vendor's decline) over the last ``elimination_seconds``, with at least
``elimination_failures`` of them, is tried last. It gets no traffic then, so its failures age
out and it is tried again: a recovery needs no operator.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections import deque
from collections.abc import Iterable, Sequence
from typing import Annotated, NamedTuple

import msgspec

CURRENCY_ONLY = -1
"""The band of a currency's whole segment: every amount and tag."""


class ScorePolicy(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """How scores are learned (the ``[routing.scores]`` table)."""

    window_seconds: Annotated[float, msgspec.Meta(gt=0, le=86_400)] = 300.0
    """The oldest outcome a score reads."""
    max_samples: Annotated[int, msgspec.Meta(ge=10, le=100_000)] = 200
    """A score reads the newest blocks until this many attempts."""
    prior_rate: Annotated[float, msgspec.Meta(ge=0, le=1)] = 0.9
    """What a gateway is believed to take before anything is known of it."""
    prior_strength: Annotated[float, msgspec.Meta(ge=0, le=1000)] = 4.0
    """How many attempts the belief weighs."""
    min_segment_samples: Annotated[int, msgspec.Meta(ge=1, le=100_000)] = 20
    """Below this, a segment is scored as its currency is."""
    amount_bands: tuple[Annotated[int, msgspec.Meta(ge=1)], ...] = ()
    """Amounts in minor units where one band ends and the next begins (ascending)."""
    metadata_key: str | None = None
    """A payment metadata key whose value makes segments of its own (e.g. a card network)."""
    exploration: Annotated[float, msgspec.Meta(ge=0, le=0.5)] = 0.05
    """The share of payments sent first to a gateway that is not the leader, among those whose
    score is uncertain enough that it may be the best."""
    tolerance: Annotated[float, msgspec.Meta(ge=0, le=0.5)] = 0.01
    """Gateways scored within this of the best lead together, shared by their weights."""
    elimination_seconds: Annotated[float, msgspec.Meta(gt=0, le=3600)] = 60.0
    elimination_failures: Annotated[int, msgspec.Meta(ge=1, le=100_000)] = 5
    elimination_rate: Annotated[float, msgspec.Meta(gt=0, le=1)] = 0.5
    refresh_seconds: Annotated[float, msgspec.Meta(gt=0, le=300)] = 2.0
    """How often each process reads the attempts that finished."""
    refresh_lag_seconds: Annotated[float, msgspec.Meta(ge=0, le=300)] = 5.0
    """How far behind the clock each read stops, so that an attempt whose transaction is
    still committing is read by the next refresh rather than missed."""

    def __post_init__(self) -> None:
        if list(self.amount_bands) != sorted(set(self.amount_bands)):
            raise ValueError("amount_bands must be ascending, each once")


class Segment(NamedTuple):
    """What a payment is scored by: its currency, amount band and tag (metadata value)."""

    currency: str
    band: int
    tag: str = ""

    def label(self, policy: ScorePolicy) -> str:
        """``EUR``, ``EUR 1000-9999``, ``EUR >=10000 visa``: as the console shows it."""
        if self.band == CURRENCY_ONLY:
            return self.currency
        parts = [self.currency]
        if policy.amount_bands:
            low = policy.amount_bands[self.band - 1] if self.band > 0 else 0
            if self.band < len(policy.amount_bands):
                parts.append(f"{low}-{policy.amount_bands[self.band] - 1}")
            else:
                parts.append(f">={low}")
        if self.tag:
            parts.append(self.tag)
        return " ".join(parts)


def segment_of(
    policy: ScorePolicy, currency: str, amount_minor: int, metadata: dict[str, str]
) -> Segment:
    """The segment a payment falls in."""
    band = bisect_right(policy.amount_bands, amount_minor)
    tag = metadata.get(policy.metadata_key, "") if policy.metadata_key else ""
    return Segment(currency, band, tag[:64])


class Tally(NamedTuple):
    """Attempts of one gateway in one segment that finished in one refresh, by outcome."""

    gateway: str
    segment: Segment
    accepted: int
    declined: int
    failed: int
    """Unavailable, or no usable answer."""


class Score(NamedTuple):
    """A gateway's learned score in a segment, as the routing decision records it."""

    rate: float
    """Accepted per attempt, shrunk towards the prior."""
    samples: int
    """Attempts it is learned from."""
    segment: Segment
    """The segment it was learned in (the currency's, where the payment's had too few)."""

    def upper(self, policy: ScorePolicy) -> float:
        """An optimistic bound: two standard errors above the rate."""
        weight = self.samples + policy.prior_strength
        if weight <= 0:
            return 1.0
        return self.rate + 2 * math.sqrt(self.rate * (1 - self.rate) / weight)


class _Block(NamedTuple):
    at: float
    accepted: int
    declined: int
    failed: int


_Key = tuple[str, Segment]


class ScoreBoard:
    """The blocks of outcomes each process added, and the scores and eliminations they make."""

    def __init__(self, policy: ScorePolicy) -> None:
        self.policy = policy
        self._blocks: dict[_Key, deque[_Block]] = {}
        self._scores: dict[_Key, Score] = {}
        self._eliminated: dict[str, tuple[str, ...]] = {}
        self.refreshed_at: float | None = None
        """When blocks were last added (the caller's clock)."""

    def add(self, tallies: Iterable[Tally], at: float) -> None:
        """Add what finished since the last refresh, as one block per gateway and segment
        (each also counted in its currency's whole segment), and recompute every score."""
        merged: dict[_Key, list[int]] = {}
        for tally in tallies:
            coarse = Segment(tally.segment.currency, CURRENCY_ONLY)
            for segment in {tally.segment, coarse}:
                counts = merged.setdefault((tally.gateway, segment), [0, 0, 0])
                counts[0] += tally.accepted
                counts[1] += tally.declined
                counts[2] += tally.failed
        for key, (accepted, declined, failed) in merged.items():
            self._blocks.setdefault(key, deque()).append(_Block(at, accepted, declined, failed))
        self._recompute(at)
        self.refreshed_at = at

    def _recompute(self, now: float) -> None:
        policy = self.policy
        oldest = now - policy.window_seconds
        recent = now - policy.elimination_seconds
        scores: dict[_Key, Score] = {}
        eliminated: dict[str, set[str]] = {}
        for key, blocks in list(self._blocks.items()):
            while blocks and blocks[0].at < oldest:
                blocks.popleft()
            if not blocks:
                del self._blocks[key]
                continue
            accepted = total = failed_recent = total_recent = 0
            for block in reversed(blocks):
                if total >= policy.max_samples:
                    break
                attempts = block.accepted + block.declined + block.failed
                accepted += block.accepted
                total += attempts
            gateway, segment = key
            rate = (accepted + policy.prior_strength * policy.prior_rate) / (
                total + policy.prior_strength
            )
            scores[key] = Score(rate=rate, samples=total, segment=segment)
            if segment.band == CURRENCY_ONLY:
                for block in blocks:
                    if block.at >= recent:
                        failed_recent += block.failed
                        total_recent += block.accepted + block.declined + block.failed
                if (
                    failed_recent >= policy.elimination_failures
                    and failed_recent >= policy.elimination_rate * total_recent
                ):
                    eliminated.setdefault(segment.currency, set()).add(gateway)
        self._scores = scores
        self._eliminated = {
            currency: tuple(sorted(names)) for currency, names in eliminated.items()
        }

    def score(self, gateway: str, segment: Segment) -> Score | None:
        """The gateway's score in the segment, or its currency's where the segment has too
        few attempts; None when nothing is known."""
        fine = self._scores.get((gateway, segment))
        if fine is not None and fine.samples >= self.policy.min_segment_samples:
            return fine
        return self._scores.get((gateway, Segment(segment.currency, CURRENCY_ONLY)))

    def eliminated(self, currency: str) -> Sequence[str]:
        """The gateways whose recent calls in ``currency`` mostly failed."""
        return self._eliminated.get(currency, ())

    def scores(self) -> dict[tuple[str, Segment], Score]:
        """Every score, by gateway and segment (for the console and metrics)."""
        return dict(self._scores)
