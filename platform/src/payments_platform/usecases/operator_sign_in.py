"""Signing operators in to the console and out again, and finding who a session belongs to.

A sign-in is refused without checking the password while the account or the network address
it comes from is locked out, so guessing on through a lock-out learns nothing. A wrong name
and a wrong password are the same failure, counted against both the name and the address.
Success forgets the account's failures (not the address's: one good account must not buy an
address more guesses at the others) and opens a session: a random token for the cookie, of
which only the SHA-256 is stored, and a CSRF token every form of the session carries.

A session is bound to the credentials it was opened with: it keeps a keyed digest of its
operator's password hash (:meth:`OperatorAccounts.fingerprint`), and the first request that
finds the operator gone from the config, or its hash changed, ends it.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import hmac
import logging
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa

from payments_platform.database import Database
from payments_platform.operators import OPERATOR_NAME, ConsoleSettings, OperatorAccounts
from payments_platform.store import operator_sessions, sign_in_failures
from payments_platform.store.operator_sessions import OperatorSession
from payments_platform.usecases.context import Platform

logger = logging.getLogger(__name__)

TOUCH_EVERY = timedelta(seconds=60)
"""How stale a session's last use may be before it is written again: not on every page."""


class SignInRefused(Exception):
    """The name and password do not match an operator's; the failure was counted."""


class SignInLocked(Exception):
    """Too many failed sign-ins for this account or address; nothing was checked."""

    def __init__(self, until: datetime) -> None:
        super().__init__(f"locked until {until:%H:%M:%S} UTC")
        self.until = until


@dataclass(frozen=True)
class SignedIn:
    """A new session: the cookie's token (never stored) and the session as stored."""

    token: str
    session: OperatorSession


def token_digest(token: str) -> str:
    """What the sessions table keys a session token by."""
    return hashlib.sha256(token.encode()).hexdigest()


async def sign_in(
    platform: Platform,
    accounts: OperatorAccounts,
    settings: ConsoleSettings,
    *,
    name: str,
    password: str,
    address: str,
) -> SignedIn:
    """Open a session for operator ``name`` if ``password`` is theirs.

    Raises :class:`SignInLocked` or :class:`SignInRefused`.
    """
    # A name no operator could have is counted against the address only: the table does not
    # grow by whatever text is posted.
    subjects = [f"address:{address}"]
    if OPERATOR_NAME.fullmatch(name):
        subjects.append(f"operator:{name}")
    now = platform.now()
    locked = await platform.database.read(
        lambda conn: sign_in_failures.locked_until(conn, subjects, now)
    )
    if locked is not None:
        raise SignInLocked(locked)
    # scrypt takes a tenth of a second of CPU: not on the event loop.
    if not await asyncio.to_thread(accounts.verify, name, password):
        await platform.database.write(
            functools.partial(_count_failure, subjects=subjects, settings=settings, now=now)
        )
        raise SignInRefused("unknown operator or wrong password")
    token, csrf_token = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    credentials = accounts.fingerprint(name, token)
    if credentials is None:  # pragma: no cover - verify found the operator just above
        raise LookupError(f"operator {name!r} is not configured")
    session = await platform.database.write(
        functools.partial(
            _open_session,
            name=name,
            token=token,
            csrf_token=csrf_token,
            credentials=credentials,
            settings=settings,
            now=platform.now(),
        )
    )
    return SignedIn(token, session)


def _count_failure(
    conn: sa.Connection, *, subjects: list[str], settings: ConsoleSettings, now: datetime
) -> None:
    lockout = timedelta(minutes=settings.lockout_minutes)
    for subject in subjects:
        limit = (
            settings.max_failures_per_address
            if subject.startswith("address:")
            else settings.max_failures
        )
        sign_in_failures.record_failure(conn, subject, now=now, limit=limit, lockout=lockout)


def _open_session(
    conn: sa.Connection,
    *,
    name: str,
    token: str,
    csrf_token: str,
    credentials: str,
    settings: ConsoleSettings,
    now: datetime,
) -> OperatorSession:
    sign_in_failures.clear(conn, f"operator:{name}")
    idle = timedelta(minutes=settings.idle_minutes)
    # Housekeeping rides on sign-ins, which are rare: no job needed to keep the table small.
    operator_sessions.delete_stale(conn, now=now, idle=idle)
    digest = token_digest(token)
    operator_sessions.create(
        conn,
        token_sha256=digest,
        operator=name,
        csrf_token=csrf_token,
        credentials_hmac=credentials,
        now=now,
        lifetime=timedelta(minutes=settings.session_minutes),
    )
    found = operator_sessions.find(conn, digest, now=now, idle=idle)
    if found is None:  # pragma: no cover - written just above
        raise LookupError("the session just opened is missing")
    return found


async def session_of(
    platform: Platform, accounts: OperatorAccounts, settings: ConsoleSettings, token: str | None
) -> OperatorSession | None:
    """The live session whose token the request carries, if any; its use is recorded.

    A session whose operator is no longer among ``accounts``, or whose password hash is not the
    one it was opened with, is ended in every process, and None returned.
    """
    if not token:
        return None
    digest = token_digest(token)
    now = platform.now()
    idle = timedelta(minutes=settings.idle_minutes)
    found = await platform.database.read(
        lambda conn: operator_sessions.find(conn, digest, now=now, idle=idle)
    )
    if found is None:
        return None
    expected = accounts.fingerprint(found.operator, token)
    if expected is None or not hmac.compare_digest(expected, found.credentials_hmac):
        await platform.database.write(lambda conn: operator_sessions.delete(conn, digest))
        logger.info(
            "console session of operator %s ended: %s",
            found.operator,
            "the operator is no longer configured"
            if expected is None
            else "its password changed since it signed in",
        )
        return None
    if now - found.last_seen_at >= TOUCH_EVERY:
        await platform.database.write(lambda conn: operator_sessions.touch(conn, digest, now))
    return found


async def sign_out(platform: Platform, token: str) -> None:
    """End the session whose token this is, in every process."""
    digest = token_digest(token)
    await platform.database.write(lambda conn: operator_sessions.delete(conn, digest))


async def end_sessions(database: Database, operator: str) -> int:
    """End every session of ``operator`` in every process (``payments operators sign-out``);
    how many there were."""
    return await database.write(lambda conn: operator_sessions.delete_of_operator(conn, operator))
