"""The plugin is found through its entry point and contributes the json gateway type."""

from __future__ import annotations

import importlib.metadata
from typing import Any

import httpx
import msgspec
import payments_plugins.hookspecs
import pluggy
from opentelemetry import trace
from payments_plugin_json_gateway.gateway import JsonGateway
from payments_plugin_json_gateway.simulator import JsonVendorSimulator
from payments_plugins import GatewayResources, GatewayType, SimulatorOptions


def registered_types() -> list[GatewayType[Any]]:
    manager = pluggy.PluginManager("payments")
    manager.add_hookspecs(payments_plugins.hookspecs)
    manager.load_setuptools_entrypoints("payments", name="json")
    manager.check_pending()
    types: list[GatewayType[Any]] = []
    manager.hook.payments_register_gateway_types(register=types.append)
    return types


def test_the_distribution_publishes_the_json_entry_point():
    [entry_point] = importlib.metadata.entry_points(group="payments", name="json")

    assert entry_point.value == "payments_plugin_json_gateway.plugin"
    assert entry_point.dist is not None
    assert entry_point.dist.name == "payments-plugin-json-gateway"


def test_loading_the_entry_point_registers_the_json_gateway_type_for_aed():
    [gateway_type] = registered_types()

    assert gateway_type.name == "json"
    assert gateway_type.currencies == frozenset({"AED"})
    assert gateway_type.description


async def test_the_registered_type_builds_a_gateway_and_a_simulator_from_config_values():
    [gateway_type] = registered_types()
    assert gateway_type.simulator is not None
    raw = gateway_type.simulator.settings_for("http://127.0.0.1:8123")

    settings = msgspec.convert(raw, gateway_type.settings_type)
    async with httpx.AsyncClient() as http:
        resources = GatewayResources(http=http, tracer=trace.get_tracer("tests"))
        gateway = gateway_type.build(settings, resources)
        simulator = gateway_type.simulator.build(SimulatorOptions(settings=settings))

    assert isinstance(gateway, JsonGateway)
    assert isinstance(simulator, JsonVendorSimulator)
