"""The overview (``web/console/overview``): the gateways' last five minutes and hour from the
stored attempts, their latest run of failures, every process's breakers, the payments that are
stuck, the money vendors took after the platform gave a payment up, and the webhooks
refused."""

from __future__ import annotations

import contextlib
import re
import uuid
from datetime import timedelta

import pytest
import sqlalchemy as sa
from console_app import T0, ConsoleFactory, console_factory, store_payment
from core_fixtures import WallClock
from payments_platform import errors
from payments_platform.breaker import BreakerState, WindowSnapshot
from payments_platform.lifecycle import PaymentStatus
from payments_platform.process_breakers import (
    DROPPED_AFTER,
    STALE_AFTER,
    BreakerReport,
    ProcessIdentity,
)
from payments_platform.scoring import Segment, Tally
from payments_platform.store import process_breakers
from payments_platform.usecases import initiate, webhooks
from payments_plugins import Amount, GatewayOutcomeUnknown, GatewayUnavailable, VendorPaymentStatus
from runtime_steps import QUICK, given_up_as_not_received, webhook
from scripted import accepted, new_script, vendor_says

BREAKER = {"strategy": "priority", "breaker": {"minimum_calls": 3, "open_seconds": 600}}


def _row(page: str, gateway: str) -> str:
    found = re.search(rf'<tr data-gateway="{gateway}">(.*?)</tr>', page, re.DOTALL)
    assert found is not None, page
    return found[1]


def _chart(page: str, gateway: str) -> str:
    found = re.search(
        rf'<tr class="chart" data-gateway-chart="{gateway}">(.*?)</tr>', page, re.DOTALL
    )
    assert found is not None, page
    return found[1]


def _cell(row: str, attribute: str) -> str:
    found = re.search(rf"<[^>]*{attribute}[^>]*>([^<]*)<", row)
    assert found is not None, row
    return found[1].strip()


async def test_the_overview_shows_the_outage_the_open_breaker_and_where_traffic_went(
    open_console: ConsoleFactory,
) -> None:
    json_name, json_script = new_script()
    soap_name, soap_script = new_script()
    for _ in range(3):
        json_script.fail("initiate", GatewayUnavailable("503 Service Unavailable"))
    for number in range(5):
        soap_script.answer("initiate", accepted(f"soap-{number}"))
    async with open_console({"json": json_name, "soap": soap_name}, routing=BREAKER) as console:
        for _ in range(5):
            await initiate.start_payment(console.runtime.deps, uuid.uuid4(), Amount(100, "AED"))
        await console.sign_in()

        page = (await console.get("/console/")).text
        refreshed = await console.get("/console/overview/gateways")

    json, soap = _row(page, "json"), _row(page, "soap")
    assert _cell(json, "data-breaker") == "open"
    assert _cell(soap, "data-breaker") == "closed"
    assert _cell(json, "data-attempts") == "3"
    assert _cell(soap, "data-attempts") == "5"
    assert _cell(soap, "data-share") == "100%"
    assert "failing since" in _chart(page, "json")
    assert "failing since" not in _chart(page, "soap")
    assert "this process" in page
    # The last five minutes: every json call failed.
    assert _cell(json, "data-recent-calls") == "3"
    assert _cell(json, "data-recent-success") == "0%"
    assert _cell(json, "data-recent-failed") == "3"
    # The part that refreshes itself is the same table, without the page around it.
    assert refreshed.status_code == 200
    assert refreshed.text.lstrip().startswith('<section id="gateways"')
    assert 'hx-trigger="every 5s"' in refreshed.text
    assert _cell(_row(refreshed.text, "json"), "data-breaker") == "open"


