"""End to end through the SOAP gateway: the real ``payments serve`` in its demo profile, which
enables the JSON and SOAP gateways (priority order, JSON first) against their simulators."""

from __future__ import annotations

import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from lxml import etree
from payments_plugin_soap_gateway.credentials import UsernameCredentials, security_header
from payments_plugin_soap_gateway.simulator import SIMULATOR_CREDENTIALS
from payments_plugin_soap_gateway.wire import envelope, vendor_record

from .server_process import ServerProcess, payments_serve

SOAP = "http://schemas.xmlsoap.org/soap/envelope/"
VENDOR = "urn:soap-vendor:payments:v1"
NAMESPACES = {"soap": SOAP, "v": VENDOR}
VENDOR_CREDENTIALS = UsernameCredentials(
    username=SIMULATOR_CREDENTIALS["webhook_username"],
    password=SIMULATOR_CREDENTIALS["webhook_password"],
)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    # The vendor's payer pays at once, so that the vendor's books say paid when the test posts
    # the vendor's notification itself.
    paying = {"PAYMENTS_GATEWAYS__SOAP__SIMULATOR__PAYER_PAYS_AT_ONCE": "true"}
    with payments_serve(tmp_path_factory.mktemp("soap-e2e"), env=paying) as served:
        yield served


@pytest.fixture
def client(server: ServerProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.base_url, timeout=10) as http:
        yield http


def notification(
    external_id: str, status: str, credentials: UsernameCredentials = VENDOR_CREDENTIALS
) -> bytes:
    """The vendor's notification, with a fresh UsernameToken made with ``credentials``."""
    body = vendor_record("PaymentStatusNotification", {"externalId": external_id, "status": status})
    return envelope(body, header=[security_header(credentials, now=time.time())])


def init(client: httpx.Client, currency: str, minor: int) -> dict[str, Any]:
    response = client.post(
        "/init-payment",
        json={"id": str(uuid.uuid4()), "currency": currency, "amount_fractions": minor},
    )
    assert response.status_code == 201, response.text
    payment: dict[str, Any] = response.json()
    return payment


def history(client: httpx.Client, payment_id: str) -> dict[str, Any]:
    response = client.get(f"/payments/{payment_id}")
    assert response.status_code == 200, response.text
    detail: dict[str, Any] = response.json()
    return detail


def soap_answer(response: httpx.Response) -> etree._Element:
    assert response.headers["content-type"].startswith("text/xml"), response.text
    return etree.fromstring(response.content, etree.XMLParser(resolve_entities=False))


def fault_of(response: httpx.Response) -> tuple[str | None, str | None]:
    answer = soap_answer(response)
    return (
        answer.findtext("soap:Body/soap:Fault/faultcode", namespaces=NAMESPACES),
        answer.findtext("soap:Body/soap:Fault/detail/v:FaultDetail/v:code", namespaces=NAMESPACES),
    )


def test_a_usd_payment_goes_through_soap_from_initiate_to_webhook_to_refund(
    server: ServerProcess, client: httpx.Client
):
    payment = init(client, "USD", 12345)
    assert (payment["gateway"], payment["status"], payment["amount"]) == (
        "soap",
        "initiated",
        "123.45 USD",
    )

    delivered = client.post(
        "/external/soap-webhook",
        content=notification(payment["external_id"], "paid"),
        headers={"Content-Type": "text/xml; charset=utf-8"},
    )

    assert delivered.status_code == 200, delivered.text
    acknowledged = soap_answer(delivered)
    response = "soap:Body/v:PaymentStatusNotificationResponse"
    assert acknowledged.findtext(f"{response}/v:accepted", namespaces=NAMESPACES) == "true"
    assert acknowledged.findtext(f"{response}/v:changed", namespaces=NAMESPACES) == "true"
    assert history(client, payment["id"])["payment"]["status"] == "paid"

    refunded = client.post("/refund", json={"id": payment["id"]})
    assert refunded.status_code == 200, refunded.text
    assert refunded.json()["payment"]["status"] == "refunded"
    assert refunded.json()["refund"]["gateway"] == "soap"
    vendor = httpx.get(f"{server.base_url}/simulators/soap/_simulator/payments").json()
    [held] = [p for p in vendor["payments"] if p["reference"] == payment["id"]]
    assert [refund["amount"] for refund in held["refunds"]] == ["123.45 USD"]


