"""The merchants' endpoints as this process uses them: which one wants which event, and what a
delivery to each may take at once."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Mapping
from dataclasses import dataclass, field

import httpx

from payments_platform.config import NotificationEndpoint, NotificationSettings
from payments_platform.notifications.delivery import notification_client


@dataclass
class Notifier:
    """The configured endpoints, the client that posts to them and their limits in flight."""

    settings: NotificationSettings
    endpoints: Mapping[str, NotificationEndpoint]
    """Enabled endpoints by name, their URLs absolute."""
    client: httpx.AsyncClient = field(default_factory=notification_client)
    _in_flight: dict[str, asyncio.Semaphore] = field(default_factory=dict)

    @classmethod
    def of(cls, settings: NotificationSettings, base_url: str) -> Notifier:
        """The endpoints of ``settings``; a URL starting with ``/`` is this service's own."""
        endpoints = {
            name: endpoint
            if not endpoint.url.startswith("/")
            else NotificationEndpoint(
                url=base_url + endpoint.url,
                secret=endpoint.secret,
                merchant=endpoint.merchant,
                events=endpoint.events,
            )
            for name, endpoint in settings.endpoints.items()
            if endpoint.enabled
        }
        return cls(settings=settings, endpoints=endpoints)

    def wanting(self, merchant: str | None, event_type: str) -> list[str]:
        """The endpoints that take ``event_type`` events of ``merchant``'s payments."""
        return [
            name
            for name, endpoint in self.endpoints.items()
            if endpoint.merchant == merchant
            and (endpoint.events is None or event_type in endpoint.events)
        ]

    def slot(self, endpoint: str) -> asyncio.Semaphore:
        """The limit of deliveries in flight to ``endpoint`` from this process."""
        if endpoint not in self._in_flight:
            self._in_flight[endpoint] = asyncio.Semaphore(self.settings.endpoint_concurrency)
        return self._in_flight[endpoint]

    @property
    def max_attempts(self) -> int:
        """Enough attempts that retries go on for ``retry_for_seconds`` even if every wait
        draws its shortest jitter (half the backoff step)."""
        attempts, waited = 1, 0.0
        while waited < self.settings.retry_for_seconds:
            waited += self._step(attempts) / 2
            attempts += 1
        return attempts

    def backoff(self, attempts: int, rng: random.Random) -> float:
        """Seconds to wait after ``attempts`` failed attempts: exponential, capped, jittered."""
        step = self._step(attempts)
        return step / 2 + rng.uniform(0, step / 2)

    def _step(self, attempts: int) -> float:
        exponent = min(max(0, attempts - 1), 40)
        step: float = min(
            self.settings.backoff_max_seconds, self.settings.backoff_seconds * 2.0**exponent
        )
        return step

    async def aclose(self) -> None:
        """Close the client."""
        await self.client.aclose()
