"""What operators do from the console runs the platform's own use cases, and the payment's log
records who did it: reviving a dead job, asking the gateway now about an unknown outcome."""

from __future__ import annotations

import uuid

from core_fixtures import Receiver, RuntimeFactory, WallClock, deliver_all, endpoint_settings
from payments_platform import jobs
from payments_platform.jobs import JobKind, JobStatus
from payments_platform.lifecycle import PaymentStatus
from payments_platform.records import Event
from payments_platform.runtime import Runtime
from payments_platform.store import events
from payments_platform.usecases import initiate, operator_actions
from payments_platform.usecases.operator_actions import (
    JobRetry,
    Reconciliation,
    reconcile_now,
    retry_dead_job,
)
from payments_plugins import Amount, GatewayOutcomeUnknown, GatewayUnavailable, VendorPaymentStatus
from runtime_steps import QUICK, given_up_as_not_received
from scripted import accepted, new_script, vendor_says

AED_10 = Amount(1000, "AED")


async def _events(runtime: Runtime, payment_id: uuid.UUID, kind: str) -> list[Event]:
    found = await runtime.database.read(lambda conn: events.of_payment(conn, payment_id))
    return [event for event in found if event.kind == kind]


async def test_retrying_a_dead_job_revives_it_and_records_who_did(
    scripted_runtime: RuntimeFactory,
) -> None:
    name, script = new_script()
    script.fail("initiate", GatewayUnavailable("connection refused"))
    async with scripted_runtime(
        {"gw": name}, payments={"dispatch": "queue"}, worker={"max_attempts": 1}
    ) as runtime:
        payment_id = uuid.uuid4()
        await initiate.start_payment(runtime.deps, payment_id, AED_10)
        await runtime.worker().run_once()
        [dead] = await runtime.database.read(lambda conn: jobs.list_jobs(conn, [JobStatus.DEAD]))

        result = await retry_dead_job(runtime.deps, dead.id, "alice")

        assert result.outcome is JobRetry.RETRIED
        job = await runtime.database.read(lambda conn: jobs.find_job(conn, dead.id))
        assert job is not None
        assert (job.status, job.attempts) == (JobStatus.PENDING, 0)
        [action] = await _events(runtime, payment_id, "operator_action")
        assert action.detail == {
            "operator": "alice",
            "action": "retry_job",
            "job_id": dead.id,
            "job": "initiate",
            "via": "console",
        }
        assert action.reason is not None
        assert action.reason.startswith(f"alice retried dead initiate job {dead.id}")

        again = await retry_dead_job(runtime.deps, dead.id, "bob")
        assert again.outcome is JobRetry.NOT_DEAD
        assert len(await _events(runtime, payment_id, "operator_action")) == 1
        missing = await retry_dead_job(runtime.deps, dead.id + 1000, "bob")
        assert missing.outcome is JobRetry.NOT_FOUND


async def test_asking_the_gateway_now_settles_an_unknown_payment_and_records_who_asked(
    scripted_runtime: RuntimeFactory,
) -> None:
    name, script = new_script()
    script.fail("initiate", GatewayOutcomeUnknown("read timeout"))
    script.answer("status", vendor_says(VendorPaymentStatus.PAID, "ext-1"))
    async with scripted_runtime({"gw": name}) as runtime:
        payment_id = uuid.uuid4()
        started = await initiate.start_payment(runtime.deps, payment_id, AED_10)
        assert started.payment.status is PaymentStatus.UNKNOWN

        result = await reconcile_now(runtime.deps, payment_id, "alice")

        assert result.outcome is Reconciliation.ANSWERED
        assert result.payment is not None
        assert result.payment.status is PaymentStatus.PAID
        [asked] = await _events(runtime, payment_id, "operator_action")
        assert asked.reason == "alice asked gw what became of the payment"
        assert asked.detail == {"operator": "alice", "action": "reconcile"}
        [*_, moved] = await _events(runtime, payment_id, "status_changed")
        assert (moved.to_status, moved.reason) == ("paid", "reconciled: gw reports paid")
        assert moved.id > asked.id


