"""The demo's merchant endpoint: it receives the notifications of the payments made while the
API is open, checks every signature, and shows what it verified (a stand-in for a merchant's
server, like the vendor simulators are for vendors; never a production path).

``POST /notifications`` takes a notification (204; 400 when its signature does not hold);
``GET /`` lists those received, newest first. ``GET /return?payment_id=...`` is the shop's page
a vendor sends the payer back to (the demo's ``return_url``): it shows what the merchant heard
of that payment, and looks again every two seconds until the payment's outcome arrives.
"""

from __future__ import annotations

import collections
import html
import time
import uuid
from collections.abc import Callable, MutableMapping
from typing import Any
from urllib.parse import parse_qs

import msgspec

from payments_platform.notifications.signing import SignatureRefused, verify

KEPT = 200
"""How many received notifications are kept (in memory)."""
RETURN_PATH = "/return"
"""The shop's page the payer comes back to, under the receiver's path."""
_OUTCOMES = frozenset({"paid", "failed", "expired", "cancelled", "rejected"})


class Received(msgspec.Struct, frozen=True, kw_only=True):
    """A notification that arrived, and whether its signature held."""

    webhook_id: str
    verified: bool
    type: str | None
    sequence: int | None
    payment_id: str | None
    status: str | None
    received_at: float


class NotificationReceiver:
    """An ASGI app receiving the notifications signed with ``secret``."""

    def __init__(self, secret: str, clock: Callable[[], float] = time.time) -> None:
        self._secret = secret
        self._clock = clock
        self.received: collections.deque[Received] = collections.deque(maxlen=KEPT)

    async def __call__(self, scope: MutableMapping[str, Any], receive: Any, send: Any) -> None:
        """Serve one request."""
        if scope["type"] != "http":
            return
        method, path = scope["method"], scope["path"].removeprefix(scope.get("root_path", ""))
        if method == "POST" and path.rstrip("/") == "/notifications":
            body = await _body(receive)
            headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
            await self._take(headers, body, send)
        elif method == "GET" and path in ("", "/"):
            listed = sorted(self.received, key=lambda r: r.received_at, reverse=True)
            await _answer(send, 200, msgspec.json.encode({"received": listed}))
        elif method == "GET" and path.rstrip("/") == RETURN_PATH:
            query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
            page = self._return_page((query.get("payment_id") or [""])[0])
            await _answer(send, 200, page, content_type=b"text/html; charset=utf-8")
        else:
            await _answer(send, 404, b'{"error": "not found"}')

    def _return_page(self, payment_id: str) -> bytes:
        """The shop's page for the payer back from the vendor: what the merchant was told."""
        try:
            known = str(uuid.UUID(payment_id))
        except ValueError:
            known = ""
        heard = [r for r in self.received if known and r.payment_id == known]
        heard.sort(key=lambda r: r.sequence or 0)
        done = any(r.verified and r.status in _OUTCOMES for r in heard)
        rows = "".join(
            f"<li>{html.escape(r.type or '?')}: {html.escape(r.status or '?')}"
            f" ({'verified' if r.verified else 'NOT verified'})</li>"
            for r in heard
        )
        told = f"<ul>{rows}</ul>" if rows else "<p>Nothing yet: the platform tells it shortly.</p>"
        about = (
            f'<p>Payment <code>{known}</code>. <a href="/payments/{known}">The payment as the'
            " platform has it</a></p>"
            if known
            else "<p>The vendor named no payment this shop knows.</p>"
        )
        wait = "" if done or not known else '<meta http-equiv="refresh" content="2">'
        return (
            '<!doctype html><html lang="en"><head><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"{wait}<title>Back at the shop</title></head><body>"
            "<h1>Back at the shop</h1>"
            "<p>This is the demo's stand-in merchant: the vendor sent you back here.</p>"
            f"{about}<h2>What the merchant was notified</h2>{told}</body></html>"
        ).encode()

    async def _take(self, headers: dict[str, str], body: bytes, send: Any) -> None:
        try:
            verify(self._secret, headers, body, now=self._clock())
            verified = True
        except SignatureRefused:
            verified = False
        event = _decoded(body)
        data = event.get("data") or {}
        payment = data.get("payment") or {} if isinstance(data, dict) else {}
        self.received.append(
            Received(
                webhook_id=headers.get("webhook-id", ""),
                verified=verified,
                type=event.get("type"),
                sequence=event.get("sequence"),
                payment_id=payment.get("id"),
                status=payment.get("status"),
                received_at=self._clock(),
            )
        )
        await _answer(send, 204 if verified else 400, b"")


def _decoded(body: bytes) -> dict[str, Any]:
    try:
        event = msgspec.json.decode(body)
    except msgspec.DecodeError:
        return {}
    return event if isinstance(event, dict) else {}


async def _body(receive: Any) -> bytes:
    chunks: list[bytes] = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(chunks)


async def _answer(
    send: Any, status: int, body: bytes, content_type: bytes = b"application/json"
) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", content_type)],
        }
    )
    await send({"type": "http.response.body", "body": body})
