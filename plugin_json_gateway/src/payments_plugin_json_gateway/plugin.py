"""The pluggy plugin that contributes the ``json`` gateway type to the payments platform."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

from payments_plugins import Capabilities, GatewayType, NextActionType, Simulator, hookimpl

from payments_plugin_json_gateway.gateway import GATEWAY_TYPE_NAME, build_gateway
from payments_plugin_json_gateway.settings import JsonGatewaySettings
from payments_plugin_json_gateway.simulator import CURRENCY, build_simulator


def simulator_settings(base_url: str) -> dict[str, Any]:
    """Raw gateway settings pointing at a simulator served at ``base_url``."""
    return {"base_url": base_url}


def unverified_webhooks(settings: JsonGatewaySettings) -> str | None:
    """Why webhooks would be accepted unsigned with these settings, or None."""
    return None if settings.webhook_secret else "webhook_secret is not set"


JSON_GATEWAY_TYPE: Final = GatewayType(
    name=GATEWAY_TYPE_NAME,
    currencies=frozenset({CURRENCY}),
    settings_type=JsonGatewaySettings,
    build=build_gateway,
    simulator=Simulator(build=build_simulator, settings_for=simulator_settings),
    description="A JSON/REST vendor: HMAC-signed webhooks, idempotent on our reference.",
    unverified_webhooks=unverified_webhooks,
    secret_settings=frozenset({"webhook_secret"}),
    # The payer pays on the vendor's page; a payment not paid yet can be cancelled; one taken
    # with manual capture is authorized, then captured in parts or voided; the vendor's soft
    # decline codes are told from its hard ones.
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
    """Contribute the ``json`` gateway type."""
    register(JSON_GATEWAY_TYPE)
