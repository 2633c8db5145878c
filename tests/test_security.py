"""Who may do what: merchants see only their own payments, webhooks must be signed, and a
configuration that leaves either open fails at start-up unless it says so."""

from __future__ import annotations

import inspect
import json
import time
import uuid
from typing import Any

import httpx
import pytest
from litestar.testing import AsyncTestClient
from payments_platform.access import key_hash, new_key
from payments_platform.config import ConfigError, decode_settings
from payments_platform.plugin_host import PluginHost
from payments_platform.runtime import build_runtime
from payments_plugin_json_gateway.signing import signed_headers

from .conftest import AppFactory, Vendor

SECRET = "whsec_test_5e3f8a1c9d"
ALICE, BOB = new_key(), new_key()
KEYS = {
    "auth": "api-keys",
    "merchants": {
        "alice": {"key_hashes": [key_hash(ALICE)]},
        "bob": {"key_hashes": [key_hash(BOB)]},
    },
}


def as_merchant(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def signed_gateway(vendor: Vendor) -> dict[str, Any]:
    return {"type": "json", "settings": {"base_url": vendor.base_url, "webhook_secret": SECRET}}


async def start(client: AsyncTestClient[Any], key: str, payment_id: str) -> httpx.Response:
    return await client.post(
        "/init-payment",
        json={"id": payment_id, "currency": "AED", "amount_fractions": 1500},
        headers=as_merchant(key),
    )


async def test_a_merchant_cannot_see_or_refund_another_merchants_payment(
    platform: AppFactory, vendor: Vendor
) -> None:
    async with platform({"json": signed_gateway(vendor)}, security=KEYS) as client:
        payment_id = str(uuid.uuid4())
        created = await start(client, ALICE, payment_id)
        assert created.status_code == 201, created.text
        assert (
            await client.get(f"/payments/{payment_id}", headers=as_merchant(ALICE))
        ).status_code == 200

        for response in [
            await client.get(f"/payments/{payment_id}", headers=as_merchant(BOB)),
            await client.post("/refund", json={"id": payment_id}, headers=as_merchant(BOB)),
        ]:
            assert response.status_code == 404, response.text
            assert response.json()["code"] == "payment-not-found"
            assert "15.00" not in response.text  # nothing about the payment leaks


async def test_ids_are_idempotency_keys_per_merchant_and_reveal_nothing_of_another_merchant(
    platform: AppFactory, vendor: Vendor
) -> None:
    async with platform({"json": signed_gateway(vendor)}, security=KEYS) as client:
        payment_id = str(uuid.uuid4())
        alices = await start(client, ALICE, payment_id)
        # Bob's first request with the same id is answered as any new payment is: it is his.
        bobs = await client.post(
            "/init-payment",
            json={"id": payment_id, "currency": "AED", "amount_fractions": 2500},
            headers=as_merchant(BOB),
        )
        assert (alices.status_code, bobs.status_code) == (201, 201), bobs.text
        assert bobs.json()["id"] == alices.json()["id"] == payment_id
        assert bobs.json()["amount"] == "25.00 AED"
        assert bobs.json()["external_id"] != alices.json()["external_id"]
        # Each repeat finds the merchant's own payment, and each refund id is its own too.
        assert (await start(client, ALICE, payment_id)).json() == alices.json()
        for answer in (alices, bobs):
            await vendor.payer_acts(answer.json()["external_id"])
            body = json.dumps({"external_id": answer.json()["external_id"], "status": "paid"})
            headers = signed_headers(SECRET, body.encode(), timestamp=int(time.time()))
            paid = await client.post("/external/json-webhook", content=body, headers=headers)
            assert paid.json()["status"] == "paid", paid.text
        refund_id = str(uuid.uuid4())
        refunded = [
            await client.post(
                "/refund",
                json={"id": payment_id, "refund_id": refund_id},
                headers=as_merchant(key),
            )
            for key in (ALICE, BOB)
        ]
        assert [r.status_code for r in refunded] == [200, 200], refunded[1].text
        assert [r.json()["refund"]["id"] for r in refunded] == [refund_id, refund_id]
        assert [r.json()["refund"]["amount"] for r in refunded] == ["15.00 AED", "25.00 AED"]

        # The vendor knows two payments and two refunds, under references nobody chose twice.
        held = await vendor.payments()
        assert len({p["reference"] for p in held}) == 2
        assert len({r["reference"] for p in held for r in p["refunds"]}) == 2
        assert (await vendor.calls())["initiate"] == 2
        assert (await vendor.calls())["refund"] == 2


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer pay_nope"}, {"Authorization": f"Basic {ALICE}"}],
    ids=["no key", "unknown key", "wrong scheme"],
)
async def test_client_routes_without_a_valid_key_are_401_before_the_body_is_read(
    platform: AppFactory, vendor: Vendor, headers: dict[str, str]
) -> None:
    async with platform({"json": signed_gateway(vendor)}, security=KEYS) as client:
        for method, path, content in [
            ("POST", "/init-payment", b"{not json"),
            ("POST", "/refund", b"{}"),
            ("GET", f"/payments/{uuid.uuid4()}", b""),
        ]:
            response = await client.request(method, path, content=content, headers=headers)
            assert response.status_code == 401, (path, response.text)
            assert response.json()["code"] == "unauthorized"
            assert response.headers["www-authenticate"] == 'Bearer realm="payments"'
        assert (await vendor.calls())["initiate"] == 0
        assert (await client.get("/health")).status_code == 200


