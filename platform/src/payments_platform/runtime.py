"""Builds a running platform from settings and plugins: database, gateways, routing, simulators.

Everything that can be wrong in the configuration is found here, before the server listens.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import httpx
import msgspec
import sqlalchemy as sa
from opentelemetry import trace
from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
from payments_plugins import (
    ASGIApp,
    GatewayResources,
    GatewayType,
    InvalidSettings,
    SimulatorOptions,
)
from payments_plugins.http_client import vendor_client
from sqlalchemy.exc import ArgumentError

from payments_platform.access import Keyring
from payments_platform.breaker import CircuitBreaker
from payments_platform.breaker_recorder import BreakerRecorder
from payments_platform.config import (
    GATEWAY_NAME,
    ConfigError,
    GatewayConfig,
    Settings,
    decode_plugin_settings,
)
from payments_platform.cursors import CursorSeal
from payments_platform.database import Database
from payments_platform.demo import RECEIVER_PATH
from payments_platform.jobs import JobKind, guard_calls_in_flight
from payments_platform.notifications.addresses import AddressRefused, check_url
from payments_platform.notifications.endpoints import Notifier
from payments_platform.notifications.events import EVENT_TYPES
from payments_platform.notifications.receiver import NotificationReceiver
from payments_platform.plugin_host import PluginHost
from payments_platform.process_breakers import ProcessBreakers, ProcessIdentity
from payments_platform.records import utc_now
from payments_platform.routing import Route, RoutingTable
from payments_platform.routing_rules import ConfiguredGateway, rule_warnings
from payments_platform.score_refresh import ScoreRefresher
from payments_platform.scoring import ScoreBoard
from payments_platform.simulators import simulated_settings
from payments_platform.telemetry import tracing_enabled
from payments_platform.usecases.dependencies import Dependencies, LiveGateway
from payments_platform.usecases.job_handlers import job_handler
from payments_platform.worker import Worker

logger = logging.getLogger(__name__)

SIMULATOR_PREFIX = "/simulators"


def webhook_path(gateway_name: str) -> str:
    """Where a gateway's vendor posts its webhooks on this service."""
    return f"/external/{gateway_name}-webhook"


@dataclass
class Runtime:
    """Everything long-lived a serving process holds."""

    settings: Settings
    plugins: PluginHost
    database: Database
    http: httpx.AsyncClient
    deps: Dependencies
    cursors: CursorSeal
    """Seals the listing's cursors given to clients."""
    breakers: ProcessBreakers
    """This process (host, pid, start) and its gateways' breakers."""
    simulators: dict[str, ASGIApp] = field(default_factory=dict)
    """ASGI apps to mount, by path."""
    keyring: Keyring | None = None
    """The client API's keys; None when the API is open (``security.auth = "none"``)."""
    secrets: list[str] = field(default_factory=list)
    """Configured secret values, kept out of the logs."""

    def worker(self) -> Worker:
        """A worker running this runtime's jobs, notifications apart."""
        kinds = [kind for kind in JobKind if kind is not JobKind.NOTIFY]
        deps = self.deps

        def guard(conn: sa.Connection, now: datetime) -> int:
            return guard_calls_in_flight(
                conn,
                now=now,
                after_seconds=deps.lifecycle.reconcile_after_seconds,
                max_attempts=deps.job_attempts,
            )

        return Worker(
            self.database,
            job_handler(self.deps),
            self.settings.worker,
            self.deps.clock,
            kinds=kinds,
            sweep=guard,
        )

    def notification_worker(self) -> Worker:
        """A worker delivering notifications: a pool of its own, so that slow or failing
        merchant endpoints never hold up the gateways' jobs."""
        settings = msgspec.structs.replace(
            self.settings.worker,
            concurrency=self.settings.notifications.workers,
            batch=self.settings.notifications.workers,
        )
        return Worker(
            self.database,
            job_handler(self.deps),
            settings,
            self.deps.clock,
            kinds=[JobKind.NOTIFY],
        )

    def workers(self) -> list[Worker]:
        """Every worker a process runs."""
        return [self.worker(), self.notification_worker()]

    def rule_warnings(self) -> list[str]:
        """What makes a ``[[routing.rules]]`` entry never match, or never reach its gateways
        (:func:`~payments_platform.routing_rules.rule_warnings`)."""
        currencies = {route.name: route.currencies for route in self.deps.routing.routes}
        gateways = {
            name: ConfiguredGateway(
                enabled=name in self.deps.gateways,
                currencies=currencies.get(name, frozenset()),
                manual_capture=name in self.deps.gateways
                and self.deps.gateways[name].capabilities.manual_capture,
            )
            for name in self.settings.gateways
        }
        security = self.settings.security
        merchants = list(security.merchants) if security.auth == "api-keys" else None
        return rule_warnings(self.settings.routing.rules, gateways, merchants)

    def score_refresher(self) -> ScoreRefresher:
        """The task that keeps this process's routing scores current: every process that
        routes payments (a server, a worker) runs one."""
        return ScoreRefresher(self.database, self.deps.routing.scores, self.deps.clock)

    @property
    def process(self) -> ProcessIdentity:
        """This process, as the records and the console name it."""
        return self.breakers.process

    def breaker_recorder(self) -> BreakerRecorder | None:
        """What records this process's breakers for the console; None without a gateway."""
        if not self.breakers.routes:
            return None
        return BreakerRecorder(self.database, self.breakers)

    async def aclose(self) -> None:
        """Release gateways, the HTTP client and the database pool."""
        for live in self.deps.gateways.values():
            try:
                await live.gateway.aclose()
            except Exception:
                logger.exception("closing gateway %s failed", live.name)
        for simulator in self.simulators.values():
            # Simulators mounted in the app get no lifespan events; close what they hold.
            close = getattr(simulator, "aclose", None)
            if close is not None:
                await close()
        await self.http.aclose()
        await self.deps.notifier.aclose()
        await self.database.dispose()


