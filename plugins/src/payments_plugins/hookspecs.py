"""The hooks a payments plugin can implement. Every hook is named ``payments_*``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from payments_plugins.gateway import GatewayType
from payments_plugins.markers import hookspec


@hookspec
def payments_register_gateway_types(register: Callable[[GatewayType[Any]], None]) -> None:
    """Contribute gateway types by calling ``register`` once for each.

    :param register: validates the type and adds it; registering a name twice is an error that
        names both plugins.

    Every implementation is called; the return value is ignored. Since 0.1.0.
    """
