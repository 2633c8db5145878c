"""End to end: the real ``payments serve`` process, driven over HTTP like a client would."""

from __future__ import annotations

import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from payments_platform.access import key_hash, new_key

from .conftest import json_vendor
from .server_process import payments_serve

PAYMENT_ID = "6b77a7bc-0bee-49ab-bbb0-70d5245a20f7"
OPEN_SECTION = '\n[security]\nauth = "none"\nallow_unsigned_webhooks = true\n'
"""Appended to configs of tests about something else than security."""


def test_the_demo_walk_through_survives_a_restart(tmp_path: Path) -> None:
    with payments_serve(tmp_path) as server:
        assert "DEMO PROFILE" in server.output()
        client = httpx.Client(base_url=server.base_url, timeout=10)
        shop = f"{server.base_url}/simulators/merchant/return"
        created = client.post(
            "/init-payment",
            content=f'{{"currency":"AED", "id": "{PAYMENT_ID}", "amount_fractions":99999,'
            f' "description": "Order A-1042: two tickets", "return_url": "{shop}"}}',
        )
        assert created.status_code == 201, created.text
        action = created.json()["next_action"]
        assert action["type"] == "redirect"
        # What the payer's Pay on the vendor's page posts, as the README shows it.
        paid = client.post(
            action["url"],
            content="action=pay&step=checkout",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        assert paid.status_code == 303, paid.text
        assert paid.headers["location"] == f"{shop}?payment_id={PAYMENT_ID}"
        back = client.get(paid.headers["location"])
        assert "Back at the shop" in back.text
        assert client.get(f"/payments/{PAYMENT_ID}").json()["payment"]["status"] == "paid"
        refunded = client.post("/refund", content=f'{{"id": "{PAYMENT_ID}"}}')
        assert refunded.status_code == 200, refunded.text
        assert refunded.json()["ok"] is True
        # The demo's merchant hears of each status, verified, as the README shows.
        told = _wait_for_notifications(client, 4)
        assert [(n["type"], n["verified"]) for n in told] == [
            ("payment.initiated", True),
            ("payment.paid", True),
            ("refund.succeeded", True),
            ("payment.refunded", True),
        ]
        before = _wait_until_delivered(client, PAYMENT_ID)
        assert before["payment"]["status"] == "refunded"
        deliveries = [d for n in before["notifications"] for d in n["deliveries"]]
        assert {d["status"] for d in deliveries} == {"delivered"}
    assert (tmp_path / "payments.db").exists()

    with payments_serve(tmp_path) as server:
        after = httpx.get(f"{server.base_url}/payments/{PAYMENT_ID}").json()
        assert after == before


def _wait_for_notifications(client: httpx.Client, count: int) -> list[dict[str, Any]]:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        received: list[dict[str, Any]] = client.get("/simulators/merchant").json()["received"]
        if len(received) >= count:
            return sorted(received, key=lambda event: event["sequence"])
        time.sleep(0.1)
    raise AssertionError(f"the demo's merchant got {received}")


def _wait_until_delivered(client: httpx.Client, payment_id: str) -> dict[str, Any]:
    """The payment once every delivery of its notifications is recorded: the merchant has an
    event as soon as it answered, a moment before the worker records the answer."""
    deadline = time.monotonic() + 30
    while True:
        payment: dict[str, Any] = client.get(f"/payments/{payment_id}").json()
        statuses = {d["status"] for n in payment["notifications"] for d in n["deliveries"]}
        if statuses == {"delivered"} or time.monotonic() > deadline:
            return payment
        time.sleep(0.1)


BAD_REQUESTS: list[tuple[str, str, bytes, int, str]] = [
    ("POST", "/init-payment", b"{", 400, "malformed-json"),
    (
        "POST",
        "/init-payment",
        b'{"id": "x", "currency": "AED", "amount_fractions": 1}',
        422,
        "invalid-request",
    ),
    (
        "POST",
        "/init-payment",
        f'{{"id": "{PAYMENT_ID}", "currency": "AED", "amount_fractions": 0}}'.encode(),
        422,
        "invalid-request",
    ),
    (
        "POST",
        "/init-payment",
        f'{{"id": "{PAYMENT_ID}", "currency": "ZZZ", "amount_fractions": 5}}'.encode(),
        422,
        "unknown-currency",
    ),
    (
        "POST",
        "/init-payment",
        f'{{"id": "{PAYMENT_ID}", "currency": "JPY", "amount_fractions": 5}}'.encode(),
        422,
        "currency-not-supported",
    ),
    ("POST", "/init-payment", b"\xff\xfe\x00garbage", 400, "malformed-json"),
    ("POST", "/init-payment", b'{"id": null}', 422, "invalid-request"),
    ("POST", "/init-payment", b"x" * 200_000, 413, "body-too-large"),
    ("POST", "/refund", b"{}", 422, "invalid-request"),
    ("POST", "/refund", f'{{"id": "{uuid.uuid4()}"}}'.encode(), 404, "payment-not-found"),
    (
        "POST",
        "/refund",
        f'{{"id": "{PAYMENT_ID}", "amount_fractions": -1}}'.encode(),
        422,
        "invalid-request",
    ),
    ("POST", "/external/json-webhook", b"[1,2]", 400, "invalid-webhook"),
    (
        "POST",
        "/external/json-webhook",
        b'{"external_id": "nope", "status": "paid"}',
        404,
        "payment-not-found",
    ),
    (
        "POST",
        "/external/json-webhook",
        b'{"external_id": "x", "status": "refunded"}',
        400,
        "invalid-webhook",
    ),
    ("GET", "/payments/123", b"", 422, "invalid-request"),
    ("DELETE", "/init-payment", b"", 405, "method-not-allowed"),
]


def test_bad_input_gets_4xx_problem_json_from_the_real_server(tmp_path: Path) -> None:
    with payments_serve(tmp_path) as server:
        for method, path, body, status, code in BAD_REQUESTS:
            response = httpx.request(method, f"{server.base_url}{path}", content=body)
            assert response.status_code == status, (path, body[:60], response.text)
            assert response.headers["content-type"].startswith("application/problem+json")
            assert response.json()["code"] == code, (path, response.text)
        assert "Traceback" not in server.output()


def test_a_config_file_points_the_server_at_a_vendor(tmp_path: Path) -> None:
    key = new_key()
    with json_vendor() as vendor:
        config = tmp_path / "payments.toml"
        config.write_text(
            f"""
            [database]
            url = "sqlite:///{tmp_path / "prod.db"}"
            [security.merchants.shop]
            key_hashes = ["{key_hash(key)}"]
            [gateways.acme]
            type = "json"
            [gateways.acme.settings]
            base_url = "{vendor.base_url}"
            webhook_secret = "whsec_e2e_0123456789"
            """,
            encoding="utf-8",
        )
        subprocess.run(
            [sys.executable, "-m", "payments_platform.cli", "migrate", "--config", str(config)],
            check=True,
            capture_output=True,
        )
        with payments_serve(tmp_path, config=config) as server:
            assert "DEMO PROFILE" not in server.output()
            body = {"id": str(uuid.uuid4()), "currency": "AED", "amount_fractions": 1}
            anonymous = httpx.post(f"{server.base_url}/init-payment", json=body)
            assert anonymous.status_code == 401
            assert anonymous.headers["www-authenticate"].startswith("Bearer")
            response = httpx.post(
                f"{server.base_url}/init-payment",
                json=body,
                headers={"Authorization": f"Bearer {key}"},
            )
            assert response.status_code == 201, response.text
            assert response.json()["gateway"] == "acme"
            assert httpx.get(f"{server.base_url}/ready").status_code == 200


@pytest.mark.parametrize(
    ("config_text", "message"),
    [
        ('[gateways.a]\ntype = "nope"\n', "no installed plugin provides gateway type 'nope'"),
        (
            '[gateways.a]\ntype = "json"\n',
            "missing required field `base_url`: set `gateways.a.settings.base_url` in the config"
            " file, or PAYMENTS_GATEWAYS__A__SETTINGS__BASE_URL in the environment"
            " - at `gateways.a.settings`",
        ),
        (
            '[gateways.a]\ntype = "json"\ncurrencies = ["USD"]\n[gateways.a.settings]\n'
            'base_url = "http://x"\n',
            "does not support USD",
        ),
        ("[server]\nport = 'x'\n", "`server.port`"),
    ],
)
def test_config_check_names_what_is_wrong(tmp_path: Path, config_text: str, message: str) -> None:
    config = tmp_path / "payments.toml"
    config.write_text(config_text + OPEN_SECTION, encoding="utf-8")
    result = subprocess.run(
        [sys.executable, "-m", "payments_platform.cli", "config", "check", "--config", str(config)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2
    assert message in result.stderr


def test_serve_refuses_an_unmigrated_database_with_a_clear_message(tmp_path: Path) -> None:
    config = tmp_path / "payments.toml"
    config.write_text(
        f'[database]\nurl = "sqlite:///{tmp_path / "new.db"}"\n' + OPEN_SECTION,
        encoding="utf-8",
    )
    result = subprocess.run(
        [sys.executable, "-m", "payments_platform.cli", "serve", "--config", str(config)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 2
    assert "run `payments migrate`" in result.stderr


def _init_body(amount: str, payment_id: str = PAYMENT_ID) -> bytes:
    return f'{{"id":"{payment_id}","currency":"AED","amount_fractions":{amount}}}'.encode()


HOSTILE_BODIES = [
    ("nested arrays", b"[" * 5000 + b"]" * 5000, 422),
    ("nested objects", b'{"a":' * 3000 + b"1" + b"}" * 3000, 422),
    ("a deep value", b'{"id":' + b"[" * 5000 + b"]" * 5000 + b"}", 422),
    ("not UTF-8", b'{"id":"\xff\xfe","currency":"AED","amount_fractions":5}', 422),
    ("not UTF-8 outside strings", b"\xff\xfe{}", 400),
    ("NaN", _init_body("NaN"), 400),
    ("infinite", _init_body("1e400"), 422),
    ("huge float", _init_body("1e20"), 422),
    ("NUL in the id", _init_body("5", PAYMENT_ID + "\\u0000"), 422),
]


@pytest.mark.parametrize("path", ["/init-payment", "/refund"])
def test_hostile_bodies_are_4xx_never_500(tmp_path: Path, path: str) -> None:
    with payments_serve(tmp_path) as server:
        for name, body, init_status in HOSTILE_BODIES:
            response = httpx.post(f"{server.base_url}{path}", content=body)
            if path == "/init-payment":
                assert response.status_code == init_status, (name, response.text)
            else:  # the refund body has other fields: refused as early, maybe for another one
                assert response.status_code in (400, 422), (name, response.text)
            assert response.headers["content-type"].startswith("application/problem+json")
        assert "Traceback" not in server.output()