def build_runtime(
    settings: Settings,
    plugins: PluginHost,
    *,
    clock: Callable[[], float] = time.monotonic,
    wall_clock: Callable[[], datetime] = utc_now,
    rng: random.Random | None = None,
) -> Runtime:
    """Validate the configuration against the installed plugins and build the platform.

    ``clock`` drives the breakers (monotonic seconds), ``wall_clock`` the timestamps and jobs.
    """
    # One pooled client for every gateway; each call passes its own timeouts.
    http = vendor_client()
    if tracing_enabled():
        # Every vendor call gets a client span and carries the trace on, whatever the plugin
        # does itself. Untraced, the instrumentation would cost a tenth of a payment's CPU.
        HTTPXClientInstrumentor.instrument_client(http)
    resources = GatewayResources(http=http, tracer=trace.get_tracer("payments.gateways"))
    gateways: dict[str, LiveGateway] = {}
    routes: list[Route] = []
    simulators: dict[str, ASGIApp] = {}
    secrets: list[str] = []
    # A type two plugins register is served by neither, even by a gateway not enabled yet.
    plugins.refuse_contested(config.type for config in settings.gateways.values())
    for name, config in settings.enabled_gateways().items():
        gateway_type = plugins.gateway_type(config.type)
        currencies = _currencies(name, config, gateway_type)
        raw_settings = dict(config.settings)
        if config.simulator is not None:
            raw_settings = _in_process_simulator_settings(name, config, gateway_type, settings)
        decoded = decode_plugin_settings(
            raw_settings, gateway_type.settings_type, f"gateways.{name}.settings"
        )
        if config.simulator is not None and gateway_type.simulator is not None:
            simulators[f"{SIMULATOR_PREFIX}/{name}"] = gateway_type.simulator.build(
                SimulatorOptions(
                    settings=decoded,
                    webhook_url=settings.base_url + webhook_path(name),
                    auto_webhook_status=config.simulator.auto_webhook_status,
                    auto_webhook_delay=config.simulator.auto_webhook_delay,
                    payer_pays_at_once=config.simulator.payer_pays_at_once,
                )
            )
        unverified = gateway_type.unverified_webhooks(decoded)
        if unverified is not None:
            if not settings.security.allow_unsigned_webhooks:
                raise ConfigError(
                    f"gateway {name!r} would accept webhooks nobody signed ({unverified});"
                    " configure it, or allow that with security.allow_unsigned_webhooks = true"
                    f" - at `gateways.{name}.settings`"
                )
            logger.warning("gateway %s accepts unsigned webhooks: %s", name, unverified)
        secrets.extend(secret_values(decoded, gateway_type))
        try:
            gateway = gateway_type.build(decoded, resources)
        except InvalidSettings as error:
            raise ConfigError(f"{error} - at `gateways.{name}.settings`") from None
        gateways[name] = LiveGateway(
            name=name,
            type_name=gateway_type.name,
            gateway=gateway,
            webhook_reply=gateway_type.webhook_reply,
            deadline_seconds=config.deadline_seconds,
            capabilities=gateway_type.capabilities,
        )
        routes.append(
            Route(
                name=name,
                currencies=currencies,
                weight=config.weight,
                breaker=CircuitBreaker(settings.routing.breaker, clock),
            )
        )
    database = open_database(settings)
    process = ProcessIdentity.of_this_process(wall_clock())
    deps = Dependencies(
        database=database,
        routing=RoutingTable(
            routes,
            settings.routing.strategy,
            rng,
            ScoreBoard(settings.routing.scores),
            rules=settings.routing.rules,
        ),
        gateways=gateways,
        lifecycle=settings.payments,
        job_attempts=settings.worker.max_attempts,
        notifier=notifier_of(settings),
        clock=wall_clock,
        soft_decline_attempts=settings.routing.soft_decline_attempts,
    )
    if settings.notifications.receiver:
        simulators[RECEIVER_PATH] = _receiver(settings)
    keyring = None
    security = settings.security
    if security.auth == "api-keys":
        keyring = Keyring.of({name: keys.key_hashes for name, keys in security.merchants.items()})
    if security.cursor_secret:
        secrets.append(security.cursor_secret)
    key_hashes = [hashed for keys in security.merchants.values() for hashed in keys.key_hashes]
    return Runtime(
        settings=settings,
        plugins=plugins,
        database=database,
        http=http,
        deps=deps,
        cursors=CursorSeal.from_secrets(security.cursor_secret, key_hashes),
        breakers=ProcessBreakers(process, routes, clock, wall_clock),
        simulators=simulators,
        keyring=keyring,
        secrets=secrets,
    )


