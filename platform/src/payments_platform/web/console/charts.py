"""The overview's small charts, as geometry for inline SVG. Pure.

Each gateway gets a bar per minute of the period, stacked by outcome, on a scale every gateway
shares (so a quiet gateway looks quiet next to a busy one), and the routing share is one bar
split between the gateways. The templates draw rectangles from these numbers with classes the
stylesheet colours: no script, nothing inline.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from payments_platform.gateway_health import GatewayHealth, OutcomeCounts

CHART_WIDTH = 600
"""Ten pixels a minute."""
CHART_HEIGHT = 40
SHARE_WIDTH = 480
STACK_ORDER = ("accepted", "declined", "unknown", "unavailable", "in_flight")
"""Bottom to top: answers first, failures on top where the eye lands."""
GATEWAY_COLOURS = 6
"""Classes ``gateway-0`` to ``gateway-5`` in the stylesheet."""


@dataclass(frozen=True)
class Bar:
    """One rectangle: part of one minute's stack."""

    x: float
    y: float
    width: float
    height: float
    outcome: str
    title: str


@dataclass(frozen=True)
class Segment:
    """A gateway's part of the routing share bar."""

    x: float
    width: float
    gateway: str
    share: float
    colour: int


def minute_bars(
    by_minute: Sequence[OutcomeCounts],
    *,
    since: datetime,
    scale: int,
    width: float = CHART_WIDTH,
    height: float = CHART_HEIGHT,
) -> list[Bar]:
    """The stacked bars of one gateway's minutes; ``scale`` attempts fill the height."""
    if not by_minute or scale <= 0:
        return []
    step = width / len(by_minute)
    bars = []
    for position, minute in enumerate(by_minute):
        if not minute.total:
            continue
        at = since + timedelta(minutes=position)
        title = f"{at:%H:%M} UTC: " + ", ".join(
            f"{getattr(minute, outcome)} {outcome.replace('_', ' ')}"
            for outcome in STACK_ORDER
            if getattr(minute, outcome)
        )
        top = height
        for outcome in STACK_ORDER:
            count = getattr(minute, outcome)
            if not count:
                continue
            bar_height = height * count / scale
            top -= bar_height
            bars.append(
                Bar(
                    x=round(position * step, 2),
                    y=round(top, 2),
                    width=round(max(step - 1, 1), 2),
                    height=round(bar_height, 2),
                    outcome=outcome,
                    title=title,
                )
            )
    return bars


def share_segments(gateways: Sequence[GatewayHealth], width: float = SHARE_WIDTH) -> list[Segment]:
    """The routing share bar: each gateway's share of the payments taken, left to right in
    config order; gateways that took none are left out."""
    segments = []
    x = 0.0
    for index, health in enumerate(gateways):
        if health.share <= 0:
            continue
        segment_width = width * health.share
        segments.append(
            Segment(
                x=round(x, 2),
                width=round(segment_width, 2),
                gateway=health.gateway,
                share=health.share,
                colour=index % GATEWAY_COLOURS,
            )
        )
        x += segment_width
    return segments
