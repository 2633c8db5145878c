"""A gateway type and a gateway's results refuse, when they are made, what would misbehave later."""

from __future__ import annotations

import importlib.metadata
import uuid
from typing import Any

import msgspec
import pytest
from payments_plugins import (
    GatewayType,
    InitiateResult,
    RefundResult,
    StatusReport,
    VendorPaymentStatus,
    WebhookEvent,
)
from payments_plugins.contract import CONTRACT_VERSION


class Settings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    api_key: str
    webhook_secret: str | None = None


def gateway_type(**overrides: Any) -> GatewayType[Any]:
    fields: dict[str, Any] = {
        "name": "acme",
        "currencies": frozenset({"EUR", "GBP"}),
        "settings_type": Settings,
        "build": lambda settings, resources: None,
        "secret_settings": frozenset({"api_key", "webhook_secret"}),
    }
    return GatewayType(**(fields | overrides))


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (
            {"currencies": "EUR"},
            "currencies must be a set of strings such as frozenset({'EUR'}), not the string 'EUR'",
        ),
        ({"currencies": frozenset({"eur"})}, "unknown currencies ['eur']: currencies are ISO 4217"),
        (
            {"secret_settings": "api_key"},
            "secret_settings must be a set of strings such as frozenset({'api_key'})",
        ),
        (
            {"secret_settings": frozenset({"apikey"})},
            "secret_settings names ['apikey'], which Settings does not have; its fields are"
            " ['api_key', 'webhook_secret']",
        ),
        ({"settings_type": dict}, "settings_type must be a msgspec.Struct class"),
    ],
)
def test_a_gateway_type_refuses_what_would_misbehave_naming_the_fix(
    overrides: dict[str, Any], message: str
) -> None:
    with pytest.raises((TypeError, ValueError)) as refused:
        gateway_type(**overrides)
    assert message in str(refused.value)


def test_a_plain_set_of_currencies_is_taken_as_a_frozenset() -> None:
    made = gateway_type(currencies={"EUR"}, secret_settings=["api_key"])
    assert made.currencies == frozenset({"EUR"})
    assert made.secret_settings == frozenset({"api_key"})


# The wrong types are the point: they are what an untyped gateway hands back.
@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: InitiateResult(external_id=42), "InitiateResult.external_id must be a str"),  # type: ignore[arg-type]
        (lambda: RefundResult(external_refund_id=None), "RefundResult.external_refund_id must"),  # type: ignore[arg-type]
        (
            lambda: WebhookEvent(external_id="x", status="paid"),  # type: ignore[arg-type]
            "WebhookEvent.status must be a VendorPaymentStatus, not str 'paid'",
        ),
        (
            lambda: StatusReport(status=VendorPaymentStatus.PAID, external_id=uuid.uuid4()),  # type: ignore[arg-type]
            "StatusReport.external_id must be a str",
        ),
    ],
)
def test_a_result_with_an_id_or_status_of_the_wrong_type_is_refused_when_made(
    make: Any, message: str
) -> None:
    with pytest.raises(TypeError, match=message.replace("(", r"\(")):
        make()


def test_the_distribution_version_is_the_contract_version() -> None:
    assert importlib.metadata.version("payments-plugins") == CONTRACT_VERSION
