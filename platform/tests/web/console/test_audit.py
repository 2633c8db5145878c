"""The operators' audit in the console (``web/console/audit``): what every operator did, newest
first, by operator and time, a page at a time, and as a CSV file with the same filters."""

from __future__ import annotations

import csv
import html
import io
import re
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from console_app import T0, ConsoleClient, ConsoleFactory
from payments_platform.errors import DatabaseUnavailable
from payments_platform.store import events
from payments_platform.usecases import initiate
from payments_plugins import Amount, CancelResult
from scripted import accepted, new_script


def _listed(page: str) -> list[tuple[str, str]]:
    """(operator, action) of each row shown, in order."""
    rows = re.findall(
        r'<tr data-action="\d+">\s*<td>[^<]*</td>\s*<td>([^<]*)</td>\s*<td>([^<]*)</td>', page
    )
    return [(html.unescape(operator), html.unescape(action)) for operator, action in rows]


async def _record(
    console: ConsoleClient,
    operator: str,
    action: str,
    *,
    minutes: int = 0,
    payment_id: uuid.UUID | None = None,
    reason: str | None = None,
    accepted: bool | None = None,
    **detail: Any,
) -> None:
    """An operator action as the platform records it, ``minutes`` after T0."""

    def write(conn: sa.Connection) -> None:
        events.record_operator_action(
            conn,
            payment_id=payment_id,
            operator=operator,
            action=action,
            reason=reason or f"{operator} did {action}",
            accepted=accepted,
            now=T0 + timedelta(minutes=minutes),
            **detail,
        )

    await console.runtime.database.write(write)


def _csv(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text)))


async def test_an_operator_s_actions_and_sign_in_are_listed_newest_first(
    open_console: ConsoleFactory,
) -> None:
    name, script = new_script(capable=True)
    script.answer("initiate", accepted("ext-1"))
    script.answer("cancel", CancelResult())
    async with open_console({"gw": name}) as console:
        payment_id = uuid.uuid4()
        await initiate.start_payment(console.runtime.deps, payment_id, Amount(100, "AED"))
        await console.sign_in()
        await console.act(f"/console/payments/{payment_id}/cancel")

        page = await console.get("/console/audit")

    assert page.status_code == 200
    assert _listed(page.text) == [("alice", "cancel"), ("alice", "sign_in")]
    assert f'href="/console/payments/{payment_id}"' in page.text
    assert "alice cancelled the payment" in page.text
    assert "alice signed in to the console from" in page.text
    assert 'aria-current="page">Audit</a>' in page.text


async def test_the_audit_is_found_by_operator_and_time_and_a_refusal_says_so(
    open_console: ConsoleFactory,
) -> None:
    async with open_console() as console:
        await console.sign_in()
        await _record(console, "bob", "retry_job", minutes=10, job_id=7)
        await _record(console, "alice", "refund", minutes=20, accepted=False, problem="x")
        await _record(console, "bob", "cancel", minutes=30)

        bobs = await console.get("/console/audit?operator=bob")
        window = await console.get(
            "/console/audit?since=2026-12-01T09:10&before=2026-12-01T09:30:00"
        )
        offset = await console.get(
            "/console/audit", params={"operator": "bob", "since": "2026-12-01T10:25+01:00"}
        )

    assert _listed(bobs.text) == [("bob", "cancel"), ("bob", "retry_job")]
    assert '{"job_id":7}' in html.unescape(bobs.text)
    assert _listed(window.text) == [("alice", "refund"), ("bob", "retry_job")]
    assert '<span class="status refused">refused</span>' in window.text
    assert _listed(offset.text) == [("bob", "cancel")]
    # The form shows the filters again, and the CSV link carries them.
    assert 'name="operator" value="bob"' in bobs.text
    assert 'href="/console/audit.csv?operator=bob"' in bobs.text


async def test_the_audit_comes_a_page_at_a_time(open_console: ConsoleFactory) -> None:
    async with open_console() as console:
        for minute in range(55):
            await _record(console, "bob", f"act-{minute}", minutes=minute)
        await console.sign_in()

        first = await console.get("/console/audit?operator=bob")
        older = re.search(r'href="(/console/audit\?[^"]+)" rel="next"', first.text)
        assert older is not None
        second = await console.get(html.unescape(older[1]))

    newest_first = [("bob", f"act-{minute}") for minute in reversed(range(55))]
    assert _listed(first.text) == newest_first[:50]
    assert _listed(second.text) == newest_first[50:]
    assert 'rel="next"' not in second.text
    assert 'href="/console/audit?operator=bob">Newest</a>' in second.text


