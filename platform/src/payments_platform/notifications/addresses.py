"""Where a notification may go: never to this service's own network unless allowed.

A merchant's URL could name anything, so every delivery resolves the host afresh and refuses
loopback, private, link-local, multicast and other non-public addresses (unless the config
allows them, as the demo does); the connection then goes to the address that was checked, so a
second resolution cannot swap in another. Production endpoints use https.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit


class AddressRefused(ValueError):
    """The endpoint's URL or the address it resolves to may not be posted to."""


@dataclass(frozen=True, kw_only=True)
class Target:
    """A checked destination: the address to connect to, and the URL's own host for the
    ``Host`` header and TLS."""

    scheme: str
    host: str
    address: str
    port: int
    path: str

    @property
    def url(self) -> str:
        """The URL with the checked address in place of the host."""
        shown = f"[{self.address}]" if ":" in self.address else self.address
        return f"{self.scheme}://{shown}:{self.port}{self.path}"


def check_url(url: str, *, allow_http: bool, allow_private: bool) -> None:
    """Refuse a URL no delivery could use (its scheme, or a literal address not allowed)."""
    parts = urlsplit(url)
    if parts.scheme not in (("https", "http") if allow_http else ("https",)):
        raise AddressRefused(f"{url!r} must be an https:// URL")
    if not parts.hostname:
        raise AddressRefused(f"{url!r} names no host")
    if parts.username or parts.password:
        raise AddressRefused(f"{url!r} must not carry credentials; sign with the secret")
    try:
        literal = ipaddress.ip_address(parts.hostname)
    except ValueError:
        return
    if not allow_private and not is_public(str(literal)):
        raise AddressRefused(f"{url!r} is a non-public address")


def is_public(address: str) -> bool:
    """Whether an address is a public one (an IPv4 address inside IPv6 counts as itself)."""
    parsed = ipaddress.ip_address(address)
    if isinstance(parsed, ipaddress.IPv6Address) and parsed.ipv4_mapped is not None:
        parsed = parsed.ipv4_mapped
    return parsed.is_global and not parsed.is_multicast


async def resolve(url: str, *, allow_http: bool, allow_private: bool) -> Target:
    """Resolve the URL's host now and check every address it has."""
    check_url(url, allow_http=allow_http, allow_private=allow_private)
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        found = await asyncio.get_running_loop().getaddrinfo(
            host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
        )
    except OSError as error:
        raise AddressRefused(f"cannot resolve {host!r}: {error}") from None
    addresses = list(dict.fromkeys(str(info[4][0]) for info in found))
    refused = [a for a in addresses if not is_public(a)]
    if refused and not allow_private:
        raise AddressRefused(f"{host!r} resolves to non-public address {refused[0]}")
    if not addresses:
        raise AddressRefused(f"{host!r} resolves to no address")
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return Target(scheme=parts.scheme, host=host, address=addresses[0], port=port, path=path)
