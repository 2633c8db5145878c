"""Signing operators in to the console and out again, and finding who a session belongs to.

A sign-in is refused without checking the password while the network address it comes from is
locked out, or the name is delayed from that address (:mod:`payments_platform.sign_in_limits`),
so guessing on through a lock-out learns nothing. A wrong name and a wrong password are the same
failure, counted against the address and against the name from that address; failures from one
address never hold the name back at another. Success forgets the name's failures from that
address (not the address's: one good account must not buy an address more guesses at the
others) and opens a session: a random token for the cookie, of which only the SHA-256 is stored,
and a CSRF token every form of the session carries. Each lock-out and delay is logged at warning
level with the address. Signing in and signing out are operator actions of the audit (an
``operator_action`` event about no payment, with the address); failed sign-ins are not: they
are counted, and anyone can post them.

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

from payments_platform.database import after_commit
from payments_platform.operators import OPERATOR_NAME, ConsoleSettings, OperatorAccounts
from payments_platform.sign_in_limits import after_address_failure, after_name_failure
from payments_platform.store import events, operator_sessions, sign_in_failures
from payments_platform.store.operator_sessions import OperatorSession
from payments_platform.usecases.dependencies import Dependencies

logger = logging.getLogger(__name__)

TOUCH_EVERY = timedelta(seconds=60)
"""How stale a session's last use may be before it is written again: not on every page."""


class SignInRefused(Exception):
    """The name and password do not match an operator's; the failure was counted."""


class SignInLocked(Exception):
    """Too many failed sign-ins from this address, or to this name from this address; nothing
    was checked."""

    def __init__(self, until: datetime, wait: timedelta, *, whole_address: bool) -> None:
        super().__init__(f"locked until {until:%H:%M:%S} UTC")
        self.until = until
        self.wait = wait
        """How long from now."""
        self.whole_address = whole_address
        """The address is locked out, whatever the name; else only this name from it."""


@dataclass(frozen=True)
class SignedIn:
    """A new session: the cookie's token (never stored) and the session as stored."""

    token: str
    session: OperatorSession


def token_digest(token: str) -> str:
    """What the sessions table keys a session token by."""
    return hashlib.sha256(token.encode()).hexdigest()


