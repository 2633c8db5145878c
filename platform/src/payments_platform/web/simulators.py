"""Vendor simulators mounted in the app (the demo profile's), each under its own path."""

from __future__ import annotations

from typing import Any, cast

from litestar.handlers import ASGIRouteHandler, asgi
from litestar.types import Receive, Scope, Send
from payments_plugins import ASGIApp


def mount(path: str, app: ASGIApp) -> ASGIRouteHandler:
    """Serve the ASGI ``app`` under ``path``."""

    @asgi(path, is_mount=True, include_in_schema=False)
    async def mounted(scope: Scope, receive: Receive, send: Send) -> None:
        # Litestar strips the mount path from `path`; ASGI says it then belongs in root_path,
        # where the mounted app finds the URL it is served at.
        inner = {**scope, "root_path": scope.get("root_path", "") + path}
        await app(cast("Any", inner), cast("Any", receive), cast("Any", send))

    return mounted
