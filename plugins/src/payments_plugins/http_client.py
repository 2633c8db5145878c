"""The HTTP client gateways call their vendors with: httpx's API over aiohttp's connections.

Gateways are written against ``httpx.AsyncClient`` (``GatewayResources.http``). Its own
connection layer (httpcore on anyio) costs about 1.6 ms of CPU per call with 32 calls in flight
on the platform's benchmark machine, against 0.3 ms for aiohttp's, and the vendor call was the
largest single cost of a payment. So the client the platform hands to gateways, and the
conformance kit too, is ``vendor_client``: httpx's API (requests, responses, timeouts, event
hooks, instrumentation) sending through ``AiohttpTransport``, keeping no cookie any vendor
sets (``VendorClient``). A proxy the environment names (``HTTPS_PROXY`` and the like) is still
honoured, by httpx's own transport.

What a failure means for money rests on one distinction, which the transport keeps: httpx's
"not sent" errors (``httpx.ConnectError``, ``httpx.ConnectTimeout``,
``httpx.UnsupportedProtocol``) are raised only when aiohttp failed before a byte of the
request could be written (no connection, refused, TLS handshake failed, no pooled connection in
time). Anything that fails later, a disconnect or a timeout while waiting for the answer included,
is a ``httpx.ReadError`` or ``httpx.ReadTimeout``: the vendor may have acted.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import httpx
from multidict import CIMultiDict
from yarl import URL

DEFAULT_TIMEOUT = httpx.Timeout(10.0, connect=2.0)
DEFAULT_MAX_CONNECTIONS = 200
KEEPALIVE_SECONDS = 4.0
"""Idle connections are dropped before the 5 s after which common servers (uvicorn) drop them."""


def vendor_client(
    *,
    timeout: httpx.Timeout = DEFAULT_TIMEOUT,
    max_connections: int = DEFAULT_MAX_CONNECTIONS,
    verify: ssl.SSLContext | bool = True,
) -> httpx.AsyncClient:
    """The pooled client every gateway shares; each call may pass its own timeouts."""
    return VendorClient(
        transport=AiohttpTransport(max_connections=max_connections, verify=verify),
        timeout=timeout,
        follow_redirects=False,
    )


class VendorClient(httpx.AsyncClient):
    """``httpx.AsyncClient`` keeping no cookie a vendor sets.

    Every gateway shares this client: a cookie kept from one answer would go out with later
    calls to any vendor on the same host (a cookie is not bound to a port), another merchant
    account's calls to the same vendor included. The ``Set-Cookie`` headers are still in each
    response, for a gateway whose vendor wants one back to send it itself, per call. Keeping
    none also spares every answer httpx's trip through the standard library's cookie jar.
    """

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self._cookies = _NoneKept(self._cookies)

    @property
    def cookies(self) -> httpx.Cookies:
        """The cookies the client sends (as ``httpx.AsyncClient.cookies``)."""
        return self._cookies

    @cookies.setter
    def cookies(self, cookies: httpx._types.CookieTypes) -> None:
        self._cookies = _NoneKept(cookies)


class _NoneKept(httpx.Cookies):
    def extract_cookies(self, response: httpx.Response) -> None:
        """An answer's cookies are never kept."""


