"""Vendor simulators are a demo and test fixture: in the same process only where the client API
is open, never silently overriding what the operator wrote, and otherwise served by
``payments simulate`` as a process of their own, the way a vendor would be."""

from __future__ import annotations

import signal
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from databases import sqlite_url
from payments_platform.access import key_hash, new_key
from payments_plugin_soap_gateway.credentials import UsernameCredentials, security_header
from payments_plugin_soap_gateway.wire import envelope, vendor_record
from payments_plugins.testing.asgi_server import free_port

from .server_process import migrate, payments, payments_serve, payments_simulate, write_config

WEBHOOK_SECRET = "whsec_operator_0123456789"
SOAP_SETTINGS = {
    "username": "merchant-7",
    "password": "merchant-7-password",
    "webhook_username": "vendor-7",
    "webhook_password": "vendor-7-password",
}
SECRETS = [WEBHOOK_SECRET, SOAP_SETTINGS["password"], SOAP_SETTINGS["webhook_password"]]


def production(
    tmp_path: Path, key: str, gateways: dict[str, Any], *, platform_port: int = 8080
) -> Path:
    """A config with API keys, signed webhooks and its own SQLite file."""
    return write_config(
        tmp_path / "payments.toml",
        {
            "server": {"port": platform_port},
            "database": {"url": sqlite_url(tmp_path / "payments.db")},
            "security": {"merchants": {"shop": {"key_hashes": [key_hash(key)]}}},
            "gateways": gateways,
        },
    )


def soap_notification(external_id: str, status: str, username: str, password: str) -> bytes:
    """The SOAP vendor's notification, with a fresh UsernameToken made with these credentials."""
    body = vendor_record("PaymentStatusNotification", {"externalId": external_id, "status": status})
    credentials = UsernameCredentials(username=username, password=password)
    return envelope(body, header=[security_header(credentials, now=time.time())])


@pytest.mark.parametrize("command", [["config", "check", "--offline"], ["serve"]])
def test_a_simulator_in_the_process_is_refused_where_the_api_needs_keys(
    tmp_path: Path, command: list[str]
) -> None:
    settings = {"base_url": "https://api.acme.example", "webhook_secret": WEBHOOK_SECRET}
    config = production(
        tmp_path,
        new_key(),
        {"acme": {"type": "json", "settings": settings, "simulator": {"payer_pays_at_once": True}}},
    )

    result = payments(*command, "--config", str(config))

    assert result.returncode == 2
    assert result.stderr == (
        "payments: error: gateway 'acme' has a simulator in this process, which only a config"
        ' whose client API is open may have (security.auth = "none", as in the demo): remove'
        " [gateways.acme.simulator] and serve the simulator as a process of its own"
        " (`payments simulate --config <this file> --gateway acme`), pointing the gateway's"
        " settings at it - at `gateways.acme.simulator`\n"
    )
    assert not (tmp_path / "payments.db").exists()


def test_a_simulator_never_replaces_where_the_operator_said_the_vendor_is(tmp_path: Path) -> None:
    config = write_config(
        tmp_path / "payments.toml",
        {
            "security": {"auth": "none"},
            "gateways": {
                "acme": {
                    "type": "json",
                    "settings": {"base_url": "https://api.acme.example"},
                    "simulator": {},
                }
            },
        },
    )

    result = payments("config", "check", "--offline", "--config", str(config))

    assert result.returncode == 2
    assert result.stderr == (
        "payments: error: gateway 'acme' has a simulator in this process, and base_url must"
        " point at it ('http://127.0.0.1:8080/simulators/acme'): remove base_url, or the"
        " [gateways.acme.simulator] table - at `gateways.acme.settings.base_url`\n"
    )


def test_a_simulator_in_the_process_signs_with_the_operator_s_credentials(tmp_path: Path) -> None:
    config = write_config(
        tmp_path / "payments.toml",
        {
            "database": {"url": sqlite_url(tmp_path / "payments.db"), "migrate_on_start": True},
            "security": {"auth": "none"},
            "gateways": {"legacy": {"type": "soap", "settings": SOAP_SETTINGS, "simulator": {}}},
        },
    )
    with payments_serve(tmp_path, config=config) as server:
        client = httpx.Client(base_url=server.base_url, timeout=10)
        first = _init(client, "USD")["external_id"]
        second = _init(client, "USD")["external_id"]

        # The operator's notification credentials are those the platform checks...
        by_operator = client.post(
            "/external/legacy-webhook",
            content=soap_notification(
                first, "paid", SOAP_SETTINGS["webhook_username"], SOAP_SETTINGS["webhook_password"]
            ),
        )
        # ...and those the simulator signs with.
        by_simulator = client.post(
            f"/simulators/legacy/_simulator/payments/{second}/status", json={"status": "paid"}
        )

    assert by_operator.status_code == 200, by_operator.text
    assert by_simulator.status_code == 200, by_simulator.text
    assert by_simulator.json()["webhook"]["status_code"] == 200


