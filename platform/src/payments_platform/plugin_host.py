"""The platform's view of its gateway plugins: what the operator's selection loaded, and from whom.

The core never imports a gateway by name: built-in and third-party plugins load the same way,
through :mod:`payments_plugins.discovery`, the very door the conformance kit certifies plugins
through. A plugin that fails to load is remembered with what to fix; start-up fails only when a
configured gateway needs a type nobody could provide, or a type two plugins register.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from payments_plugins import GatewayType
from payments_plugins.discovery import (
    GatewayTypeConflict,
    LoadedPlugin,
    PluginError,
    PluginFailure,
    PluginOrigin,
    PluginRegistry,
    PluginSelection,
    RegisteredGatewayType,
    SkippedPlugin,
)

from payments_platform.config import PluginsConfig

__all__ = [
    "GatewayTypeConflict",
    "LoadedPlugin",
    "PluginError",
    "PluginFailure",
    "PluginHost",
    "RegisteredGatewayType",
    "SkippedPlugin",
]


@dataclass
class PluginHost:
    """The plugins the platform loaded; the only way the core reaches them."""

    _registry: PluginRegistry = field(default_factory=PluginRegistry)

    @classmethod
    def discover(cls, config: PluginsConfig | None = None) -> PluginHost:
        """Load the installed plugins that ``config`` (the ``[plugins]`` table) selects."""
        config = config or PluginsConfig()
        selection = PluginSelection.of(config.load, config.block)
        return cls(PluginRegistry.discover(selection))

    def register(
        self,
        plugin: object,
        name: str,
        *,
        distribution: str | None = None,
        version: str | None = None,
    ) -> None:
        """Register one plugin object (a module or an instance with hook implementations)."""
        origin = PluginOrigin(name=name, distribution=distribution, version=version)
        self._registry.register(plugin, origin)

    @property
    def plugins(self) -> list[LoadedPlugin]:
        """The plugins that loaded."""
        return list(self._registry.plugins)

    @property
    def failures(self) -> list[PluginFailure]:
        """The plugins that could not be loaded, each with what to fix."""
        return list(self._registry.failures)

    @property
    def skipped(self) -> list[SkippedPlugin]:
        """The installed plugins the ``[plugins]`` selection left out."""
        return list(self._registry.skipped)

    @property
    def unmatched(self) -> list[str]:
        """Names ``plugins.load`` gives that no installed plugin has."""
        return list(self._registry.unmatched)

    @property
    def gateway_types(self) -> dict[str, RegisteredGatewayType]:
        """Every gateway type one plugin provides, by name (contested ones are left out)."""
        return self._registry.gateway_types

    @property
    def conflicts(self) -> dict[str, GatewayTypeConflict]:
        """Gateway type names more than one plugin registers: nobody serves them."""
        return self._registry.conflicts

    def gateway_type(self, name: str) -> GatewayType[Any]:
        """The gateway type ``name``; :class:`PluginError` when none or several plugins
        provide it, naming them."""
        return self._registry.gateway_type(name)

    def refuse_contested(self, type_names: Iterable[str]) -> None:
        """Raise :class:`PluginError` when any of ``type_names`` is contested."""
        for name in sorted(set(type_names) & set(self.conflicts)):
            self.gateway_type(name)
