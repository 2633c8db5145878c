"""``payments plugins`` (what is installed and loaded), ``payments plugin new`` and
``payments plugin sdk``."""

from __future__ import annotations

import argparse
import functools
from importlib.metadata import version

from payments_plugins import Capabilities, scaffold, sdk
from payments_plugins.contract import (
    CONTRACT_DISTRIBUTION,
    CONTRACT_VERSION,
    built_for_earlier_major,
    contract_requirement,
    requirement_text,
)

from payments_platform.cli.common import Options, add_command, help_of, settings_of
from payments_platform.plugin_host import PluginHost

SDK_COMMAND = "payments plugin sdk"


def _plugins(args: argparse.Namespace) -> int:
    settings = settings_of(args)
    host = PluginHost.discover(settings.plugins)
    types, conflicts = host.gateway_types, host.conflicts
    print(f"payments {version('payments-platform')} implements plugin contract {CONTRACT_VERSION}")
    for plugin in host.plugins:
        print(f"{plugin.name}  ({plugin.distribution or '-'} {plugin.version or ''})".rstrip())
        if plugin.distribution is not None:
            print(f"    built for {_built_for(plugin.distribution)}")
        for type_name in plugin.gateway_types:
            if type_name in conflicts:
                print(f"    gateway type {type_name}: CONTESTED, served by no plugin")
                continue
            gateway_type = types[type_name].type
            currencies = ", ".join(sorted(gateway_type.currencies))
            simulator = "  [simulator]" if gateway_type.simulator else ""
            print(f"    gateway type {type_name}: {currencies}{simulator}")
            if gateway_type.description:
                print(f"        {gateway_type.description}")
            print(f"        can: {_capabilities(gateway_type.capabilities)}")
    for skipped in host.skipped:
        print(f"not loaded: {skipped.describe()}: {skipped.reason}")
    problems = [failure.describe() for failure in host.failures]
    problems += [f"Conflict: {conflict.describe()}" for conflict in conflicts.values()]
    problems += [
        f"plugins.load names {name!r}, which no installed plugin is" for name in host.unmatched
    ]
    for problem in problems:
        print(problem)
    if not host.plugins and not problems:
        print("no plugins loaded")
    return 1 if problems else 0


def _built_for(distribution: str) -> str:
    """The contract versions ``distribution`` declares it is built for, as it wrote them."""
    requirement = contract_requirement(distribution)
    if requirement is None:
        return f"any contract (it does not depend on {CONTRACT_DISTRIBUTION})"
    if not requirement.specifier:
        return f"any contract ({CONTRACT_DISTRIBUTION} without a version range)"
    built_for = requirement_text(requirement.specifier)
    earlier = built_for_earlier_major(distribution)
    if earlier is not None:
        built_for += (
            f": loaded as a contract {earlier} plugin, with no capability (no next action,"
            " no cancel)"
        )
    return built_for


def _capabilities(capabilities: Capabilities) -> str:
    """What a gateway type declares it can do, beyond the four calls every gateway makes."""
    can = ["initiate", "refund", "look up"]
    if capabilities.next_actions:
        can.append("next actions " + "/".join(sorted(capabilities.next_actions)))
    if capabilities.cancel:
        can.append("cancel")
    if capabilities.manual_capture:
        captures = "multiple" if capabilities.multiple_captures else "one"
        part = "partial" if capabilities.partial_capture else "whole"
        can.append(f"manual capture ({part}, {captures} per payment)")
    if capabilities.void:
        can.append("void")
    if capabilities.soft_declines:
        can.append("soft declines")
    return ", ".join(can)


def add_commands(
    commands: argparse._SubParsersAction[argparse.ArgumentParser], options: Options
) -> None:
    """``plugins`` and ``plugin new``."""
    plugins = add_command(
        commands,
        "plugins",
        "list the gateway plugins the config loads",
        """\
List the gateway plugins the config's [plugins] selection loads (entry-point
group `payments`), under the plugin contract version this platform implements:
each with its distribution and version, the contract versions it declares it
is built for (its requirement on payments-plugins), and the gateway types it
provides with their currencies and descriptions; [simulator] marks a type that
ships a vendor simulator. Exits with status 1 when a plugin failed to
load, two plugins register the same gateway type, or plugins.load names a
plugin that is not installed.""",
        parents=[options.configured],
    )
    plugins.set_defaults(run=_plugins)

    plugin = add_command(
        commands, "plugin", "write gateway plugins", "Gateway plugins.", parents=[options.logging]
    )
    plugin.set_defaults(run=help_of(plugin))
    plugin_commands = plugin.add_subparsers(title="commands", metavar="COMMAND")
    new_plugin = plugin_commands.add_parser(
        "new",
        parents=[options.logging],
        help="write a new gateway plugin distribution that the conformance kit certifies",
        description="Write payments-plugin-<name>/: a settings struct, a gateway speaking to a"
        " toy REST vendor over httpx, signed webhooks, a simulator of the vendor's API, a"
        " README, and tests that run the conformance kit. It installs with pip and its tests"
        " pass as written; replace the toy wire format with your vendor's.",
    )
    scaffold.add_arguments(new_plugin)
    new_plugin.set_defaults(run=functools.partial(scaffold.run, sdk_command=SDK_COMMAND))

    sdk_command = plugin_commands.add_parser(
        "sdk",
        parents=[options.logging],
        help="put the plugin contract and its conformance kit into a plugin's environment",
        description=f"Write the plugin contract this platform implements ({CONTRACT_VERSION}),"
        " with its conformance kit and scaffold, as a wheel built from the installed"
        " payments-plugins (it is on no package index), or install it with the kit's"
        " dependencies (the testing extra) into a plugin's virtual environment: `payments"
        " plugin sdk --into .venv`. The environment's pip fetches the dependencies from its"
        " package registry.",
    )
    sdk.add_arguments(sdk_command)
    sdk_command.set_defaults(run=sdk.run)
