"""What the use cases act on: the database, the live gateways with their routing table, the
lifecycle settings and the clock."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from payments_plugins import Capabilities, Gateway, WebhookAck, WebhookReply
from payments_plugins.contract import CALL_DEADLINE_SECONDS

from payments_platform.config import Dispatch, LifecycleSettings
from payments_platform.database import Database
from payments_platform.notifications.endpoints import Notifier
from payments_platform.records import utc_now
from payments_platform.routing import RoutingTable


@dataclass(frozen=True, kw_only=True)
class LiveGateway:
    """A built gateway and the type it is an instance of."""

    name: str
    type_name: str
    gateway: Gateway
    webhook_reply: Callable[[WebhookAck], WebhookReply] | None = None
    deadline_seconds: float = CALL_DEADLINE_SECONDS
    """The time budget of each call into the plugin (``[gateways.NAME] deadline_seconds``)."""
    capabilities: Capabilities = field(default_factory=Capabilities)
    """What its type declares it can do; the platform asks it for nothing else."""


@dataclass(frozen=True, kw_only=True)
class Dependencies:
    """One database and one set of live gateways, as every use case sees them."""

    database: Database
    routing: RoutingTable
    gateways: Mapping[str, LiveGateway]
    lifecycle: LifecycleSettings
    job_attempts: int
    """How many times a job is run before it is parked as dead."""
    notifier: Notifier
    """The merchants' notification endpoints."""
    clock: Callable[[], datetime] = utc_now
    soft_decline_attempts: int = 2
    """How many more gateways a payment is offered to after soft declines
    (``routing.soft_decline_attempts``)."""

    def now(self) -> datetime:
        """The wall-clock time, as the platform writes it."""
        return self.clock()

    @property
    def queued(self) -> bool:
        """Gateways are called by workers, not within requests."""
        return self.lifecycle.dispatch is Dispatch.QUEUE

    def gateways_of_type(self, type_name: str) -> list[LiveGateway]:
        """The enabled gateways that are instances of ``type_name``, in config order."""
        return [live for live in self.gateways.values() if live.type_name == type_name]

    def webhook_receivers(self, name: str) -> list[LiveGateway]:
        """Who receives a webhook posted for ``name``: the gateway of that name, or else every
        gateway of the type of that name (the prototype's ``/external/json-webhook``)."""
        live = self.gateways.get(name)
        return [live] if live is not None else self.gateways_of_type(name)
