"""The JSON/REST gateway plugin of the payments platform, with a simulator of its vendor."""

from payments_plugin_json_gateway.gateway import JsonGateway, build_gateway
from payments_plugin_json_gateway.settings import JsonGatewaySettings
from payments_plugin_json_gateway.simulator import JsonVendorSimulator, build_simulator

__all__ = [
    "JsonGateway",
    "JsonGatewaySettings",
    "JsonVendorSimulator",
    "build_gateway",
    "build_simulator",
]
