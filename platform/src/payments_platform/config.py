"""Configuration: one TOML file plus ``PAYMENTS_*`` environment overrides, decoded by msgspec.

An override names a key path with double underscores: ``PAYMENTS_DATABASE__URL=...`` sets
``[database] url``, ``PAYMENTS_GATEWAYS__JSON__WEIGHT=2`` sets ``[gateways.json] weight``. Its
value is read as a TOML value when it parses as one (``2``, ``true``, ``["AED"]``), else as a
string. With no file, the demo profile is used; overrides apply to it too. ``PAYMENTS_CONFIG``
and ``PAYMENTS_LOG_LEVEL`` are read by the command, not as overrides.

An error names the key it is about (``... - at `server.port```), the variable that set it when
an override did, the nearest known key for an unknown one and the valid values for a choice.
"""

from __future__ import annotations

import copy
import difflib
import enum
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

import msgspec
import msgspec.inspect

from payments_platform.breaker import BreakerPolicy
from payments_platform.demo import demo_profile
from payments_platform.operators import ConsoleSettings
from payments_platform.routing import Strategy

ENV_PREFIX = "PAYMENTS_"
CONFIG_PATH_VARIABLE = "PAYMENTS_CONFIG"
LOG_LEVEL_VARIABLE = "PAYMENTS_LOG_LEVEL"
_NOT_OVERRIDES = frozenset({CONFIG_PATH_VARIABLE, LOG_LEVEL_VARIABLE})
GATEWAY_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,39}")

_AT_KEY = re.compile(r" - at `([^`]*)`$")


class ConfigError(ValueError):
    """The configuration cannot be used; the message names the offending key (it ends with
    `` - at `key` ``), and the ``PAYMENTS_*`` variable when one set it."""

    def __init__(self, message: str, *, variable: str | None = None) -> None:
        super().__init__(f"{variable}: {message}" if variable else message)
        self.message = message
        self.variable = variable

    @property
    def key(self) -> str | None:
        """The dotted key the message is about, if it names one."""
        match = _AT_KEY.search(self.message)
        return match[1] if match else None


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
    console: ConsoleSettings = ConsoleSettings()
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
        self.console.check_operators()
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


def _override_path(variable: str) -> list[str]:
    return variable.removeprefix(ENV_PREFIX).lower().split("__")


def _overrides(environ: Mapping[str, str]) -> list[str]:
    """The variables of ``environ`` that override config keys, sorted."""
    return sorted(v for v in environ if v.startswith(ENV_PREFIX) and v not in _NOT_OVERRIDES)


def apply_overrides(raw: dict[str, Any], environ: Mapping[str, str]) -> dict[str, Any]:
    """Return ``raw`` with every ``PAYMENTS_A__B=value`` variable set at ``a.b``."""
    for variable in _overrides(environ):
        path = _override_path(variable)
        if not all(path):
            raise ConfigError("empty key in the override's path", variable=variable)
        node = raw
        for key in path[:-1]:
            child = node.setdefault(key, {})
            if not isinstance(child, dict):
                raise ConfigError(
                    f"{'.'.join(path)} goes through a non-table value", variable=variable
                )
            node = child
        node[path[-1]] = _env_value(environ[variable])
    return raw


def blame_override(
    error: ConfigError, environ: Mapping[str, str], written: Mapping[str, Any] | None = None
) -> ConfigError:
    """``error``, naming the ``PAYMENTS_*`` variable that set the key it is about, if one did.

    A variable is blamed when it set that very key or a table holding it, or when the key is
    not in the file (``written``, when known) and the variable set something under it:
    ``PAYMENTS_DATABSE__URL`` for ``unknown field `databse```.
    """
    key = error.key
    if error.variable is not None or not key:
        return error
    for variable in _overrides(environ):
        path = ".".join(_override_path(variable))
        if (
            path == key
            or key.startswith(f"{path}.")
            or (path.startswith(f"{key}.") and written is not None and not _holds(written, key))
        ):
            return ConfigError(error.message, variable=variable)
    return error


def _holds(raw: Mapping[str, Any], key: str) -> bool:
    node: Any = raw
    for part in key.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return False
        node = node[part]
    return True


