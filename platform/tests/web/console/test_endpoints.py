"""The merchant endpoints page (``web/console/endpoints``): each endpoint with its deliveries
failing and what its latest say of it, its deliveries by status a page at a time, and dead ones
sent again (one, or those of a period) through their jobs, each in its payment's log with the
operator's name; and the attention bar's failing endpoints leading there."""

from __future__ import annotations

import html
import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from console_app import ConsoleClient, ConsoleFactory
from core_fixtures import Receiver, WallClock, deliver_all, endpoint_settings
from payments_platform.usecases import initiate
from payments_platform.web.console.endpoints import period_bounds
from payments_plugins import Amount
from scripted import accepted, new_script

AED_1 = Amount(100, "AED")
NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def _deliveries(page: str) -> dict[str, str]:
    """Each delivery's status, by its id."""
    return dict(re.findall(r'<tr data-delivery="(\d+)" data-status="(\w+)">', page))


async def _dead_deliveries(
    console: ConsoleClient, wall_clock: WallClock, receiver: Receiver, payments: int
) -> list[uuid.UUID]:
    """``payments`` payments whose one notification each the endpoint refuses until it is
    dead; their ids."""
    receiver.answer = 503
    started = []
    for _ in range(payments):
        found = await initiate.start_payment(console.runtime.deps, uuid.uuid4(), AED_1)
        started.append(found.payment.id)
    for _ in range(40):
        await deliver_all(console.runtime)
        wall_clock.advance(30)
    return started


def _notifications(receiver: Receiver, **extra: Any) -> dict[str, Any]:
    return endpoint_settings(receiver.url, retry_for_seconds=60, **extra)


async def test_dead_deliveries_are_shown_and_sent_again_one_or_all_in_the_operators_name(
    open_console: ConsoleFactory, wall_clock: WallClock, receiver: Receiver
) -> None:
    name, script = new_script()
    for number in range(3):
        script.answer("initiate", accepted(f"ext-{number}"))
    async with open_console({"gw": name}, notifications=_notifications(receiver)) as console:
        paid = await _dead_deliveries(console, wall_clock, receiver, 3)
        await console.sign_in()
        overview = (await console.get("/console/endpoints")).text
        dead = (await console.get("/console/endpoints?endpoint=shop&status=dead")).text
        without_token = await console.post("/console/endpoints/resend-dead", {"period": "ever"})

        receiver.answer = 204
        one = next(iter(_deliveries(dead)))
        resent = await console.act(f"/console/endpoints/deliveries/{one}/resend")
        after_one = (await console.get(resent.headers["location"])).text
        again = await console.act(f"/console/endpoints/deliveries/{one}/resend")
        after_again = (await console.get(again.headers["location"])).text
        every = await console.act(
            "/console/endpoints/resend-dead",
            {"endpoint": "shop", "period": "day", "to": "", "from": ""},
        )
        after_every = (await console.get(every.headers["location"])).text
        await deliver_all(console.runtime)
        delivered = (await console.get("/console/endpoints?endpoint=shop")).text
        timeline = (await console.get(f"/console/payments/{paid[0]}")).text

    shop = re.search(r'<tr data-endpoint="shop">(.*?)</tr>', overview, re.S)
    assert shop is not None
    assert re.search(r"data-dead><a [^>]*>3</a>", shop[1])
    assert "answered 503" in shop[1]
    assert "0 delivered, 3 failing" in shop[1]
    assert receiver.url in shop[1]
    assert set(_deliveries(dead).values()) == {"dead"}
    assert len(_deliveries(dead)) == 3
    assert 'data-confirm="Send delivery' in dead
    assert without_token.status_code == 403
    assert f"Delivery {one} will be sent again" in html.unescape(after_one)
    assert f"Delivery {one} is not dead" in html.unescape(after_again)
    assert "2 dead delivery(ies) will be sent again" in html.unescape(after_every)
    assert set(_deliveries(delivered).values()) == {"delivered"}
    assert len(receiver.delivered()) == 3
    assert "operator alice: retry_job" in timeline
    assert "alice re-sent notification delivery" in html.unescape(timeline)


