"""Configuration: one TOML file plus ``PAYMENTS_*`` environment overrides, decoded by msgspec.

An override names a key path with double underscores: ``PAYMENTS_DATABASE__URL=...`` sets
``[database] url``, ``PAYMENTS_GATEWAYS__JSON__WEIGHT=2`` sets ``[gateways.json] weight``. Its
value is read as a TOML value when it parses as one (``2``, ``true``, ``["AED"]``), else as a
string. With no file, the demo profile is used; overrides apply to it too.
"""

from __future__ import annotations

import enum
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

import msgspec

from payments_platform.breaker import BreakerPolicy
from payments_platform.demo import demo_profile
from payments_platform.routing import Strategy

ENV_PREFIX = "PAYMENTS_"
CONFIG_PATH_VARIABLE = "PAYMENTS_CONFIG"
GATEWAY_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,39}")


class ConfigError(ValueError):
    """The configuration cannot be used; the message names the offending key."""


class ServerConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Where the HTTP server listens and how it limits requests."""

    host: str = "0.0.0.0"  # noqa: S104 - a service is meant to be reached
    port: Annotated[int, msgspec.Meta(ge=1, le=65535)] = 8080
    public_url: str | None = None
    """The URL vendors and simulators reach this service at; defaults to loopback and port."""
    max_body_bytes: Annotated[int, msgspec.Meta(ge=1024, le=16 * 1024 * 1024)] = 64 * 1024


class DatabaseConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The database every process of the deployment shares."""

    url: str = "sqlite:///payments.db"
    pool_size: Annotated[int, msgspec.Meta(ge=0, le=1000)] = 10
    """Connections kept open per process (PostgreSQL); 0 opens one per transaction, e.g.
    behind a connection pooler such as PgBouncer."""
    migrate_on_start: bool = False
    """Apply pending migrations when the server starts (the demo does; production runs
    ``payments migrate`` once per release instead)."""


class RoutingConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """How the chain picks a gateway."""

    strategy: Strategy = Strategy.WEIGHTED
    breaker: BreakerPolicy = BreakerPolicy()


class SimulatorConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Serve the gateway type's vendor simulator in this process and point the gateway at it."""

    auto_webhook_status: Literal["paid", "failed", "expired"] | None = None
    auto_webhook_delay: Annotated[float, msgspec.Meta(ge=0, le=3600)] = 0.0
    payer_pays_at_once: bool = False
    """The simulated payer pays as soon as the payment is accepted; no webhook is posted."""


class Dispatch(enum.StrEnum):
    """When gateways are called."""

    SYNC = "sync"
    """Within the client's request: it gets the gateway's answer."""
    QUEUE = "queue"
    """By a worker: the client gets 202 and follows ``GET /payments/{id}``."""


class LifecycleSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """How payments are dispatched, reconciled and expired (the ``[payments]`` table)."""

    dispatch: Dispatch = Dispatch.SYNC
    reconcile_after_seconds: Annotated[float, msgspec.Meta(gt=0, le=86_400)] = 120.0
    """When a gateway call has no recorded end this long after it started, its process is
    presumed dead and the payment or refund is reconciled. Longer than any gateway call."""
    expire_after_seconds: Annotated[float, msgspec.Meta(gt=0, le=90 * 86_400)] = 86_400.0
    """A payment still ``initiated`` this long after its gateway took it is expired."""


class WorkerSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """How workers claim and retry jobs."""

    enabled: bool = True
    """Run a worker inside ``payments serve`` (``payments worker`` runs one on its own)."""
    poll_seconds: Annotated[float, msgspec.Meta(gt=0, le=60)] = 0.5
    batch: Annotated[int, msgspec.Meta(ge=1, le=1000)] = 20
    concurrency: Annotated[int, msgspec.Meta(ge=1, le=1000)] = 10
    lease_seconds: Annotated[float, msgspec.Meta(gt=0, le=86_400)] = 300.0
    """How long a claimed job is held; longer than any job can run, gateway calls included."""
    max_attempts: Annotated[int, msgspec.Meta(ge=1, le=100)] = 8
    backoff_seconds: Annotated[float, msgspec.Meta(gt=0, le=3600)] = 2.0
    backoff_max_seconds: Annotated[float, msgspec.Meta(gt=0, le=86_400)] = 600.0
    shutdown_grace_seconds: Annotated[float, msgspec.Meta(ge=0, le=600)] = 10.0


