"""Learned success rates (``scoring``): shrunk towards the prior, read from the newest blocks up
to a sample count or a time window, per segment with the currency's as fallback; and
elimination of a gateway whose calls mostly fail, undone as its failures age."""

from __future__ import annotations

from typing import Any

import pytest
from payments_platform.scoring import (
    CURRENCY_ONLY,
    ScoreBoard,
    ScorePolicy,
    Segment,
    Tally,
    segment_of,
)

AED = Segment("AED", 0)


def board(**policy: Any) -> ScoreBoard:
    return ScoreBoard(ScorePolicy(**policy))


def test_a_score_is_the_accepted_share_shrunk_towards_the_prior() -> None:
    scores = board(prior_rate=0.5, prior_strength=10)
    scores.add([Tally("gw", AED, accepted=90, declined=10, failed=0)], at=100.0)

    score = scores.score("gw", AED)
    assert score is not None
    assert score.rate == pytest.approx((90 + 5) / 110)
    assert score.samples == 100
    assert scores.score("other", AED) is None


def test_a_score_reads_the_newest_blocks_up_to_max_samples() -> None:
    scores = board(max_samples=100, prior_strength=0)
    scores.add([Tally("gw", AED, accepted=100, declined=0, failed=0)], at=1.0)
    scores.add([Tally("gw", AED, accepted=0, declined=100, failed=0)], at=2.0)

    # The newest hundred attempts were all declined: the older good block is not read.
    score = scores.score("gw", AED)
    assert score is not None
    assert (score.rate, score.samples) == (0.0, 100)


def test_blocks_older_than_the_window_are_forgotten() -> None:
    scores = board(window_seconds=60, prior_strength=0)
    scores.add([Tally("gw", AED, accepted=0, declined=50, failed=0)], at=0.0)
    scores.add([], at=59.0)
    assert scores.score("gw", AED) is not None
    scores.add([], at=61.0)
    assert scores.score("gw", AED) is None


def test_a_segment_with_few_attempts_is_scored_as_its_currency() -> None:
    policy = ScorePolicy(amount_bands=(10_000,), min_segment_samples=20, prior_strength=0)
    scores = ScoreBoard(policy)
    small, large = Segment("AED", 0), Segment("AED", 1)
    scores.add(
        [
            Tally("gw", small, accepted=40, declined=0, failed=0),
            Tally("gw", large, accepted=0, declined=5, failed=0),
        ],
        at=1.0,
    )

    assert scores.score("gw", small) == (1.0, 40, small)
    fallback = scores.score("gw", large)
    assert fallback is not None
    assert fallback.segment == Segment("AED", CURRENCY_ONLY)
    assert fallback.rate == pytest.approx(40 / 45)


def test_a_gateway_whose_calls_mostly_fail_is_eliminated_until_its_failures_age() -> None:
    scores = board(elimination_seconds=60, elimination_failures=5, elimination_rate=0.5)
    scores.add([Tally("gw", AED, accepted=4, declined=10, failed=6)], at=0.0)
    assert scores.eliminated("AED") == ()  # 6 of 20 failed: declines are answers
    scores.add([Tally("gw", AED, accepted=0, declined=0, failed=20)], at=10.0)
    assert scores.eliminated("AED") == ("gw",)
    assert scores.eliminated("USD") == ()
    scores.add([], at=71.0)
    assert scores.eliminated("AED") == ()


def test_a_payment_s_segment_and_its_label() -> None:
    policy = ScorePolicy(amount_bands=(1_000, 100_000), metadata_key="network")
    assert segment_of(policy, "EUR", 999, {}) == Segment("EUR", 0, "")
    assert segment_of(policy, "EUR", 1_000, {"network": "visa"}) == Segment("EUR", 1, "visa")
    assert segment_of(policy, "EUR", 100_000, {}) == Segment("EUR", 2, "")
    assert Segment("EUR", 1, "visa").label(policy) == "EUR 1000-99999 visa"
    assert Segment("EUR", 2).label(policy) == "EUR >=100000"
    assert Segment("EUR", 0).label(policy) == "EUR 0-999"
    assert Segment("EUR", CURRENCY_ONLY).label(policy) == "EUR"


def test_amount_bands_must_ascend() -> None:
    with pytest.raises(ValueError, match="ascending"):
        ScorePolicy(amount_bands=(100, 10))