def test_simulate_stands_in_for_the_vendors_of_a_production_config(tmp_path: Path) -> None:
    key, port, platform_port = new_key(), free_port(), free_port()
    simulators = f"http://127.0.0.1:{port}"
    config = production(
        tmp_path,
        key,
        {
            "acme": {
                "type": "json",
                "settings": {"base_url": f"{simulators}/acme", "webhook_secret": WEBHOOK_SECRET},
            },
            "legacy": {
                "type": "soap",
                "currencies": ["USD"],
                "settings": {"endpoint": f"{simulators}/legacy", **SOAP_SETTINGS},
            },
        },
        platform_port=platform_port,
    )
    migrate(config)
    with (
        payments_simulate(tmp_path, config, port=port) as vendor,
        payments_serve(tmp_path, config=config, port=platform_port) as server,
    ):
        client = httpx.Client(
            base_url=server.base_url, timeout=10, headers={"Authorization": f"Bearer {key}"}
        )
        moved = {}
        for gateway, currency in [("acme", "AED"), ("legacy", "USD")]:
            payment = _init(client, currency)
            assert payment["gateway"] == gateway
            moved[gateway] = httpx.post(
                f"{vendor.base_url}/{gateway}/_simulator/payments/{payment['external_id']}/status",
                json={"status": "paid"},
            )
            assert client.get(f"/payments/{payment['id']}").json()["payment"]["status"] == "paid"
            refund = client.post("/refund", json={"id": payment["id"]})
            assert refund.json()["refund"]["status"] == "succeeded", refund.text
        printed = vendor.output()

    for answer in moved.values():
        assert answer.json()["webhook"]["status_code"] == 200, answer.text
    platform = f"http://127.0.0.1:{platform_port}"
    assert printed.startswith(
        f"vendor simulators at {simulators} (SIGTERM or Ctrl-C stops them)\n"
        f"  gateway acme (json) at {simulators}/acme,"
        f" notifications to {platform}/external/acme-webhook\n"
        "    the config points the gateway here\n"
        f"  gateway legacy (soap) at {simulators}/legacy,"
        f" notifications to {platform}/external/legacy-webhook\n"
        "    the config points the gateway here\n"
    )
    assert not [secret for secret in SECRETS if secret in printed]


def test_simulate_prints_the_settings_a_config_needs_to_use_it(tmp_path: Path) -> None:
    config = production(
        tmp_path,
        new_key(),
        {
            "acme": {
                "type": "json",
                "settings": {"base_url": "https://api.acme.example", "webhook_secret": "x" * 16},
            },
            "legacy": {"type": "soap"},
        },
    )
    port = free_port()
    at = f"http://127.0.0.1:{port}"
    with payments_simulate(
        tmp_path, config, "--gateway", "legacy", "--gateway", "acme", port=port
    ) as vendor:
        listed = httpx.get(f"{vendor.base_url}/").json()
        printed = vendor.output()
    exit_status = vendor.process.returncode

    assert listed == {
        "simulators": {
            "legacy": {"type": "soap", "path": "/legacy"},
            "acme": {"type": "json", "path": "/acme"},
        }
    }
    assert printed.splitlines()[1:13] == [
        f"  gateway legacy (soap) at {at}/legacy, notifications to"
        " http://127.0.0.1:8080/external/legacy-webhook",
        "    for the platform to use it, the config needs:",
        "      [gateways.legacy.settings]",
        f'      endpoint = "{at}/legacy"',
        '      username = "simulated-merchant"',
        '      password = "simulated-merchant-password"',
        '      webhook_username = "simulated-vendor"',
        '      webhook_password = "simulated-vendor-password"',
        f"  gateway acme (json) at {at}/acme, notifications to"
        " http://127.0.0.1:8080/external/acme-webhook",
        "    for the platform to use it, the config needs:",
        "      [gateways.acme.settings]",
        f'      base_url = "{at}/acme"',
    ]
    assert "x" * 16 not in printed
    # It shut down on SIGTERM and, as uvicorn does, ended by the signal it was sent.
    assert exit_status == -signal.SIGTERM


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (
            [],
            "payments simulate serves the simulators of a config file's gateways: give --config"
            " or $PAYMENTS_CONFIG (the demo profile serves its own)",
        ),
        (
            ["--config", "{config}", "--gateway", "acmee"],
            "the config has no gateway 'acmee' (it has: acme)",
        ),
    ],
)
def test_simulate_says_what_it_cannot_serve(
    tmp_path: Path, arguments: list[str], message: str
) -> None:
    config = production(tmp_path, new_key(), {"acme": {"type": "json"}})

    result = payments("simulate", *(a.format(config=config) for a in arguments), cwd=tmp_path)

    assert result.returncode == 2
    assert result.stderr == f"payments: error: {message}\n"


def _init(client: httpx.Client, currency: str) -> dict[str, Any]:
    body = {"id": str(uuid.uuid4()), "currency": currency, "amount_fractions": 1250}
    response = client.post("/init-payment", json=body)
    assert response.status_code == 201, response.text
    payment: dict[str, Any] = response.json()
    return payment
