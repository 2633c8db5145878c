"""Merchant notifications against a real HTTP receiver (pytest-httpserver): every event type,
signed so that the Standard Webhooks library verifies it, delivered through outages, slowness
and refusals, and never to an address a production config does not allow."""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
import uuid
from collections import Counter
from typing import Any
from urllib.parse import urlsplit

import msgspec
import pytest
from core_fixtures import NOTIFICATION_SECRET, OPEN, Receiver, RuntimeFactory, WallClock
from payments_platform import errors, jobs
from payments_platform.config import ConfigError, decode_settings
from payments_platform.jobs import JobKind, JobStatus
from payments_platform.notifications.addresses import AddressRefused, resolve
from payments_platform.notifications.events import EVENT_TYPES
from payments_platform.plugin_host import PluginHost
from payments_platform.runtime import Runtime, build_runtime
from payments_platform.store import history
from payments_platform.usecases import initiate, notify, refunds, webhooks
from payments_plugins import (
    Amount,
    GatewayDeclined,
    GatewayOutcomeUnknown,
    RefundResult,
    StatusQuery,
    StatusReport,
    VendorPaymentStatus,
    WebhookEvent,
)
from scripted import ScriptedPlugin, accepted, new_script, vendor_says

from .test_lifecycle_flows import job_rows, pay

AED_10 = Amount(1000, "AED")
SECRET = NOTIFICATION_SECRET


def endpoint_settings(url: str, **extra: Any) -> dict[str, Any]:
    return {
        "allow_http": True,
        "allow_private_addresses": True,
        "backoff_seconds": 1,
        "timeout_seconds": 2,
        # Every delivery of a round goes at once: no endpoint waits for a free slot here.
        "endpoint_concurrency": 100,
        "endpoints": {"shop": {"url": url, "secret": SECRET}},
        **extra,
    }


async def deliver_all(runtime: Runtime) -> None:
    worker = runtime.notification_worker()
    while await worker.run_once():
        pass


async def assert_history_reads_agree(runtime: Runtime, client_id: uuid.UUID) -> None:
    """On PostgreSQL a history is read by one aggregating statement: it must read what the
    statement per table reads, to the microsecond and in the same order."""

    def both(conn: Any) -> tuple[Any, Any]:
        whole = history.find_for_client(conn, None, client_id)
        assert whole is not None
        return whole, history.of(conn, whole.payment)

    whole, by_table = await runtime.database.read(both)
    assert whole == by_table
    assert whole.attempts
    assert whole.events


