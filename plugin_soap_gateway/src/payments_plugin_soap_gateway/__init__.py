"""The SOAP gateway plugin of the payments platform, with a simulator of its vendor."""

from payments_plugin_soap_gateway.gateway import SoapGateway, build_gateway
from payments_plugin_soap_gateway.replies import webhook_reply
from payments_plugin_soap_gateway.settings import SoapGatewaySettings
from payments_plugin_soap_gateway.simulator import SoapVendorSimulator, build_simulator

__all__ = [
    "SoapGateway",
    "SoapGatewaySettings",
    "SoapVendorSimulator",
    "build_gateway",
    "build_simulator",
    "webhook_reply",
]
