"""WS-Security UsernameToken (OASIS UsernameToken Profile 1.0): building and verifying it.

A ``PasswordDigest`` token carries ``Base64(SHA-1(nonce + created + password))`` with the raw
nonce (Base64) and ``Created`` (UTC, ISO 8601): the password never travels, and a token is only
good within a freshness window of its ``Created``, once (its nonce is remembered for as long as
the window could still accept it). A ``PasswordText`` token carries the password itself and is
only as safe as the TLS around it. The token authenticates the sender, not the body: the body's
integrity rests on TLS.
"""

from __future__ import annotations

import base64
import binascii
import enum
import hashlib
import hmac
import secrets
from collections import OrderedDict
from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from lxml import etree

from payments_plugin_soap_gateway.wire import WSSE_NS, WSU_NS, MalformedEnvelope, header_element


class PasswordType(enum.StrEnum):
    """How a token carries the password."""

    DIGEST = "digest"
    """``PasswordDigest``: a hash over a fresh nonce, the creation time and the password."""
    TEXT = "text"
    """``PasswordText``: the password itself."""


_PROFILE: Final = (
    "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0"
)
PASSWORD_TEXT: Final = f"{_PROFILE}#PasswordText"
PASSWORD_DIGEST: Final = f"{_PROFILE}#PasswordDigest"
BASE64_BINARY: Final = (
    "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-soap-message-security-1.0#Base64Binary"
)
_TYPE_URIS: Final = {PASSWORD_TEXT: PasswordType.TEXT, PASSWORD_DIGEST: PasswordType.DIGEST}

SECURITY: Final = etree.QName(WSSE_NS, "Security")
USERNAME_TOKEN: Final = etree.QName(WSSE_NS, "UsernameToken")
USERNAME: Final = etree.QName(WSSE_NS, "Username")
PASSWORD: Final = etree.QName(WSSE_NS, "Password")
NONCE: Final = etree.QName(WSSE_NS, "Nonce")
CREATED: Final = etree.QName(WSU_NS, "Created")

NONCE_BYTES: Final = 16
MAX_NONCE_BYTES: Final = 128
DEFAULT_REMEMBERED_NONCES: Final = 100_000

NOT_ACCEPTED: Final = "the WS-Security credentials are not accepted"
"""One message for a wrong username and a wrong password, so neither can be probed alone."""


class CredentialsRejected(ValueError):
    """The message's UsernameToken is missing, malformed, wrong, stale or replayed."""


@dataclass(frozen=True, kw_only=True)
class UsernameCredentials:
    """A username and password, and how the password is put in the token."""

    username: str
    password: str
    password_type: PasswordType = PasswordType.DIGEST

    def __repr__(self) -> str:
        return (
            f"UsernameCredentials(username={self.username!r}, password='***', "
            f"password_type={self.password_type!r})"
        )


def password_digest(nonce: bytes, created: str, password: str) -> str:
    """``Base64(SHA-1(nonce + created + password))``, as the profile defines it."""
    # SHA-1 is what the UsernameToken Profile fixes; no other hash would interoperate.
    digest = hashlib.sha1(nonce + created.encode() + password.encode())  # noqa: S324
    return base64.b64encode(digest.digest()).decode("ascii")


