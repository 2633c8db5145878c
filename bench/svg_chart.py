"""A grouped bar chart as a standalone SVG document, written by hand: the bench draws one
chart, which does not warrant a plotting library in the workspace's pinned requirements."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from xml.sax.saxutils import escape

WIDTH = 960
HEIGHT = 440
MARGIN_LEFT = 64
MARGIN_RIGHT = 16
MARGIN_TOP = 56
MARGIN_BOTTOM = 72
FONT = "font-family='sans-serif'"


@dataclass(frozen=True, kw_only=True)
class Series:
    """One bar per group, in one colour."""

    name: str
    colour: str
    values: Sequence[float]


def _nice_step(top: float) -> float:
    """A round tick step (1, 2 or 5 times a power of ten) giving at most ten ticks up to
    ``top``."""
    if top <= 0:
        return 1.0
    step = 10.0 ** math.floor(math.log10(top / 5))
    for factor in (1.0, 2.0, 5.0):
        if top / (step * factor) <= 10:
            return step * factor
    return step * 10


def bar_chart(*, title: str, y_label: str, groups: Sequence[str], series: Sequence[Series]) -> str:
    """The chart: ``groups`` along the x axis, one bar per series in each, values labelled."""
    for one in series:
        if len(one.values) != len(groups):
            raise ValueError(f"series {one.name!r} has {len(one.values)} values for {len(groups)}")
    top = max((value for one in series for value in one.values), default=0.0)
    step = _nice_step(top)
    axis_top = step * max(1, math.ceil(top / step))
    plot_width = WIDTH - MARGIN_LEFT - MARGIN_RIGHT
    plot_height = HEIGHT - MARGIN_TOP - MARGIN_BOTTOM
    bottom = MARGIN_TOP + plot_height

    def y(value: float) -> float:
        return bottom - plot_height * max(value, 0.0) / axis_top

    parts = [
        f"<svg xmlns='http://www.w3.org/2000/svg' width='{WIDTH}' height='{HEIGHT}'"
        f" viewBox='0 0 {WIDTH} {HEIGHT}'>",
        f"<rect width='{WIDTH}' height='{HEIGHT}' fill='white'/>",
        f"<text x='{WIDTH / 2}' y='22' text-anchor='middle' font-size='16' {FONT}>"
        f"{escape(title)}</text>",
    ]
    ticks = round(axis_top / step)
    for index in range(ticks + 1):
        value = step * index
        level = y(value)
        parts.append(
            f"<line x1='{MARGIN_LEFT}' x2='{WIDTH - MARGIN_RIGHT}' y1='{level:.1f}'"
            f" y2='{level:.1f}' stroke='#dddddd'/>"
        )
        parts.append(
            f"<text x='{MARGIN_LEFT - 6}' y='{level + 4:.1f}' text-anchor='end' font-size='11'"
            f" {FONT}>{value:g}</text>"
        )
    parts.append(
        f"<text transform='translate(16 {MARGIN_TOP + plot_height / 2}) rotate(-90)'"
        f" text-anchor='middle' font-size='12' {FONT}>{escape(y_label)}</text>"
    )
    group_width = plot_width / max(len(groups), 1)
    bar_width = group_width * 0.8 / max(len(series), 1)
    for group_index, group in enumerate(groups):
        left = MARGIN_LEFT + group_index * group_width + group_width * 0.1
        for series_index, one in enumerate(series):
            value = one.values[group_index]
            x = left + series_index * bar_width
            level = y(value)
            parts.append(
                f"<rect x='{x:.1f}' y='{level:.1f}' width='{bar_width - 2:.1f}'"
                f" height='{bottom - level:.1f}' fill='{one.colour}'>"
                f"<title>{escape(f'{group}, {one.name}: {value:.2f}')}</title></rect>"
            )
            parts.append(
                f"<text x='{x + (bar_width - 2) / 2:.1f}' y='{level - 3:.1f}'"
                f" text-anchor='middle' font-size='9' {FONT}>{value:.2f}</text>"
            )
        parts.append(
            f"<text x='{left + group_width * 0.4:.1f}' y='{bottom + 16}' text-anchor='middle'"
            f" font-size='12' {FONT}>{escape(group)}</text>"
        )
    parts.append(
        f"<line x1='{MARGIN_LEFT}' x2='{WIDTH - MARGIN_RIGHT}' y1='{bottom}' y2='{bottom}'"
        " stroke='black'/>"
    )
    legend_x = MARGIN_LEFT
    for one in series:
        parts.append(
            f"<rect x='{legend_x}' y='{HEIGHT - 28}' width='12' height='12' fill='{one.colour}'/>"
        )
        parts.append(
            f"<text x='{legend_x + 16}' y='{HEIGHT - 18}' font-size='12' {FONT}>"
            f"{escape(one.name)}</text>"
        )
        legend_x += 24 + 7 * len(one.name)
    parts.append("</svg>")
    return "\n".join(parts) + "\n"