async def test_every_event_type_is_delivered_signed_as_standard_webhooks_says(
    scripted_runtime: RuntimeFactory, wall_clock: WallClock, receiver: Receiver
) -> None:
    name, script = new_script()
    script.answer("initiate", accepted("ext-a"))  # paid, refunded in two parts
    script.fail("initiate", GatewayDeclined("no", vendor_code="do_not_honour"))  # rejected
    script.fail("initiate", GatewayOutcomeUnknown("read timeout"))  # unknown
    script.answer("initiate", accepted("ext-d"))  # failed
    script.answer("initiate", accepted("ext-e"))  # expired
    script.answer("refund", RefundResult(external_refund_id="rf-1"))
    script.fail("refund", GatewayDeclined("too late", vendor_code="refund_window_closed"))
    script.answer("refund", RefundResult(external_refund_id="rf-2"))
    vendor_view = {
        None: vendor_says(VendorPaymentStatus.INITIATED, "ext-c"),  # c's answer was lost
        "ext-e": vendor_says(VendorPaymentStatus.INITIATED, "ext-e"),  # nobody paid e
    }

    async def lookup(query: StatusQuery) -> StatusReport:
        return vendor_view[query.external_id]

    script.then("status", lookup).then("status", lookup)
    sections = {
        "notifications": endpoint_settings(receiver.url),
        "payments": {"expire_after_seconds": 60},
    }
    async with scripted_runtime({"gw": name}, **sections) as runtime:
        ids = {key: uuid.uuid4() for key in "abcde"}
        await initiate.start_payment(runtime.deps, ids["a"], AED_10)
        await pay(runtime, ids["a"])
        await refunds.refund_payment(runtime.deps, ids["a"], amount_minor=400)
        with pytest.raises(errors.RefundDeclined):
            await refunds.refund_payment(runtime.deps, ids["a"], amount_minor=100)
        await refunds.refund_payment(runtime.deps, ids["a"])
        with pytest.raises(errors.PaymentDeclined):
            await initiate.start_payment(runtime.deps, ids["b"], AED_10)
        await initiate.start_payment(runtime.deps, ids["c"], AED_10)
        await initiate.start_payment(runtime.deps, ids["d"], AED_10)
        failed = WebhookEvent(external_id="ext-d", status=VendorPaymentStatus.FAILED)
        live = runtime.deps.gateways["gw"]
        await webhooks.apply_webhook(runtime.deps, [live], {}, msgspec.json.encode(failed))
        wall_clock.advance(30)
        await initiate.start_payment(runtime.deps, ids["e"], AED_10)
        wall_clock.advance(61)
        await runtime.worker().run_once()  # reconciles c, expires e
        await deliver_all(runtime)
        for client_id in ids.values():
            await assert_history_reads_agree(runtime, client_id)

    delivered = receiver.delivered()
    assert {event["type"] for event in delivered} == EVENT_TYPES
    assert len({event["id"] for event in delivered}) == len(delivered)
    of_a = [e for e in delivered if e["data"]["payment"]["id"] == str(ids["a"])]
    assert [e["type"] for e in sorted(of_a, key=lambda e: e["sequence"])] == [
        "payment.initiated",
        "payment.paid",
        "refund.succeeded",
        "payment.partially_refunded",
        "refund.failed",
        "refund.succeeded",
        "payment.refunded",
    ]
    assert [e["sequence"] for e in sorted(of_a, key=lambda e: e["sequence"])] == list(range(1, 8))
    refunded = next(e for e in of_a if e["type"] == "payment.refunded")
    assert refunded["data"]["payment"]["refunded_fractions"] == 1000
    declined = next(e for e in of_a if e["type"] == "refund.failed")
    assert declined["data"]["refund"]["failure_code"] == "refund_window_closed"
    headers = {k.lower() for k in receiver.requests[0][0]}
    assert {"webhook-id", "webhook-timestamp", "webhook-signature"} <= headers


async def test_a_receiver_down_then_slow_then_up_gets_each_event_once_and_only_signed_ones(
    scripted_runtime: RuntimeFactory, wall_clock: WallClock, receiver: Receiver
) -> None:
    name, script = new_script()
    for n in range(3):
        script.answer("initiate", accepted(f"ext-{n}"))
    sections = {"notifications": endpoint_settings(receiver.url, timeout_seconds=2)}
    async with scripted_runtime({"gw": name}, **sections) as runtime:
        payment_ids = [uuid.uuid4() for _ in range(3)]
        for payment_id in payment_ids[:2]:
            await initiate.start_payment(runtime.deps, payment_id, AED_10)
        receiver.answer = 503
        await deliver_all(runtime)
        receiver.answer, receiver.delay = 204, 0.5  # slow, within the time limit
        wall_clock.advance(10)
        await deliver_all(runtime)
        receiver.delay = 0.0
        await initiate.start_payment(runtime.deps, payment_ids[2], AED_10)
        await pay(runtime, payment_ids[0])
        await deliver_all(runtime)
        wall_clock.advance(3600)
        await deliver_all(runtime)  # nothing is left to send
        notify_jobs = [job for job in await job_rows(runtime) if job.kind is JobKind.NOTIFY]

    assert Counter(status for _, _, status in receiver.requests) == {503: 2, 204: 4}
    delivered = receiver.delivered()  # every request verifies, the refused ones too
    assert sorted(Counter(event["id"] for event in delivered).values()) == [1, 1, 1, 1]
    assert {job.status for job in notify_jobs} == {JobStatus.DONE}