async def test_a_period_takes_the_dead_deliveries_of_its_events_only(
    open_console: ConsoleFactory, wall_clock: WallClock, receiver: Receiver
) -> None:
    name, script = new_script()
    for number in range(2):
        script.answer("initiate", accepted(f"ext-{number}"))
    async with open_console({"gw": name}, notifications=_notifications(receiver)) as console:
        await _dead_deliveries(console, wall_clock, receiver, 2)  # their events: 20 min ago
        await console.sign_in()

        async def resend(**form: str) -> str:
            answer = await console.act("/console/endpoints/resend-dead", form)
            return html.unescape((await console.get(answer.headers["location"])).text)

        start = (wall_clock.now - timedelta(days=2)).strftime("%Y-%m-%dT%H:%M")
        end = (wall_clock.now - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
        before = await resend(period="between", **{"from": start, "to": end})
        backwards = await resend(period="between", **{"from": end, "to": start})
        unknown = await resend(period="fortnight")
        hour = await resend(period="hour")  # their events came 20 minutes ago

    assert "2 dead delivery(ies) will be sent again" in hour
    assert "0 dead delivery(ies) will be sent again" in before
    assert "Nothing was done: the period" in backwards
    assert "Nothing was done: the period" in unknown


async def test_an_endpoint_taken_out_of_the_config_still_shows_its_failing_deliveries(
    open_console: ConsoleFactory, wall_clock: WallClock, receiver: Receiver
) -> None:
    name, script = new_script()
    script.answer("initiate", accepted("ext-1"))
    async with open_console({"gw": name}, notifications=_notifications(receiver)) as console:
        await _dead_deliveries(console, wall_clock, receiver, 1)
    name, _ = new_script()
    async with open_console({"gw": name}) as console:  # the same database, no endpoint
        await console.sign_in()
        page = (await console.get("/console/endpoints")).text
        bar = (await console.get("/console/attention")).text

    shop = re.search(r'<tr data-endpoint="shop">(.*?)</tr>', page, re.S)
    assert shop is not None
    assert "no longer in the config" in shop[1]
    link = re.search(r'data-attention="endpoint-shop"><a href="([^"]+)"', bar)
    assert link is not None
    assert html.unescape(link[1]) == "/console/endpoints?endpoint=shop&status=failing"


async def test_deliveries_are_paged_latest_first(
    open_console: ConsoleFactory, receiver: Receiver
) -> None:
    name, script = new_script()
    for number in range(55):
        script.answer("initiate", accepted(f"ext-{number}"))
    async with open_console({"gw": name}, notifications=_notifications(receiver)) as console:
        for _ in range(55):
            await initiate.start_payment(console.runtime.deps, uuid.uuid4(), AED_1)
        await deliver_all(console.runtime)
        await console.sign_in()
        first = (await console.get("/console/endpoints")).text
        older = re.search(r'href="(/console/endpoints\?[^"]+)" rel="next"', first)
        assert older is not None
        second = (await console.get(html.unescape(older[1]))).text

    on_first, on_second = list(_deliveries(first)), list(_deliveries(second))
    assert (len(on_first), len(on_second)) == (50, 5)
    every = [int(n) for n in on_first + on_second]
    assert every == sorted(every, reverse=True)
    assert len(set(every)) == 55
    shop = re.search(r'<tr data-endpoint="shop">(.*?)</tr>', first, re.S)
    assert shop is not None
    assert "55 delivered, 0 failing" in shop[1]
    assert re.search(r"data-answer-time>\d", shop[1])


async def test_a_delivery_or_a_page_no_delivery_can_be_is_refused(
    open_console: ConsoleFactory,
) -> None:
    async with open_console() as console:
        await console.sign_in()
        too_far = await console.act(f"/console/endpoints/deliveries/{2**63}/resend")
        none = await console.act("/console/endpoints/deliveries/0/resend")
        unknown = await console.act("/console/endpoints/deliveries/7/resend")
        below = await console.get(f"/console/endpoints?below={2**64}")
        status = await console.get("/console/endpoints?status=asleep")

    assert (too_far.status_code, none.status_code) == (400, 400)
    assert unknown.status_code == 303
    assert "notice=not_resent" in unknown.headers["location"]
    assert (below.status_code, status.status_code) == (400, 400)


@pytest.mark.parametrize(
    ("period", "start", "end", "bounds"),
    [
        ("hour", "", "", (NOW - timedelta(hours=1), None)),
        ("day", "", "", (NOW - timedelta(days=1), None)),
        ("week", "", "", (NOW - timedelta(days=7), None)),
        ("ever", "", "", (None, None)),
        (
            "between",
            "2026-11-30T10:00",
            "2026-11-30T11:30:15",
            (
                datetime(2026, 11, 30, 10, tzinfo=UTC),
                datetime(2026, 11, 30, 11, 30, 15, tzinfo=UTC),
            ),
        ),
        ("between", "2026-11-30T11:00", "2026-11-30T10:00", None),
        ("between", "2026-11-30T11:00", "", None),
        ("between", "yesterday", "2026-11-30T10:00", None),
        ("fortnight", "", "", None),
    ],
)
def test_the_period_of_a_resend_is_read_in_utc(
    period: str,
    start: str,
    end: str,
    bounds: tuple[datetime | None, datetime | None] | None,
) -> None:
    assert period_bounds(period, NOW, start, end) == bounds
