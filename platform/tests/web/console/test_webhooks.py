"""The webhooks page (``web/console/webhooks``): every webhook a vendor sent, accepted or refused
and why, with the payment it applied to (or the one that learned its external id later) and
its body's SHA-256, by gateway and verdict, newest first and a page at a time; the last hour's
counted by gateway; and the attention bar's refused webhooks leading to them."""

from __future__ import annotations

import contextlib
import hashlib
import html
import re
import uuid
from datetime import timedelta

import msgspec
import sqlalchemy as sa
from console_app import ConsoleClient, ConsoleFactory
from payments_platform import errors
from payments_platform.store import events
from payments_platform.usecases import initiate, webhooks
from payments_plugins import Amount, VendorPaymentStatus, WebhookEvent
from scripted import accepted, new_script

AED_1 = Amount(100, "AED")


def _rows(page: str) -> dict[str, str]:
    """Each webhook's row, by its event id."""
    found = re.findall(r'<tr data-webhook="(\d+)" data-verdict="(\w+)">(.*?)</tr>', page, re.S)
    return {event_id: f"{verdict} {html.unescape(row)}" for event_id, verdict, row in found}


async def _send(console: ConsoleClient, body: bytes) -> None:
    deps = console.runtime.deps
    with contextlib.suppress(errors.PaymentProblem):
        await webhooks.apply_webhook(deps, [deps.gateways["gw"]], {}, body)


def _paid(external_id: str) -> bytes:
    return msgspec.json.encode(
        WebhookEvent(external_id=external_id, status=VendorPaymentStatus.PAID)
    )


async def test_each_webhook_shows_its_verdict_why_its_payment_and_its_bodys_hash(
    open_console: ConsoleFactory,
) -> None:
    name, script = new_script()
    script.answer("initiate", accepted("ext-1"))
    script.answer("initiate", accepted("ext-late"))
    async with open_console({"gw": name}) as console:
        deps = console.runtime.deps
        first = await initiate.start_payment(deps, uuid.uuid4(), AED_1)
        await _send(console, _paid("ext-1"))  # applied
        await _send(console, _paid("ext-late"))  # before its payment knew that id
        await _send(console, b"not a webhook")  # unreadable
        late = await initiate.start_payment(deps, uuid.uuid4(), AED_1)  # learns ext-late
        await console.sign_in()
        page = (await console.get("/console/webhooks")).text
        refused = (await console.get("/console/webhooks?gateway=gw&verdict=refused")).text

    rows = list(_rows(page).values())
    assert len(rows) == 4
    replayed, unreadable, early, applied = rows  # newest first
    assert applied.startswith("accepted")
    assert "gw reports paid" in applied
    assert f"/console/payments/{first.payment.id}" in applied
    assert hashlib.sha256(_paid("ext-1")).hexdigest() in applied
    assert early.startswith("refused")
    assert "no payment with external id 'ext-late' yet" in early
    assert f"/console/payments/{late.payment.id}" in early
    assert "known by this external id since it came" in early
    assert unreadable.startswith("refused")
    assert hashlib.sha256(b"not a webhook").hexdigest() in unreadable
    assert "none known" in unreadable
    assert replayed.startswith("accepted")
    assert "applied once it was" in replayed
    assert f"/console/payments/{late.payment.id}" in replayed

    counts = re.search(r'data-webhook-counts="gw">(.*?)</tr>', page, re.S)
    assert counts is not None
    assert re.search(r"data-accepted>.*>2</a>", counts[1])
    assert re.search(r"data-refused>.*>2</a>", counts[1])
    assert [row.split()[0] for row in _rows(refused).values()] == ["refused", "refused"]


async def test_webhooks_are_paged_newest_first_and_the_count_covers_the_last_hour(
    open_console: ConsoleFactory,
) -> None:
    name, _ = new_script()
    async with open_console({"gw": name}) as console:
        now = console.runtime.deps.now()

        def write(conn: sa.Connection) -> None:
            for number in range(55):
                events.record(
                    conn,
                    payment_id=None,
                    kind="webhook",
                    gateway="gw",
                    accepted=False,
                    reason=f"refusal {number}",
                    body_sha256=f"{number:064x}",
                    # The first five came more than an hour ago.
                    now=now - timedelta(minutes=120 - number if number < 5 else 55 - number),
                )

        await console.runtime.database.write(write)
        await console.sign_in()
        first = (await console.get("/console/webhooks?verdict=refused")).text
        older = re.search(r'href="(/console/webhooks\?[^"]+)" rel="next"', first)
        assert older is not None
        second = (await console.get(html.unescape(older[1]))).text

    shown = [re.findall(r"refusal (\d+)", page) for page in (first, second)]
    assert [int(n) for n in shown[0]] == list(range(54, 4, -1))
    assert [int(n) for n in shown[1]] == [4, 3, 2, 1, 0]
    assert 'rel="next"' not in second
    assert ">Newest</a>" in second
    counts = re.search(r'data-webhook-counts="gw">(.*?)</tr>', first, re.S)
    assert counts is not None
    assert re.search(r"data-refused>.*>50</a>", counts[1])


async def test_the_attention_bars_refused_webhooks_lead_to_them(
    open_console: ConsoleFactory,
) -> None:
    name, _ = new_script()
    async with open_console({"gw": name}) as console:
        await _send(console, _paid("nobody-knows"))
        await console.sign_in()
        bar = (await console.get("/console/attention")).text
        link = re.search(r'data-attention="refused-gw"><a href="([^"]+)"', bar)
        assert link is not None
        page = (await console.get(html.unescape(link[1]))).text

    [row] = _rows(page).values()
    assert row.startswith("refused")
    assert "no payment with external id 'nobody-knows' yet" in row


async def test_a_filter_or_a_position_it_cannot_read_is_refused(
    open_console: ConsoleFactory,
) -> None:
    async with open_console() as console:
        await console.sign_in()
        answers = [
            (await console.get(f"/console/webhooks?{query}")).status_code
            for query in ("gateway=Not%20a%20gateway", "verdict=maybe", "after=yesterday")
        ]
        none_verified = await console.get("/console/webhooks?gateway=-")

    assert answers == [400, 400, 400]
    assert none_verified.status_code == 200
    assert "No webhook matches." in none_verified.text
