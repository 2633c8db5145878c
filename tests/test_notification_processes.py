"""Notifications from real processes: several of them sharing PostgreSQL deliver each event
once, and a process killed in the middle of a delivery loses none."""

from __future__ import annotations

import os
import signal
import time
import uuid
from collections import Counter
from pathlib import Path

import httpx
import pytest
from core_fixtures import Receiver, endpoint_settings

from .conftest import Vendor
from .server_process import payments_serve, payments_worker
from .test_races import config_for, json_gateway, paid_payment, wait_for

QUICK = {"poll_seconds": 0.1, "lease_seconds": 3}
"""Workers that look often, and take back a dead worker's delivery after a few seconds."""


@pytest.fixture
def backend() -> str:
    """Several processes at once: PostgreSQL, the production backend."""
    return "postgresql"


def test_two_servers_and_a_worker_deliver_each_event_once(
    tmp_path: Path, database_url: str, vendor: Vendor, receiver: Receiver
) -> None:
    config = config_for(
        tmp_path,
        database_url,
        {"json": json_gateway(vendor)},
        notifications=endpoint_settings(receiver.url),
        worker=QUICK,
    )
    with (
        payments_serve(tmp_path, config=config) as first,
        payments_serve(tmp_path, config=config) as second,
        payments_worker(tmp_path, config),
    ):
        for server in [first, second] * 5:
            paid_payment(server, vendor, 100)  # initiated, then paid: two events each
        wait_for(lambda: len(receiver.delivered()) >= 20, "every event is delivered")
        time.sleep(1)  # long enough for a second delivery of any event to show
    counts = Counter(event["id"] for event in receiver.delivered())
    assert len(counts) == 20
    assert set(counts.values()) == {1}


def test_a_process_killed_while_delivering_loses_no_notification(
    tmp_path: Path, database_url: str, vendor: Vendor, receiver: Receiver
) -> None:
    config = config_for(
        tmp_path,
        database_url,
        {"json": json_gateway(vendor)},
        notifications=endpoint_settings(receiver.url, timeout_seconds=30),
        worker=QUICK,
    )
    receiver.delay = 4.0  # the first delivery is still waiting when its process dies
    with payments_serve(tmp_path, config=config) as doomed:
        payment_id = str(uuid.uuid4())
        answer = httpx.post(
            f"{doomed.base_url}/init-payment",
            json={"id": payment_id, "currency": "AED", "amount_fractions": 100},
        )
        assert answer.status_code == 201, answer.text
        wait_for(lambda: receiver.in_flight > 0, "the delivery reached the endpoint")
        os.kill(doomed.process.pid, signal.SIGKILL)
        doomed.process.wait()
    receiver.delay = 0.0
    with payments_serve(tmp_path, config=config):
        wait_for(lambda: len(receiver.delivered()) >= 1, "the notification is delivered")
    [event] = {e["id"]: e for e in receiver.delivered()}.values()
    assert event["type"] == "payment.initiated"
    assert event["data"]["payment"]["id"] == payment_id
