"""Telling merchants what happened (``usecases/notify``), against a real HTTP receiver
(pytest-httpserver): every event type, signed so that the Standard Webhooks library verifies
it, delivered through outages, slowness and refusals, and to a busy endpoint one at a time."""

from __future__ import annotations

import uuid
from collections import Counter
from typing import Any

import msgspec
import pytest
from core_fixtures import Receiver, RuntimeFactory, WallClock, deliver_all, endpoint_settings
from payments_platform import errors, jobs
from payments_platform.jobs import JobKind, JobStatus
from payments_platform.notifications.events import EVENT_TYPES
from payments_platform.runtime import Runtime
from payments_platform.store import history, notifications
from payments_platform.usecases import cancel, initiate, notify, refunds, webhooks
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
from runtime_steps import job_rows, pay
from scripted import accepted, new_script, vendor_says

AED_10 = Amount(1000, "AED")

MANUAL_CAPTURE_EVENTS = frozenset(
    {
        "payment.authorized",
        "payment.partially_captured",
        "payment.voided",
        "capture.succeeded",
        "capture.failed",
    }
)


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
    script.answer("initiate", accepted("ext-f"))  # cancelled
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
        ids = {key: uuid.uuid4() for key in "abcdef"}
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
        await initiate.start_payment(runtime.deps, ids["f"], AED_10)
        await cancel.cancel_payment(runtime.deps, ids["f"])
        wall_clock.advance(61)
        await runtime.worker().run_once()  # reconciles c, expires e
        await deliver_all(runtime)
        for client_id in ids.values():
            await assert_history_reads_agree(runtime, client_id)

    delivered = receiver.delivered()
    # Those of manual capture are delivered in usecases/test_captures.py.
    assert {event["type"] for event in delivered} == EVENT_TYPES - MANUAL_CAPTURE_EVENTS
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


async def test_a_delivery_records_how_long_its_last_attempt_took(
    scripted_runtime: RuntimeFactory, receiver: Receiver
) -> None:
    name, script = new_script()
    script.answer("initiate", accepted("ext-timed"))
    receiver.delay = 0.2
    sections = {"notifications": endpoint_settings(receiver.url)}
    async with scripted_runtime({"gw": name}, **sections) as runtime:
        payment_id = uuid.uuid4()
        await initiate.start_payment(runtime.deps, payment_id, AED_10)
        [sent] = await runtime.database.read(
            lambda conn: notifications.of_payment(conn, payment_id)
        )
        assert sent.deliveries[0].last_duration_ms is None  # not tried yet
        await deliver_all(runtime)
        [sent] = await runtime.database.read(
            lambda conn: notifications.of_payment(conn, payment_id)
        )

    [delivery] = sent.deliveries
    assert delivery.last_duration_ms is not None
    assert 200 <= delivery.last_duration_ms < 2000


async def test_no_endpoint_means_nothing_is_written(
    scripted_runtime: RuntimeFactory, wall_clock: WallClock
) -> None:
    name, script = new_script()
    script.answer("initiate", accepted("ext-4"))
    async with scripted_runtime({"gw": name}) as runtime:
        await initiate.start_payment(runtime.deps, uuid.uuid4(), AED_10)
        assert [job.kind for job in await job_rows(runtime)] == [JobKind.EXPIRE]


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
