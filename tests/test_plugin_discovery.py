"""Plugins are found through the ``payments`` entry points, with no change to the core."""

from __future__ import annotations

import importlib.metadata
import subprocess
import sys
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from payments_platform.config import decode_settings, load_settings
from payments_platform.plugin_host import PluginError, PluginHost
from payments_platform.runtime import build_runtime
from payments_plugins import GatewayType

from .conftest import OPEN, AppFactory


def test_the_installed_test_plugin_is_discovered_with_its_distribution() -> None:
    host = PluginHost.discover()
    names = {plugin.name: plugin for plugin in host.plugins}
    assert names["testgw"].distribution == "payments-plugin-test-gateway"
    assert names["testgw"].gateway_types == ("testgw",)
    assert host.gateway_type("testgw").currencies == frozenset({"EUR", "JPY"})
    assert not host.failures


async def test_a_config_file_enabling_the_test_plugin_serves_payments(
    platform: AppFactory, tmp_path: Path
) -> None:
    config = tmp_path / "payments.toml"
    config.write_text(
        '[security]\nauth = "none"\nallow_unsigned_webhooks = true\n'
        '[gateways.tg]\ntype = "testgw"\n[gateways.tg.settings]\ndecline_amounts = [13]\n',
        encoding="utf-8",
    )
    settings = load_settings(config, {})
    async with platform({"tg": settings.gateways["tg"]}) as client:
        payment_id = str(uuid.uuid4())
        response = await client.post(
            "/init-payment", json={"id": payment_id, "currency": "JPY", "amount_fractions": 500}
        )
        assert response.status_code == 201, response.text
        assert response.json()["gateway"] == "tg"
        assert response.json()["amount"] == "500 JPY"
        external_id = response.json()["external_id"]
        webhook = await client.post(
            "/external/testgw-webhook", json={"ref": external_id, "state": "paid"}
        )
        assert webhook.status_code == 200, webhook.text
        refund = await client.post("/refund", json={"id": payment_id})
        assert refund.json()["payment"]["status"] == "refunded"
        declined = await client.post(
            "/init-payment",
            json={"id": str(uuid.uuid4()), "currency": "EUR", "amount_fractions": 13},
        )
        assert declined.status_code == 402
        assert declined.json()["payment"]["failure_code"] == "test_decline"


def test_payments_plugins_lists_plugins_types_and_currencies() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "payments_platform.cli", "plugins"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "testgw  (payments-plugin-test-gateway 0.1.0)" in result.stdout
    assert "gateway type testgw: EUR, JPY" in result.stdout
    assert "gateway type json: AED  [simulator]" in result.stdout


def _with_broken_plugin(monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.metadata.entry_points

    def entry_points(*, group: str) -> importlib.metadata.EntryPoints:
        broken = importlib.metadata.EntryPoint(
            name="broken", value="payments_no_such_module_anywhere", group=group
        )
        return importlib.metadata.EntryPoints([*real(group=group), broken])

    monkeypatch.setattr(importlib.metadata, "entry_points", entry_points)


def test_a_plugin_that_fails_to_import_is_reported_by_name(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _with_broken_plugin(monkeypatch)
    host = PluginHost.discover()
    [failure] = host.failures
    assert failure.describe().startswith('Error importing plugin "broken": ModuleNotFoundError')
    assert "payments_no_such_module_anywhere" in failure.traceback
    assert "testgw" in host.gateway_types  # the others still load


def test_start_up_fails_only_if_an_enabled_gateway_needs_the_broken_plugin(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _with_broken_plugin(monkeypatch)
    host = PluginHost.discover()
    database = {"url": f"sqlite:///{tmp_path / 'p.db'}"}
    fine = decode_settings(
        {"database": database, "security": OPEN, "gateways": {"tg": {"type": "testgw"}}}
    )
    build_runtime(fine, host)
    needs_it = decode_settings(
        {"database": database, "security": OPEN, "gateways": {"b": {"type": "brokentype"}}}
    )
    with pytest.raises(
        PluginError,
        match=r"no installed plugin provides gateway type .brokentype."
        r'.*Error importing plugin "broken"',
    ):
        build_runtime(needs_it, host)


def test_a_plugin_registering_a_taken_type_name_is_refused_by_name() -> None:
    from payments_plugin_test_gateway import GATEWAY_TYPE
    from payments_plugins import hookimpl

    class Impostor:
        @hookimpl
        def payments_register_gateway_types(
            self, register: Callable[[GatewayType[Any]], None]
        ) -> None:
            register(GATEWAY_TYPE)

    host = PluginHost.discover()
    host.register(Impostor(), "impostor")
    [failure] = host.failures
    assert "'testgw' is registered by both 'testgw' and 'impostor'" in failure.error


def test_a_misspelled_hook_is_refused() -> None:
    from payments_plugins import hookimpl

    class Typo:
        @hookimpl
        def payments_register_gateway_typos(
            self, register: Callable[[GatewayType[Any]], None]
        ) -> None:
            return None

    host = PluginHost.discover()
    host.register(Typo(), "typo")
    assert host.failures[0].name == "typo"
    assert "payments_register_gateway_typos" in host.failures[0].error
