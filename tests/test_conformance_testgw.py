"""The third-party-style testgw plugin passes the conformance checks that apply to it.

It has no simulator and no network: its gateway is its own in-memory vendor, so the checks of
network failures do not apply and are listed as such at the end of the run.
"""

from __future__ import annotations

import json

from payments_plugins import Amount, VendorPaymentStatus
from payments_plugins.testing import (
    ConformanceTarget,
    GatewayConformance,
    InvalidSetting,
    Notification,
)

TOKEN = "testgw-conformance-token"


def notification(external_id: str, status: VendorPaymentStatus) -> Notification:
    """The notification the test vendor documents in its README."""
    body = json.dumps({"ref": external_id, "state": status.value}).encode()
    return Notification(headers={"X-Testgw-Token": TOKEN}, body=body)


class TestTestGatewayConformance(GatewayConformance):
    target = ConformanceTarget(
        distribution="payments-plugin-test-gateway",
        gateway_type="testgw",
        settings={"token": TOKEN, "decline_amounts": [1313]},
        foreign_webhook_settings={"token": "someone-elses-token"},
        declined_amount=Amount(1313, "EUR"),
        notification=notification,
        invalid_settings=[
            InvalidSetting({"decline_amounts": ["13"]}, "decline_amounts"),
            InvalidSetting({"token": 5}, "token"),
        ],
    )