def created_text(moment: float) -> str:
    """A unix time as a UsernameToken ``Created``: UTC, whole seconds, ``Z``."""
    return datetime.fromtimestamp(int(moment), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def security_header(
    credentials: UsernameCredentials, *, now: float, nonce: bytes | None = None
) -> etree._Element:
    """A ``wsse:Security`` header entry holding a UsernameToken for ``credentials``."""
    security = etree.Element(SECURITY, nsmap={"wsse": WSSE_NS, "wsu": WSU_NS})
    token = etree.SubElement(security, USERNAME_TOKEN)
    etree.SubElement(token, USERNAME).text = credentials.username
    if credentials.password_type is PasswordType.TEXT:
        etree.SubElement(token, PASSWORD, Type=PASSWORD_TEXT).text = credentials.password
        return security
    nonce = secrets.token_bytes(NONCE_BYTES) if nonce is None else nonce
    created = created_text(now)
    digest = password_digest(nonce, created, credentials.password)
    etree.SubElement(token, PASSWORD, Type=PASSWORD_DIGEST).text = digest
    encoded_nonce = base64.b64encode(nonce).decode("ascii")
    etree.SubElement(token, NONCE, EncodingType=BASE64_BINARY).text = encoded_nonce
    etree.SubElement(token, CREATED).text = created
    return security


class UsernameTokenSigner:
    """A zeep WS-Security plugin that adds our UsernameToken to every outgoing envelope.

    zeep calls ``apply`` with the envelope it built and ``verify`` with every answer; answers
    carry no token to check.
    """

    def __init__(self, credentials: UsernameCredentials, *, now: Callable[[], float]) -> None:
        self._credentials = credentials
        self._now = now

    def apply(self, envelope: etree._Element, headers: dict[str, Any]) -> tuple[Any, Any]:
        """Add the ``wsse:Security`` header entry to ``envelope``."""
        namespace = etree.QName(envelope).namespace
        header = envelope.find(f"{{{namespace}}}Header")
        if header is None:
            header = etree.Element(etree.QName(namespace, "Header"))
            envelope.insert(0, header)
        header.append(security_header(self._credentials, now=self._now()))
        return envelope, headers

    def verify(self, envelope: etree._Element) -> None:
        """Answers are not signed by this vendor; nothing to verify."""


class NonceMemory:
    """The nonces of accepted digest tokens, kept until their freshness window has passed.

    Bounded: past ``capacity`` entries the oldest is forgotten, which only matters for a token
    replayed within its window after that many newer genuine ones.
    """

    def __init__(self, capacity: int = DEFAULT_REMEMBERED_NONCES) -> None:
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self._capacity = capacity
        self._expiries: OrderedDict[tuple[str, str], float] = OrderedDict()

    def __len__(self) -> int:
        return len(self._expiries)

    def seen(self, key: tuple[str, str], *, now: float) -> bool:
        """Whether ``key`` was remembered and has not yet expired at ``now``."""
        expiry = self._expiries.get(key)
        return expiry is not None and expiry >= now

    def remember(self, key: tuple[str, str], *, until: float, now: float) -> None:
        """Keep ``key`` until ``until`` (unix seconds)."""
        self._forget_expired(now)
        self._expiries[key] = until
        self._expiries.move_to_end(key)
        while len(self._expiries) > self._capacity:
            self._expiries.popitem(last=False)

    def _forget_expired(self, now: float) -> None:
        expired = [key for key, expiry in self._expiries.items() if expiry < now]
        for key in expired:
            del self._expiries[key]


def verify_username_token(
    envelope: etree._Element,
    *,
    expected: UsernameCredentials,
    accepted_types: Collection[PasswordType],
    tolerance_seconds: int,
    now: float,
    nonces: NonceMemory,
) -> None:
    """Raise :class:`CredentialsRejected` unless ``envelope`` carries ``expected``'s token.

    A digest token must also be fresh (``Created`` within ``tolerance_seconds`` of ``now``, in
    either direction) and not seen before; its nonce is remembered only once it is accepted.
    The username and password (or digest) are compared in constant time, and checked before
    the clock so that a forged token learns nothing about our clock or tolerance.
    """
    token = _username_token(envelope)
    username = _single_text(token, USERNAME)
    password_element = _single(token, PASSWORD)
    password_type = _TYPE_URIS.get(password_element.get("Type", PASSWORD_TEXT))
    if password_type is None:
        raise CredentialsRejected("the UsernameToken's password Type is not one we know")
    if password_type not in accepted_types:
        raise CredentialsRejected(f"a {password_type} UsernameToken password is not accepted here")
    given = (password_element.text or "").strip()
    # Both parts are always compared (`&`, not `and`), so timing does not tell which was wrong.
    username_matches = hmac.compare_digest(username.encode(), expected.username.encode())
    if password_type is PasswordType.TEXT:
        if not (username_matches & hmac.compare_digest(given.encode(), expected.password.encode())):
            raise CredentialsRejected(NOT_ACCEPTED)
        return
    nonce_text = _single_text(token, NONCE)
    created = _single_text(token, CREATED)
    nonce = _nonce(nonce_text)
    expected_digest = password_digest(nonce, created, expected.password)
    if not (username_matches & hmac.compare_digest(given.encode(), expected_digest.encode())):
        raise CredentialsRejected(NOT_ACCEPTED)
    created_at = _created_seconds(created)
    skew = now - created_at
    if abs(skew) > tolerance_seconds:
        direction = "old" if skew > 0 else "ahead of our clock"
        raise CredentialsRejected(
            f"the UsernameToken was created {abs(skew):.0f}s {direction}; at most "
            f"{tolerance_seconds}s is tolerated"
        )
    key = (username, nonce_text)
    if nonces.seen(key, now=now):
        raise CredentialsRejected("the UsernameToken's nonce was already used: a replay")
    nonces.remember(key, until=created_at + tolerance_seconds, now=now)


def _username_token(envelope: etree._Element) -> etree._Element:
    try:
        header = header_element(envelope)
    except MalformedEnvelope as error:
        raise CredentialsRejected(str(error)) from None
    if header is None:
        raise CredentialsRejected("the envelope has no Header with WS-Security credentials")
    securities = header.findall(SECURITY.text)
    if len(securities) != 1:
        raise CredentialsRejected("the Header must hold exactly one wsse:Security")
    return _single(securities[0], USERNAME_TOKEN)


def _single(parent: etree._Element, name: etree.QName) -> etree._Element:
    found = parent.findall(name.text)
    if len(found) != 1:
        raise CredentialsRejected(f"the UsernameToken must hold exactly one {name.localname}")
    return found[0]


def _single_text(parent: etree._Element, name: etree.QName) -> str:
    text = (_single(parent, name).text or "").strip()
    if not text:
        raise CredentialsRejected(f"the UsernameToken's {name.localname} is empty")
    return text


def _nonce(text: str) -> bytes:
    try:
        nonce = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise CredentialsRejected("the UsernameToken's Nonce is not Base64") from None
    if not 1 <= len(nonce) <= MAX_NONCE_BYTES:
        raise CredentialsRejected(f"the UsernameToken's Nonce must be 1 to {MAX_NONCE_BYTES} bytes")
    return nonce


def _created_seconds(text: str) -> float:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise CredentialsRejected("the UsernameToken's Created is not an ISO 8601 time") from None
    if moment.tzinfo is None:
        raise CredentialsRejected("the UsernameToken's Created must give its time zone (UTC)")
    return moment.timestamp()
