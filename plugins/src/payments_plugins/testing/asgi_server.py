"""Serve an ASGI app over real HTTP for the length of a test.

Used to put a vendor simulator (or the platform itself) behind a real socket, so the code under
test goes through its actual HTTP client, connection pool and timeouts.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator

import uvicorn

from payments_plugins.gateway import ASGIApp

STARTUP_TIMEOUT_SECONDS = 10.0
SHUTDOWN_GRACE_SECONDS = 5
_SHUTDOWN_MARGIN_SECONDS = 5.0


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port on ``host`` that nothing listened on a moment ago.

    Another process may take it before it is used; prefer ``serve_asgi``, which keeps its
    socket bound from the start.
    """
    with socket.socket(_family(host), socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        port: int = probe.getsockname()[1]
        return port


@contextlib.contextmanager
def serve_asgi(
    app: ASGIApp,
    host: str = "127.0.0.1",
    *,
    startup_timeout: float = STARTUP_TIMEOUT_SECONDS,
    shutdown_grace: int = SHUTDOWN_GRACE_SECONDS,
) -> Iterator[str]:
    """Serve ``app`` under uvicorn on a free port of ``host`` and yield its base URL.

    The server runs on its own event loop in a background thread, with the ASGI lifespan when
    the app supports it. The socket is bound before the server starts, so the port cannot be
    taken meanwhile; the base URL is yielded once startup has completed. On exit the server
    stops accepting, waits up to ``shutdown_grace`` seconds for requests in flight, then
    cancels them and runs the lifespan shutdown.

    Raises ``RuntimeError`` when the server does not start within ``startup_timeout``.
    """
    listener = socket.socket(_family(host), socket.SOCK_STREAM)
    try:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((host, 0))
        listener.listen()
        port = listener.getsockname()[1]
        config = uvicorn.Config(
            app,
            lifespan="auto",
            log_config=None,
            log_level="warning",
            access_log=False,
            timeout_graceful_shutdown=shutdown_grace,
        )
        server = uvicorn.Server(config)
        crashed: list[BaseException] = []

        def run() -> None:
            # uvicorn reports a failed startup with sys.exit; keep it for the caller's thread.
            try:
                server.run(sockets=[listener])
            except BaseException as error:
                crashed.append(error)

        thread = threading.Thread(target=run, name=f"asgi-server-{port}", daemon=True)
        thread.start()
        try:
            _wait_until_started(server, thread, crashed, startup_timeout)
            yield _base_url(host, port)
        finally:
            server.should_exit = True
            thread.join(timeout=shutdown_grace + _SHUTDOWN_MARGIN_SECONDS)
            if thread.is_alive():
                # A lifespan shutdown that hangs must not hang the test run with it.
                server.force_exit = True
                thread.join(timeout=_SHUTDOWN_MARGIN_SECONDS)
    finally:
        listener.close()


def _wait_until_started(
    server: uvicorn.Server,
    thread: threading.Thread,
    crashed: list[BaseException],
    timeout: float,
) -> None:
    # uvicorn offers no event to wait on; its `started` flag is polled briefly instead.
    deadline = time.monotonic() + timeout
    while not server.started:
        if not thread.is_alive():
            cause = crashed[0] if crashed else None
            raise RuntimeError(
                f"the ASGI server stopped during startup ({cause!r}); see its log"
            ) from cause
        if time.monotonic() > deadline:
            server.should_exit = True
            raise RuntimeError(f"the ASGI server did not start within {timeout}s")
        time.sleep(0.005)


def _family(host: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def _base_url(host: str, port: int) -> str:
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"
