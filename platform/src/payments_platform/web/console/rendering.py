"""How console pages are rendered: the Jinja templates (autoescaped), the filters they format
values with, and what every page is given (the operator, the session's CSRF token, the section).

A page is one template extending ``base.html``; what refreshes itself is a partial template
(``_name.html``) that the page includes on first render and htmx fetches again later.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.response import Template
from litestar.template import TemplateConfig
from payments_plugins import Amount

from payments_platform.store.operator_sessions import OperatorSession
from payments_platform.web.console.access import Console

TEMPLATES = Path(__file__).parent / "templates"
STATIC = Path(__file__).parent / "static"
NOTHING = "\N{EN DASH}"
"""What a cell shows for a value there is none of."""


def template_config() -> TemplateConfig[JinjaTemplateEngine]:
    """The console's templates, with its filters."""
    return TemplateConfig(directory=TEMPLATES, engine=JinjaTemplateEngine, engine_callback=_filters)


def _filters(engine: JinjaTemplateEngine) -> None:
    engine.engine.filters.update(
        utc=utc,
        utc_minute=utc_minute,
        utc_time=utc_time,
        latency=latency,
        percent=percent,
        optional=optional,
        money=money,
    )


def money(minor: int, currency: str) -> str:
    """``3209.04 AED``: an amount in minor units, written as everywhere else."""
    return Amount(minor, currency).format()


def utc(value: datetime | None) -> str:
    """``2026-12-01 12:30:20``: every time the console shows is UTC, and says so once."""
    return "" if value is None else f"{value:%Y-%m-%d %H:%M:%S}"


def utc_minute(value: datetime | None) -> str:
    """``12:30 UTC``: a minute of the day."""
    return "" if value is None else f"{value:%H:%M} UTC"


def utc_time(value: datetime | None) -> str:
    """``12:30:20.123``: a time of day to the millisecond, for timelines."""
    return "" if value is None else f"{value:%H:%M:%S}.{value.microsecond // 1000:03d}"


def latency(seconds: float | None) -> str:
    """``12 ms``, ``1.4 s``; a dash for none."""
    if seconds is None:
        return NOTHING
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms" if seconds >= 0.0095 else f"{seconds * 1000:.1f} ms"
    return f"{seconds:.1f} s"


def percent(ratio: float | None) -> str:
    """``97%``; a dash for none."""
    return NOTHING if ratio is None else f"{ratio * 100:.0f}%"


def optional(value: object) -> str:
    """The value, or a dash for nothing."""
    return NOTHING if value is None or value == "" else str(value)


def page(
    console: Console,
    session: OperatorSession,
    template: str,
    *,
    title: str,
    section: str,
    **context: Any,
) -> Template:
    """A console page, with what its frame needs."""
    return Template(
        template_name=template,
        context={
            "title": title,
            "section": section,
            "operator": session.operator,
            "csrf_token": session.csrf_token,
            "demo": console.runtime.settings.demo,
            "refresh_seconds": int(console.settings.refresh_seconds),
            **context,
        },
    )


def partial(console: Console, session: OperatorSession, template: str, **context: Any) -> Template:
    """A fragment of a page, as htmx fetches it to refresh that part (its forms need the
    session's CSRF token as much as the page's)."""
    return page(console, session, template, title="", section="", **context)
