"""The plugin is found through its entry point, and ships a WSDL that loads without a network."""

from __future__ import annotations

import importlib.metadata
from typing import Any

import httpx
import msgspec
import payments_plugins.hookspecs
import pluggy
import pytest
from opentelemetry import trace
from packaging.requirements import Requirement
from payments_plugin_soap_gateway.gateway import SoapGateway
from payments_plugin_soap_gateway.service import (
    OfflineTransport,
    payment_binding,
    service_document,
    wsdl_bytes,
)
from payments_plugin_soap_gateway.settings import SoapGatewaySettings
from payments_plugin_soap_gateway.simulator import SoapVendorSimulator
from payments_plugins import GatewayResources, GatewayType, SimulatorOptions


def registered_types() -> list[GatewayType[Any]]:
    manager = pluggy.PluginManager("payments")
    manager.add_hookspecs(payments_plugins.hookspecs)
    manager.load_setuptools_entrypoints("payments", name="soap")
    manager.check_pending()
    types: list[GatewayType[Any]] = []
    manager.hook.payments_register_gateway_types(register=types.append)
    return types


def test_the_distribution_publishes_the_soap_entry_point():
    [entry_point] = importlib.metadata.entry_points(group="payments", name="soap")

    assert entry_point.value == "payments_plugin_soap_gateway.plugin"
    assert entry_point.dist is not None
    assert entry_point.dist.name == "payments-plugin-soap-gateway"


def test_the_distribution_depends_only_on_the_contract_and_its_client_libraries():
    requirements = importlib.metadata.requires("payments-plugin-soap-gateway") or []
    names = {Requirement(requirement).name for requirement in requirements}

    assert names == {"payments-plugins", "zeep", "lxml", "httpx"}


def test_loading_the_entry_point_registers_the_soap_type_for_aed_and_usd():
    [gateway_type] = registered_types()

    assert gateway_type.name == "soap"
    assert gateway_type.currencies == frozenset({"AED", "USD"})
    assert gateway_type.webhook_reply is not None
    assert gateway_type.description


async def test_the_registered_type_builds_a_gateway_and_a_simulator_from_config_values():
    [gateway_type] = registered_types()
    assert gateway_type.simulator is not None
    raw = gateway_type.simulator.settings_for("http://127.0.0.1:8123/simulators/soap")

    settings = msgspec.convert(raw, gateway_type.settings_type)
    async with httpx.AsyncClient() as http:
        resources = GatewayResources(http=http, tracer=trace.get_tracer("tests"))
        gateway = gateway_type.build(settings, resources)
        simulator = gateway_type.simulator.build(SimulatorOptions(settings=settings))

    assert isinstance(gateway, SoapGateway)
    assert isinstance(simulator, SoapVendorSimulator)
    assert isinstance(settings, SoapGatewaySettings)
    assert settings.endpoint == "http://127.0.0.1:8123/simulators/soap"


def test_the_wsdl_is_shipped_in_the_package_and_describes_every_operation():
    assert wsdl_bytes().startswith(b"<?xml")
    operations = set(payment_binding()._operations)

    assert operations == {
        "InitiatePayment",
        "CancelPayment",
        "CapturePayment",
        "GetCaptureStatus",
        "VoidPayment",
        "Refund",
        "GetPaymentStatus",
        "GetRefundStatus",
    }


def test_the_wsdl_is_parsed_once_per_process():
    assert service_document() is service_document()


def test_the_offline_transport_refuses_to_load_anything():
    with pytest.raises(RuntimeError, match="loads no documents"):
        OfflineTransport().load("https://soap-vendor.invalid/schema.xsd")
