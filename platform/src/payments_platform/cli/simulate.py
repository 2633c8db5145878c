"""``payments simulate``: the vendor simulators of a config's gateways, served as a process of
their own, the way a vendor would be."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from typing import Any, get_args

from payments_plugins import ASGIApp, GatewayType, Simulator, SimulatorOptions
from payments_plugins.simulation import NotifiedStatus

from payments_platform.cli.common import (
    STARTUP_ERROR,
    CommandError,
    Options,
    add_command,
    listen,
    port_number,
    settings_of,
)
from payments_platform.config import (
    CONFIG_PATH_VARIABLE,
    ConfigError,
    Settings,
    decode_plugin_settings,
)
from payments_platform.logs import configure_logging
from payments_platform.plugin_host import PluginHost
from payments_platform.runtime import secret_values, webhook_path
from payments_platform.simulators import SimulatedVendors, simulated_settings


def _simulate(args: argparse.Namespace) -> int:
    import uvicorn  # noqa: PLC0415 - only the servers need it

    settings = settings_of(args)
    if settings.demo:
        raise CommandError(
            "payments simulate serves the simulators of a config file's gateways: give"
            f" --config or ${CONFIG_PATH_VARIABLE} (the demo profile serves its own)"
        )
    plugins = PluginHost.discover(settings.plugins)
    chosen = _simulated_gateways(settings, plugins, args.gateway)
    served_at = _http_url(args.host, args.port)
    platform_url = (args.platform_url or settings.base_url).rstrip("/")
    listener = listen(args.host, args.port)
    try:
        simulators: dict[str, ASGIApp] = {}
        types: dict[str, str] = {}
        secrets: list[str] = []
        print(f"vendor simulators at {served_at} (SIGTERM or Ctrl-C stops them)")
        for name, gateway_type, simulator in chosen:
            url = f"{served_at}/{name}"
            fitted = simulated_settings(settings.gateways[name].settings, simulator, url)
            decoded = decode_plugin_settings(
                fitted.settings, gateway_type.settings_type, f"gateways.{name}.settings"
            )
            secrets += secret_values(decoded, gateway_type)
            simulators[name] = simulator.build(
                SimulatorOptions(
                    settings=decoded,
                    webhook_url=platform_url + webhook_path(name),
                    auto_webhook_status=args.auto_webhook,
                    auto_webhook_delay=args.auto_webhook_delay,
                    payer_pays_at_once=args.payer_pays_at_once,
                )
            )
            types[name] = gateway_type.name
            print(
                f"  gateway {name} ({gateway_type.name}) at {url},"
                f" notifications to {platform_url}{webhook_path(name)}"
            )
            # Only the simulator's values are shown: the operator's may be secrets.
            needed = fitted.elsewhere | fitted.missing
            if not needed:
                print("    the config points the gateway here")
                continue
            print("    for the platform to use it, the config needs:")
            print(f"      [gateways.{name}.settings]")
            for key, value in needed.items():
                print(f"      {key} = {json.dumps(value)}")
        sys.stdout.flush()
        configure_logging(secrets, level=logging.getLogger().level)
        server = uvicorn.Server(
            uvicorn.Config(
                SimulatedVendors(simulators, types),
                host=args.host,
                port=args.port,
                log_level=logging.getLogger().level,
                log_config=None,
                timeout_graceful_shutdown=5,
            )
        )
        server.run(sockets=[listener])
    finally:
        listener.close()
    return 0 if server.started else STARTUP_ERROR


def _simulated_gateways(
    settings: Settings, plugins: PluginHost, asked: list[str] | None
) -> list[tuple[str, GatewayType[Any], Simulator[Any]]]:
    """The gateways named (default: every enabled one whose type ships a simulator), with
    their type and its simulator."""
    if asked:
        for name in asked:
            if name not in settings.gateways:
                known = ", ".join(settings.gateways) or "none"
                raise CommandError(f"the config has no gateway {name!r} (it has: {known})")
        names = list(dict.fromkeys(asked))
    else:
        names = list(settings.enabled_gateways())
    chosen = []
    for name in names:
        gateway_type = plugins.gateway_type(settings.gateways[name].type)
        if gateway_type.simulator is not None:
            chosen.append((name, gateway_type, gateway_type.simulator))
        elif asked:
            raise ConfigError(
                f"gateway type {gateway_type.name!r} ships no simulator - at `gateways.{name}.type`"
            )
    if not chosen:
        raise CommandError(
            "no enabled gateway of the config has a type that ships a simulator"
            " (`payments plugins` marks those that do)"
        )
    return chosen


def _http_url(host: str, port: int) -> str:
    """How a process on this machine reaches ``host:port`` (a wildcard on loopback)."""
    if host in ("0.0.0.0", "::", ""):  # noqa: S104 - the wildcard is reached on loopback
        host = "127.0.0.1"
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def _seconds(text: str) -> float:
    try:
        seconds = float(text)
    except ValueError:
        seconds = -1.0
    if not 0 <= seconds <= 3600:
        raise argparse.ArgumentTypeError(f"{text!r} is not a delay: use 0-3600 seconds")
    return seconds


def _simulate_options(simulate: argparse.ArgumentParser) -> None:
    simulate.add_argument(
        "--gateway",
        action="append",
        metavar="NAME",
        help="simulate this gateway (repeat for more; default: every enabled gateway whose"
        " type ships a simulator)",
    )
    simulate.add_argument(
        "--host", default="127.0.0.1", help="the interface to listen on (default: 127.0.0.1)"
    )
    simulate.add_argument(
        "--port", type=port_number, default=9001, help="the port to listen on (default: 9001)"
    )
    simulate.add_argument(
        "--platform-url",
        metavar="URL",
        help="how the simulators reach the platform; notifications go to"
        " URL/external/<gateway name>-webhook (default: [server] public_url, else its"
        " host and port)",
    )
    simulate.add_argument(
        "--payer-pays-at-once",
        action="store_true",
        help="record every accepted payment as paid at once, posting no notification",
    )
    simulate.add_argument(
        "--auto-webhook",
        choices=get_args(NotifiedStatus),
        metavar="STATUS",
        help="post this status (paid, failed or expired) for every accepted payment",
    )
    simulate.add_argument(
        "--auto-webhook-delay",
        type=_seconds,
        default=0.0,
        metavar="SECONDS",
        help="wait this long before posting it (default: 0)",
    )


def add_commands(
    commands: argparse._SubParsersAction[argparse.ArgumentParser], options: Options
) -> None:
    """``simulate``."""
    simulate = add_command(
        commands,
        "simulate",
        "serve vendor simulators for a config's gateways",
        """\
Serve the vendor simulators of the config's gateways in a process of their own,
each at http://HOST:PORT/<gateway name>, as a stand-in for the real vendors in
staging, tests and benchmarks. A simulator runs with the gateway's settings
from the config (and its PAYMENTS_* overrides), so it signs its notifications
with the same webhook secret the platform checks them with; it posts them to
the platform at --platform-url. It prints the settings the config needs for
the platform to call it, without showing any secret. Its control endpoints
(/<gateway name>/_simulator/...) need no key: serve it only where tests run.""",
        parents=[options.configured],
    )
    _simulate_options(simulate)
    simulate.set_defaults(run=_simulate)
