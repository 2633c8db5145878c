"""The settings an operator gives one SOAP gateway instance."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlsplit

import msgspec
from msgspec import Meta
from payments_plugins.settings import Seconds, vendor_url_problem

from payments_plugin_soap_gateway.credentials import PasswordType

Credential = Annotated[str, Meta(min_length=1, max_length=256)]

_SECRET_FIELDS = frozenset({"password", "webhook_password"})


class SoapGatewaySettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Where the vendor's endpoint is, how to authenticate to it and how it authenticates to us."""

    endpoint: str
    """The vendor's SOAP endpoint, e.g. ``https://ws.vendor.example/payments``; http or https.
    The shipped WSDL's ``soap:address`` is a placeholder: this is where calls go."""
    username: Credential
    """The WS-Security UsernameToken our calls to the vendor carry."""
    password: Credential
    password_type: PasswordType = PasswordType.DIGEST
    """``digest`` sends SHA-1(nonce + created + password) with a fresh nonce; ``text`` sends the
    password itself, for vendors that only accept that (over TLS only, then)."""
    webhook_username: Credential
    """The UsernameToken the vendor's notifications must carry, always as a PasswordDigest."""
    webhook_password: Credential
    webhook_tolerance_seconds: Annotated[int, Meta(ge=1, le=86_400)] = 300
    """How far a notification's ``Created`` may be from our clock, in either direction."""
    connect_timeout: Seconds = 2.0
    read_timeout: Seconds = 10.0
    """Also used for writing the request and for waiting on a pooled connection."""

    def __post_init__(self) -> None:
        problem = _endpoint_problem(self.endpoint)
        if problem is not None:
            raise ValueError(f"endpoint {self.endpoint!r} {problem}")

    def __repr__(self) -> str:
        # Settings end up in logs and tracebacks; the passwords must not.
        fields = ", ".join(
            f"{name}={'***' if name in _SECRET_FIELDS else repr(getattr(self, name))}"
            for name in self.__struct_fields__
        )
        return f"SoapGatewaySettings({fields})"


def _endpoint_problem(url: str) -> str | None:
    problem = vendor_url_problem(url)
    if problem is None and urlsplit(url).fragment:
        return "must not have a fragment"
    return problem