async def test_the_overview_shows_money_taken_after_giving_up_and_refused_webhooks(
    database_url: str, wall_clock: WallClock
) -> None:
    """The operator sees each payment a vendor took after the platform gave it up, and the
    webhooks refused by gateway and reason (a wrong webhook secret shows as many
    invalid-webhook refusals), on the overview."""
    name, script = new_script()
    script.fail("initiate", GatewayOutcomeUnknown("read timeout"))
    script.answer("status", vendor_says(VendorPaymentStatus.NOT_FOUND))
    open_console = console_factory(database_url, wall_clock)
    async with open_console({"gw": name}, **QUICK) as console:
        runtime = console.runtime
        payment_id = await given_up_as_not_received(runtime, wall_clock)
        live = runtime.deps.gateways["gw"]
        await webhooks.apply_webhook(runtime.deps, [live], {}, webhook("ext-r", "paid", payment_id))
        for body in (b"not json", b"[]"):
            with pytest.raises(errors.WebhookRejected):
                await webhooks.apply_webhook(runtime.deps, [live], {}, body)
        with pytest.raises(errors.PaymentNotFound):
            await webhooks.apply_webhook(runtime.deps, [live], {}, webhook("nobody", "paid"))
        await console.sign_in()

        page = (await console.get("/console/")).text

        recovered = page.split("data-recovered", 1)[1].split("</div>", 1)[0]
        assert str(payment_id) in recovered
        assert "recovered to paid" in recovered
        refused = page.split("data-refused-webhooks", 1)[1].split("</div>", 1)[0]
        rows = re.findall(
            r"<th scope=\"row\">(\w+)</th><td>([\w-]+)</td><td[^>]*>(\d+)</td>", refused
        )
        assert rows == [("gw", "invalid-webhook", "2"), ("gw", "payment-not-found", "1")]