async def test_a_gateway_that_cannot_answer_leaves_the_payment_unknown_and_says_why(
    scripted_runtime: RuntimeFactory,
) -> None:
    name, script = new_script()
    script.fail("initiate", GatewayOutcomeUnknown("read timeout"))
    script.fail("status", GatewayUnavailable("503 from the vendor"))
    async with scripted_runtime({"gw": name}) as runtime:
        payment_id = uuid.uuid4()
        await initiate.start_payment(runtime.deps, payment_id, AED_10)

        result = await reconcile_now(runtime.deps, payment_id, "alice")

        assert result.outcome is Reconciliation.UNANSWERED
        assert result.payment is not None
        assert result.payment.status is PaymentStatus.UNKNOWN
        assert result.error is not None
        assert "503 from the vendor" in result.error
        asked, failed = await _events(runtime, payment_id, "operator_action")
        assert asked.accepted is None
        assert failed.accepted is False
        assert failed.reason is not None
        assert failed.reason.startswith("gw did not answer")


async def test_a_payment_whose_outcome_is_known_is_not_asked_about(
    scripted_runtime: RuntimeFactory,
) -> None:
    name, script = new_script()
    script.answer("initiate", accepted("ext-1"))
    async with scripted_runtime({"gw": name}) as runtime:
        payment_id = uuid.uuid4()
        await initiate.start_payment(runtime.deps, payment_id, AED_10)

        result = await reconcile_now(runtime.deps, payment_id, "alice")

        assert result.outcome is Reconciliation.NOT_UNKNOWN
        assert script.calls["status"] == []
        assert await _events(runtime, payment_id, "operator_action") == []
        missing = await reconcile_now(runtime.deps, uuid.uuid4(), "alice")
        assert missing.outcome is Reconciliation.NOT_FOUND


async def test_retrying_a_dead_notification_job_delivers_its_notification_after_all(
    scripted_runtime: RuntimeFactory, wall_clock: WallClock, receiver: Receiver
) -> None:
    name, script = new_script()
    script.answer("initiate", accepted("ext-1"))
    sections = {"notifications": endpoint_settings(receiver.url, retry_for_seconds=60)}
    async with scripted_runtime({"gw": name}, **sections) as runtime:
        await initiate.start_payment(runtime.deps, uuid.uuid4(), AED_10)
        receiver.answer = 500
        for _ in range(40):
            await deliver_all(runtime)
            wall_clock.advance(30)
        [dead] = await runtime.database.read(lambda conn: jobs.list_jobs(conn, [JobStatus.DEAD]))
        assert dead.kind is JobKind.NOTIFY
        receiver.answer = 204

        result = await retry_dead_job(runtime.deps, dead.id, "alice")
        await deliver_all(runtime)

        assert result.outcome is JobRetry.RETRIED
        assert len(receiver.delivered()) == 1


async def _until_dead(runtime: Runtime, wall_clock: WallClock) -> None:
    """Deliver and let time pass until every delivery has been retried for long enough."""
    for _ in range(40):
        await deliver_all(runtime)
        wall_clock.advance(30)


