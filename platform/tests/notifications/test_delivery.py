"""One delivery to a merchant's endpoint (``notifications/delivery``) over real sockets: what an
endpoint answers stays with that answer, whatever other deliveries are in flight meanwhile."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import httpx
from core_fixtures import NOTIFICATION_SECRET
from payments_platform.notifications.delivery import (
    DeliveryResult,
    notification_client,
    post_notification,
)

HOLD_SECONDS = 10.0
"""How long an endpoint holds its answer at most: only a broken test waits that long."""


@dataclass
class Endpoints:
    """Two merchants' endpoints on one host: ``/shop-a`` sets a cookie and, while
    ``release`` is not set, holds the rest of its answer; ``/shop-b`` answers at once."""

    base_url: str
    release: asyncio.Event = field(default_factory=asyncio.Event)
    requests: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    connections: set[asyncio.Task[None]] = field(default_factory=set)

    def cookies_sent(self, path: str) -> list[str | None]:
        """The Cookie header of every request ``path`` got, in order."""
        return [headers.get("cookie") for got, headers in self.requests if got == path]


@contextlib.asynccontextmanager
async def endpoints() -> AsyncIterator[Endpoints]:
    state: Endpoints | None = None

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        assert state is not None
        connection = asyncio.current_task()
        assert connection is not None
        state.connections.add(connection)
        try:
            while head := await _read_head(reader):
                request_line, *lines = head.decode("latin-1").split("\r\n")
                headers = {
                    name.strip().lower(): value.strip()
                    for name, _, value in (line.partition(":") for line in lines if line)
                }
                await reader.readexactly(int(headers.get("content-length", "0")))
                path = request_line.split()[1]
                state.requests.append((path, headers))
                if path != "/shop-a":
                    writer.write(b"HTTP/1.1 204 No Content\r\n\r\n")
                    await writer.drain()
                    continue
                writer.write(
                    b"HTTP/1.1 200 OK\r\nSet-Cookie: session=shop-a; Path=/\r\n"
                    b"Content-Length: 2\r\n\r\n"
                )
                await writer.drain()
                async with asyncio.timeout(HOLD_SECONDS):
                    await state.release.wait()
                writer.write(b"ok")
                await writer.drain()
        finally:
            writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    state = Endpoints(f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}")
    try:
        yield state
    finally:
        state.release.set()
        server.close()
        # Each connection ends once its client has hung up (the client is closed by now).
        if state.connections:
            await asyncio.wait(state.connections, timeout=HOLD_SECONDS)
        await server.wait_closed()


async def _read_head(reader: asyncio.StreamReader) -> bytes | None:
    try:
        return await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError:
        return None


async def deliver(client: httpx.AsyncClient, url: str, message_id: str) -> DeliveryResult:
    return await post_notification(
        client,
        url,
        secret=NOTIFICATION_SECRET,
        message_id=message_id,
        body=b'{"type": "payment.paid"}',
        time_limit=HOLD_SECONDS * 2,
        allow_http=True,
        allow_private=True,
    )


async def test_a_cookie_an_endpoint_sets_is_sent_to_no_delivery_not_even_one_started_meanwhile():
    """Issue 19, section 5: deliveries share one client, whose cookie jar was cleared only once
    an answer had been read, so a delivery that started while another's answer was being read
    carried the cookie that answer set to another merchant's endpoint on the same host.

    Shop A's endpoint sets a cookie and holds the rest of its answer; shop B's delivery starts
    only once shop A's answer has reached the client (its cookie with it), and ends before
    shop A's answer is complete: the interleaving that leaked, every time."""
    client = notification_client()
    answered_a = asyncio.Event()

    async def on_answer(response: httpx.Response) -> None:
        # Called by the client once an answer's head is in, after it has seen its cookies.
        if response.request.url.path == "/shop-a":
            answered_a.set()

    client.event_hooks["response"].append(on_answer)
    async with endpoints() as served, client:
        to_a = asyncio.create_task(deliver(client, f"{served.base_url}/shop-a", "msg_1"))
        async with asyncio.timeout(HOLD_SECONDS):
            await answered_a.wait()
        to_b = await deliver(client, f"{served.base_url}/shop-b", "msg_2")
        served.release.set()
        first_to_a = await to_a
        again_to_a = await deliver(client, f"{served.base_url}/shop-a", "msg_3")

    assert (first_to_a.delivered, to_b.delivered, again_to_a.delivered) == (True, True, True)
    assert served.cookies_sent("/shop-b") == [None]
    assert served.cookies_sent("/shop-a") == [None, None]
    assert not client.cookies
