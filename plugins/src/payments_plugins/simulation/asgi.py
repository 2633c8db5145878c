"""The HTTP plumbing of a vendor simulator: requests, answers and routes on bare ASGI.

A simulator is small enough not to need a web framework, and a plugin must not impose one on
the platform that mounts it; these few pieces are all the simulators need.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Final

import msgspec

from payments_plugins.gateway import Receive, Scope, Send

MAX_REQUEST_BYTES: Final = 64 * 1024
"""A request body longer than this is refused (413) unread."""
JSON: Final = "application/json"

_ENCODER: Final = msgspec.json.Encoder()
_HOST: Final = re.compile(r"(?:[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?")
"""A ``Host`` header that names a host (a DNS name, IPv4 or bracketed IPv6) and maybe a port."""


@dataclass(frozen=True, kw_only=True)
class Answer:
    """What the simulator answers one request with."""

    status: int
    body: bytes
    content_type: str
    headers: tuple[tuple[str, str], ...] = ()
    """More headers (``Location``, ``Content-Security-Policy``, ...), as ASCII text."""


@dataclass(frozen=True, kw_only=True)
class Request:
    """One request, its body read whole, as a route's handler receives it."""

    method: str
    path_params: dict[str, str]
    """The values of the route's ``{name}`` segments."""
    query: dict[str, list[str]]
    """The query parameters; a blank value is kept, so ``?wsdl`` shows as the key ``wsdl``."""
    body: bytes
    scope: Scope
    receive: Receive
    """The connection's ``receive``, to notice a client that gives up (see ``hold``)."""

    @property
    def headers(self) -> dict[str, str]:
        """The request's headers by lower-case name (a repeated header keeps its last value)."""
        return {
            name.decode("latin-1").lower(): value.decode("latin-1")
            for name, value in self.scope.get("headers", [])
        }


Handler = Callable[[Request], Awaitable[Answer | None]]
"""A route's handler; None answers nothing (the client has gone)."""


@dataclass(frozen=True)
class Route:
    """``method`` on ``path`` (segments split by ``/``, ``{name}`` matching any one non-empty
    segment; ``""`` is the root) is served by ``handler``."""

    method: str
    path: str
    handler: Handler
    segments: tuple[str, ...] = field(init=False)

    def __post_init__(self) -> None:
        segments = tuple(self.path.strip("/").split("/")) if self.path.strip("/") else ()
        object.__setattr__(self, "segments", segments)

    def match(self, segments: list[str]) -> dict[str, str] | None:
        """The path parameters when ``segments`` is this route's path, else None."""
        if len(segments) != len(self.segments):
            return None
        params: dict[str, str] = {}
        for pattern, segment in zip(self.segments, segments, strict=True):
            if pattern.startswith("{"):
                if not segment:
                    return None
                params[pattern[1:-1]] = segment
            elif pattern != segment:
                return None
        return params


class ClientGone(Exception):
    """The client disconnected before its request was complete."""


def json_answer(status: int, content: object) -> Answer:
    """``content`` as a JSON answer."""
    return Answer(status=status, body=_ENCODER.encode(content), content_type=JSON)


def json_error(status: int, code: str, message: str) -> Answer:
    """The JSON error body every control endpoint answers a refusal with."""
    return json_answer(status, {"error": {"code": code, "message": message}})


def served_at(scope: Scope) -> str:
    """The URL the app is served at, as the caller of this request reached it: scheme,
    ``Host`` and the path the app is mounted at, without a trailing slash.

    A ``Host`` that is not a plain host and port (something a client made up) is not trusted:
    the server's own address is used instead.
    """
    scheme = scope.get("scheme", "http")
    host = next(
        (value.decode("latin-1") for name, value in scope.get("headers", []) if name == b"host"),
        "",
    )
    if not _HOST.fullmatch(host):
        name, port = scope.get("server") or ("127.0.0.1", None)
        host = f"[{name}]" if ":" in str(name) else str(name)
        if port is not None:
            host += f":{port}"
    return f"{scheme}://{host}{mount_path(scope)}"


def mount_path(scope: Scope) -> str:
    """The path the app is mounted at: ``root_path``, or what ``raw_path`` has before ``path``.

    Some hosts strip their mount prefix from ``path`` without setting ``root_path``; the prefix
    then shows only in the raw path.
    """
    root_path: str = scope.get("root_path", "")
    if root_path:
        return root_path.rstrip("/")
    raw_path: bytes | None = scope.get("raw_path")
    if not raw_path:
        return ""
    full = raw_path.decode("latin-1").split("?", 1)[0].rstrip("/")
    path = str(scope["path"]).rstrip("/")
    return full[: len(full) - len(path)] if full.endswith(path) else ""


def path_below_root(scope: Scope) -> str:
    """The request's path with the app's ``root_path`` (where it is mounted) taken off."""
    path: str = scope["path"]
    root_path: str = scope.get("root_path", "")
    if root_path and path.startswith(root_path):
        return path[len(root_path) :]
    return path


async def read_body(receive: Receive, max_bytes: int = MAX_REQUEST_BYTES) -> bytes | None:
    """The whole request body, or None when it is longer than ``max_bytes``.

    Raises ``ClientGone`` when the client leaves first.
    """
    body = bytearray()
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientGone
        body += message.get("body", b"")
        if len(body) > max_bytes:
            return None
        if not message.get("more_body", False):
            return bytes(body)


async def hold(receive: Receive, seconds: float) -> bool:
    """Wait ``seconds`` unless the client goes away first; tell whether it is still there."""
    try:
        async with asyncio.timeout(seconds):
            while (await receive())["type"] != "http.disconnect":
                pass
    except TimeoutError:
        return True
    return False


async def send_answer(send: Send, answer: Answer) -> None:
    """Send ``answer`` as the whole response."""
    await send(
        {
            "type": "http.response.start",
            "status": answer.status,
            "headers": [
                (b"content-type", answer.content_type.encode()),
                (b"content-length", str(len(answer.body)).encode()),
                *((name.encode("ascii"), value.encode("ascii")) for name, value in answer.headers),
            ],
        }
    )
    await send({"type": "http.response.body", "body": answer.body})
