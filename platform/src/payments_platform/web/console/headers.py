"""The headers every console answer carries: what the browser may load, run and frame, and that
pages holding payment data are never cached.

The policy allows scripts and styles from the service alone and nothing inline, so a value that
slipped past escaping still could not run; the pages are built to need no more (htmx is served
by the service, and told not to inject its own styles).
"""

from __future__ import annotations

from litestar.types import ASGIApp, Message, Receive, Scope, Send

CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self';"
    " connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)

_ALWAYS: list[tuple[bytes, bytes]] = [
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
]
_NOT_STORED: list[tuple[bytes, bytes]] = [(b"cache-control", b"no-store")]
PAGE_HEADERS: dict[str, str] = {
    name.decode(): value.decode() for name, value in _ALWAYS + _NOT_STORED
}
"""The headers of a page, for an answer no console middleware sees (a URL no route matches)."""


def page_headers(app: ASGIApp) -> ASGIApp:
    """Middleware for the console's pages: the security headers, and no caching."""
    return _with_headers(app, _ALWAYS + _NOT_STORED)


def asset_headers(app: ASGIApp) -> ASGIApp:
    """Middleware for the console's static files: the security headers; they may be cached."""
    return _with_headers(app, _ALWAYS)


def _with_headers(app: ASGIApp, extra: list[tuple[bytes, bytes]]) -> ASGIApp:
    names = {name for name, _ in extra}

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                kept = [(k, v) for k, v in message.get("headers", []) if k.lower() not in names]
                message["headers"] = kept + extra
            await send(message)

        await app(scope, receive, send_with_headers)

    return middleware
