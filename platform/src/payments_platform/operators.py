"""Operator accounts of the console: who may sign in (checked against scrypt password hashes),
for how long, and when sign-ins are locked out (the ``[console]`` table).

Operators are people, and people choose passwords, so a password is kept only as a slow,
salted hash (the standard library's scrypt; ``payments operators new`` makes one): a leaked
config file does not give the passwords away cheaply. A hash reads
``scrypt$n=32768,r=8,p=1$<salt>$<key>`` (URL-safe base64), so its cost can be raised later
without invalidating the hashes already configured.

Checking a password costs the same whether the account exists or not (an unknown name is
checked against a hash of nothing), and the comparison is constant-time, so neither the answer
nor its timing tells which operator names exist.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated

import msgspec

SCRYPT_N = 2**15
"""CPU and memory cost: 32 MiB and about a tenth of a second per check."""
SCRYPT_R = 8
SCRYPT_P = 1
_KEY_BYTES = 32
_SALT_BYTES = 16
# scrypt needs 128 * n * r bytes; the cap refuses a hash whose cost would exhaust the process.
_MAX_MEMORY = 128 * 2**20

MIN_PASSWORD_LENGTH = 12
PASSWORD_HASH = re.compile(
    r"scrypt\$n=(?P<n>[0-9]{1,8}),r=(?P<r>[0-9]{1,2}),p=(?P<p>[0-9]{1,2})"
    r"\$(?P<salt>[A-Za-z0-9_-]{16,88}={0,2})\$(?P<key>[A-Za-z0-9_-]{43}=?)"
)
"""What a configured password hash looks like."""
OPERATOR_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,39}")


class OperatorAccount(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """One operator of the console (``payments operators new`` makes the entry)."""

    password_hash: str


class ConsoleSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The operator's console at ``/console``: served only when operators are configured."""

    operators: dict[str, OperatorAccount] = msgspec.field(default_factory=dict)
    session_minutes: Annotated[float, msgspec.Meta(gt=0, le=7 * 24 * 60)] = 480.0
    """How long a sign-in lasts at most."""
    idle_minutes: Annotated[float, msgspec.Meta(gt=0, le=24 * 60)] = 30.0
    """A session unused this long ends."""
    max_failures: Annotated[int, msgspec.Meta(ge=1, le=1000)] = 5
    """Failed sign-ins to one operator name from one network address before sign-ins to that
    name from that address are delayed (never from other addresses)."""
    delay_seconds: Annotated[float, msgspec.Meta(gt=0, le=3600)] = 30.0
    """The first delay after ``max_failures``; each further failure doubles it, up to
    ``lockout_minutes``."""
    max_failures_per_address: Annotated[int, msgspec.Meta(ge=1, le=100_000)] = 20
    """Failed sign-ins from one network address, whatever the names, before it is locked out;
    higher than per name, since operators behind one proxy or NAT share an address."""
    lockout_minutes: Annotated[float, msgspec.Meta(gt=0, le=24 * 60)] = 15.0
    """How long an address is locked out, the longest delay of a name, and how long failures
    are remembered (see :mod:`payments_platform.sign_in_limits`)."""
    refresh_seconds: Annotated[float, msgspec.Meta(ge=1, le=3600)] = 5.0
    """How often the overview and the jobs page refresh themselves."""

    def check_operators(self) -> None:
        """Raise ValueError naming the key (``$.console.operators...``) of a bad name or hash.

        Called by the whole configuration's check, so that the message names the key itself
        rather than the ``[console]`` table."""
        for name, account in self.operators.items():
            if not OPERATOR_NAME.fullmatch(name):
                raise ValueError(
                    f"operator name {name!r} must be 1-40 of a-z, 0-9, '-', '_'"
                    " - at `$.console.operators`"
                )
            try:
                PasswordHash.parse(account.password_hash)
            except InvalidPasswordHash as error:
                raise ValueError(
                    f"{error} - at `$.console.operators.{name}.password_hash`"
                ) from None

    @property
    def enabled(self) -> bool:
        """The console is served: at least one operator can sign in."""
        return bool(self.operators)


class InvalidPasswordHash(ValueError):
    """A configured hash is not one ``payments operators new`` makes, or its cost is out of
    bounds."""