async def test_resending_a_dead_delivery_revives_its_job_and_the_payments_log_names_who_did(
    scripted_runtime: RuntimeFactory, wall_clock: WallClock, receiver: Receiver
) -> None:
    name, script = new_script()
    script.answer("initiate", accepted("ext-1"))
    sections = {"notifications": endpoint_settings(receiver.url, retry_for_seconds=60)}
    async with scripted_runtime({"gw": name}, **sections) as runtime:
        payment_id = uuid.uuid4()
        await initiate.start_payment(runtime.deps, payment_id, AED_10)
        receiver.answer = 500
        await _until_dead(runtime, wall_clock)
        [dead] = await runtime.database.read(lambda conn: jobs.list_jobs(conn, [JobStatus.DEAD]))
        assert dead.delivery_id is not None
        receiver.answer = 204

        result = await operator_actions.resend_delivery(runtime.deps, dead.delivery_id, "alice")
        await deliver_all(runtime)
        again = await operator_actions.resend_delivery(runtime.deps, dead.delivery_id, "bob")

        assert result.outcome is JobRetry.RETRIED
        assert result.job is not None
        assert result.job.id == dead.id
        assert len(receiver.delivered()) == 1
        assert again.outcome is JobRetry.NOT_DEAD  # delivered now: nothing to send again
        [action] = await _events(runtime, payment_id, "operator_action")
        assert action.detail is not None
        assert action.detail["delivery_id"] == dead.delivery_id
        assert (action.reason or "").startswith(
            f"alice re-sent notification delivery {dead.delivery_id}, reviving its dead job"
            f" {dead.id} (last error: RetryLater: shop: answered 500)"
        )


async def test_resending_dead_deliveries_takes_those_of_the_events_of_the_period_and_endpoint(
    scripted_runtime: RuntimeFactory, wall_clock: WallClock, receiver: Receiver
) -> None:
    name, script = new_script()
    settings = endpoint_settings(receiver.url, retry_for_seconds=60)
    settings["endpoints"]["spare"] = settings["endpoints"]["shop"]
    async with scripted_runtime({"gw": name}, notifications=settings) as runtime:
        receiver.answer = 500
        old, recent = uuid.uuid4(), [uuid.uuid4(), uuid.uuid4()]
        script.answer("initiate", accepted("ext-old"))
        await initiate.start_payment(runtime.deps, old, AED_10)
        wall_clock.advance(86_400)
        cutoff = wall_clock.now
        for number, payment_id in enumerate(recent):
            script.answer("initiate", accepted(f"ext-{number}"))
            await initiate.start_payment(runtime.deps, payment_id, AED_10)
        await _until_dead(runtime, wall_clock)
        dead = await runtime.database.read(lambda conn: jobs.list_jobs(conn, [JobStatus.DEAD]))
        assert len(dead) == 6  # two endpoints, three events
        receiver.answer = 204

        to_spare = await operator_actions.resend_dead_deliveries(
            runtime.deps, "alice", endpoint="spare", since=cutoff
        )
        to_any = await operator_actions.resend_dead_deliveries(runtime.deps, "alice", since=cutoff)
        await deliver_all(runtime)

        assert (to_spare, to_any) == (2, 2)  # the second took the two to shop the first left
        assert len(receiver.delivered()) == 4
        assert await _events(runtime, old, "operator_action") == []
        for payment_id in recent:
            assert len(await _events(runtime, payment_id, "operator_action")) == 2
        left = await runtime.database.read(lambda conn: jobs.list_jobs(conn, [JobStatus.DEAD]))
        assert {job.payment_id for job in left} == {old}


async def test_an_operator_asking_again_recovers_a_payment_its_vendor_took(
    scripted_runtime: RuntimeFactory, wall_clock: WallClock
) -> None:
    name, script = new_script()
    script.fail("initiate", GatewayOutcomeUnknown("read timeout"))
    script.answer("status", vendor_says(VendorPaymentStatus.NOT_FOUND))
    script.answer("status", vendor_says(VendorPaymentStatus.PAID, "ext-7"))
    async with scripted_runtime({"gw": name}, **QUICK) as runtime:
        payment_id = await given_up_as_not_received(runtime, wall_clock)

        result = await operator_actions.reconcile_now(runtime.deps, payment_id, "alice")

        assert result.outcome is operator_actions.Reconciliation.ANSWERED
        assert result.payment is not None
        assert (result.payment.status, result.payment.external_id) == (PaymentStatus.PAID, "ext-7")
        [query] = script.calls["status"][1:]
        assert (query.payment_id, query.external_id) == (payment_id, None)
