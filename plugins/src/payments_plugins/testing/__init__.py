"""Test helpers for the payments platform and for gateway plugin authors.

The conformance kit (``GatewayConformance`` and what it needs) is imported on first use,
so that ``payments_plugins.testing.asgi_server`` can be imported without pytest.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from payments_plugins.simulation.records import Misbehaviour, Notification
    from payments_plugins.testing.conformance import GatewayConformance
    from payments_plugins.testing.control import SimulatorControl
    from payments_plugins.testing.harness import ConformanceVendor
    from payments_plugins.testing.target import (
        Capability,
        ConformanceTarget,
        InvalidSetting,
        NotLoadable,
    )

_EXPORTS = {
    "GatewayConformance": "payments_plugins.testing.conformance",
    "Misbehaviour": "payments_plugins.simulation.records",
    "SimulatorControl": "payments_plugins.testing.control",
    "ConformanceVendor": "payments_plugins.testing.harness",
    "Capability": "payments_plugins.testing.target",
    "ConformanceTarget": "payments_plugins.testing.target",
    "InvalidSetting": "payments_plugins.testing.target",
    "NotLoadable": "payments_plugins.testing.target",
    "Notification": "payments_plugins.simulation.records",
}

__all__ = [
    "Capability",
    "ConformanceTarget",
    "ConformanceVendor",
    "GatewayConformance",
    "InvalidSetting",
    "Misbehaviour",
    "NotLoadable",
    "Notification",
    "SimulatorControl",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
