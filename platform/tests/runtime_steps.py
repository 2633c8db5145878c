"""What tests of several parts of the core do with a runtime whose gateways are scripted
(``core_fixtures.scripted_runtime``): run the jobs that are due, read every job, let the payer
pay through the gateway's webhook, give a payment up as never received, cut a gateway's
deadline short."""

from __future__ import annotations

import dataclasses
import uuid
from datetime import datetime
from typing import TYPE_CHECKING, cast

import msgspec
import sqlalchemy as sa
from payments_platform import jobs
from payments_platform.jobs import JobStatus
from payments_platform.lifecycle import PaymentStatus
from payments_platform.runtime import Runtime
from payments_platform.usecases import initiate, reads, webhooks
from payments_platform.usecases.dependencies import LiveGateway
from payments_plugins import (
    Amount,
    CaptureMode,
    StatusReport,
    VendorPaymentStatus,
    WebhookEvent,
)
from scripted import Script, accepted

if TYPE_CHECKING:
    from core_fixtures import WallClock

AED_10 = Amount(1000, "AED")

QUICK = {"payments": {"reconcile_after_seconds": 60}}
"""The sections of a runtime that judges a call left without an answer over after a minute
(what :func:`given_up_as_not_received` counts on)."""


async def run_due_jobs(runtime: Runtime) -> int:
    return await runtime.worker().run_once()


async def job_rows(runtime: Runtime) -> list[jobs.Job]:
    return await runtime.database.read(lambda conn: jobs.list_jobs(conn, list(JobStatus)))


async def enqueue_expiries(runtime: Runtime, count: int, now: datetime) -> None:
    def enqueue(conn: sa.Connection) -> None:
        for _ in range(count):
            jobs.enqueue(conn, jobs.JobKind.EXPIRE, uuid.uuid4(), now=now, max_attempts=3)

    await runtime.database.write(enqueue)


async def pay(runtime: Runtime, payment_id: uuid.UUID, gateway: str = "gw") -> None:
    payment = (await reads.payment_history(runtime.deps, payment_id)).payment
    live = runtime.deps.gateways[gateway]
    body = msgspec.json.encode(
        WebhookEvent(external_id=payment.external_id or "", status=VendorPaymentStatus.PAID)
    )
    await webhooks.apply_webhook(runtime.deps, [live], {}, body)


def webhook(external_id: str, status: str, reference: uuid.UUID | None = None) -> bytes:
    """A scripted gateway's webhook body."""
    event = WebhookEvent(
        external_id=external_id, status=VendorPaymentStatus(status), reference=reference
    )
    return msgspec.json.encode(event)


async def given_up_as_not_received(runtime: Runtime, wall_clock: WallClock) -> uuid.UUID:
    """A payment whose call went unanswered and whose vendor said, twice, it has no such
    payment: rejected ``not-received`` by the platform's own judgement (the runtime opened
    with :data:`QUICK`)."""
    payment_id = uuid.uuid4()
    await initiate.start_payment(runtime.deps, payment_id, AED_10)
    wall_clock.advance(61)
    await runtime.worker().run_once()
    payment = (await reads.payment_history(runtime.deps, payment_id)).payment
    assert (payment.status, payment.failure_code) == (PaymentStatus.REJECTED, "not-received")
    return payment_id


def cut_deadline(runtime: Runtime, gateway: str, seconds: float) -> None:
    """Give ``gateway`` a short deadline, as ``deadline_seconds`` would."""
    live = runtime.deps.gateways[gateway]
    changed = dataclasses.replace(live, deadline_seconds=seconds)
    gateways = cast(dict[str, LiveGateway], runtime.deps.gateways)
    gateways[gateway] = changed


HELD = StatusReport(status=VendorPaymentStatus.AUTHORIZED)
"""What the vendor says of an authorization it holds, without saying until when."""


async def authorized(
    runtime: Runtime,
    script: Script,
    external_id: str,
    gateway: str = "gw",
    *,
    holds: StatusReport | None = HELD,
) -> uuid.UUID:
    """A payment of 10.00 AED taken with manual capture, which its payer authorized; the
    vendor's answer to the lookup of its expiry (the job written with the authorization) is
    ``holds`` (None: the test scripts it)."""
    script.answer("initiate", accepted(external_id))
    if holds is not None:
        script.answer("status", holds)
    payment_id = uuid.uuid4()
    await initiate.start_payment(runtime.deps, payment_id, AED_10, capture=CaptureMode.MANUAL)
    live = runtime.deps.gateways[gateway]
    await webhooks.apply_webhook(runtime.deps, [live], {}, webhook(external_id, "authorized"))
    return payment_id