@pytest.mark.parametrize("revive_with", ["the job", "a redelivery"])
async def test_a_delivery_that_keeps_failing_is_kept_dead_and_can_be_delivered_again(
    scripted_runtime: RuntimeFactory, wall_clock: WallClock, receiver: Receiver, revive_with: str
) -> None:
    name, script = new_script()
    script.answer("initiate", accepted("ext-3"))
    sections = {"notifications": endpoint_settings(receiver.url, retry_for_seconds=60)}
    async with scripted_runtime({"gw": name}, **sections) as runtime:
        await initiate.start_payment(runtime.deps, uuid.uuid4(), AED_10)
        receiver.answer = 500
        for _ in range(40):
            await deliver_all(runtime)
            wall_clock.advance(30)
        [job] = [job for job in await job_rows(runtime) if job.kind is JobKind.NOTIFY]
        assert job.status is JobStatus.DEAD
        attempts = len(receiver.requests)
        assert attempts == runtime.deps.notifier.max_attempts

        receiver.answer = 204
        if revive_with == "the job":  # payments jobs retry
            assert await runtime.database.write(
                lambda conn: jobs.revive(conn, job.id, wall_clock.now)
            )
        else:  # payments notifications redeliver
            revived = await notify.redeliver(runtime.deps)
            assert revived == 1
        await deliver_all(runtime)
        assert len(receiver.delivered()) == 1


async def test_no_endpoint_means_nothing_is_written(
    scripted_runtime: RuntimeFactory, wall_clock: WallClock
) -> None:
    name, script = new_script()
    script.answer("initiate", accepted("ext-4"))
    async with scripted_runtime({"gw": name}) as runtime:
        await initiate.start_payment(runtime.deps, uuid.uuid4(), AED_10)
        assert [job.kind for job in await job_rows(runtime)] == [JobKind.EXPIRE]


async def test_an_endpoint_that_resolves_to_a_private_address_is_refused_in_production(
    scripted_runtime: RuntimeFactory, wall_clock: WallClock, receiver: Receiver
) -> None:
    name, script = new_script()
    script.answer("initiate", accepted("ext-5"))
    # The URL names a host, not an address: it is checked when each delivery resolves it.
    url = receiver.url.replace("127.0.0.1", "localhost")
    production = {
        "allow_http": True,
        "backoff_seconds": 1,
        "endpoints": {"shop": {"url": url, "secret": SECRET}},
    }
    async with scripted_runtime({"gw": name}, notifications=production) as runtime:
        payment_id = uuid.uuid4()
        await initiate.start_payment(runtime.deps, payment_id, AED_10)
        await deliver_all(runtime)
        detail = await runtime.database.read(lambda conn: history.read(conn, payment_id))
    assert receiver.requests == []
    assert detail is not None
    [sent] = detail.notifications
    [delivery] = sent.deliveries
    assert delivery.last_error is not None
    assert "non-public address" in delivery.last_error


PUBLIC = "93.184.216.34"


def resolving(monkeypatch: pytest.MonkeyPatch, names: dict[str, list[str]]) -> None:
    """Make the running event loop resolve each of ``names`` to its addresses, in that order;
    any other host is looked up as before (the receiver's own address, for one)."""
    loop = asyncio.get_running_loop()
    real = loop.getaddrinfo

    async def getaddrinfo(host: Any, port: Any, **options: Any) -> list[Any]:
        if host not in names:
            return await real(host, port, **options)
        return [_address_info(address, port) for address in names[host]]

    monkeypatch.setattr(loop, "getaddrinfo", getaddrinfo)


def _address_info(address: str, port: int) -> tuple[Any, ...]:
    """One entry of ``getaddrinfo``'s answer: a TCP stream to ``address``."""
    if ipaddress.ip_address(address).version == 6:
        return socket.AF_INET6, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (address, port, 0, 0)
    return socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (address, port)