def test_with_the_json_vendor_down_aed_payments_fail_over_to_soap(
    server: ServerProcess, client: httpx.Client
):
    assert client.post("/simulators/json/_simulator/down").status_code == 200
    try:
        payment = init(client, "AED", 99999)
    finally:
        assert client.post("/simulators/json/_simulator/up").status_code == 200

    assert payment["gateway"] == "soap"
    first, second = history(client, payment["id"])["attempts"]
    assert (first["gateway"], first["outcome"]) == ("json", "unavailable")
    assert first["reason"] == "priority 1 in config order, breaker closed"
    assert "503" in first["error"]
    assert (second["gateway"], second["outcome"]) == ("soap", "accepted")
    assert second["reason"] == (
        "priority 2 in config order, breaker closed; failover after json unavailable"
    )
    # With the JSON vendor back, AED goes to JSON first again.
    assert init(client, "AED", 5000)["gateway"] == "json"


XXE = (
    b'<?xml version="1.0"?><!DOCTYPE e [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
    b'<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/" '
    b'xmlns:v="urn:soap-vendor:payments:v1"><soap:Body><v:PaymentStatusNotification>'
    b"<v:externalId>&x;</v:externalId><v:status>paid</v:status>"
    b"</v:PaymentStatusNotification></soap:Body></soap:Envelope>"
)


def without_credentials(external_id: str) -> bytes:
    body = vendor_record("PaymentStatusNotification", {"externalId": external_id, "status": "paid"})
    return envelope(body)


def test_a_malformed_or_unauthenticated_soap_webhook_changes_nothing_and_gets_a_fault(
    client: httpx.Client,
):
    payment = init(client, "USD", 777)
    before = history(client, payment["id"])
    external_id = payment["external_id"]
    stranger = UsernameCredentials(username=VENDOR_CREDENTIALS.username, password="guessed")
    refused = {
        "not XML": b"paid, honestly",
        "truncated": notification(external_id, "paid")[:200],
        "no credentials": without_credentials(external_id),
        "a wrong password": notification(external_id, "paid", stranger),
        "an XXE payload": XXE,
    }

    for described, body in refused.items():
        response = client.post("/external/soap-webhook", content=body)
        assert response.status_code == 400, (described, response.text)
        assert fault_of(response) == ("soap:Client", "invalid-webhook"), described
        assert "root:" not in response.text

    after = history(client, payment["id"])
    assert after["payment"] == before["payment"]
    assert after["events"] == before["events"]


def test_refusals_of_well_formed_notifications_are_soap_faults_too(client: httpx.Client):
    unknown = client.post("/external/soap-webhook", content=notification("soappay_nobody", "paid"))
    assert unknown.status_code == 404
    assert fault_of(unknown) == ("soap:Client", "payment-not-found")

    payment = init(client, "USD", 888)
    paid = client.post(
        "/external/soap-webhook", content=notification(payment["external_id"], "paid")
    )
    assert paid.status_code == 200
    repeated = client.post(
        "/external/soap-webhook", content=notification(payment["external_id"], "paid")
    )
    assert repeated.status_code == 200
    changed = soap_answer(repeated).findtext(
        "soap:Body/v:PaymentStatusNotificationResponse/v:changed", namespaces=NAMESPACES
    )
    assert changed == "false"

    contradicting = client.post(
        "/external/soap-webhook", content=notification(payment["external_id"], "failed")
    )
    assert contradicting.status_code == 409
    assert fault_of(contradicting) == ("soap:Client", "transition-not-allowed")
    assert history(client, payment["id"])["payment"]["status"] == "paid"


def test_a_replayed_notification_is_refused(client: httpx.Client):
    payment = init(client, "USD", 999)
    captured = notification(payment["external_id"], "failed")
    assert client.post("/external/soap-webhook", content=captured).status_code == 200

    replayed = client.post("/external/soap-webhook", content=captured)

    assert replayed.status_code == 400
    assert fault_of(replayed) == ("soap:Client", "invalid-webhook")
    assert "already used" in replayed.text


def test_the_simulator_delivers_its_authenticated_notification_to_the_platform(
    client: httpx.Client,
):
    payment = init(client, "USD", 4242)

    moved = client.post(
        f"/simulators/soap/_simulator/payments/{payment['external_id']}/status",
        json={"status": "expired"},
    )

    assert moved.status_code == 200
    assert moved.json()["webhook"]["status_code"] == 200
    assert history(client, payment["id"])["payment"]["status"] == "expired"


def test_payments_plugins_lists_the_soap_gateway_type(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "payments_platform.cli", "plugins"],
        capture_output=True,
        text=True,
        check=True,
        cwd=tmp_path,
    )
    assert "gateway type soap: AED, USD  [simulator]" in result.stdout


def test_the_demo_serves_the_wsdl_with_the_mounted_simulators_address(
    server: ServerProcess, client: httpx.Client
):
    response = client.get("/simulators/soap/", params={"wsdl": ""})

    assert response.status_code == 200, response.text
    addresses = etree.fromstring(response.content).findall(
        ".//{http://schemas.xmlsoap.org/wsdl/soap/}address"
    )
    assert addresses[0].get("location") == f"{server.base_url}/simulators/soap"
