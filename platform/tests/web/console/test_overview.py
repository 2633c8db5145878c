"""What the console's pages show: the gateways' hour from the stored attempts with this
process's breakers, a payment's timeline, the jobs, the plugins and the configuration without
its secrets; and what its actions do."""

from __future__ import annotations

import html
import re
import uuid

import pytest
from console_app import OPERATORS, ConsoleFactory, console_factory
from core_fixtures import WallClock
from payments_platform.records import utc_now
from payments_platform.usecases import initiate
from payments_plugins import (
    Amount,
    GatewayOutcomeUnknown,
    GatewayUnavailable,
    VendorPaymentStatus,
)
from scripted import accepted, new_script, vendor_says

BREAKER = {"strategy": "priority", "breaker": {"minimum_calls": 3, "open_seconds": 600}}


@pytest.fixture
def open_console(database_url: str, wall_clock: WallClock) -> ConsoleFactory:
    return console_factory(database_url, wall_clock)


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
    # The part that refreshes itself is the same table, without the page around it.
    assert refreshed.status_code == 200
    assert refreshed.text.lstrip().startswith('<section id="gateways"')
    assert 'hx-trigger="every 5s"' in refreshed.text
    assert _cell(_row(refreshed.text, "json"), "data-breaker") == "open"


async def test_a_payments_page_tells_its_whole_story(open_console: ConsoleFactory) -> None:
    json_name, json_script = new_script()
    soap_name, soap_script = new_script()
    json_script.fail("initiate", GatewayUnavailable("<script>alert('x')</script> refused"))
    soap_script.answer("initiate", accepted("soap-1"))
    async with open_console({"json": json_name, "soap": soap_name}, clock=utc_now) as console:
        payment_id = uuid.uuid4()
        await initiate.start_payment(console.runtime.deps, payment_id, Amount(999, "AED"))
        await console.sign_in()

        page = (await console.get(f"/console/payments/{payment_id}")).text

    kinds = re.findall(r'data-kind="([a-z]+)"', page)
    assert kinds == ["status", "routing", "attempt", "attempt", "status", "job"]
    assert "payment created: pending" in page
    assert "at json: unavailable" in page
    assert "at soap: accepted" in page
    assert "9.99 AED" in page
    assert "status pending → initiated" in html.unescape(page)
    # The candidates of the routing decision, each with its breaker.
    assert re.search(r"<td>json</td>\s*<td[^>]*>1</td>", page)
    # Whatever a vendor's error says is shown as text, never run.
    assert "<script>alert" not in page
    assert "&lt;script&gt;alert" in page


async def test_a_payment_nobody_has_is_a_page_saying_so(open_console: ConsoleFactory) -> None:
    async with open_console() as console:
        await console.sign_in()
        answer = await console.get(f"/console/payments/{uuid.uuid4()}")

    assert answer.status_code == 404
    assert answer.headers["content-type"].startswith("text/html")


async def test_asking_the_gateway_now_from_a_payments_page(open_console: ConsoleFactory) -> None:
    name, script = new_script()
    script.fail("initiate", GatewayOutcomeUnknown("read timeout"))
    script.answer("status", vendor_says(VendorPaymentStatus.PAID, "ext-1"))
    async with open_console({"gw": name}) as console:
        payment_id = uuid.uuid4()
        await initiate.start_payment(console.runtime.deps, payment_id, Amount(100, "AED"))
        await console.sign_in()
        before = (await console.get(f"/console/payments/{payment_id}")).text
        assert "Ask gw now" in before

        answer = await console.act(f"/console/payments/{payment_id}/reconcile")
        after = (await console.get(answer.headers["location"])).text

    assert answer.headers["location"] == f"/console/payments/{payment_id}?notice=answered"
    assert "The gateway answered" in after
    assert "data-status>paid<" in after
    assert "operator alice: reconcile" in after
    assert "alice asked gw what became of the payment" in after
    assert "Ask gw now" not in after


async def test_the_jobs_page_lists_a_dead_job_and_its_retry_is_in_the_payments_log(
    open_console: ConsoleFactory,
) -> None:
    name, script = new_script()
    script.fail("initiate", GatewayUnavailable("connection refused"))
    async with open_console(
        {"gw": name}, payments={"dispatch": "queue"}, worker={"enabled": False, "max_attempts": 1}
    ) as console:
        payment_id = uuid.uuid4()
        await initiate.start_payment(console.runtime.deps, payment_id, Amount(100, "AED"))
        await console.runtime.worker().run_once()
        await console.sign_in()

        dead = (await console.get("/console/jobs?status=dead")).text
        job_id = re.search(r'data-job="(\d+)" data-status="dead"', dead)
        assert job_id is not None, dead
        assert "no gateway could be reached" in dead
        retried = await console.act(f"/console/jobs/{job_id[1]}/retry?status=dead")
        listing = (await console.get(retried.headers["location"])).text
        timeline = (await console.get(f"/console/payments/{payment_id}")).text

    assert f"Job {job_id[1]} will run again." in listing
    assert "operator alice: retry_job" in timeline


async def test_the_configuration_page_lists_the_plugins_and_shows_no_secret(
    open_console: ConsoleFactory,
) -> None:
    key_hash = "sha256:" + "cd" * 32
    security = {
        "auth": "none",
        "allow_unsigned_webhooks": True,
        "merchants": {"shop": {"key_hashes": [key_hash]}},
    }
    name, _script = new_script()
    async with open_console({"gw": name}, security=security) as console:
        await console.sign_in()
        page = (await console.get("/console/plugins")).text

    assert 'data-plugin="scripted"' in page
    assert "<strong>scripted</strong>" in page
    config = html.unescape(page.split("data-config>")[1].split("</pre>")[0])
    assert "[console.operators.alice]" in config
    assert 'password_hash = "<redacted>"' in config
    assert 'key_hashes = "<redacted>"' in config
    assert OPERATORS["alice"]["password_hash"] not in page
    assert key_hash not in page
