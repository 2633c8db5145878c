"""The plugins and configuration page: the plugins installed and loaded (with their versions and
gateway types), those that failed or were left out, the enabled gateways, and the effective
configuration with every secret withheld."""

from __future__ import annotations

from dataclasses import dataclass

from litestar import get
from litestar.di import NamedDependency
from litestar.response import Template

from payments_platform.plugin_host import LoadedPlugin
from payments_platform.store.operator_sessions import OperatorSession
from payments_platform.web.console.access import Console
from payments_platform.web.console.rendering import page
from payments_platform.web.console.shown_config import as_toml, redacted_settings


@dataclass(frozen=True)
class GatewayTypeRow:
    """A gateway type a plugin registered."""

    name: str
    currencies: list[str]
    description: str
    simulator: bool
    contested: bool


@dataclass(frozen=True)
class PluginRow:
    """A loaded plugin and its gateway types."""

    plugin: LoadedPlugin
    types: list[GatewayTypeRow]


def _plugin_rows(console: Console) -> list[PluginRow]:
    host = console.runtime.plugins
    types, conflicts = host.gateway_types, host.conflicts
    rows = []
    for plugin in host.plugins:
        listed = []
        for name in plugin.gateway_types:
            registered = types.get(name)
            gateway_type = registered.type if registered is not None else None
            listed.append(
                GatewayTypeRow(
                    name=name,
                    currencies=sorted(gateway_type.currencies) if gateway_type else [],
                    description=gateway_type.description if gateway_type else "",
                    simulator=bool(gateway_type and gateway_type.simulator),
                    contested=name in conflicts,
                )
            )
        rows.append(PluginRow(plugin, listed))
    return rows


def shown_configuration(console: Console) -> str:
    """The effective configuration, as TOML, secrets withheld."""
    runtime = console.runtime
    types = runtime.plugins.gateway_types
    declared = {
        name: types[config.type].type.secret_settings
        for name, config in runtime.settings.gateways.items()
        if config.type in types
    }
    return as_toml(redacted_settings(runtime.settings, declared, runtime.secrets))


@get("/plugins", name="console:plugins")
async def plugins_page(
    console: NamedDependency[Console], session: NamedDependency[OperatorSession]
) -> Template:
    """The plugins and configuration page."""
    host = console.runtime.plugins
    deps = console.deps
    return page(
        console,
        session,
        "plugins.html",
        title="Plugins and configuration",
        section="plugins",
        plugins=_plugin_rows(console),
        failures=host.failures,
        skipped=host.skipped,
        conflicts=list(host.conflicts.values()),
        routes=deps.routing.routes,
        gateway_types={name: live.type_name for name, live in deps.gateways.items()},
        strategy=deps.routing.strategy,
        configuration=shown_configuration(console),
        risks=console.runtime.settings.risks(),
        demo=console.runtime.settings.demo,
        database=console.runtime.database.shown_url,
    )
