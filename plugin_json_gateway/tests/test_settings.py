"""Settings are validated when decoded, and every error names the offending field."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest
from payments_plugin_json_gateway.settings import JsonGatewaySettings


def test_defaults_apply_when_only_the_base_url_is_given():
    settings = msgspec.convert({"base_url": "https://api.vendor.test/v1/"}, JsonGatewaySettings)

    assert settings.connect_timeout == 2.0
    assert settings.read_timeout == 10.0
    assert settings.webhook_secret is None
    assert settings.webhook_tolerance_seconds == 300
    assert settings.api_root == "https://api.vendor.test/v1"


@pytest.mark.parametrize(
    "base_url",
    [
        "ftp://vendor.test",
        "vendor.test/api",
        "http://",
        "https:///path-only",
        " https://vendor.test",
        "https://vendor .test",
        "https://user:password@vendor.test",
        "https://vendor.test/?key=1",
        "https://vendor.test/#top",
        "https://vendor.test:99999",
        "https://vendor.test:port",
        "",
    ],
)
def test_a_base_url_that_is_not_an_absolute_http_url_is_refused(base_url: str):
    with pytest.raises(msgspec.ValidationError, match="base_url"):
        msgspec.convert({"base_url": base_url}, JsonGatewaySettings)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("connect_timeout", -1.0),
        ("connect_timeout", 0),
        ("read_timeout", -0.5),
        ("read_timeout", 121),
        ("read_timeout", "10"),
        ("webhook_secret", ""),
        ("webhook_tolerance_seconds", 0),
        ("webhook_tolerance_seconds", 1.5),
    ],
)
def test_an_out_of_range_value_is_refused_naming_its_field(field: str, value: Any):
    raw = {"base_url": "https://vendor.test", field: value}

    with pytest.raises(msgspec.ValidationError, match=rf"\$\.{field}"):
        msgspec.convert(raw, JsonGatewaySettings)


def test_an_unknown_field_is_refused_by_name():
    raw = {"base_url": "https://vendor.test", "read_timout": 3}

    with pytest.raises(msgspec.ValidationError, match="read_timout"):
        msgspec.convert(raw, JsonGatewaySettings)
