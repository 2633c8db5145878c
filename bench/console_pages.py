"""The console's pages as the bench asks for them: which (every page and partial, searches with
filters that match many payments and few, pages far back), signed in as a browser signs in, and
each timed.

A page's **server time** is what the server says in its ``Server-Timing`` header
(``payments_platform.web.console.server_timing``): from the request reaching the console's
routes to the start of the answer. The client's time (over loopback, the whole body read) is
shown beside it, and the server's CPU per page from ``/proc``, over the timed requests; it
includes what the server's own job worker did meanwhile (it finds nothing due, twice a second:
the idle rate is measured and reported apart).
"""

from __future__ import annotations

import math
import re
import statistics
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import httpx
import sqlalchemy as sa
from payments_platform.database import Database
from payments_platform.schema import (
    jobs,
    notification_deliveries,
    payment_events,
    payments,
)
from payments_platform.store.events import ReceivedPosition
from payments_platform.store.listing import Cursor
from payments_platform.web.console.webhooks import position_text
from payments_plugins import Amount

from bench.console_report import ExportFigure, PageFigure
from bench.processes import BenchError, Child

SIGN_IN = "/console/sign-in"
SESSION_COOKIE = "payments_console"
SIGN_IN_COOKIE = "payments_console_sign_in"
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
_TIMING = re.compile(r"(?:^|,)\s*app;dur=([0-9.]+)")
JOBS_PAGE_SIZE = 100
"""Jobs to a page of the jobs page (``web/console/jobs.py``)."""
TIMEOUT_SECONDS = 300.0


@dataclass(frozen=True)
class Page:
    """A console page or partial, as the bench asks for it."""

    key: str
    label: str
    path: str
    htmx: bool = False
    """Asked as htmx asks when it refreshes a part of a page (``HX-Request``)."""


@dataclass(frozen=True)
class Landmarks:
    """What the pages ask about, found in the stored history: a payment with a full
    history, and places far back in each list."""

    payment_id: uuid.UUID
    """A refunded payment, refunded by an operator (the richest history), or the newest."""
    old_external_id: str
    """Of a paid payment nine tenths of the way back, as are the next three."""
    old_order_id: str
    old_amount: str
    """Its amount in its currency's units, and the currency: ``12.50`` and ``AED``."""
    old_currency: str
    deep_cursor: str
    """The search's cursor at the payment nine tenths of the way back."""
    deep_webhook: str
    """The webhooks page's position nine tenths of the way back."""
    deep_delivery: int
    """The id of a delivery nine tenths of the way back (the endpoints page's ``below``)."""
    dead_job_pages: int
    """Pages of dead jobs."""
    now: datetime


def pages(marks: Landmarks) -> list[Page]:
    """Every page and partial of the console, with searches that find many payments and few."""
    day = (marks.now - timedelta(days=6), marks.now - timedelta(days=5))
    long_past = {"since": f"{day[0]:%Y-%m-%dT%H:%M}", "before": f"{day[1]:%Y-%m-%dT%H:%M}"}
    search = "/console/payments?"
    return [
        Page("overview", "overview", "/console/"),
        Page("overview_gateways", "overview: gateways (htmx)", "/console/overview/gateways", True),
        Page("attention", "attention bar (htmx)", "/console/attention", True),
        Page("search", "payments: newest", "/console/payments"),
        Page("search_paid", "payments: status paid (many)", search + "status=paid"),
        Page("search_unknown", "payments: status unknown (few)", search + "status=unknown"),
        Page(
            "search_merchant_status",
            "payments: merchant and status",
            search + "merchant=acme&status=refunded",
        ),
        Page(
            "search_gateway_currency",
            "payments: gateway and currency",
            search + "gateway=backup&currency=EUR",
        ),
        Page(
            "search_external_id",
            "payments: external id (one, old)",
            search + urlencode({"external_id": marks.old_external_id}),
        ),
        Page(
            "search_metadata_many",
            "payments: metadata (many)",
            search + "metadata_key=channel&metadata_value=web",
        ),
        Page(
            "search_metadata_one",
            "payments: metadata (one, old)",
            search + urlencode({"metadata_key": "order_id", "metadata_value": marks.old_order_id}),
        ),
        Page(
            "search_description_one",
            "payments: description (one, old)",
            search + urlencode({"description": f"{marks.old_order_id} for"}),
        ),
        Page(
            "search_description_none",
            "payments: description (none)",
            search + urlencode({"description": "no payment says this"}),
        ),
        Page(
            "search_amount",
            "payments: exact amount (one, old)",
            search
            + urlencode(
                {
                    "currency": marks.old_currency,
                    "min_amount": marks.old_amount,
                    "max_amount": marks.old_amount,
                }
            ),
        ),
        Page(
            "search_day_past",
            "payments: a day long past",
            search
            + urlencode(
                {"created_after": long_past["since"], "created_before": long_past["before"]}
            ),
        ),
        Page("search_deep", "payments: page far back", search + f"cursor={marks.deep_cursor}"),
        Page("payment", "a payment (refunded)", f"/console/payments/{marks.payment_id}"),
        Page("jobs", "jobs: open", "/console/jobs"),
        Page("jobs_table", "jobs: table (htmx)", "/console/jobs/table", True),
        Page(
            "jobs_dead_last",
            "jobs: dead, last page",
            f"/console/jobs?status=dead&page={marks.dead_job_pages}",
        ),
        Page("webhooks", "webhooks: newest", "/console/webhooks"),
        Page("webhooks_refused", "webhooks: refused", "/console/webhooks?verdict=refused"),
        Page(
            "webhooks_gateway",
            "webhooks: gateway, accepted",
            "/console/webhooks?gateway=backup&verdict=accepted",
        ),
        Page(
            "webhooks_deep",
            "webhooks: page far back",
            f"/console/webhooks?after={marks.deep_webhook}",
        ),
        Page("endpoints", "merchant endpoints", "/console/endpoints"),
        Page(
            "endpoints_failing",
            "endpoints: one's failing deliveries",
            "/console/endpoints?endpoint=bench-shop&status=failing",
        ),
        Page("endpoints_dead", "endpoints: dead deliveries", "/console/endpoints?status=dead"),
        Page(
            "endpoints_deep",
            "endpoints: page far back",
            f"/console/endpoints?below={marks.deep_delivery}",
        ),
        Page("audit", "audit: newest", "/console/audit"),
        Page("audit_operator", "audit: one operator", "/console/audit?operator=bob"),
        Page("audit_day_past", "audit: a day long past", "/console/audit?" + urlencode(long_past)),
        Page("plugins", "plugins and configuration", "/console/plugins"),
    ]