def _in_process_simulator_settings(
    name: str, config: GatewayConfig, gateway_type: GatewayType[Any], settings: Settings
) -> dict[str, Any]:
    """The settings of a gateway pointed at its simulator served by this process.

    Only a config whose client API is open may do that: the simulator's control endpoints
    need no key, and anyone reaching them could have a genuinely signed notification posted.
    The operator's settings win over the simulator's own; one that says the vendor is
    elsewhere is an error, never silently replaced.
    """
    if settings.security.auth != "none":
        raise ConfigError(
            f"gateway {name!r} has a simulator in this process, which only a config whose"
            ' client API is open may have (security.auth = "none", as in the demo): remove'
            f" [gateways.{name}.simulator] and serve the simulator as a process of its own"
            f" (`payments simulate --config <this file> --gateway {name}`), pointing the"
            f" gateway's settings at it - at `gateways.{name}.simulator`"
        )
    if gateway_type.simulator is None:
        raise ConfigError(
            f"gateway type {gateway_type.name!r} ships no simulator"
            f" - at `gateways.{name}.simulator`"
        )
    url = f"{settings.base_url}{SIMULATOR_PREFIX}/{name}"
    fitted = simulated_settings(config.settings, gateway_type.simulator, url)
    if fitted.elsewhere:
        key, value = next(iter(fitted.elsewhere.items()))
        raise ConfigError(
            f"gateway {name!r} has a simulator in this process, and {key} must point at it"
            f" ({value!r}): remove {key}, or the [gateways.{name}.simulator] table"
            f" - at `gateways.{name}.settings.{key}`"
        )
    return fitted.settings


_SECRET_NAME_PARTS = ("secret", "password", "token", "key")