@dataclass(frozen=True)
class PasswordHash:
    """A parsed scrypt hash: its parameters, salt and derived key."""

    n: int
    r: int
    p: int
    salt: bytes
    key: bytes

    @classmethod
    def parse(cls, text: str) -> PasswordHash:
        """Read a configured hash; :class:`InvalidPasswordHash` names what is wrong."""
        match = PASSWORD_HASH.fullmatch(text)
        if match is None:
            raise InvalidPasswordHash(
                "not a password hash: `payments operators new` makes one"
                " (scrypt$n=...,r=...,p=...$salt$key)"
            )
        n, r, p = int(match["n"]), int(match["r"]), int(match["p"])
        if n < 2 or n & (n - 1) or not 1 <= r <= 32 or not 1 <= p <= 16:
            raise InvalidPasswordHash("scrypt needs n a power of 2, r in 1-32 and p in 1-16")
        if 128 * n * r > _MAX_MEMORY:
            raise InvalidPasswordHash(f"scrypt n={n}, r={r} needs more than 128 MiB per check")
        return cls(n, r, p, _unb64(match["salt"]), _unb64(match["key"]))

    def matches(self, password: str) -> bool:
        """Tell whether ``password`` is the one hashed, in time that does not depend on how
        much of it is right."""
        return hmac.compare_digest(_derive(password, self.salt, self.n, self.r, self.p), self.key)

    def text(self) -> str:
        """The form the config file holds."""
        return f"scrypt$n={self.n},r={self.r},p={self.p}${_b64(self.salt)}${_b64(self.key)}"


def hash_password(password: str, *, n: int = SCRYPT_N) -> str:
    """A fresh salted hash of ``password``, as the config file holds it."""
    salt = secrets.token_bytes(_SALT_BYTES)
    key = _derive(password, salt, n, SCRYPT_R, SCRYPT_P)
    return PasswordHash(n, SCRYPT_R, SCRYPT_P, salt, key).text()


def new_password() -> str:
    """A password nobody chose: 18 random bytes, URL-safe base64 (24 characters)."""
    return secrets.token_urlsafe(18)


def _derive(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(
        password.encode(), salt=salt, n=n, r=r, p=p, maxmem=_MAX_MEMORY, dklen=_KEY_BYTES
    )


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    text = text.rstrip("=")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass(frozen=True)
class OperatorAccounts:
    """The configured operators and their password hashes."""

    hashes: Mapping[str, PasswordHash]
    _absent: PasswordHash

    @classmethod
    def of(cls, hashes: Mapping[str, str]) -> OperatorAccounts:
        """Build from ``{name: "scrypt$..."}``; :class:`InvalidPasswordHash` for a bad one."""
        parsed = {name: PasswordHash.parse(text) for name, text in hashes.items()}
        # What an unknown name is checked against: as costly as the costliest real account.
        n = max((h.n for h in parsed.values()), default=SCRYPT_N)
        absent = PasswordHash(n, SCRYPT_R, SCRYPT_P, secrets.token_bytes(_SALT_BYTES), b"")
        return cls(parsed, absent)

    def fingerprint(self, name: str, session_token: str) -> str | None:
        """What ties a session to operator ``name``'s password hash as configured now (None
        when there is no such operator): an HMAC-SHA256 of the hash keyed with the session's
        token.

        A session stores it when it opens and must match it on every request, so a new hash or
        a removed operator ends the session. Keyed with the token, the stored value tells
        nothing about the hash to whoever reads the sessions table without the cookie, and no
        two sessions store the same value. It depends on the configured hash alone (in its
        canonical form), so a restart with the same config keeps every session.
        """
        known = self.hashes.get(name)
        if known is None:
            return None
        return hmac.new(session_token.encode(), known.text().encode(), hashlib.sha256).hexdigest()

    def verify(self, name: str, password: str) -> bool:
        """Tell whether ``name`` is an operator whose password is ``password``.

        CPU-bound for about a tenth of a second: call it off the event loop.
        """
        known = self.hashes.get(name)
        if known is None:
            self._absent.matches(password)
            return False
        return known.matches(password)
