"""The demo's merchant endpoint: it receives the notifications of the payments made while the
API is open, checks every signature, and shows what it verified (a stand-in for a merchant's
server, like the vendor simulators are for vendors; never a production path).

``POST /notifications`` takes a notification (204; 400 when its signature does not hold);
``GET /`` lists those received, newest first.
"""

from __future__ import annotations

import collections
import time
from collections.abc import Callable, MutableMapping
from typing import Any

import msgspec

from payments_platform.notifications.signing import SignatureRefused, verify

KEPT = 200
"""How many received notifications are kept (in memory)."""


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
        else:
            await _answer(send, 404, b'{"error": "not found"}')

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


async def _answer(send: Any, status: int, body: bytes) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json")],
        }
    )
    await send({"type": "http.response.body", "body": body})