def secret_values(settings: object, gateway_type: GatewayType[Any]) -> list[str]:
    """Values of settings the plugin declares secret, or whose names say they are."""
    values = []
    for name in getattr(settings, "__struct_fields__", ()):
        value = getattr(settings, name)
        declared = name in gateway_type.secret_settings
        if isinstance(value, str) and (declared or any(p in name for p in _SECRET_NAME_PARTS)):
            values.append(value)
    return values


def _receiver(settings: Settings) -> NotificationReceiver:
    """The demo's stand-in merchant endpoint, checking with its endpoints' secret."""
    if settings.security.auth != "none":
        raise ConfigError(
            "a stand-in merchant endpoint is the demo's, served only while the client API is"
            " open; point endpoints at the merchant's own server - at `notifications.receiver`"
        )
    secrets = [
        endpoint.secret
        for endpoint in settings.notifications.endpoints.values()
        if endpoint.url.startswith(RECEIVER_PATH)
    ]
    if not secrets:
        raise ConfigError(
            f"no endpoint points at the receiver ({RECEIVER_PATH}/notifications)"
            " - at `notifications.endpoints`"
        )
    return NotificationReceiver(secrets[0])


def notifier_of(settings: Settings) -> Notifier:
    """The merchants' endpoints; one no delivery could use is a configuration error."""
    config = settings.notifications
    merchants = set(settings.security.merchants)
    for name, endpoint in config.endpoints.items():
        where = f"notifications.endpoints.{name}"
        if not GATEWAY_NAME.fullmatch(name):
            raise ConfigError(f"endpoint name {name!r} must be 1-40 of a-z, 0-9, '-', '_'")
        unknown = sorted(set(endpoint.events or ()) - EVENT_TYPES)
        if unknown:
            raise ConfigError(
                f"unknown event types {unknown}; choose among {sorted(EVENT_TYPES)}"
                f" - at `{where}.events`"
            )
        if settings.security.auth == "api-keys" and endpoint.merchant not in merchants:
            raise ConfigError(
                f"merchant {endpoint.merchant!r} has no API keys here, so no payments"
                f" - at `{where}.merchant`"
            )
        if not endpoint.url.startswith("/"):
            try:
                check_url(
                    endpoint.url,
                    allow_http=config.allow_http,
                    allow_private=config.allow_private_addresses,
                )
            except AddressRefused as error:
                raise ConfigError(
                    f"{error} (notifications.allow_http and allow_private_addresses say"
                    f" otherwise) - at `{where}.url`"
                ) from None
    return Notifier.of(config, settings.base_url)


def records_platform(settings: Settings, database: Database) -> Dependencies:
    """The platform with no gateway built: for commands that act on the records alone
    (``payments jobs``, ``payments operators``), through the same use cases as the console.
    What would call a gateway (a job revived, say) is left to a worker."""
    return Dependencies(
        database=database,
        routing=RoutingTable([], settings.routing.strategy),
        gateways={},
        lifecycle=settings.payments,
        job_attempts=settings.worker.max_attempts,
        notifier=notifier_of(settings),
        clock=utc_now,
    )


def open_database(settings: Settings, *, log_failures: bool = True) -> Database:
    """The configured database; a URL it cannot use is a configuration error.

    ``log_failures=False`` is for commands, which report a failure's cause themselves.
    """
    try:
        return Database(
            settings.database.url,
            pool_size=settings.database.pool_size,
            log_failures=log_failures,
        )
    except (ValueError, ArgumentError) as error:
        raise ConfigError(f"{error} - at `database.url`") from None


def _currencies(name: str, config: GatewayConfig, gateway_type: GatewayType[Any]) -> frozenset[str]:
    if config.currencies is None:
        return gateway_type.currencies
    asked = frozenset(config.currencies)
    extra = sorted(asked - gateway_type.currencies)
    if extra:
        raise ConfigError(
            f"gateway type {gateway_type.name!r} does not support {', '.join(extra)}"
            f" (it supports {', '.join(sorted(gateway_type.currencies))})"
            f" - at `gateways.{name}.currencies`"
        )
    if not asked:
        raise ConfigError(f"an enabled gateway needs a currency - at `gateways.{name}.currencies`")
    return asked