async def test_the_csv_holds_every_action_found_each_cell_safe_in_a_spreadsheet(
    open_console: ConsoleFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("payments_platform.web.console.audit.CSV_PAGE_SIZE", 2)
    payment_id = uuid.uuid4()
    async with open_console() as console:
        await _record(console, "bob", "cancel", minutes=1, payment_id=payment_id)
        await _record(console, "@carol", "retry_job", minutes=2, reason="=HYPERLINK(1)", via="x")
        await _record(console, "bob", "refund", minutes=3, accepted=False)
        await _record(console, "bob", "reconcile", minutes=4)
        await _record(console, "dave", "cancel", minutes=5)
        await console.sign_in()

        everything = await console.get("/console/audit.csv")
        bobs = await console.get("/console/audit.csv?operator=bob&before=2026-12-01T09:04")

    assert everything.status_code == 200
    assert everything.headers["content-type"] == "text/csv; charset=utf-8"
    assert re.fullmatch(
        r'attachment; filename="audit-\d{8}T\d{6}Z\.csv"',
        everything.headers["content-disposition"],
    )
    assert everything.headers["cache-control"] == "no-store"
    rows = _csv(everything.text)
    assert rows[0] == [
        "time_utc",
        "operator",
        "action",
        "payment_id",
        "outcome",
        "reason",
        "detail",
    ]
    assert [row[1:3] for row in rows[1:]] == [
        ["alice", "sign_in"],
        ["dave", "cancel"],
        ["bob", "reconcile"],
        ["bob", "refund"],
        ["'@carol", "retry_job"],
        ["bob", "cancel"],
    ]
    carol = rows[5]
    assert carol == [
        "2026-12-01T09:02:00.000000Z",
        "'@carol",
        "retry_job",
        "",
        "accepted",
        "'=HYPERLINK(1)",
        '{"via":"x"}',
    ]
    assert rows[4][4] == "refused"
    assert rows[6][3] == str(payment_id)
    assert [row[2] for row in _csv(bobs.text)[1:]] == ["refund", "cancel"]


@pytest.mark.parametrize(
    ("query", "complaint"),
    [
        ("since=yesterday", "since 'yesterday' is not a time"),
        ("before=0001-01-01T00:00%2B01:00", "before '0001-01-01T00:00+01:00' is not a time"),
        ("operator=%00", "operator contains a NUL character"),
        ("operator=" + "x" * 65, "is longer than any operator's name"),
        ("operator=" + "x" * 201, "operator has 201 characters, more than 200"),
        ("below=-1", "the page asked for is not one this audit gave"),
        ("below=99999999999999999999999", "the page asked for is not one this audit gave"),
    ],
)
async def test_an_audit_search_that_cannot_be_read_says_why_as_a_page_or_instead_of_a_file(
    open_console: ConsoleFactory, query: str, complaint: str
) -> None:
    async with open_console() as console:
        await console.sign_in()
        page = await console.get(f"/console/audit?{query}")
        download = await console.get(f"/console/audit.csv?{query}")

    assert page.status_code == 200
    assert complaint in html.unescape(page.text)
    assert "<table" not in page.text
    assert download.status_code == 400
    assert download.headers["content-type"].startswith("text/html")
    assert complaint in html.unescape(download.text)


async def test_a_database_out_of_reach_is_an_error_page_not_a_file_cut_short(
    open_console: ConsoleFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def unreachable(*_: object, **__: object) -> AsyncIterator[list[object]]:
        raise DatabaseUnavailable("the database is down", retry_after=1)
        yield []

    monkeypatch.setattr("payments_platform.web.console.audit.every_operator_action", unreachable)
    async with open_console() as console:
        await console.sign_in()
        answer = await console.get("/console/audit.csv")

    assert answer.status_code == 503
    assert answer.headers["content-type"].startswith("text/html")
    assert answer.headers["retry-after"] == "1"


@pytest.mark.parametrize("path", ["/console/audit", "/console/audit.csv?operator=alice"])
async def test_the_audit_needs_a_signed_in_operator(
    open_console: ConsoleFactory, path: str
) -> None:
    async with open_console() as console:
        await _record(console, "alice", "cancel")
        answer = await console.get(path)

    assert answer.status_code == 303
    assert answer.headers["location"].startswith("/console/sign-in?next=")
    assert "alice" not in answer.text
