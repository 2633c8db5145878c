"""The pluggy plugin that contributes the ``soap`` gateway type to the payments platform."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

from payments_plugins import Capabilities, GatewayType, NextActionType, Simulator, hookimpl

from payments_plugin_soap_gateway.gateway import GATEWAY_TYPE_NAME, build_gateway
from payments_plugin_soap_gateway.replies import webhook_reply
from payments_plugin_soap_gateway.settings import SoapGatewaySettings
from payments_plugin_soap_gateway.simulator import SIMULATOR_CREDENTIALS, build_simulator
from payments_plugin_soap_gateway.wire import CURRENCIES


def simulator_settings(base_url: str) -> dict[str, Any]:
    """Raw gateway settings pointing at a simulator served at ``base_url``.

    The credentials are the simulator's fixed, public ones: a simulator protects no money.
    """
    return {"endpoint": base_url, **SIMULATOR_CREDENTIALS}


SOAP_GATEWAY_TYPE: Final = GatewayType(
    name=GATEWAY_TYPE_NAME,
    currencies=CURRENCIES,
    settings_type=SoapGatewaySettings,
    build=build_gateway,
    simulator=Simulator(build=build_simulator, settings_for=simulator_settings),
    description=(
        "A SOAP 1.1 vendor (zeep): WS-Security UsernameToken both ways, idempotent on our "
        "reference."
    ),
    webhook_reply=webhook_reply,
    # Notifications must always carry the configured UsernameToken (webhook_username and
    # webhook_password are required settings).
    unverified_webhooks=lambda _settings: None,
    secret_settings=frozenset({"password", "webhook_password"}),
    # The payer pays on the vendor's page (with a 3-D Secure challenge); a payment not paid
    # yet can be cancelled; one initiated with captureMode manual is authorized, then
    # captured in parts or voided; the vendor says whether a decline is soft.
    capabilities=Capabilities(
        next_actions=frozenset({NextActionType.REDIRECT}),
        cancel=True,
        manual_capture=True,
        partial_capture=True,
        multiple_captures=True,
        void=True,
        soft_declines=True,
    ),
)


@hookimpl
def payments_register_gateway_types(register: Callable[[GatewayType[Any]], None]) -> None:
    """Contribute the ``soap`` gateway type."""
    register(SOAP_GATEWAY_TYPE)
