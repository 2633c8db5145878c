"""How long the server took over a console answer, in its ``Server-Timing`` header
(``app;dur=12.3``, milliseconds): from the request reaching the console's routes to the start of
the answer, so the session check, the database reads and the template's rendering, which a
browser's developer tools show beside the network's time and the bench reads
(docs/performance.md). An answer sent as a stream (a CSV file) starts after its first page; the
rest of it is not counted."""

from __future__ import annotations

import time

from litestar.types import ASGIApp, Message, Receive, Scope, Send

HEADER = b"server-timing"
METRIC = "app"
"""The name of the one metric given: the time in the application."""


def server_timing(app: ASGIApp) -> ASGIApp:
    """Middleware adding the ``Server-Timing`` header to every answer of ``app``."""

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()

        async def send_timed(message: Message) -> None:
            if message["type"] == "http.response.start":
                took = (time.perf_counter() - started) * 1000
                message["headers"] = [
                    *message.get("headers", []),
                    (HEADER, f"{METRIC};dur={took:.1f}".encode()),
                ]
            await send(message)

        await app(scope, receive, send_timed)

    return middleware
