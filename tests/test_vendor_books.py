"""The vendor's books are the truth about money, tried the way it failed: with real processes.

A vendor under load held a payment's initiate longer than the platform waited. The platform,
its deadline passed, asked the vendor, which had nothing yet, and rejected the payment as never
received; then the vendor processed the call, the payer paid, and the vendor's signed webhook,
naming an external id the platform never learned, was answered 404: the payer's money was with
the vendor and nobody knew. Now the webhook is matched by the reference it carries, the payment
moves to paid with an event saying why, the merchant is notified, and it is counted and shown.

Each path of the rule is tested on its own, with gateways played by scripts and a real
database, beside the code it runs (``platform/tests/usecases/test_webhooks.py`` and its
neighbours).
"""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import httpx
from core_fixtures import Receiver, endpoint_settings
from payments_plugins.testing.asgi_server import free_port

from .conftest import json_vendor
from .server_process import payments_serve
from .test_races import config_for, json_gateway, payment_status, vendor_state, wait_for


def test_a_payment_the_vendor_took_after_the_platform_gave_up_is_recovered(
    tmp_path: Path, database_url: str, receiver: Receiver
) -> None:
    port = free_port()
    webhook_url = f"http://127.0.0.1:{port}/external/json-webhook"
    with json_vendor(webhook_url=webhook_url) as vendor:
        # The vendor holds the call 4 s before processing it; the platform waits 1 s.
        asyncio.run(vendor.misbehave("77.77 AED", "slow", operation="initiate", seconds=4.0))
        config = config_for(
            tmp_path,
            database_url,
            {"json": json_gateway(vendor, deadline_seconds=1.0)},
            payments={"reconcile_after_seconds": 3.0},
            worker={"poll_seconds": 0.1, "backoff_seconds": 0.2},
            notifications=endpoint_settings(receiver.url),
        )
        with payments_serve(tmp_path, config=config, port=port) as server:
            payment_id = str(uuid.uuid4())
            answer = httpx.post(
                f"{server.base_url}/init-payment",
                json={"id": payment_id, "currency": "AED", "amount_fractions": 7777},
                timeout=30,
            )
            assert answer.status_code == 202, answer.text
            [attempt] = httpx.get(f"{server.base_url}/payments/{payment_id}").json()["attempts"]
            assert "deadline of 1 s" in attempt["error"]
            wait_for(lambda: payment_status(server, payment_id) == "rejected", "given up")
            given_up = httpx.get(f"{server.base_url}/payments/{payment_id}").json()["payment"]
            assert given_up["failure_code"] == "not-received"
            wait_for(lambda: payment_id in vendor_state(vendor), "the vendor processed it late")

            external_id = vendor_state(vendor)[payment_id]["id"]
            asyncio.run(vendor.payer_acts(external_id))

            detail = httpx.get(f"{server.base_url}/payments/{payment_id}").json()
            paid = detail["payment"]
            assert (paid["status"], paid["external_id"]) == ("paid", external_id)
            assert paid["failure_code"] is None
            recovered = [event for event in detail["events"] if event["kind"] == "recovered"]
            assert [(event["from_status"], event["to_status"]) for event in recovered] == [
                ("rejected", "paid")
            ]
            metrics = httpx.get(f"{server.base_url}/metrics").text
            held = 'payments_recovered_total{from_status="rejected",gateway="json",result="held"}'
            assert f"{held} 1.0" in metrics
            wait_for(
                lambda: "payment.paid" in {event["type"] for event in receiver.delivered()},
                "the merchant is told it is paid",
            )
            logged = [line for line in server.output().splitlines() if '"level":"error"' in line]
            assert any("given the payment up" in line and payment_id in line for line in logged)