async def test_an_endpoint_whose_name_resolves_to_a_public_and_a_private_address_is_refused(
    scripted_runtime: RuntimeFactory, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Guards against SSRF by mixed resolution: a host refused only when *every* address it
    resolves to is private lets ``rebind.example`` -> [127.0.0.1, 93.184.216.34] through, and
    the delivery connects to the first, inside this service's own network."""
    name, script = new_script()
    script.answer("initiate", accepted("ext-rebind"))
    # The receiver listens on loopback: a delivery that went to 127.0.0.1 would reach it.
    url = f"http://rebind.example:{urlsplit(receiver.url).port}/hook"
    resolving(monkeypatch, {"rebind.example": ["127.0.0.1", PUBLIC]})
    production = {
        "allow_http": True,
        "backoff_seconds": 1,
        "endpoints": {"shop": {"url": url, "secret": SECRET}},
    }
    async with scripted_runtime({"gw": name}, notifications=production) as runtime:
        payment_id = uuid.uuid4()
        await initiate.start_payment(runtime.deps, payment_id, AED_10)
        await deliver_all(runtime)
        detail = await runtime.database.read(lambda conn: history.read(conn, payment_id))

    assert receiver.requests == []
    assert detail is not None
    [sent] = detail.notifications
    [delivery] = sent.deliveries
    assert delivery.last_error is not None
    assert "'rebind.example' resolves to non-public address 127.0.0.1" in delivery.last_error


@pytest.mark.parametrize(
    ("addresses", "refused"),
    [
        (["127.0.0.1", PUBLIC], "127.0.0.1"),
        ([PUBLIC, "10.0.0.7"], "10.0.0.7"),
        ([PUBLIC, "169.254.169.254"], "169.254.169.254"),
        (["2606:2800:220:1:248:1893:25c8:1946", "::1"], "::1"),
        ([PUBLIC, "::ffff:127.0.0.1"], "::ffff:127.0.0.1"),
        ([PUBLIC], None),
    ],
)
async def test_a_name_is_refused_if_any_address_it_resolves_to_is_not_public(
    monkeypatch: pytest.MonkeyPatch, addresses: list[str], refused: str | None
) -> None:
    """Guards against SSRF by mixed resolution: refusing a name only when every address it
    resolves to is private lets a name with one public address reach the private ones."""
    resolving(monkeypatch, {"rebind.example": addresses})

    if refused is None:
        target = await resolve("https://rebind.example/hook", allow_http=False, allow_private=False)
        assert target.address == PUBLIC
        return
    with pytest.raises(AddressRefused, match=f"non-public address {re.escape(refused)}$"):
        await resolve("https://rebind.example/hook", allow_http=False, allow_private=False)


@pytest.mark.parametrize(
    ("url", "complaint"),
    [
        ("http://merchant.example/hook", "https://"),
        ("https://127.0.0.1/hook", "non-public"),
        ("https://10.1.2.3/hook", "non-public"),
        ("https://[::1]/hook", "non-public"),
        ("https://169.254.169.254/latest", "non-public"),
        ("https://user:pw@merchant.example/hook", "credentials"),
    ],
)
def test_a_production_config_refuses_endpoints_no_delivery_may_use(
    url: str, complaint: str
) -> None:
    raw = {
        "security": OPEN,
        "database": {"url": "sqlite:///unused.db"},
        "notifications": {"endpoints": {"shop": {"url": url, "secret": SECRET}}},
    }
    plugins = PluginHost()
    plugins.register(ScriptedPlugin(), "scripted")
    with pytest.raises(ConfigError, match=complaint) as refused:
        build_runtime(decode_settings(raw), plugins)
    assert "notifications.endpoints.shop.url" in str(refused.value)


async def test_an_endpoint_at_its_limit_makes_deliveries_wait_without_spending_attempts(
    scripted_runtime: RuntimeFactory, wall_clock: WallClock, receiver: Receiver
) -> None:
    name, script = new_script()
    for n in range(3):
        script.answer("initiate", accepted(f"ext-busy-{n}"))
    sections = {"notifications": endpoint_settings(receiver.url, endpoint_concurrency=1)}
    # The first delivery holds the endpoint's one slot long enough for the other two to find it
    # taken, whatever order the worker's tasks happen to run in.
    receiver.delay = 0.3
    async with scripted_runtime({"gw": name}, **sections) as runtime:
        for _ in range(3):
            await initiate.start_payment(runtime.deps, uuid.uuid4(), AED_10)
        await deliver_all(runtime)
        receiver.delay = 0.0
        # The other two were put back for later rather than held waiting for the slot.
        assert len(receiver.requests) == 1
        for _ in range(3):
            wall_clock.advance(2)
            await deliver_all(runtime)
        jobs = [job for job in await job_rows(runtime) if job.kind is JobKind.NOTIFY]
    assert len(receiver.delivered()) == 3
    assert len(receiver.requests) == 3  # one at a time, and none twice
    assert {(job.status, job.attempts) for job in jobs} == {(JobStatus.DONE, 1)}