def exports() -> list[Page]:
    """The CSV files: every payment, one status's, and the whole audit."""
    return [
        Page("payments_csv", "payments.csv: every payment", "/console/payments.csv"),
        Page(
            "payments_csv_refunded",
            "payments.csv: refunded",
            "/console/payments.csv?status=refunded",
        ),
        Page("audit_csv", "audit.csv: every action", "/console/audit.csv"),
    ]


async def find_landmarks(url: str, now: datetime) -> Landmarks:
    """The landmarks of the history stored at ``url``."""
    database = Database(url, pool_size=0)
    try:
        return await database.read(lambda conn: _landmarks(conn, now))
    finally:
        await database.dispose()


def _count(conn: sa.Connection, table: sa.Table, *where: Any) -> int:
    return int(
        conn.execute(sa.select(sa.func.count()).select_from(table).where(*where)).scalar_one()
    )


def _landmarks(conn: sa.Connection, now: datetime) -> Landmarks:
    p, e = payments.c, payment_events.c
    refunded_by_operator = conn.execute(
        sa.select(p.id)
        .where(
            p.status == "refunded",
            sa.exists().where(e.payment_id == p.id, e.kind == "operator_action"),
        )
        .order_by(p.created_at.desc())
        .limit(1)
    ).scalar()
    newest = conn.execute(sa.select(p.id).order_by(p.created_at.desc()).limit(1)).scalar_one()
    paid = p.status == "paid"
    old = conn.execute(
        sa.select(p.id, p.created_at, p.external_id, p.metadata, p.amount_minor, p.currency)
        .where(paid)
        .order_by(p.created_at.desc(), p.id.desc())
        .offset(_deep(_count(conn, payments, paid)))
        .limit(1)
    ).one()
    deep = conn.execute(
        sa.select(p.created_at, p.id)
        .order_by(p.created_at.desc(), p.id.desc())
        .offset(_deep(_count(conn, payments)))
        .limit(1)
    ).one()
    received = e.body_sha256.is_not(None)
    webhook = conn.execute(
        sa.select(e.created_at, e.id)
        .where(received)
        .order_by(e.created_at.desc(), e.id.desc())
        .offset(_deep(_count(conn, payment_events, received)))
        .limit(1)
    ).one()
    d = notification_deliveries.c
    delivery = conn.execute(
        sa.select(d.id)
        .order_by(d.id.desc())
        .offset(_deep(_count(conn, notification_deliveries)))
        .limit(1)
    ).scalar_one()
    dead_jobs = _count(conn, jobs, jobs.c.status == "dead")
    amount_minor, currency = int(old.amount_minor), str(old.currency)
    return Landmarks(
        payment_id=refunded_by_operator or newest,
        old_external_id=str(old.external_id),
        old_order_id=str(old.metadata["order_id"]),
        old_amount=Amount(amount_minor, currency).decimal_text(),
        old_currency=currency,
        deep_cursor=Cursor(deep.created_at, deep.id).encode(),
        deep_webhook=position_text(ReceivedPosition(webhook.created_at, webhook.id)),
        deep_delivery=int(delivery),
        dead_job_pages=max(1, math.ceil(dead_jobs / JOBS_PAGE_SIZE)),
        now=now,
    )


