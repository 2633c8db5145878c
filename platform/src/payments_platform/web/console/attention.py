"""The attention bar on every console page: what needs an operator now, each linking to the
page that mends it, and the count the tab's title shows. It refreshes itself."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from litestar import get
from litestar.di import NamedDependency
from litestar.response import Template

from payments_platform.process_breakers import open_breakers, shown_breakers
from payments_platform.store.operator_sessions import OperatorSession
from payments_platform.usecases.operator_reads import ATTENTION_SHOWN, attention_records
from payments_platform.web.console.access import Console
from payments_platform.web.console.endpoints import DeliveryFilter, endpoint_path
from payments_platform.web.console.rendering import partial
from payments_platform.web.console.webhooks import Verdict, webhooks_path


@dataclass(frozen=True)
class Item:
    """One thing that needs an operator: what it is, how bad, where it is mended."""

    key: str
    text: str
    href: str
    tone: str = "bad"


def _many(count: int) -> str:
    return f"{ATTENTION_SHOWN}+" if count >= ATTENTION_SHOWN else str(count)


async def read_attention(console: Console) -> list[Item]:
    """What needs an operator now, the worst first."""
    deps = console.deps
    now = deps.now()
    reconcile_after = timedelta(seconds=deps.lifecycle.reconcile_after_seconds)
    found = await attention_records(deps, now=now, unknown_before=now - reconcile_after)
    items: list[Item] = []
    if found.recovered:
        items.append(
            Item(
                "recovered",
                f"{_many(found.recovered)} payment(s) a vendor took after the platform gave up"
                " (last day)",
                "/console/#recovered",
            )
        )
    if found.dead_jobs:
        items.append(
            Item("dead-jobs", f"{found.dead_jobs} dead job(s)", "/console/jobs?status=dead")
        )
    if found.unknown_overdue:
        items.append(
            Item(
                "unknown",
                f"{_many(found.unknown_overdue)} payment(s) of unknown outcome past their"
                " reconcile time",
                "/console/payments?status=unknown",
            )
        )
    for endpoint in found.failing_endpoints:
        items.append(
            Item(
                f"endpoint-{endpoint}",
                f"merchant endpoint {endpoint} failing",
                endpoint_path(endpoint, DeliveryFilter.FAILING),
            )
        )
    # Every process's, this one's as it sees them now: the gateways it routes to first, then
    # those only others do (their config may differ during a roll-out).
    breakers = shown_breakers(found.breakers, console.runtime.breakers.reports(), now=now)
    ours = [route.name for route in deps.routing.routes]
    for gateway in [*ours, *sorted(set(breakers) - set(ours))]:
        opened, processes = open_breakers(breakers.get(gateway, []))
        if opened:
            items.append(
                Item(
                    f"breaker-{gateway}",
                    f"{gateway}'s breaker is open in {opened} of {processes} process(es)",
                    "/console/",
                )
            )
    for gateway, count in sorted(found.refused_webhooks.items()):
        name = gateway or "a shared webhook route"
        items.append(
            Item(
                f"refused-{gateway}",
                f"{count} webhook(s) refused for {name} (last hour)",
                webhooks_path(gateway, Verdict.REFUSED),
                tone="warn",
            )
        )
    return items


@get("/attention", name="console:attention")
async def attention_partial(
    console: NamedDependency[Console], session: NamedDependency[OperatorSession]
) -> Template:
    """The attention bar, as every page loads it and it refreshes itself."""
    return partial(console, session, "_attention.html", items=await read_attention(console))
