"""The platform's vendor client: httpx's API over aiohttp, tested against real sockets.

What matters for money is which failures say "nothing was sent" (a gateway may then fail over)
and which say "the vendor may have acted" (it may not); each is provoked here by a server that
misbehaves in exactly one way.
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import socket
from collections.abc import AsyncIterator, Awaitable, Callable

import httpx
import pytest
from payments_plugins.http_client import vendor_client


class Server:
    """What a test server on 127.0.0.1 saw."""

    def __init__(self, port: int) -> None:
        self.url = f"http://127.0.0.1:{port}"
        self.requests: list[bytes] = []
        self.connections = 0


Handler = Callable[[Server, asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@contextlib.asynccontextmanager
async def serving(handler: Handler) -> AsyncIterator[Server]:
    """Serve every connection with ``handler`` while the block runs."""
    state: Server | None = None

    async def on_connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        assert state is not None
        state.connections += 1
        try:
            await handler(state, reader, writer)
        finally:
            writer.close()

    server = await asyncio.start_server(on_connection, "127.0.0.1", 0)
    state = Server(server.sockets[0].getsockname()[1])
    try:
        yield state
    finally:
        server.close()
        await server.wait_closed()


async def read_request(server: Server, reader: asyncio.StreamReader) -> bytes | None:
    """One request, head and body (by its Content-Length); None if the client went away."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError:
        return None
    length = 0
    for line in head.split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    request = head + await reader.readexactly(length)
    server.requests.append(request)
    return request


def answer(body: bytes, *headers: str) -> bytes:
    lines = ["HTTP/1.1 200 OK", f"Content-Length: {len(body)}", *headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


async def test_a_request_and_its_answer_go_through_unchanged() -> None:
    async def echo(
        server: Server, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        while await read_request(server, reader) is not None:
            writer.write(
                answer(
                    gzip.compress(b'{"status": "initiated"}'),
                    "Content-Encoding: gzip",
                    "Set-Cookie: a=1",
                    "Set-Cookie: b=2",
                )
            )
            await writer.drain()

    async with serving(echo) as server, vendor_client() as client:
        response = await client.post(
            f"{server.url}/payments?x=a%2Fb",
            content=b'{"amount": "10.00"}',
            headers={"Content-Type": "application/json", "Idempotency-Key": "k-1"},
        )
        again = await client.get(f"{server.url}/payments/1")

    assert response.status_code == 200
    assert response.json() == {"status": "initiated"}
    assert response.headers.get_list("set-cookie") == ["a=1", "b=2"]
    assert again.status_code == 200
    first = server.requests[0].decode()
    head, _, body = first.partition("\r\n\r\n")
    request_line, *header_lines = head.split("\r\n")
    headers = [line.split(":", 1)[0].lower() for line in header_lines]
    assert request_line == "POST /payments?x=a%2Fb HTTP/1.1"
    assert body == '{"amount": "10.00"}'
    assert sorted(set(headers)) == sorted(headers), f"a header was sent twice: {headers}"
    assert "content-type: application/json" in head.lower()
    assert "idempotency-key: k-1" in head.lower()
    assert "content-length: 19" in head.lower()
    assert server.connections == 1, "the connection was not kept alive for the second call"


async def test_a_cookie_a_vendor_sets_goes_out_with_no_later_call_to_it_or_another_vendor():
    """Issue 19, section 5: every gateway shares the client, and its jar kept what a vendor
    set, so a cookie went out with later calls: of another gateway whose vendor shares the
    host (a cookie is not bound to a port), or another merchant account at the same vendor.
    The answer still shows it, for a gateway whose vendor needs one to send it itself."""

    async def sets_a_cookie(
        server: Server, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        while await read_request(server, reader) is not None:
            writer.write(answer(b"{}", "Set-Cookie: session=account-1; Path=/"))
            await writer.drain()

    async with (
        serving(sets_a_cookie) as vendor,
        serving(sets_a_cookie) as other_vendor,
        vendor_client() as client,
    ):
        first = await client.post(f"{vendor.url}/payments", content=b"{}")
        await client.post(f"{vendor.url}/payments", content=b"{}")
        await client.post(f"{other_vendor.url}/payments", content=b"{}")

    assert first.headers["set-cookie"] == "session=account-1; Path=/"
    sent = [request.decode().lower() for request in vendor.requests + other_vendor.requests]
    assert [request for request in sent if "\r\ncookie:" in request] == []
    assert not client.cookies


async def test_a_refused_connection_is_not_sent() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    async with vendor_client() as client:
        with pytest.raises(httpx.ConnectError):
            await client.post(f"http://127.0.0.1:{port}/payments", content=b"{}")


async def test_a_connection_closed_after_the_request_arrived_may_have_been_acted_on() -> None:
    async def hang_up(
        server: Server, reader: asyncio.StreamReader, _: asyncio.StreamWriter
    ) -> None:
        await read_request(server, reader)

    async with serving(hang_up) as server, vendor_client() as client:
        with pytest.raises(httpx.ReadError):
            await client.post(f"{server.url}/payments", content=b"{}")
    assert len(server.requests) == 1


async def test_no_answer_in_time_is_a_read_timeout() -> None:
    async def silent(server: Server, reader: asyncio.StreamReader, _: asyncio.StreamWriter) -> None:
        await read_request(server, reader)
        await asyncio.sleep(5)

    async with serving(silent) as server, vendor_client() as client:
        with pytest.raises(httpx.ReadTimeout):
            await client.post(
                f"{server.url}/payments", content=b"{}", timeout=httpx.Timeout(5, read=0.2)
            )


async def test_an_answer_cut_short_is_a_read_error_while_streaming() -> None:
    async def cut(
        server: Server, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        await read_request(server, reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n" + b"x" * 10)
        await writer.drain()

    async with (
        serving(cut) as server,
        vendor_client() as client,
        client.stream("POST", f"{server.url}/payments", content=b"{}") as response,
    ):
        assert response.status_code == 200
        with pytest.raises(httpx.ReadError):
            await response.aread()


async def test_a_post_on_a_kept_alive_connection_the_vendor_dropped_is_never_sent_twice() -> None:
    async def once_then_hang_up(
        server: Server, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        await read_request(server, reader)
        writer.write(answer(b"{}"))
        await writer.drain()
        # The second request arrives on the same connection, then the vendor goes away.
        await read_request(server, reader)

    async with serving(once_then_hang_up) as server, vendor_client() as client:
        await client.post(f"{server.url}/payments", content=b"{}")
        with pytest.raises(httpx.ReadError):
            await client.post(f"{server.url}/refunds", content=b"{}")
    assert [request.split(b" ", 2)[1] for request in server.requests] == [
        b"/payments",
        b"/refunds",
    ]


async def test_an_answer_left_half_read_never_reaches_the_next_call() -> None:
    async def big_then_small(
        server: Server, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        while (request := await read_request(server, reader)) is not None:
            if b"/big" in request.split(b"\r\n", 1)[0]:
                writer.write(answer(b"x" * 1_000_000))
            else:
                writer.write(answer(b'{"id": "second"}'))
            with contextlib.suppress(ConnectionError):
                await writer.drain()

    async with serving(big_then_small) as server, vendor_client() as client:
        async with client.stream("GET", f"{server.url}/big") as response:
            async for _ in response.aiter_bytes():
                break  # a gateway giving up on an answer too long to be genuine
        second = await client.get(f"{server.url}/small")

    assert second.json() == {"id": "second"}
    assert server.connections == 2, "the half-read connection was used again"