def _deep(count: int) -> int:
    """The offset nine tenths of the way through ``count`` rows."""
    return max(0, count * 9 // 10 - 1)


class ConsoleSession:
    """A browser's session of the console: its cookie, sent on every request (the cookies are
    Secure outside the demo, so a client over plain HTTP sends them by hand, as the tests do)."""

    def __init__(self, server: Child) -> None:
        self.server = server
        self.client = httpx.Client(
            base_url=server.base_url, timeout=TIMEOUT_SECONDS, follow_redirects=False
        )
        self.cookie = ""

    def close(self) -> None:
        """Close the connection."""
        self.client.close()

    def sign_in(self, operator: str, password: str) -> None:
        """Get the sign-in form, post it with its CSRF token and keep the session's cookie."""
        form = self.client.get(SIGN_IN)
        token = _CSRF.search(form.text)
        form_cookie = _cookie(form, SIGN_IN_COOKIE)
        if form.status_code != 200 or token is None or form_cookie is None:
            raise BenchError(
                f"no sign-in form at {SIGN_IN} ({form.status_code}): {form.text[:300]}"
            )
        answer = self.client.post(
            SIGN_IN,
            data={"csrf_token": token[1], "name": operator, "password": password, "next": ""},
            headers={
                "Cookie": f"{SIGN_IN_COOKIE}={form_cookie}",
                "Origin": self.server.base_url,
                "Sec-Fetch-Site": "same-origin",
            },
        )
        session = _cookie(answer, SESSION_COOKIE)
        if answer.status_code != 303 or not session:
            raise BenchError(f"signing in failed ({answer.status_code}): {answer.text[:300]}")
        self.cookie = session

    def get(self, page: Page) -> httpx.Response:
        """The page, as the browser of a signed-in operator asks for it."""
        return self.client.get(page.path, headers=self._headers(page))

    def _headers(self, page: Page) -> dict[str, str]:
        headers = {"Cookie": f"{SESSION_COOKIE}={self.cookie}", "Accept": "text/html"}
        if page.htmx:
            headers["HX-Request"] = "true"
        return headers

    def measure(self, page: Page, *, warmup: int, rounds: int) -> PageFigure:
        """Ask for the page ``warmup`` times, then ``rounds`` times timed."""
        for _ in range(warmup):
            self.get(page)
        server_ms, client_ms, statuses, sizes = [], [], [], []
        cpu_before = self.server.cpu_seconds()
        for _ in range(rounds):
            started = time.perf_counter()
            answer = self.get(page)
            client_ms.append((time.perf_counter() - started) * 1000)
            statuses.append(answer.status_code)
            sizes.append(len(answer.content))
            timing = server_timing_ms(answer)
            if timing is not None:
                server_ms.append(timing)
        cpu = self.server.cpu_seconds() - cpu_before
        return PageFigure(
            key=page.key,
            label=page.label,
            path=page.path,
            statuses=statuses,
            bytes=max(sizes),
            server_ms_p50=statistics.median(server_ms) if server_ms else None,
            server_ms_max=max(server_ms) if server_ms else None,
            client_ms_p50=statistics.median(client_ms),
            client_ms_max=max(client_ms),
            cpu_ms=cpu * 1000 / rounds,
            requests=rounds,
        )

    def export(self, page: Page) -> ExportFigure:
        """Download a CSV file once, read to its end."""
        cpu_before = self.server.cpu_seconds()
        started = time.perf_counter()
        size = lines = 0
        with self.client.stream("GET", page.path, headers=self._headers(page)) as answer:
            for chunk in answer.iter_bytes():
                size += len(chunk)
                lines += chunk.count(b"\n")
        seconds = time.perf_counter() - started
        return ExportFigure(
            key=page.key,
            label=page.label,
            path=page.path,
            status=answer.status_code,
            rows=max(lines - 1, 0),
            bytes=size,
            seconds=seconds,
            first_page_ms=server_timing_ms(answer),
            cpu_seconds=self.server.cpu_seconds() - cpu_before,
        )


def server_timing_ms(answer: httpx.Response) -> float | None:
    """The server's time over the answer, from its ``Server-Timing`` header."""
    found = _TIMING.search(answer.headers.get("server-timing", ""))
    return float(found[1]) if found else None


def _cookie(answer: httpx.Response, name: str) -> str | None:
    for header in answer.headers.get_list("set-cookie"):
        if header.startswith(f"{name}="):
            return header.split(";", 1)[0].split("=", 1)[1]
    return None


def idle_cpu_ms_per_second(server: Child, seconds: float = 2.0) -> float:
    """The server's CPU while nobody asks it anything (its job worker looking for due jobs)."""
    before = server.cpu_seconds()
    time.sleep(seconds)
    return (server.cpu_seconds() - before) * 1000 / seconds
