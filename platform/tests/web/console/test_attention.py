"""The attention bar (``web/console/attention``): what needs an operator, counted from what
every process stored, each linking to the page that mends it."""

from __future__ import annotations

import contextlib
import html
import re
import uuid
from datetime import timedelta

import msgspec
import sqlalchemy as sa
from console_app import T0, ConsoleFactory, store_payment
from core_fixtures import WallClock
from payments_platform import errors, jobs, schema
from payments_platform.breaker import BreakerState, WindowSnapshot
from payments_platform.jobs import JobKind, JobStatus
from payments_platform.lifecycle import PaymentStatus
from payments_platform.process_breakers import STALE_AFTER, BreakerReport, ProcessIdentity
from payments_platform.store import process_breakers
from payments_platform.usecases import initiate, webhooks
from payments_plugins import Amount, GatewayUnavailable, VendorPaymentStatus, WebhookEvent
from scripted import new_script


def _items(bar: str) -> dict[str, str]:
    return dict(re.findall(r'data-attention="([^"]+)"><a href="([^"]+)"', bar))


async def test_nothing_to_do_says_so(open_console: ConsoleFactory) -> None:
    async with open_console() as console:
        await console.sign_in()
        bar = (await console.get("/console/attention")).text
        overview = (await console.get("/console/")).text

    assert 'data-attention="none"' in bar
    assert 'data-attention-count="0"' in bar
    assert 'hx-get="/console/attention"' in overview


async def test_dead_jobs_overdue_unknowns_open_breakers_and_refused_webhooks_are_shown(
    open_console: ConsoleFactory,
) -> None:
    name, script = new_script()
    for _ in range(6):
        script.fail("initiate", GatewayUnavailable("connection refused"))
    quick_breaker = {"strategy": "priority", "breaker": {"minimum_calls": 3}}
    async with open_console({"gw": name}, routing=quick_breaker) as console:
        dead_for = await store_payment(console)
        await store_payment(console, status=PaymentStatus.UNKNOWN)  # at T0: long overdue

        def bury(conn: sa.Connection) -> None:
            job = jobs.enqueue(conn, JobKind.EXPIRE, dead_for, now=T0, max_attempts=1)
            conn.execute(
                sa.update(schema.jobs).where(schema.jobs.c.id == job).values(status=JobStatus.DEAD)
            )

        await console.runtime.database.write(bury)
        deps = console.runtime.deps
        for _ in range(6):  # the breaker opens
            with contextlib.suppress(errors.NoGatewayAvailable):
                await initiate.start_payment(deps, uuid.uuid4(), Amount(100, "AED"))
        unknown = WebhookEvent(external_id="nobody-knows", status=VendorPaymentStatus.PAID)
        with contextlib.suppress(errors.PaymentNotFound):
            await webhooks.apply_webhook(
                deps, [deps.gateways["gw"]], {}, msgspec.json.encode(unknown)
            )
        await console.sign_in()
        bar = (await console.get("/console/attention")).text

    shown = _items(bar)
    assert shown["dead-jobs"] == "/console/jobs?status=dead"
    assert shown["unknown"] == "/console/payments?status=unknown"
    assert shown["breaker-gw"] == "/console/"
    # The refused webhooks are listed on the webhooks page, of that gateway, refused ones only.
    assert html.unescape(shown["refused-gw"]) == "/console/webhooks?gateway=gw&verdict=refused"
    assert f'data-attention-count="{len(shown)}"' in bar
    assert "1 dead job(s)" in bar
    assert "gw&#39;s breaker is open in 1 of 1 process(es)" in bar


async def test_open_breakers_of_every_process_heard_from_are_counted(
    open_console: ConsoleFactory, wall_clock: WallClock
) -> None:
    """This process's breakers are closed; another process, heard from a second ago, has
    json's open, and one silent for longer than STALE_AFTER (gone, perhaps) has both open: the
    bar counts the first, not the second, and names a gateway only other processes route to."""
    json, soap = new_script()[0], new_script()[0]

    def report(process: ProcessIdentity, gateway: str, silent: timedelta) -> BreakerReport:
        return BreakerReport(
            process=process,
            gateway=gateway,
            state=BreakerState.OPEN,
            since=wall_clock.now - timedelta(minutes=1),
            consecutive_failures=10,
            window=WindowSnapshot(10, 10),
            reported_at=wall_clock.now - silent,
        )

    heard = ProcessIdentity("web-2", 17, T0)
    silent = ProcessIdentity("web-3", 18, T0)
    async with open_console({"json": json, "soap": soap}) as console:

        def record(conn: sa.Connection) -> None:
            process_breakers.record(
                conn,
                [
                    report(heard, "json", timedelta(seconds=1)),
                    report(heard, "acme", timedelta(seconds=1)),
                ],
            )
            stale = STALE_AFTER + timedelta(seconds=1)
            process_breakers.record(
                conn, [report(silent, "json", stale), report(silent, "soap", stale)]
            )

        await console.runtime.database.write(record)
        await console.sign_in()
        bar = (await console.get("/console/attention")).text

    assert list(_items(bar)) == ["breaker-json", "breaker-acme"]
    assert "json&#39;s breaker is open in 1 of 2 process(es)" in bar
    assert "acme&#39;s breaker is open in 1 of 1 process(es)" in bar