async def sign_in(
    deps: Dependencies,
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
    by_address = sign_in_failures.address_subject(address)
    # A name no operator could have is counted against the address only: the table does not
    # grow by whatever text is posted.
    by_name = (
        sign_in_failures.name_subject(name, address) if OPERATOR_NAME.fullmatch(name) else None
    )
    now = deps.now()
    subjects = [by_address] if by_name is None else [by_address, by_name]
    locked = await deps.database.read(
        lambda conn: sign_in_failures.latest_lock(conn, subjects, now)
    )
    if locked is not None:
        subject, until = locked
        raise SignInLocked(until, until - now, whole_address=subject == by_address)
    # scrypt takes a tenth of a second of CPU: not on the event loop.
    if not await asyncio.to_thread(accounts.verify, name, password):
        await deps.database.write(
            functools.partial(
                _count_failure,
                address=address,
                name=None if by_name is None else name,
                settings=settings,
                now=now,
            )
        )
        raise SignInRefused("unknown operator or wrong password")
    token, csrf_token = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    credentials = accounts.fingerprint(name, token)
    if credentials is None:  # pragma: no cover - verify found the operator just above
        raise LookupError(f"operator {name!r} is not configured")
    session = await deps.database.write(
        functools.partial(
            _open_session,
            name=name,
            address=address,
            token=token,
            csrf_token=csrf_token,
            credentials=credentials,
            settings=settings,
            now=deps.now(),
        )
    )
    return SignedIn(token, session)


def _count_failure(
    conn: sa.Connection,
    *,
    address: str,
    name: str | None,
    settings: ConsoleSettings,
    now: datetime,
) -> None:
    subject = sign_in_failures.address_subject(address)
    count = after_address_failure(sign_in_failures.claim(conn, subject, now), now, settings)
    sign_in_failures.save(conn, subject, count)
    if count.locked_until is not None:
        until = count.locked_until
        after_commit(
            conn,
            lambda: logger.warning(
                "console sign-ins from address %s locked out until %s UTC:"
                " %d failed sign-ins within %g minutes",
                address,
                f"{until:%Y-%m-%d %H:%M:%S}",
                settings.max_failures_per_address,
                settings.lockout_minutes,
            ),
        )
    if name is None:
        return
    subject = sign_in_failures.name_subject(name, address)
    count = after_name_failure(sign_in_failures.claim(conn, subject, now), now, settings)
    sign_in_failures.save(conn, subject, count)
    if count.locked_until is not None:
        until, failures = count.locked_until, count.failures
        after_commit(
            conn,
            lambda: logger.warning(
                "console sign-ins as operator %s from address %s delayed by %d s, until %s UTC:"
                " %d failed sign-ins",
                name,
                address,
                round((until - now).total_seconds()),
                f"{until:%Y-%m-%d %H:%M:%S}",
                failures,
            ),
        )


def _open_session(
    conn: sa.Connection,
    *,
    name: str,
    address: str,
    token: str,
    csrf_token: str,
    credentials: str,
    settings: ConsoleSettings,
    now: datetime,
) -> OperatorSession:
    sign_in_failures.clear(conn, sign_in_failures.name_subject(name, address))
    idle = timedelta(minutes=settings.idle_minutes)
    # Housekeeping rides on sign-ins, which are rare: no job needed to keep the tables small.
    operator_sessions.delete_stale(conn, now=now, idle=idle)
    sign_in_failures.delete_forgotten(
        conn, before=now - timedelta(minutes=settings.lockout_minutes)
    )
    events.record_operator_action(
        conn,
        payment_id=None,
        operator=name,
        action="sign_in",
        reason=f"{name} signed in to the console from {address}",
        now=now,
        address=address,
    )
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
    deps: Dependencies, accounts: OperatorAccounts, settings: ConsoleSettings, token: str | None
) -> OperatorSession | None:
    """The live session whose token the request carries, if any; its use is recorded.

    A session whose operator is no longer among ``accounts``, or whose password hash is not the
    one it was opened with, is ended in every process, and None returned.
    """
    if not token:
        return None
    digest = token_digest(token)
    now = deps.now()
    idle = timedelta(minutes=settings.idle_minutes)
    found = await deps.database.read(
        lambda conn: operator_sessions.find(conn, digest, now=now, idle=idle)
    )
    if found is None:
        return None
    expected = accounts.fingerprint(found.operator, token)
    if expected is None or not hmac.compare_digest(expected, found.credentials_hmac):
        await deps.database.write(lambda conn: operator_sessions.delete(conn, digest))
        logger.info(
            "console session of operator %s ended: %s",
            found.operator,
            "the operator is no longer configured"
            if expected is None
            else "its password changed since it signed in",
        )
        return None
    if now - found.last_seen_at >= TOUCH_EVERY:
        await deps.database.write(lambda conn: operator_sessions.touch(conn, digest, now))
    return found


async def sign_out(deps: Dependencies, token: str, *, address: str) -> None:
    """End the session whose token this is, in every process; the operators' audit records
    who signed out, and from where."""
    digest = token_digest(token)

    def end(conn: sa.Connection) -> None:
        operator = operator_sessions.delete(conn, digest)
        if operator is not None:
            events.record_operator_action(
                conn,
                payment_id=None,
                operator=operator,
                action="sign_out",
                reason=f"{operator} signed out of the console from {address}",
                now=deps.now(),
                address=address,
            )

    await deps.database.write(end)


async def end_sessions(deps: Dependencies, operator: str) -> int:
    """End every session of ``operator`` in every process (``payments operators sign-out``);
    how many there were."""
    return await deps.database.write(
        lambda conn: operator_sessions.delete_of_operator(conn, operator)
    )