async def test_every_guard_runs_on_the_event_loop(platform: AppFactory, vendor: Vendor) -> None:
    # Litestar hands a guard that is a plain function to a worker thread on every request: a
    # thread hop per request for a hash and a lookup.
    async with platform({"json": signed_gateway(vendor)}, security=KEYS) as client:
        guards = {
            guard
            for route in client.app.routes
            for handler in route.route_handlers
            for layer in handler.ownership_layers
            for guard in layer.guards or []
        }
        assert guards, "the client routes have their key guard"
        assert [g.__name__ for g in guards if not inspect.iscoroutinefunction(g)] == []


async def test_forged_unsigned_replayed_and_stale_webhooks_are_refused_and_change_nothing(
    platform: AppFactory, vendor: Vendor
) -> None:
    async with platform({"json": signed_gateway(vendor)}, security=KEYS) as client:
        payment_id = str(uuid.uuid4())
        external_id = (await start(client, ALICE, payment_id)).json()["external_id"]
        body = f'{{"external_id": "{external_id}", "status": "paid"}}'.encode()
        now = int(time.time())
        forged = signed_headers("not-the-secret", body, timestamp=now)
        stale = signed_headers(SECRET, body, timestamp=now - 3600)
        future = signed_headers(SECRET, body, timestamp=now + 3600)
        other_body = signed_headers(SECRET, body.replace(b"paid", b"failed"), timestamp=now)
        for headers in [{}, forged, stale, future, other_body]:
            refused = await client.post("/external/json-webhook", content=body, headers=headers)
            assert refused.status_code == 400, refused.text
            assert refused.json()["code"] == "invalid-webhook"
        detail = (await client.get(f"/payments/{payment_id}", headers=as_merchant(ALICE))).json()
        assert detail["payment"]["status"] == "initiated"
        refusals = [e for e in detail["events"] if e["kind"] == "webhook"]
        assert refusals == []  # refused webhooks name no payment we could trust

        genuine = signed_headers(SECRET, body, timestamp=now)
        applied = await client.post("/external/json-webhook", content=body, headers=genuine)
        assert applied.status_code == 200, applied.text
        replayed = await client.post("/external/json-webhook", content=body, headers=genuine)
        assert replayed.json()["changed"] is False  # a replay restates a fact: nothing moves


def test_a_gateway_taking_unsigned_webhooks_fails_start_up_unless_allowed(
    database_url: str, vendor: Vendor
) -> None:
    unsigned = {"json": {"type": "json", "settings": {"base_url": vendor.base_url}}}
    raw: dict[str, Any] = {
        "database": {"url": database_url},
        "security": KEYS,
        "gateways": unsigned,
    }
    with pytest.raises(ConfigError, match=r"webhook_secret is not set.*allow_unsigned_webhooks"):
        build_runtime(decode_settings(raw), PluginHost.discover())
    allowed = {**raw, "security": {**KEYS, "allow_unsigned_webhooks": True}}
    build_runtime(decode_settings(allowed), PluginHost.discover())
