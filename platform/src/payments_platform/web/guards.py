"""Who is calling: the API-key guard of the client routes, and the merchant it found."""

from __future__ import annotations

from typing import Any

from litestar import Request
from litestar.connection import ASGIConnection
from litestar.handlers import BaseRouteHandler

from payments_platform import errors
from payments_platform.access import Keyring


async def require_client_key(
    connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler
) -> None:
    """Guard of the client routes: find the merchant whose API key the request carries.

    Runs before the body is read, so a caller without a key learns nothing about the API.
    A coroutine although it never waits: Litestar runs a plain function guard on a worker
    thread, and that hand-off cost more than the key's hash.
    """
    keyring: Keyring | None = connection.app.state.runtime.keyring
    if keyring is None:
        connection.state.merchant = None
        return
    merchant = keyring.merchant_for(connection.headers.get("authorization"))
    if merchant is None:
        raise errors.Unauthorized(
            "send `Authorization: Bearer <API key>` with a key this service knows"
        )
    connection.state.merchant = merchant


def client_merchant(request: Request[Any, Any, Any]) -> str | None:
    """The merchant the guard found; None while the client API is open."""
    merchant: str | None = request.state.merchant
    return merchant
