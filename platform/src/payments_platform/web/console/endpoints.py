"""The merchant endpoints page: each endpoint the config names (and any other with deliveries
failing), its deliveries retrying and dead, what its latest deliveries say of it (delivered,
failing, answer time, time to delivery), and its deliveries, the latest first (keyset pages).

A dead delivery is sent again by reviving its dead ``notify`` job, as the jobs page does
(:mod:`payments_platform.usecases.operator_actions`): one delivery, or every dead one of the
events of a period (to one endpoint or all), each recorded in its payment's log with the
operator's name.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any
from urllib.parse import urlencode

from litestar import Request, get, post
from litestar.di import NamedDependency
from litestar.params import FromQuery, Parameter, QueryParameter
from litestar.response import Redirect, Template

from payments_platform.config import NotificationEndpoint
from payments_platform.lifecycle import DeliveryStatus
from payments_platform.store.operator_sessions import OperatorSession
from payments_platform.usecases.endpoint_reads import (
    LOOKED_AT,
    EndpointRecords,
    EndpointState,
    endpoint_records,
)
from payments_platform.usecases.operator_actions import (
    JobRetry,
    resend_dead_deliveries,
    resend_delivery,
)
from payments_platform.web.console.access import CONSOLE, Console, form_value
from payments_platform.web.console.notices import notice_of, notice_query
from payments_platform.web.console.rendering import page

PAGE_SIZE = 50
ENDPOINT_NAME_LENGTH = 40
"""The longest endpoint name a delivery can name (as stored)."""


class DeliveryFilter(enum.StrEnum):
    """Which deliveries the page lists."""

    EVERY = "every"
    FAILING = "failing"
    """Failed at least once and not delivered: retrying or dead."""
    DEAD = "dead"

    @property
    def statuses(self) -> list[DeliveryStatus] | None:
        """The delivery statuses this filter shows (None: every one)."""
        if self is DeliveryFilter.FAILING:
            return [DeliveryStatus.PENDING, DeliveryStatus.DEAD]
        if self is DeliveryFilter.DEAD:
            return [DeliveryStatus.DEAD]
        return None


class Period(enum.StrEnum):
    """Whose dead deliveries a bulk re-send takes: those of the events of a period."""

    HOUR = "hour"
    DAY = "day"
    WEEK = "week"
    EVER = "ever"
    BETWEEN = "between"


_SPANS = {
    Period.HOUR: timedelta(hours=1),
    Period.DAY: timedelta(days=1),
    Period.WEEK: timedelta(days=7),
}


def period_bounds(
    period: str, now: datetime, start: str = "", end: str = ""
) -> tuple[datetime | None, datetime | None] | None:
    """The period chosen, as its start (inclusive) and end (exclusive), None for either that
    is open; None when it cannot be read. ``start`` and ``end`` are read for ``between`` (UTC,
    as a browser's ``datetime-local`` field sends them)."""
    try:
        chosen = Period(period)
    except ValueError:
        return None
    if chosen in _SPANS:
        return now - _SPANS[chosen], None
    if chosen is Period.EVER:
        return None, None
    since, until = _moment(start), _moment(end)
    if since is None or until is None or since >= until:
        return None
    return since, until


def _moment(text: str) -> datetime | None:
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        return None
    # A time without an offset is UTC, as every time the console shows.
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


@dataclass(frozen=True)
class EndpointRow:
    """An endpoint as the page shows it: its state, and its settings when the config names it
    (never its secret)."""

    state: EndpointState
    settings: NotificationEndpoint | None

    @property
    def name(self) -> str:
        """The endpoint's name in the config."""
        return self.state.name


@dataclass(frozen=True)
class EndpointList:
    """What the page shows: the endpoints, the filters and a page of deliveries."""

    endpoints: list[EndpointRow]
    endpoint: str | None
    shown: DeliveryFilter
    below: int | None
    records: EndpointRecords

    @property
    def dead(self) -> int:
        """Dead deliveries, of every endpoint shown."""
        return sum(row.state.dead for row in self.endpoints)

    def query(self, **changed: object) -> str:
        """The page's query string, with ``changed`` parameters (None drops one)."""
        given: dict[str, object] = {
            "endpoint": self.endpoint,
            "status": None if self.shown is DeliveryFilter.EVERY else self.shown,
            "below": self.below,
            **changed,
        }
        kept = {name: value for name, value in given.items() if value not in (None, "")}
        return "?" + urlencode(kept) if kept else ""

    @property
    def next_query(self) -> str | None:
        """The query of the next (older) page, if there is one."""
        below = self.records.deliveries.next
        return None if below is None else self.query(below=below)


def endpoint_path(endpoint: str, shown: DeliveryFilter = DeliveryFilter.EVERY) -> str:
    """Where the page lists an endpoint's deliveries (those ``shown``)."""
    query = {"endpoint": endpoint}
    if shown is not DeliveryFilter.EVERY:
        query["status"] = shown
    return f"{CONSOLE}/endpoints?{urlencode(query)}"


EndpointFilter = Annotated[
    str | None, QueryParameter(name="endpoint", min_length=1, max_length=ENDPOINT_NAME_LENGTH)
]
LARGEST_ID = 2**63 - 1
"""The largest id a delivery can have (a 64-bit integer)."""
Below = Annotated[int | None, QueryParameter(name="below", ge=1, le=LARGEST_ID)]
DeliveryId = Annotated[int, Parameter(ge=1, le=LARGEST_ID)]


@get("/endpoints", name="console:endpoints")
async def endpoints_page(
    console: NamedDependency[Console],
    session: NamedDependency[OperatorSession],
    endpoint: EndpointFilter = None,
    status: FromQuery[DeliveryFilter] = DeliveryFilter.EVERY,
    below: Below = None,
    notice: FromQuery[str | None] = None,
    delivery: FromQuery[int | None] = None,
    retried: FromQuery[int | None] = None,
) -> Template:
    """The merchants' endpoints and their deliveries."""
    configured = console.runtime.settings.notifications.endpoints
    records = await endpoint_records(
        console.deps,
        configured,
        endpoint=endpoint,
        statuses=status.statuses,
        failed_only=status is not DeliveryFilter.EVERY,
        below=below,
        limit=PAGE_SIZE,
    )
    rows = [EndpointRow(state, configured.get(state.name)) for state in records.endpoints]
    return page(
        console,
        session,
        "endpoints.html",
        title="Merchant endpoints",
        section="endpoints",
        listing=EndpointList(
            endpoints=rows, endpoint=endpoint, shown=status, below=below, records=records
        ),
        filters=list(DeliveryFilter),
        periods=list(Period),
        looked_at=LOOKED_AT,
        notice=notice_of(notice, delivery=delivery, retried=retried),
    )


@post("/endpoints/deliveries/{delivery_id:int}/resend", name="console:resend", status_code=303)
async def resend(
    delivery_id: DeliveryId,
    console: NamedDependency[Console],
    session: NamedDependency[OperatorSession],
) -> Redirect:
    """Send a dead delivery again (its payment's log records who asked)."""
    result = await resend_delivery(console.deps, delivery_id, session.operator)
    notice = "resent" if result.outcome is JobRetry.RETRIED else "not_resent"
    query = notice_query(notice, delivery=delivery_id)
    return Redirect(f"{CONSOLE}/endpoints{query}&status={DeliveryFilter.DEAD}", status_code=303)


@post("/endpoints/resend-dead", name="console:resend-dead", status_code=303)
async def resend_dead(
    request: Request[Any, Any, Any],
    console: NamedDependency[Console],
    session: NamedDependency[OperatorSession],
) -> Redirect:
    """Send again every dead delivery of the events of the period chosen (to the endpoint
    chosen, or to all), each recorded in its payment's log with the operator's name."""
    endpoint = await form_value(request, "endpoint")
    bounds = period_bounds(
        await form_value(request, "period"),
        console.deps.now(),
        await form_value(request, "from"),
        await form_value(request, "to"),
    )
    query: dict[str, object] = {"status": DeliveryFilter.DEAD}
    if endpoint:
        query["endpoint"] = endpoint
    if len(endpoint) > ENDPOINT_NAME_LENGTH:
        query = {"notice": "form_expired"}  # no endpoint has such a name
    elif bounds is None:
        query["notice"] = "bad_period"
    else:
        since, until = bounds
        query["notice"] = "resent_many"
        query["retried"] = await resend_dead_deliveries(
            console.deps, session.operator, endpoint=endpoint or None, since=since, until=until
        )
    return Redirect(f"{CONSOLE}/endpoints?{urlencode(query)}", status_code=303)