_MSGSPEC_ERROR = re.compile(r"(?P<text>.*?)(?: - at `\$(?P<path>[^`]*)`)?", re.DOTALL)
_UNKNOWN_FIELD = re.compile(r"Object contains unknown field `(?P<name>[^`]*)`")
_INVALID_CHOICE = re.compile(r"Invalid enum value (?P<value>.*)")
_PATH_STEP = re.compile(r"\.([^.\[]+)|\[[^\]]*\]")


def _explained(error: msgspec.ValidationError, decoded: type[Any], prefix: str = "") -> str:
    """msgspec's message for ``decoded``, made an operator's: the key in config terms
    (``prefix`` leads to the decoded table), the nearest known key for an unknown one, the
    valid values for a choice."""
    match = _MSGSPEC_ERROR.fullmatch(str(error))
    assert match is not None  # noqa: S101 - the pattern matches any text
    text, path = match["text"], match["path"] or ""
    key = (prefix.rstrip(".") + path).lstrip(".")
    node = _type_at(decoded, path)
    if unknown := _UNKNOWN_FIELD.fullmatch(text):
        name = unknown["name"]
        known = [field.encode_name for t in node for field in _struct_fields(t)]
        text = f"unknown field `{name}`{_nearest(name, known, '`')}"
        key = f"{key}.{name}" if key else name
    elif invalid := _INVALID_CHOICE.fullmatch(text):
        choices = [repr(choice) for t in node for choice in _choices(t)]
        if choices:
            value = invalid["value"]
            text = (
                f"invalid value {value}{_nearest(value, choices)}: choose one of"
                f" {', '.join(choices)}"
            )
    return f"{text} - at `{key}`" if key else text


def _nearest(word: str, known: list[str], quote: str = "") -> str:
    close = difflib.get_close_matches(word, known, n=1, cutoff=0.6)
    return f" (did you mean {quote}{close[0]}{quote}?)" if close else ""


def _type_at(decoded: type[Any], path: str) -> list[msgspec.inspect.Type]:
    """The types a msgspec error path (``.routing.strategy``, ``.merchants[...]``) leads to
    in ``decoded``, unions and constraints unwrapped; empty when it leads nowhere known."""
    nodes = _unwrapped(msgspec.inspect.type_info(decoded))
    for step in _PATH_STEP.finditer(path):
        name = step[1]
        following: list[msgspec.inspect.Type] = []
        for node in nodes:
            if name is not None:
                following += [f.type for f in _struct_fields(node) if f.encode_name == name]
            elif isinstance(node, msgspec.inspect.DictType):
                following.append(node.value_type)
            elif isinstance(node, msgspec.inspect.ListType):
                following.append(node.item_type)
        nodes = [unwrapped for t in following for unwrapped in _unwrapped(t)]
    return nodes


def _unwrapped(node: msgspec.inspect.Type) -> list[msgspec.inspect.Type]:
    if isinstance(node, msgspec.inspect.Metadata):
        return _unwrapped(node.type)
    if isinstance(node, msgspec.inspect.UnionType):
        return [unwrapped for member in node.types for unwrapped in _unwrapped(member)]
    return [node]


def _struct_fields(node: msgspec.inspect.Type) -> tuple[msgspec.inspect.Field, ...]:
    return node.fields if isinstance(node, msgspec.inspect.StructType) else ()


def _choices(node: msgspec.inspect.Type) -> list[object]:
    if isinstance(node, msgspec.inspect.EnumType):
        return [member.value for member in node.cls]
    if isinstance(node, msgspec.inspect.LiteralType):
        return list(node.values)
    return []


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
                raise ConfigError(_explained(error, GatewayConfig, f"gateways.{name}.")) from None
    try:
        return msgspec.convert(raw, Settings)
    except msgspec.ValidationError as error:
        raise ConfigError(_explained(error, Settings)) from None


def decode_plugin_settings(raw: Mapping[str, Any], settings_type: type[Any], where: str) -> Any:
    """Validate a plugin's settings table; ``where`` is its config path, used in errors."""
    try:
        return msgspec.convert(dict(raw), settings_type)
    except msgspec.ValidationError as error:
        raise ConfigError(_explained(error, settings_type, f"{where}.")) from None


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
    written = copy.deepcopy(raw)
    try:
        return decode_settings(apply_overrides(raw, environ))
    except ConfigError as error:
        raise blame_override(error, environ, written) from None
