"""Posting one notification to one endpoint, within bounds a hostile endpoint cannot stretch:
one time limit for the whole exchange, no redirects followed, at most a little of the answer
read, no cookie kept. Only a 2xx answer is a delivery."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from http.cookiejar import CookieJar, DefaultCookiePolicy

import httpx

from payments_platform.notifications.addresses import AddressRefused, resolve
from payments_platform.notifications.signing import signed_headers

MAX_ANSWER_BYTES = 4096
"""What is read of an endpoint's answer: enough for an error message, never more."""


@dataclass(frozen=True, kw_only=True)
class DeliveryResult:
    """How one attempt went."""

    delivered: bool
    status_code: int | None = None
    error: str | None = None


async def post_notification(
    client: httpx.AsyncClient,
    url: str,
    *,
    secret: str,
    message_id: str,
    body: bytes,
    time_limit: float,
    allow_http: bool,
    allow_private: bool,
) -> DeliveryResult:
    """Sign ``body`` and post it to ``url`` once."""
    try:
        target = await resolve(url, allow_http=allow_http, allow_private=allow_private)
    except AddressRefused as error:
        return DeliveryResult(delivered=False, error=f"refused: {error}")
    headers = {
        "Content-Type": "application/json",
        "Host": target.host if target.port in (80, 443) else f"{target.host}:{target.port}",
        "User-Agent": "payments-platform-notifications",
        **signed_headers(secret, message_id, int(time.time()), body),
    }
    try:
        async with asyncio.timeout(time_limit):
            request = client.build_request(
                "POST",
                target.url,
                content=body,
                headers=headers,
                # TLS checks the certificate against the URL's host, not the address.
                extensions={"sni_hostname": target.host},
            )
            response = await client.send(request, stream=True)
            try:
                answer = await _head_of(response)
            finally:
                await response.aclose()
    except TimeoutError:
        return DeliveryResult(delivered=False, error=f"no answer within {time_limit:g} s")
    except httpx.HTTPError as error:
        return DeliveryResult(delivered=False, error=f"{type(error).__name__}: {error}"[:500])
    if 200 <= response.status_code < 300:
        return DeliveryResult(delivered=True, status_code=response.status_code)
    excerpt = answer.decode("utf-8", errors="replace").strip()[:200]
    return DeliveryResult(
        delivered=False,
        status_code=response.status_code,
        error=f"answered {response.status_code}" + (f": {excerpt}" if excerpt else ""),
    )


async def _head_of(response: httpx.Response) -> bytes:
    """The first bytes of an answer; the rest is never read."""
    head = b""
    async for chunk in response.aiter_raw():
        head += chunk
        if len(head) >= MAX_ANSWER_BYTES:
            break
    return head[:MAX_ANSWER_BYTES]


def notification_client() -> httpx.AsyncClient:
    """The client deliveries share: no redirects, no cookies kept, no proxies from the
    environment (a delivery goes where it was checked to go)."""
    return httpx.AsyncClient(
        follow_redirects=False,
        trust_env=False,
        # Deliveries run concurrently on this one client, and a jar would hand what one
        # endpoint set to every delivery to the same address (merchants share hosts) that
        # starts before it is emptied: a jar that lets no domain set a cookie keeps none.
        cookies=CookieJar(DefaultCookiePolicy(allowed_domains=[])),
        limits=httpx.Limits(max_connections=100, max_keepalive_connections=20),
        timeout=httpx.Timeout(30.0),
    )
