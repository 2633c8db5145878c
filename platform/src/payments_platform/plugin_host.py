"""Discovers gateway plugins through the ``payments`` entry points and collects their types.

The core never imports a gateway by name: built-in and third-party plugins load the same way.
A plugin that fails to import is remembered with its error; start-up fails only when an enabled
gateway needs a type nobody could provide.
"""

from __future__ import annotations

import importlib.metadata
import os
import traceback
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import pluggy
from payments_plugins import PROJECT_NAME, GatewayType, hookspecs

BLOCK_VARIABLE = "PAYMENTS_DISABLE_PLUGINS"
"""Comma-separated entry-point names that are not loaded (e.g. a plugin that breaks start-up)."""


class PluginError(RuntimeError):
    """A plugin is broken or a needed gateway type is missing; the message names the plugin."""


@dataclass(frozen=True, kw_only=True)
class PluginInfo:
    """A plugin that loaded."""

    name: str
    distribution: str | None
    version: str | None
    gateway_types: tuple[str, ...] = ()


@dataclass(frozen=True, kw_only=True)
class PluginFailure:
    """A plugin that could not be loaded, with why."""

    name: str
    distribution: str | None
    version: str | None
    error: str
    traceback: str

    def describe(self) -> str:
        """One line naming the plugin and its error, as pytest words it."""
        return f'Error importing plugin "{self.name}": {self.error}'


@dataclass(frozen=True, kw_only=True)
class RegisteredGatewayType:
    """A gateway type and the plugin that contributed it."""

    type: GatewayType[Any]
    plugin: str


def _new_manager() -> pluggy.PluginManager:
    manager = pluggy.PluginManager(PROJECT_NAME)
    manager.add_hookspecs(hookspecs)
    return manager


@dataclass
class PluginHost:
    """Owns the plugin manager; nothing else touches ``pm.hook``."""

    manager: pluggy.PluginManager = field(default_factory=_new_manager)
    plugins: list[PluginInfo] = field(default_factory=list)
    failures: list[PluginFailure] = field(default_factory=list)
    _types: dict[str, RegisteredGatewayType] = field(default_factory=dict)

    @classmethod
    def discover(cls, blocked: Iterable[str] | None = None) -> PluginHost:
        """Load every plugin published under the ``payments`` entry-point group."""
        if blocked is None:
            blocked = os.environ.get(BLOCK_VARIABLE, "").split(",")
        block = {name.strip() for name in blocked if name.strip()}
        host = cls()
        for entry_point in importlib.metadata.entry_points(group=PROJECT_NAME):
            if entry_point.name in block:
                continue
            dist = entry_point.dist
            dist_name = dist.name if dist else None
            version = dist.version if dist else None
            try:
                plugin = entry_point.load()
            except Exception as error:
                host.failures.append(
                    PluginFailure(
                        name=entry_point.name,
                        distribution=dist_name,
                        version=version,
                        error=f"{type(error).__name__}: {error}",
                        traceback=traceback.format_exc(),
                    )
                )
                continue
            host.register(plugin, entry_point.name, distribution=dist_name, version=version)
        return host

    def register(
        self,
        plugin: object,
        name: str,
        *,
        distribution: str | None = None,
        version: str | None = None,
    ) -> None:
        """Register one plugin object (a module or an instance with hookimpls)."""
        try:
            self.manager.register(plugin, name=name)
            # A misspelled hook name would otherwise be silently ignored.
            self.manager.check_pending()
            types = self._collect(name, plugin)
        except Exception as error:
            if self.manager.is_registered(plugin):
                self.manager.unregister(plugin)
            self.failures.append(
                PluginFailure(
                    name=name,
                    distribution=distribution,
                    version=version,
                    error=f"{type(error).__name__}: {error}",
                    traceback=traceback.format_exc(),
                )
            )
            return
        for gateway_type in types:
            self._types[gateway_type.name] = RegisteredGatewayType(type=gateway_type, plugin=name)
        self.plugins.append(
            PluginInfo(
                name=name,
                distribution=distribution,
                version=version,
                gateway_types=tuple(t.name for t in types),
            )
        )

    def _collect(self, name: str, plugin: object) -> list[GatewayType[Any]]:
        collected: list[GatewayType[Any]] = []

        def register(gateway_type: GatewayType[Any]) -> None:
            if not isinstance(gateway_type, GatewayType):
                raise PluginError(f"plugin {name!r} registered {gateway_type!r}, not a GatewayType")
            owner = self._types.get(gateway_type.name)
            if owner is not None or any(t.name == gateway_type.name for t in collected):
                first = owner.plugin if owner else name
                raise PluginError(
                    f"gateway type {gateway_type.name!r} is registered by both"
                    f" {first!r} and {name!r}"
                )
            collected.append(gateway_type)

        caller = self.manager.subset_hook_caller(
            "payments_register_gateway_types",
            remove_plugins=[p for p in self.manager.get_plugins() if p is not plugin],
        )
        caller(register=register)
        return collected

    @property
    def gateway_types(self) -> dict[str, RegisteredGatewayType]:
        """Every gateway type contributed, by name."""
        return dict(self._types)

    def gateway_type(self, name: str) -> GatewayType[Any]:
        """The gateway type ``name``; the error lists broken plugins that might have had it."""
        registered = self._types.get(name)
        if registered is not None:
            return registered.type
        message = f"no installed plugin provides gateway type {name!r}"
        if self._types:
            message += f" (available: {', '.join(sorted(self._types))})"
        if self.failures:
            message += "; " + "; ".join(failure.describe() for failure in self.failures)
        raise PluginError(message)
