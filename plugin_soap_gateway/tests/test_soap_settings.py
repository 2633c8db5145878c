"""Settings are validated when decoded, every error names the field, and secrets stay hidden."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest
from payments_plugin_soap_gateway.credentials import PasswordType
from payments_plugin_soap_gateway.settings import SoapGatewaySettings

REQUIRED = {
    "endpoint": "https://ws.vendor.test/payments",
    "username": "merchant-7",
    "password": "s3cret-outbound",
    "webhook_username": "vendor",
    "webhook_password": "s3cret-inbound",
}


def test_defaults_apply_when_only_the_required_settings_are_given():
    settings = msgspec.convert(REQUIRED, SoapGatewaySettings)

    assert settings.password_type is PasswordType.DIGEST
    assert settings.connect_timeout == 2.0
    assert settings.read_timeout == 10.0
    assert settings.webhook_tolerance_seconds == 300


@pytest.mark.parametrize("field", sorted(REQUIRED))
def test_each_required_setting_is_named_when_missing(field: str):
    raw = {key: value for key, value in REQUIRED.items() if key != field}

    with pytest.raises(msgspec.ValidationError, match=f"missing required field `{field}`"):
        msgspec.convert(raw, SoapGatewaySettings)


@pytest.mark.parametrize(
    "endpoint",
    [
        "ftp://vendor.test/ws",
        "vendor.test/ws",
        "https://",
        " https://vendor.test/ws",
        "https://vendor .test/ws",
        "https://user:password@vendor.test/ws",
        "https://vendor.test/ws#top",
        "https://vendor.test:99999/ws",
        "",
    ],
)
def test_an_endpoint_that_is_not_an_absolute_http_url_is_refused(endpoint: str):
    with pytest.raises(msgspec.ValidationError, match="endpoint"):
        msgspec.convert(REQUIRED | {"endpoint": endpoint}, SoapGatewaySettings)


def test_an_endpoint_may_carry_a_query():
    raw = REQUIRED | {"endpoint": "https://vendor.test/ws?version=1"}

    assert msgspec.convert(raw, SoapGatewaySettings).endpoint.endswith("?version=1")


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("connect_timeout", 0),
        ("read_timeout", -1.0),
        ("read_timeout", 121),
        ("password", ""),
        ("webhook_password", ""),
        ("username", "x" * 257),
        ("password_type", "PasswordDigest"),
        ("webhook_tolerance_seconds", 0),
        ("webhook_tolerance_seconds", 86_401),
    ],
)
def test_an_out_of_range_value_is_refused_naming_its_field(field: str, value: Any):
    with pytest.raises(msgspec.ValidationError, match=rf"\$\.{field}"):
        msgspec.convert(REQUIRED | {field: value}, SoapGatewaySettings)


def test_an_unknown_field_is_refused_by_name():
    with pytest.raises(msgspec.ValidationError, match="pasword"):
        msgspec.convert(REQUIRED | {"pasword": "x"}, SoapGatewaySettings)


def test_the_representation_hides_both_passwords():
    shown = repr(msgspec.convert(REQUIRED, SoapGatewaySettings))

    assert "s3cret" not in shown
    assert "password=***" in shown
    assert "webhook_password=***" in shown
    assert "merchant-7" in shown
