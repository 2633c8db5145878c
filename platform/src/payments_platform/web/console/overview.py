"""The overview: every enabled gateway, how it did over the last five minutes and the last hour
(from the stored attempts, the same on every replica), its latest run of failures, and its
breaker in every process (this one's as it sees it now, the others' as they last recorded them);
the payments that are stuck, the money vendors took after the platform gave a payment up, the
webhooks refused, and the jobs that need a person. It refreshes itself."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from litestar import get
from litestar.di import NamedDependency
from litestar.response import Template

from payments_platform.gateway_health import (
    RECENT_MINUTES,
    GatewayHealth,
    HealthReport,
    health_report,
    period_start,
)
from payments_platform.jobs import JobStatus
from payments_platform.process_breakers import ShownBreaker, shown_breakers
from payments_platform.records import Event
from payments_platform.store.listing import PaymentPage
from payments_platform.store.operator_sessions import OperatorSession
from payments_platform.usecases.operator_reads import overview_records
from payments_platform.web.console.access import Console
from payments_platform.web.console.charts import (
    CHART_HEIGHT,
    CHART_WIDTH,
    SHARE_WIDTH,
    Bar,
    Segment,
    minute_bars,
    share_segments,
)
from payments_platform.web.console.rendering import page, partial

STUCK_SHOWN = 10
"""Stuck payments, and reports of money taken after the platform gave up, listed on the
overview at most; the search lists them all."""
PENDING_TOO_LONG = timedelta(minutes=5)
"""A payment pending this long has no gateway call under way that could still end well."""


@dataclass(frozen=True)
class GatewayRow:
    """One enabled gateway: its configuration, its breaker in each process, its health."""

    name: str
    type_name: str
    currencies: list[str]
    weight: float
    breakers: list[ShownBreaker]
    """This process's first, then the others heard from lately."""
    health: GatewayHealth
    bars: list[Bar]
    scores: list[ShownScore]
    """What every process learned of its success, by segment (the adaptive strategy's)."""
    eliminated: list[str]
    """The currencies it is tried last in: its recent calls mostly failed."""


@dataclass(frozen=True)
class ShownScore:
    """A gateway's learned success in one segment."""

    segment: str
    rate: float
    samples: int


@dataclass(frozen=True)
class Overview:
    """What the overview shows."""

    report: HealthReport
    gateways: list[GatewayRow]
    share: list[Segment]
    jobs: dict[str, int]
    """Open jobs by status: pending, running, dead."""
    unknown: PaymentPage
    """Payments whose outcome is unknown, the newest first."""
    pending: PaymentPage
    """Payments pending for longer than :data:`PENDING_TOO_LONG`."""
    pending_since: datetime
    recovered: list[Event]
    """A vendor took the money after the platform had given the payment up: moved to paid
    (accepted), or held by another gateway (to settle with the vendor)."""
    refused: dict[tuple[str, str], int]
    """Webhooks refused in the hour, by gateway and reason."""
    process: str
    """This process, ``host:pid``."""
    strategy: str
    """The routing strategy: learned scores route payments only when it is ``adaptive``."""
    scores_window_minutes: int


async def read_overview(console: Console) -> Overview:
    """The gateways' windows and every process's breakers from the database, this process's
    breakers from memory."""
    deps = console.deps
    now = deps.now()
    since = period_start(now)
    stuck_since = now - PENDING_TOO_LONG
    found = await overview_records(
        deps,
        since=since,
        recent_since=period_start(now, RECENT_MINUTES),
        pending_before=stuck_since,
        shown=STUCK_SHOWN,
    )
    routes = deps.routing.routes
    report = health_report(
        [route.name for route in routes],
        found.minutes,
        found.latencies,
        now=now,
        runs=found.runs,
    )
    breakers = shown_breakers(found.breakers, console.runtime.breakers.reports(), now=now)
    scale = report.busiest_minute
    learned: dict[str, list[ShownScore]] = {}
    policy = deps.routing.scores.policy
    for (gateway, segment), score in sorted(
        deps.routing.scores.scores().items(), key=lambda item: (item[0][0], item[0][1])
    ):
        learned.setdefault(gateway, []).append(
            ShownScore(segment.label(policy), score.rate, score.samples)
        )
    rows = [
        GatewayRow(
            name=route.name,
            type_name=deps.gateways[route.name].type_name,
            currencies=sorted(route.currencies),
            weight=route.weight,
            breakers=breakers.get(route.name, []),
            health=health,
            bars=minute_bars(health.by_minute, since=report.since, scale=scale),
            scores=learned.get(route.name, []),
            eliminated=[
                currency
                for currency in sorted(route.currencies)
                if route.name in deps.routing.scores.eliminated(currency)
            ],
        )
        for route, health in zip(routes, report.gateways, strict=True)
    ]
    by_status = dict.fromkeys((JobStatus.PENDING, JobStatus.RUNNING, JobStatus.DEAD), 0)
    for (_kind, status), count in found.open_jobs.items():
        by_status[JobStatus(status)] = by_status.get(JobStatus(status), 0) + count
    return Overview(
        report=report,
        gateways=rows,
        share=share_segments(report.gateways),
        jobs={str(status): count for status, count in by_status.items()},
        unknown=found.unknown,
        pending=found.pending,
        pending_since=stuck_since,
        recovered=found.recovered,
        refused=dict(sorted(found.refused.items())),
        process=console.runtime.process.label,
        strategy=str(deps.routing.strategy),
        scores_window_minutes=round(policy.window_seconds / 60),
    )


CHART_SIZES = {"chart_width": CHART_WIDTH, "chart_height": CHART_HEIGHT, "share_width": SHARE_WIDTH}


@get("/", name="console:overview")
async def overview_page(
    console: NamedDependency[Console], session: NamedDependency[OperatorSession]
) -> Template:
    """The overview page."""
    return page(
        console,
        session,
        "overview.html",
        title="Overview",
        section="overview",
        overview=await read_overview(console),
        **CHART_SIZES,
    )


@get("/overview/gateways", name="console:overview-gateways")
async def gateways_partial(
    console: NamedDependency[Console], session: NamedDependency[OperatorSession]
) -> Template:
    """The gateways' part of the overview, as it refreshes itself."""
    return partial(
        console, session, "_gateways.html", overview=await read_overview(console), **CHART_SIZES
    )