class MerchantKeys(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The API keys of one merchant, as hashes (``payments keys new`` makes them)."""

    key_hashes: list[Annotated[str, msgspec.Meta(pattern=r"^sha256:[0-9a-f]{64}$")]]


class SecuritySettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Who may use the client API, and what a webhook must prove."""

    auth: Literal["api-keys", "none"] = "api-keys"
    """``api-keys``: every client route needs ``Authorization: Bearer <key>``. ``none`` opens
    the client API to anyone who can reach it (the demo)."""
    merchants: dict[str, MerchantKeys] = msgspec.field(default_factory=dict)
    allow_unsigned_webhooks: bool = False
    """Start gateways that accept webhooks nobody signed (the demo's simulators)."""


class GatewayConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """One enabled gateway: an instance of a gateway type a plugin provides."""

    type: str
    enabled: bool = True
    weight: Annotated[float, msgspec.Meta(gt=0, le=1_000_000)] = 1.0
    currencies: list[str] | None = None
    """Narrow the type's currencies; None takes all of them."""
    settings: dict[str, Any] = msgspec.field(default_factory=dict)
    simulator: SimulatorConfig | None = None


class PluginsConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Which installed plugins are loaded, by plugin (entry-point) or distribution name."""

    load: list[str] | None = None
    """Load only these; None loads every installed plugin. ``PAYMENTS_PLUGINS__LOAD``."""
    block: list[str] = msgspec.field(default_factory=list)
    """Never load these (e.g. one that breaks start-up). ``PAYMENTS_PLUGINS__BLOCK``."""


class Settings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The whole configuration of a deployment."""

    server: ServerConfig = ServerConfig()
    database: DatabaseConfig = DatabaseConfig()
    routing: RoutingConfig = RoutingConfig()
    security: SecuritySettings = SecuritySettings()
    payments: LifecycleSettings = LifecycleSettings()
    worker: WorkerSettings = WorkerSettings()
    gateways: dict[str, GatewayConfig] = msgspec.field(default_factory=dict)
    plugins: PluginsConfig = PluginsConfig()
    demo: bool = False
    """Set only by the demo profile: relaxes nothing by itself, but is shown loudly."""

    def __post_init__(self) -> None:
        for name in self.gateways:
            if not GATEWAY_NAME.fullmatch(name):
                raise ValueError(
                    f"gateway name {name!r} must be 1-40 of a-z, 0-9, '-', '_' - at `$.gateways`"
                )
        security = self.security
        for merchant in security.merchants:
            if not GATEWAY_NAME.fullmatch(merchant):
                raise ValueError(
                    f"merchant name {merchant!r} must be 1-40 of a-z, 0-9, '-', '_'"
                    " - at `$.security.merchants`"
                )
        if security.auth == "api-keys" and not any(
            merchant.key_hashes for merchant in security.merchants.values()
        ):
            raise ValueError(
                "the client API has no keys: add `[security.merchants.<name>] key_hashes`"
                ' (`payments keys new` makes one), or open it with security.auth = "none"'
                " - at `$.security`"
            )

    @property
    def base_url(self) -> str:
        """How this service reaches itself (simulators post their webhooks there)."""
        if self.server.public_url:
            return self.server.public_url.rstrip("/")
        host = self.server.host
        if host in ("0.0.0.0", "::", ""):  # noqa: S104 - the wildcard is reached on loopback
            host = "127.0.0.1"
        return f"http://{host}:{self.server.port}"

    def enabled_gateways(self) -> dict[str, GatewayConfig]:
        """The gateways that take traffic, in config order."""
        return {name: gw for name, gw in self.gateways.items() if gw.enabled}


def _env_value(text: str) -> Any:
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def apply_overrides(raw: dict[str, Any], environ: Mapping[str, str]) -> dict[str, Any]:
    """Return ``raw`` with every ``PAYMENTS_A__B=value`` variable set at ``a.b``."""
    for variable in sorted(environ):
        if not variable.startswith(ENV_PREFIX) or variable == CONFIG_PATH_VARIABLE:
            continue
        path = variable.removeprefix(ENV_PREFIX).lower().split("__")
        if not all(path):
            raise ConfigError(f"{variable}: empty key in the override's path")
        node = raw
        for key in path[:-1]:
            child = node.setdefault(key, {})
            if not isinstance(child, dict):
                raise ConfigError(f"{variable}: {'.'.join(path)} goes through a non-table value")
            node = child
        node[path[-1]] = _env_value(environ[variable])
    return raw


def _readable(error: msgspec.ValidationError, prefix: str = "") -> str:
    message = str(error).replace("`$.", f"`{prefix}")
    if prefix and " - at `" not in message:
        message += f" - at `{prefix.rstrip('.')}`"
    return message


def decode_settings(raw: dict[str, Any]) -> Settings:
    """Validate a raw configuration mapping; errors name the key."""
    gateways = raw.get("gateways")
    if isinstance(gateways, dict):
        # msgspec reports a dict value's errors as `gateways[...]`; decoding each gateway on
        # its own lets the message name it.
        for name, table in gateways.items():
            try:
                msgspec.convert(table, GatewayConfig)
            except msgspec.ValidationError as error:
                raise ConfigError(_readable(error, f"gateways.{name}.")) from None
    try:
        return msgspec.convert(raw, Settings)
    except msgspec.ValidationError as error:
        raise ConfigError(_readable(error)) from None


def decode_plugin_settings(raw: Mapping[str, Any], settings_type: type[Any], where: str) -> Any:
    """Validate a plugin's settings table; ``where`` is its config path, used in errors."""
    try:
        return msgspec.convert(dict(raw), settings_type)
    except msgspec.ValidationError as error:
        raise ConfigError(_readable(error, f"{where}.")) from None


def load_settings(path: Path | None, environ: Mapping[str, str]) -> Settings:
    """Read the file at ``path`` (or the demo profile when None) and apply the overrides."""
    if path is None:
        raw = demo_profile()
    else:
        try:
            raw = tomllib.loads(path.read_text(encoding="utf-8"))
        except OSError as error:
            raise ConfigError(f"cannot read config file {path}: {error.strerror}") from None
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
            raise ConfigError(f"config file {path} is not valid TOML: {error}") from None
        if raw.get("demo"):
            raise ConfigError("`demo` is set only by the demo profile, not in a config file")
    return decode_settings(apply_overrides(raw, environ))
