"""Whether a console action comes from the console's own pages, by what the browser says about
where the request was made (``Origin``, ``Sec-Fetch-Site``), before its CSRF token is looked at.

The console's own origin is the host the request was addressed to (its ``Host`` header), the
scheme left aside, or ``[server] public_url`` when one is configured:

- Not the scheme the request arrived with: TLS usually ends at a proxy in front of the service,
  so the service sees ``http`` where the browser says ``https``. A page of the same host over
  the other scheme gains nothing from this: browsers count the two schemes as different sites
  (``Sec-Fetch-Site: cross-site``, and the ``SameSite=Strict`` cookie is not sent).
- A browser addresses ``Host`` itself, to the console it posts to; a page elsewhere cannot make
  it name the page's own host. A proxy that rewrites ``Host`` (nginx's default
  ``proxy_set_header Host $proxy_host``) hides the console's host, which ``public_url``
  (scheme included) names instead.

A request that carries neither header (an older browser, a script) is left to the CSRF token.
"""

from __future__ import annotations

from urllib.parse import urlsplit

_DEFAULT_PORTS = {"http": 80, "https": 443}
SAME_ORIGIN_FETCHES = frozenset({"same-origin", "none"})
"""``Sec-Fetch-Site`` values of a request made by the console's own pages (``none``: typed or
bookmarked by the operator)."""

Origin = tuple[str, str, int | None]
"""Scheme, host (lower case, without IPv6 brackets) and port (the scheme's default if none)."""


def parse_origin(text: str) -> Origin | None:
    """An origin (``https://host[:port]``, as browsers send it, or a URL whose path is left
    aside); None when it names none (``null``, or not a URL)."""
    try:
        parts = urlsplit(text.strip())
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not parts.hostname:
        return None
    return scheme, parts.hostname, port or _DEFAULT_PORTS[scheme]


def cross_origin(
    *,
    origin: str | None,
    fetch_site: str | None,
    host: str | None,
    public_origin: Origin | None,
) -> str | None:
    """Why a state-changing request does not come from the console's own pages, or None when
    nothing says it does not.

    ``origin``, ``fetch_site`` and ``host`` are the request's headers; ``public_origin`` is
    ``[server] public_url``'s origin, if configured.
    """
    if fetch_site is not None and fetch_site.strip().lower() not in SAME_ORIGIN_FETCHES:
        return f"the browser says it was sent from another site (Sec-Fetch-Site: {fetch_site})"
    if origin is None:
        return None
    sent_from = parse_origin(origin)
    if sent_from is not None and (sent_from == public_origin or _is_host(sent_from, host)):
        return None
    return f"it was sent from {origin}, not from this console"


def _is_host(origin: Origin, host: str | None) -> bool:
    if not host:
        return False
    scheme, hostname, port = origin
    try:
        addressed = urlsplit(f"//{host.strip()}")
        addressed_port = addressed.port
    except ValueError:
        return False
    return addressed.hostname == hostname and (addressed_port or _DEFAULT_PORTS[scheme]) == port
