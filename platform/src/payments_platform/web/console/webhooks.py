"""The webhooks page: every webhook a vendor sent, accepted or refused and why, newest first, a
page at a time (keyset pages), by gateway and verdict; the payment each applied to, or the one
that learned its external id later; the SHA-256 of its body; and above them, each gateway's
webhooks of the last hour, accepted and refused."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated
from urllib.parse import urlencode

from litestar import get
from litestar.di import NamedDependency
from litestar.params import FromQuery, QueryParameter
from litestar.response import Template

from payments_platform.store.events import ReceivedPosition
from payments_platform.store.operator_sessions import OperatorSession
from payments_platform.usecases.webhook_reads import ReceivedWebhooks, webhooks_received
from payments_platform.web.console.access import CONSOLE, Console
from payments_platform.web.console.rendering import page

PAGE_SIZE = 50
COUNTED = timedelta(hours=1)
"""The period the counts above the list cover."""
NO_GATEWAY = "-"
"""The gateway filter of the webhooks no gateway verified, on a route several gateways share
(not a gateway's name: those start with a letter or a digit)."""
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
POSITION_PATTERN = "^[0-9a-f]{1,14}-[0-9]{1,18}$"
"""A position as :func:`position_text` writes it, within what a time and an id can be."""


class Verdict(enum.StrEnum):
    """Which webhooks the page lists, by what became of them."""

    ACCEPTED = "accepted"
    REFUSED = "refused"


def position_text(position: ReceivedPosition) -> str:
    """A page's end as links carry it: microseconds since 1970 in hex, and the event's id."""
    micros = (position.created_at - _EPOCH) // timedelta(microseconds=1)
    return f"{micros:x}-{position.id}"


def read_position(text: str) -> ReceivedPosition:
    """The position of :func:`position_text`'s text (of :data:`POSITION_PATTERN`)."""
    micros, _, event_id = text.partition("-")
    return ReceivedPosition(_EPOCH + timedelta(microseconds=int(micros, 16)), int(event_id))


@dataclass(frozen=True)
class GatewayCount:
    """A gateway's webhooks of the period (``name`` ``""``: none verified them)."""

    name: str
    accepted: int
    refused: int

    @property
    def filter(self) -> str:
        """The gateway filter that lists these webhooks."""
        return self.name or NO_GATEWAY


@dataclass(frozen=True)
class WebhookList:
    """What the page shows: the filters, a page of webhooks and the period's counts."""

    gateway: str | None
    verdict: Verdict | None
    after: ReceivedPosition | None
    found: ReceivedWebhooks
    counts: list[GatewayCount]

    def query(self, **changed: object) -> str:
        """The page's query string, with ``changed`` parameters (None drops one)."""
        given: dict[str, object] = {
            "gateway": self.gateway,
            "verdict": self.verdict,
            "after": None if self.after is None else position_text(self.after),
            **changed,
        }
        kept = {name: value for name, value in given.items() if value not in (None, "")}
        return "?" + urlencode(kept) if kept else ""

    @property
    def next_query(self) -> str | None:
        """The query of the next (older) page, if there is one."""
        if self.found.next is None:
            return None
        return self.query(after=position_text(self.found.next))


def _counts(found: ReceivedWebhooks, gateways: list[str]) -> list[GatewayCount]:
    names = sorted(set(gateways) | {name for name, _ in found.counts})
    return [
        GatewayCount(
            name=name,
            accepted=found.counts.get((name, True), 0),
            refused=found.counts.get((name, False), 0),
        )
        for name in names
    ]


GATEWAY_PATTERN = f"^([a-z0-9][a-z0-9_-]{{0,39}}|{NO_GATEWAY})$"
GatewayFilter = Annotated[str | None, QueryParameter(name="gateway", pattern=GATEWAY_PATTERN)]
PositionFilter = Annotated[str | None, QueryParameter(name="after", pattern=POSITION_PATTERN)]


@get("/webhooks", name="console:webhooks")
async def webhooks_page(
    console: NamedDependency[Console],
    session: NamedDependency[OperatorSession],
    gateway: GatewayFilter = None,
    verdict: FromQuery[Verdict | None] = None,
    after: PositionFilter = None,
) -> Template:
    """The webhooks received, newest first, by gateway and verdict."""
    position = None if after is None else read_position(after)
    wanted = None if gateway is None else ("" if gateway == NO_GATEWAY else gateway)
    found = await webhooks_received(
        console.deps,
        gateway=wanted,
        accepted=None if verdict is None else verdict is Verdict.ACCEPTED,
        after=position,
        limit=PAGE_SIZE,
        counted_since=console.deps.now() - COUNTED,
    )
    gateways = sorted(console.runtime.settings.gateways)
    return page(
        console,
        session,
        "webhooks.html",
        title="Webhooks",
        section="webhooks",
        listing=WebhookList(
            gateway=gateway,
            verdict=verdict,
            after=position,
            found=found,
            counts=_counts(found, gateways),
        ),
        verdicts=list(Verdict),
        no_gateway=NO_GATEWAY,
    )


def webhooks_path(gateway: str, verdict: Verdict | None = None) -> str:
    """Where the page lists a gateway's webhooks (``""``: those no gateway verified)."""
    query = {"gateway": gateway or NO_GATEWAY}
    if verdict is not None:
        query["verdict"] = verdict
    return f"{CONSOLE}/webhooks?{urlencode(query)}"
