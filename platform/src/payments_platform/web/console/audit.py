"""The operators' audit: what every operator did, whatever payment it was about, newest first,
found by operator and time (UTC), a page at a time; and all of it as a CSV file.

What is listed is every ``operator_action`` event: the actions on payments and jobs, from the
console or the command line, those the platform refused included, and signing in and out of
the console (failed sign-ins are counted, not listed: anyone can post them). Reading it changes
nothing, so both pages are GETs behind the session like every other page.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

import msgspec
from litestar import Request, get
from litestar.di import NamedDependency
from litestar.response import Stream, Template

from payments_platform.records import Event
from payments_platform.store.audit import ActionFilter
from payments_platform.store.events import MAX_OPERATOR_LENGTH
from payments_platform.store.operator_sessions import OperatorSession
from payments_platform.usecases.operator_reads import every_operator_action, operator_actions
from payments_platform.web.console.access import Console, refusal
from payments_platform.web.console.csv_files import csv_body, csv_download
from payments_platform.web.console.rendering import page
from payments_platform.web.console.search import moment, shown, storable

FIELDS = ("operator", "since", "before")
"""The form's fields, as the query string names them."""
PAGE_SIZE = 50
CSV_PAGE_SIZE = 200
"""Actions read per transaction while a CSV file is written (as the payments' CSV does)."""
CSV_HEADER = (
    "time_utc",
    "operator",
    "action",
    "payment_id",
    "outcome",
    "reason",
    "detail",
)
_BELOW = re.compile(r"[1-9][0-9]{0,17}")
_JSON = msgspec.json.Encoder(order="sorted")


@dataclass(frozen=True)
class AuditSearch:
    """The audit's filters as the operator filled them in."""

    values: dict[str, str]
    errors: list[str]
    filters: ActionFilter
    below: int | None
    """The page: actions recorded before the event of this id (None: the newest)."""

    def query(self, below: int | None = None) -> str:
        """The query string of this search (at the page below ``below``), for links."""
        kept = {name: value for name, value in self.values.items() if value}
        if below is not None:
            kept["below"] = str(below)
        return urlencode(kept)


def read_audit_search(query: Mapping[str, str]) -> AuditSearch:
    """Read the form's fields from a query string; what cannot be read is an error named."""
    values = {name: (query.get(name) or "").strip() for name in FIELDS}
    errors = storable(values)
    if errors:
        return AuditSearch(values, errors, ActionFilter(), None)
    operator = values["operator"]
    if len(operator) > MAX_OPERATOR_LENGTH:
        errors.append(f"operator {shown(operator)} is longer than any operator's name")
    filters = ActionFilter(
        operator=operator or None,
        since=moment(values["since"], "since", errors),
        before=moment(values["before"], "before", errors),
    )
    below_text = (query.get("below") or "").strip()
    below = None
    if below_text and _BELOW.fullmatch(below_text):
        below = int(below_text)
    elif below_text:
        errors.append("the page asked for is not one this audit gave")
    return AuditSearch(values, errors, filters, below)


@dataclass(frozen=True)
class AuditEntry:
    """One operator action as the audit shows it."""

    id: int
    at: datetime
    operator: str
    action: str
    payment_id: uuid.UUID | None
    refused: bool
    """The platform refused it (or the gateway asked could not answer)."""
    reason: str
    detail: dict[str, Any]
    """What else was recorded about it (its operator and action aside)."""

    @property
    def outcome(self) -> str:
        """``refused``, or ``accepted`` for everything the platform did not refuse."""
        return "refused" if self.refused else "accepted"

    @property
    def detail_json(self) -> str:
        """:attr:`detail` as JSON, its keys sorted; empty when there is nothing more."""
        return _JSON.encode(self.detail).decode() if self.detail else ""


def entry_of(event: Event) -> AuditEntry:
    """The audit's view of an ``operator_action`` event."""
    detail = dict(event.detail or {})
    return AuditEntry(
        id=event.id,
        at=event.created_at,
        operator=str(detail.pop("operator", "")),
        action=str(detail.pop("action", "")),
        payment_id=event.payment_id,
        refused=event.accepted is False,
        reason=event.reason or "",
        detail=detail,
    )


@get("/audit", name="console:audit")
async def audit_page(
    request: Request[Any, Any, Any],
    console: NamedDependency[Console],
    session: NamedDependency[OperatorSession],
) -> Template:
    """What operators did, newest first, a page at a time."""
    search = read_audit_search(request.query_params)
    entries: list[AuditEntry] = []
    next_below = None
    if not search.errors:
        found = await operator_actions(
            console.deps, search.filters, below=search.below, limit=PAGE_SIZE
        )
        entries, next_below = [entry_of(event) for event in found.actions], found.next_below
    return page(
        console,
        session,
        "audit.html",
        title="Audit",
        section="audit",
        search=search,
        entries=entries,
        next_query=search.query(next_below) if next_below is not None else None,
        first_query=search.query() if search.below is not None else None,
        csv_query=search.query(),
        operators=sorted(console.accounts.hashes),
    )


@get("/audit.csv", name="console:audit-csv")
async def audit_csv(
    request: Request[Any, Any, Any], console: NamedDependency[Console]
) -> Stream | Template:
    """Every operator action the filters match (the page's filters; every page), as CSV."""
    search = read_audit_search(request.query_params)
    if search.errors:
        return refusal(400, "Bad request", "Nothing to download: " + "; ".join(search.errors))
    pages = every_operator_action(console.deps, search.filters, page_size=CSV_PAGE_SIZE)
    # The first page is read before the answer starts: a database out of reach is still an
    # error page, not a file cut short.
    first = await anext(pages)
    name = f"audit-{console.deps.now():%Y%m%dT%H%M%SZ}.csv"
    return csv_download(name, csv_body(CSV_HEADER, first, pages, _row))


def _row(event: Event) -> tuple[object, ...]:
    entry = entry_of(event)
    return (
        entry.at,
        entry.operator,
        entry.action,
        entry.payment_id,
        entry.outcome,
        entry.reason,
        entry.detail_json,
    )