async def test_the_overview_lists_the_payments_that_are_stuck(
    open_console: ConsoleFactory, wall_clock: WallClock
) -> None:
    async with open_console() as console:
        await console.sign_in()
        unknown = await store_payment(console, status=PaymentStatus.UNKNOWN)
        old_pending = await store_payment(console)
        minutes_ago = int((wall_clock.now - T0).total_seconds() // 60)
        fresh_pending = await store_payment(console, minutes=minutes_ago)
        paid = await store_payment(console, status=PaymentStatus.PAID)

        page = (await console.get("/console/")).text

    sections = dict(re.findall(r'<div data-stuck="(\w+)">(.*?)</div>', page, re.DOTALL))
    assert str(unknown) in sections["unknown"]
    assert str(old_pending) in sections["pending"]
    assert str(fresh_pending) not in page
    assert str(paid) not in page


async def test_a_failing_gateway_nobody_calls_says_so_then_recovers_at_its_first_answer(
    open_console: ConsoleFactory, wall_clock: WallClock
) -> None:
    """Issue: "failing since" stayed for minutes after the vendor recovered, because no call
    reached it. Once its last call is a minute old, the overview says there were no calls
    since; the first answered call after the failures is when it recovered."""
    name, script = new_script()
    script.fail("initiate", GatewayUnavailable("503 Service Unavailable"))
    script.fail("initiate", GatewayUnavailable("503 Service Unavailable"))
    script.answer("initiate", accepted("json-1"))
    async with open_console({"json": name}) as console:
        deps = console.runtime.deps
        failed_at = wall_clock.now
        for _ in range(2):
            with contextlib.suppress(errors.NoGatewayAvailable):
                await initiate.start_payment(deps, uuid.uuid4(), Amount(100, "AED"))
        await console.sign_in()

        failing = _chart((await console.get("/console/")).text, "json")
        wall_clock.advance(90)
        quiet_page = (await console.get("/console/")).text
        wall_clock.advance(5 * 60)
        await initiate.start_payment(deps, uuid.uuid4(), Amount(100, "AED"))
        recovered_page = (await console.get("/console/")).text

    assert f"failing since {failed_at:%Y-%m-%d %H:%M:%S} UTC" in failing
    quiet = _chart(quiet_page, "json")
    assert "failing since" not in quiet
    assert f"no calls since {failed_at:%Y-%m-%d %H:%M:%S} UTC" in quiet
    recovered = _chart(recovered_page, "json")
    assert f"recovered at {wall_clock.now:%Y-%m-%d %H:%M:%S} UTC" in recovered
    assert "no calls since" not in recovered
    # Six and a half minutes on, the last five hold the one accepted call; the hour all three.
    row = _row(recovered_page, "json")
    assert (_cell(row, "data-recent-calls"), _cell(row, "data-recent-success")) == ("1", "100%")
    assert (_cell(row, "data-attempts"), _cell(row, "data-success")) == ("3", "33%")


async def test_every_process_s_breaker_is_shown_the_silent_ones_as_stale_then_not_at_all(
    open_console: ConsoleFactory, wall_clock: WallClock
) -> None:
    name, _script = new_script()
    others = {
        "web-2": ProcessIdentity("web-2", 17, T0),
        "worker-1": ProcessIdentity("worker-1", 99, T0),
        "web-0": ProcessIdentity("web-0", 5, T0),
    }
    silent = {
        "web-2": timedelta(seconds=3),
        "worker-1": STALE_AFTER + timedelta(seconds=1),
        "web-0": DROPPED_AFTER,
    }
    async with open_console({"json": name}) as console:
        runtime = console.runtime
        recorder = runtime.breaker_recorder()
        assert recorder is not None
        assert await recorder.record_if_due()  # this process's row, which the page replaces

        def record_others(conn: sa.Connection) -> None:
            for label, process in others.items():
                process_breakers.record(
                    conn,
                    [
                        BreakerReport(
                            process=process,
                            gateway="json",
                            state=BreakerState.OPEN,
                            since=wall_clock.now - timedelta(minutes=2),
                            consecutive_failures=12,
                            window=WindowSnapshot(12, 12),
                            reported_at=wall_clock.now - silent[label],
                        )
                    ],
                )

        await runtime.database.write(record_others)
        await console.sign_in()
        page = (await console.get("/console/")).text

    chart = _chart(page, "json")
    shown = re.findall(r'<li data-process="([^"]+)"( class="stale")?>', chart)
    this = runtime.process.label
    assert shown == [(this, ""), ("web-2:17", ""), ("worker-1:99", ' class="stale"')]
    said = " ".join(re.sub(r"<[^>]+>", "", chart).split())
    assert f"{this} (this process): closed since" in said
    assert "web-2:17: open since" in said
    assert "12 call(s) failed in a row, 12 of 12 failed in its window" in said
    assert "stale: not heard from since" in said
    badges = re.findall(r'data-breaker="(\w+)"', _row(page, "json"))
    assert badges == ["closed", "open", "open"]


async def test_each_gateway_shows_what_every_process_learned_of_it_by_segment(
    open_console: ConsoleFactory,
) -> None:
    good, _ = new_script()
    flaky, _ = new_script()
    routing = {"strategy": "adaptive", "scores": {"prior_strength": 0, "amount_bands": [5000]}}
    async with open_console({"good": good, "flaky": flaky}, routing=routing) as console:
        board = console.runtime.deps.routing.scores
        board.add(
            [
                Tally("good", Segment("AED", 0), accepted=93, declined=7, failed=0),
                Tally("flaky", Segment("AED", 1), accepted=1, declined=0, failed=9),
            ],
            at=board.refreshed_at or 0.0,
        )
        await console.sign_in()
        page = (await console.get("/console/")).text

    good_scores = _chart(page, "good")
    assert "AED 93% of 100" in good_scores
    assert "AED 0-4999 93% of 100" in good_scores
    flaky_scores = _chart(page, "flaky")
    assert "AED &gt;=5000 10% of 10" in flaky_scores
    assert "tried last in AED: its recent calls mostly failed" in flaky_scores
    assert "routing uses it only with" not in good_scores
