"""The overview's charts as geometry: bars stacked by outcome on a shared scale, and the routing
share split between gateways in config order."""

from datetime import UTC, datetime

import pytest
from payments_platform.gateway_health import GatewayHealth, OutcomeCounts
from payments_platform.web.console.charts import minute_bars, share_segments

SINCE = datetime(2026, 12, 1, 11, 31, tzinfo=UTC)


def test_a_minute_stacks_its_outcomes_answers_at_the_bottom() -> None:
    minutes = [OutcomeCounts(), OutcomeCounts(accepted=2, unavailable=1)]

    bars = minute_bars(minutes, since=SINCE, scale=6, width=20, height=30)

    assert [(bar.outcome, bar.height) for bar in bars] == [("accepted", 10), ("unavailable", 5)]
    accepted, unavailable = bars
    assert accepted.y == 20  # from the bottom up
    assert unavailable.y == 15
    assert accepted.x == 10  # the second of two minutes across 20 px
    assert accepted.title == "11:32 UTC: 2 accepted, 1 unavailable"


def test_empty_minutes_draw_nothing_and_an_empty_hour_no_bars() -> None:
    assert minute_bars([OutcomeCounts()] * 60, since=SINCE, scale=0) == []
    assert minute_bars([OutcomeCounts()] * 60, since=SINCE, scale=5) == []


def test_the_share_bar_splits_the_width_between_the_gateways_that_took_payments() -> None:
    json, soap, idle = GatewayHealth("json"), GatewayHealth("soap"), GatewayHealth("idle")
    json.share, soap.share = 0.25, 0.75

    segments = share_segments([idle, json, soap], width=200)

    assert [(s.gateway, s.x, s.width) for s in segments] == [
        ("json", 0, 50),
        ("soap", 50, 150),
    ]
    # Colours follow the config order, so a gateway keeps its colour as shares change.
    assert [s.colour for s in segments] == [1, 2]
    assert sum(s.share for s in segments) == pytest.approx(1)
