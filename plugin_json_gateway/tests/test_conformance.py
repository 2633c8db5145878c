"""The json gateway type passes the platform's gateway conformance suite."""

from __future__ import annotations

from payments_plugins.testing import ConformanceTarget, GatewayConformance, InvalidSetting


class TestJsonGatewayConformance(GatewayConformance):
    target = ConformanceTarget(
        distribution="payments-plugin-json-gateway",
        gateway_type="json",
        settings={"webhook_secret": "whsec_conformance_kit"},
        foreign_webhook_settings={"webhook_secret": "whsec_someone_else"},
        quick_timeouts={"read_timeout": 0.5},
        invalid_settings=[
            InvalidSetting({"base_url": "ftp://vendor.test"}, "base_url"),
            InvalidSetting({"read_timeout": 0}, "read_timeout"),
            InvalidSetting({"webhook_secret": ""}, "webhook_secret"),
            InvalidSetting({"webhook_tolerance_seconds": 0}, "webhook_tolerance_seconds"),
        ],
    )
