"""The settings an operator gives one JSON gateway instance."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlsplit

import msgspec
from msgspec import Meta
from payments_plugins.settings import Seconds, vendor_url_problem


class JsonGatewaySettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Where the vendor is, how long to wait for it, and how its webhooks are signed."""

    base_url: str
    """The vendor's API root, e.g. ``https://api.vendor.example/v1``; http or https only."""
    connect_timeout: Seconds = 2.0
    read_timeout: Seconds = 10.0
    """Also used for writing the request and for waiting on a pooled connection."""
    webhook_secret: Annotated[str, Meta(min_length=1)] | None = None
    """The HMAC-SHA256 key the vendor signs webhooks with; None accepts unsigned webhooks."""
    webhook_tolerance_seconds: Annotated[int, Meta(ge=1, le=86_400)] = 300
    """How far a webhook's signed timestamp may be from our clock before it counts as a replay."""

    def __post_init__(self) -> None:
        _check_base_url(self.base_url)

    @property
    def api_root(self) -> str:
        """``base_url`` without a trailing slash, ready for ``/path`` to be appended."""
        return self.base_url.rstrip("/")


def _check_base_url(url: str) -> None:
    """Raise ValueError naming ``base_url`` unless ``url`` is an absolute http(s) URL."""
    problem = _base_url_problem(url)
    if problem is not None:
        raise ValueError(f"base_url {url!r} {problem}")


def _base_url_problem(url: str) -> str | None:
    problem = vendor_url_problem(url)
    if problem is None and ((parts := urlsplit(url)).query or parts.fragment):
        return "must not have a query or fragment"
    return problem
