"""The soap gateway type passes the platform's gateway conformance suite."""

from __future__ import annotations

from payments_plugins.testing import ConformanceTarget, GatewayConformance, InvalidSetting


class TestSoapGatewayConformance(GatewayConformance):
    target = ConformanceTarget(
        distribution="payments-plugin-soap-gateway",
        gateway_type="soap",
        foreign_webhook_settings={"webhook_password": "someone-elses-password"},
        quick_timeouts={"read_timeout": 0.5},
        invalid_settings=[
            InvalidSetting({"endpoint": "ftp://vendor.test/ws"}, "endpoint"),
            InvalidSetting({"read_timeout": 0}, "read_timeout"),
            InvalidSetting({"password": ""}, "password"),
            InvalidSetting({"password_type": "plain"}, "password_type"),
            InvalidSetting({"webhook_tolerance_seconds": 0}, "webhook_tolerance_seconds"),
        ],
    )
