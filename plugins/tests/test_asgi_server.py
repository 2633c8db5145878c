"""serve_asgi runs an ASGI app behind a real socket for the length of a with block."""

from __future__ import annotations

import socket

import httpx
import pytest
from payments_plugins.testing.asgi_server import free_port, serve_asgi


class LifespanRecorder:
    """A tiny ASGI app that answers 200 with the path and records its lifespan events."""

    def __init__(self, *, fail_startup: bool = False) -> None:
        self.events: list[str] = []
        self.fail_startup = fail_startup

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                self.events.append(message["type"])
                if message["type"] == "lifespan.startup":
                    if self.fail_startup:
                        await send({"type": "lifespan.startup.failed", "message": "no database"})
                        return
                    await send({"type": "lifespan.startup.complete"})
                else:
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": scope["path"].encode()})


def test_the_app_is_served_at_the_yielded_url_between_startup_and_shutdown():
    app = LifespanRecorder()

    with serve_asgi(app) as url:
        response = httpx.get(f"{url}/hello")
        events_while_serving = list(app.events)

    assert url.startswith("http://127.0.0.1:")
    assert response.text == "/hello"
    assert events_while_serving == ["lifespan.startup"]
    assert app.events == ["lifespan.startup", "lifespan.shutdown"]
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{url}/hello")


def test_a_failed_startup_is_raised_instead_of_yielding_a_dead_url():
    with (
        pytest.raises(RuntimeError, match="startup"),
        serve_asgi(LifespanRecorder(fail_startup=True)),
    ):
        pytest.fail("a server whose startup failed must not be yielded")


def test_free_port_gives_a_port_that_can_be_bound():
    port = free_port()

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", port))
