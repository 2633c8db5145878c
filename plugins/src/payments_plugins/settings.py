"""Building blocks for a gateway type's settings Struct."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlsplit

from msgspec import Meta

Seconds = Annotated[float, Meta(gt=0, le=120)]
"""A network timeout: positive, and at most two minutes."""


def vendor_url_problem(url: str) -> str | None:
    """Why ``url`` cannot be the address of a vendor's API, or None when it can.

    It must be an absolute ``http://`` or ``https://`` URL naming a host (with a valid port),
    without white space or credentials. The answer completes a sentence that starts with the
    setting's name and value: ``raise ValueError(f"endpoint {url!r} {problem}")``.
    """
    if url != url.strip() or any(char.isspace() for char in url):
        return "must not contain whitespace"
    try:
        parts = urlsplit(url)
        # Reading the port validates it (a non-numeric or out-of-range port raises).
        _ = parts.port
    except ValueError as error:
        return f"is not a valid URL: {error}"
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "must be an absolute http:// or https:// URL naming a host"
    if parts.username is not None or parts.password is not None:
        # Credentials in a URL end up in logs and traces; vendors take them in requests.
        return "must not carry credentials"
    return None
