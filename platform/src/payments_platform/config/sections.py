"""The sections of the configuration: one msgspec Struct per table of the TOML file."""

from __future__ import annotations

import enum
import re
from typing import Annotated, Any, Literal

import msgspec
from payments_plugins.contract import CALL_DEADLINE_SECONDS

from payments_platform.breaker import BreakerPolicy
from payments_platform.operators import ConsoleSettings
from payments_platform.routing import Strategy
from payments_platform.routing_rules import RoutingRule, check_rules
from payments_platform.scoring import ScorePolicy

GATEWAY_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,39}")


class ServerConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Where the HTTP server listens and how it limits requests."""

    host: str = "0.0.0.0"  # noqa: S104 - a service is meant to be reached
    port: Annotated[int, msgspec.Meta(ge=1, le=65535)] = 8080
    public_url: str | None = None
    """The URL vendors and simulators reach this service at; defaults to loopback and port.
    The console also takes actions posted from its origin (behind a proxy that rewrites
    ``Host``)."""
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

    strategy: Strategy = Strategy.ADAPTIVE
    breaker: BreakerPolicy = BreakerPolicy()
    scores: ScorePolicy = ScorePolicy()
    """How the ``adaptive`` strategy learns each gateway's success rate."""
    rules: list[RoutingRule] = msgspec.field(default_factory=list)
    """``[[routing.rules]]``, in order: the first a payment meets puts its gateways first,
    before the strategy (:mod:`payments_platform.routing_rules`)."""
    soft_decline_attempts: Annotated[int, msgspec.Meta(ge=0, le=10)] = 2
    """How many more gateways a payment is offered to after soft declines (the payer may
    succeed elsewhere: the issuer unavailable, try again later), each the next candidate of
    the routing decision; 0 makes every decline final. A hard decline is always final."""


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
    presumed dead and the payment or refund is reconciled; a vendor's "no such payment" is
    believed only this long after the call started. It must exceed every gateway's
    ``deadline_seconds`` by :func:`deadline_margin`, so that no call that may still be running
    in a live process is ever judged abandoned."""
    expire_after_seconds: Annotated[float, msgspec.Meta(gt=0, le=90 * 86_400)] = 86_400.0
    """A payment still ``initiated`` this long after its gateway took it is expired."""
    allow_http_return_url: bool = False
    """Take a client's ``return_url`` over plain http when its host is loopback (the demo,
    tests); otherwise only https."""


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
    cursor_secret: Annotated[str, msgspec.Meta(min_length=32)] | None = None
    """The key ``GET /payments`` cursors are sealed with, the same in every process. Unset, it
    is derived from every merchant's key hashes, so adding or removing a key makes clients
    paging through start again (see :mod:`payments_platform.cursors`)."""


class GatewayConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """One enabled gateway: an instance of a gateway type a plugin provides."""

    type: str
    enabled: bool = True
    weight: Annotated[float, msgspec.Meta(gt=0, le=1_000_000)] = 1.0
    deadline_seconds: Annotated[float, msgspec.Meta(gt=0, le=600)] = CALL_DEADLINE_SECONDS
    """The time budget of every call into this gateway's plugin. The platform stops waiting
    when it runs out, whatever the plugin does, and treats the call as one whose outcome is
    unknown (reconciled, never failed over)."""
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


NOTIFICATION_SECRET = re.compile(r"whsec_[A-Za-z0-9+/]{32,}={0,2}")


class NotificationEndpoint(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """One of a merchant's endpoints, where signed notifications of its payments are posted."""

    url: str
    """Where to post. A URL that starts with ``/`` is this service's own (the demo's
    receiver)."""
    secret: Annotated[str, msgspec.Meta(pattern=f"^{NOTIFICATION_SECRET.pattern}$")]
    """The Standard Webhooks signing secret, ``whsec_<base64>``
    (``payments notifications secret`` makes one)."""
    merchant: str | None = None
    """Whose payments; none: the payments made while the client API is open."""
    events: list[str] | None = None
    """The event types sent (``payment.paid``, ``refund.succeeded``, ...); none: every type."""
    enabled: bool = True


SHORT_RETRY_SECONDS = 3600.0
"""Retrying deliveries for less than this is a risk in production."""


class NotificationSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """How merchants are told what happened to their payments (the ``[notifications]`` table)."""

    endpoints: dict[str, NotificationEndpoint] = msgspec.field(default_factory=dict)
    retry_for_seconds: Annotated[float, msgspec.Meta(ge=1, le=30 * 86_400)] = 90_000.0
    """A delivery that keeps failing is retried for at least this long, then kept as dead
    (under an hour is flagged as a risk: a merchant's outage outlasts it)."""
    backoff_seconds: Annotated[float, msgspec.Meta(gt=0, le=3600)] = 5.0
    backoff_max_seconds: Annotated[float, msgspec.Meta(gt=0, le=86_400)] = 3600.0
    timeout_seconds: Annotated[float, msgspec.Meta(gt=0, le=60)] = 10.0
    """The whole of one delivery: connecting, sending and the answer."""
    endpoint_concurrency: Annotated[int, msgspec.Meta(ge=1, le=100)] = 4
    """Deliveries in flight to one endpoint at once, per process."""
    workers: Annotated[int, msgspec.Meta(ge=1, le=1000)] = 20
    """Deliveries in flight at once, per process, all endpoints together."""
    allow_http: bool = False
    """Post to ``http://`` endpoints (the demo, tests); production endpoints use https."""
    allow_private_addresses: bool = False
    """Post to loopback, private and link-local addresses (the demo, tests); production
    endpoints must resolve to public addresses, checked at every delivery."""
    receiver: bool = False
    """Serve a stand-in merchant endpoint at ``/simulators/merchant`` (the demo's): it checks
    what the endpoints pointed at it get, with their secret, and lists what it verified. Only
    while the client API is open."""


def deadline_margin(deadline_seconds: float) -> float:
    """How much longer than a gateway's deadline a call must be left before it is judged
    abandoned: the clocks of two hosts, and the commit that wrote the call down before it was
    made, are not exact."""
    return max(2.0, deadline_seconds / 4)


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
    notifications: NotificationSettings = NotificationSettings()
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
        self._check_deadlines()
        check_rules(self.routing.rules, list(self.gateways))
        if security.auth == "api-keys" and not any(
            merchant.key_hashes for merchant in security.merchants.values()
        ):
            raise ValueError(
                "the client API has no keys: add `[security.merchants.<name>] key_hashes`"
                ' (`payments keys new` makes one), or open it with security.auth = "none"'
                " - at `$.security`"
            )

    def _check_deadlines(self) -> None:
        reconcile_after = self.payments.reconcile_after_seconds
        for name, gateway in self.enabled_gateways().items():
            needed = gateway.deadline_seconds + deadline_margin(gateway.deadline_seconds)
            if reconcile_after < needed:
                raise ValueError(
                    f"reconcile_after_seconds = {reconcile_after:g} would judge a call to"
                    f" gateway {name!r} abandoned while it may still be running (its"
                    f" deadline_seconds is {gateway.deadline_seconds:g}): make it at least"
                    f" {needed:g}, or shorten the deadline"
                    " - at `$.payments.reconcile_after_seconds`"
                )

    def risks(self) -> list[tuple[str, str]]:
        """The settings that take something a production deployment should not, each with
        where it is and why it matters (the demo's, and a test's, take them on purpose)."""
        found: list[tuple[str, str]] = []
        if self.security.auth == "none":
            found.append(
                (
                    "security.auth",
                    "the client API is open: anyone who can reach it pays and refunds",
                )
            )
        if self.security.allow_unsigned_webhooks:
            found.append(
                ("security.allow_unsigned_webhooks", "gateways may take webhooks nobody signed")
            )
        if self.notifications.allow_http:
            found.append(
                ("notifications.allow_http", "notifications may be posted over plain http")
            )
        if self.notifications.allow_private_addresses:
            found.append(
                (
                    "notifications.allow_private_addresses",
                    "notifications may be posted to loopback and private addresses",
                )
            )
        if self.notifications.retry_for_seconds < SHORT_RETRY_SECONDS:
            found.append(
                (
                    "notifications.retry_for_seconds",
                    "a delivery is given up after less than an hour of retries: a merchant's"
                    " outage outlasts it",
                )
            )
        if self.notifications.receiver:
            found.append(("notifications.receiver", "a stand-in merchant endpoint is served"))
        if self.payments.allow_http_return_url:
            found.append(
                ("payments.allow_http_return_url", "payers may be sent back over plain http")
            )
        if (self.server.public_url or "").startswith("http://"):
            found.append(("server.public_url", "vendors reach this service over plain http"))
        for name, gateway in self.gateways.items():
            if gateway.simulator is not None:
                found.append(
                    (f"gateways.{name}.simulator", "its vendor is a simulator in this process")
                )
        return found

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