class AiohttpTransport(httpx.AsyncBaseTransport):
    """An httpx transport that sends over aiohttp sessions, one per event loop it is used on.

    A session and its connections belong to the loop they are made on. The platform uses one
    loop; a program that drives the same client from two (a test client's thread and the test's
    own loop, say) gets a session on each.
    """

    def __init__(self, *, max_connections: int, verify: ssl.SSLContext | bool = True) -> None:
        self._max_connections = max_connections
        self._ssl = (
            verify if isinstance(verify, ssl.SSLContext) else httpx.create_ssl_context(verify)
        )
        self._sessions: dict[asyncio.AbstractEventLoop, aiohttp.ClientSession] = {}
        self._timeouts: dict[tuple[float | None, ...], aiohttp.ClientTimeout] = {}

    def _session(self) -> aiohttp.ClientSession:
        loop = asyncio.get_running_loop()
        session = self._sessions.get(loop)
        if session is None or session.closed:
            session = self._sessions[loop] = self._open()
        return session

    def _open(self) -> aiohttp.ClientSession:
        connector = aiohttp.TCPConnector(
            limit=self._max_connections,
            limit_per_host=0,
            keepalive_timeout=KEEPALIVE_SECONDS,
            ssl=self._ssl,
        )
        return aiohttp.ClientSession(
            connector=connector,
            # Cookies are httpx's business (the client keeps none); aiohttp keeps none either.
            cookie_jar=aiohttp.DummyCookieJar(),
            auto_decompress=False,
            skip_auto_headers=("User-Agent", "Accept", "Accept-Encoding", "Content-Type"),
            raise_for_status=False,
            trust_env=False,
        )

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Send ``request`` and return its response, whose body is read as it is streamed."""
        session = self._session()
        timeouts = request.extensions.get("timeout", {})
        connect, pool, read = timeouts.get("connect"), timeouts.get("pool"), timeouts.get("read")
        body = await request.aread()
        headers = CIMultiDict(
            (name.decode("latin-1"), value.decode("latin-1"))
            for name, value in request.headers.raw
            # aiohttp frames the body it is given itself.
            if name.lower() != b"transfer-encoding"
        )
        try:
            response = await session.request(
                request.method,
                URL(str(request.url), encoded=True),
                headers=headers,
                data=body or None,
                allow_redirects=False,
                timeout=self._timeout(connect, pool, read),
            )
        except Exception as error:
            raise _httpx_error(error, request) from error
        return httpx.Response(
            status_code=response.status,
            headers=response.raw_headers,
            stream=_ResponseStream(response, request),
            extensions={
                "http_version": f"HTTP/{response.version.major}.{response.version.minor}".encode()
                if response.version
                else b"HTTP/1.1",
                "reason_phrase": (response.reason or "").encode("latin-1", "replace"),
            },
        )

    def _timeout(
        self, connect: float | None, pool: float | None, read: float | None
    ) -> aiohttp.ClientTimeout:
        # Gateways pass the same few timeouts on every call: one object each.
        timeout = self._timeouts.get((connect, pool, read))
        if timeout is None:
            timeout = self._timeouts[connect, pool, read] = aiohttp.ClientTimeout(
                # aiohttp's `connect` covers the wait for a pooled connection and the
                # connecting; httpx times the two apart.
                connect=None if pool is None else pool + (connect or 0.0),
                sock_connect=connect,
                sock_read=read,
            )
        return timeout

    async def aclose(self) -> None:
        """Close every pooled connection: here, and on any other loop that still runs."""
        current = asyncio.get_running_loop()
        sessions, self._sessions = self._sessions, {}
        for loop, session in sessions.items():
            if loop is current:
                await session.close()
            elif loop.is_running():
                asyncio.run_coroutine_threadsafe(session.close(), loop)


class _ResponseStream(httpx.AsyncByteStream):
    def __init__(self, response: aiohttp.ClientResponse, request: httpx.Request) -> None:
        self._response = response
        self._request = request

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._response.content.iter_any():
                yield chunk
        except Exception as error:
            raise _httpx_error(error, self._request) from error

    async def aclose(self) -> None:
        self._response.release()


_NOT_SENT: tuple[tuple[type[Exception], type[httpx.TransportError]], ...] = (
    # Before a byte of the request is written: nothing can have reached the vendor.
    (aiohttp.ConnectionTimeoutError, httpx.ConnectTimeout),
    (aiohttp.ClientConnectorError, httpx.ConnectError),
    (aiohttp.InvalidURL, httpx.UnsupportedProtocol),
    (aiohttp.NonHttpUrlClientError, httpx.UnsupportedProtocol),
)


def _httpx_error(error: Exception, request: httpx.Request) -> Exception:
    """The httpx error an aiohttp failure is; any doubt is a failure after sending."""
    for raised, meaning in _NOT_SENT:
        if isinstance(error, raised):
            return meaning(str(error) or type(error).__name__, request=request)
    if isinstance(error, TimeoutError):
        return httpx.ReadTimeout(str(error) or "timed out waiting for the answer", request=request)
    if isinstance(error, aiohttp.ClientError | OSError):
        return httpx.ReadError(f"{type(error).__name__}: {error}", request=request)
    return error
