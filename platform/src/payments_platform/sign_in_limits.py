"""How failed sign-ins to the console hold back the next ones: a count in, the next count out.

Each failure is counted twice. Per network address, whatever the names tried: at
``max_failures_per_address`` the address is locked out for ``lockout_minutes``, so an address
guessing many names is stopped. Per operator name *from that address*: at ``max_failures`` the
name is delayed from that address for ``delay_seconds``, and each further failure doubles the
delay, up to ``lockout_minutes``. No count is kept for a name on its own, so failures from one
address never hold the operator back at another: nobody can lock an operator out by guessing
at their name.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from payments_platform.operators import ConsoleSettings

_MAX_DOUBLINGS = 32
"""Enough to reach any cap the settings allow, without computing huge powers of two."""


@dataclass(frozen=True)
class FailureCount:
    """Failed sign-ins counted against an address, or a name from an address."""

    failures: int
    first_failed_at: datetime
    """When the count started."""
    locked_until: datetime | None = None
    """Sign-ins are refused, unchecked, until then."""

    def is_locked(self, now: datetime) -> bool:
        """Sign-ins are refused at ``now``."""
        return self.locked_until is not None and self.locked_until > now


def after_address_failure(
    count: FailureCount | None, now: datetime, settings: ConsoleSettings
) -> FailureCount:
    """The address's count after one more failure at ``now``.

    A count whose first failure is ``lockout_minutes`` old starts again; reaching
    ``max_failures_per_address`` locks the address out for ``lockout_minutes`` and starts a
    new count after it.
    """
    lockout = timedelta(minutes=settings.lockout_minutes)
    if count is None or count.first_failed_at <= now - lockout:
        count = FailureCount(0, now)
    failures = count.failures + 1
    if failures >= settings.max_failures_per_address:
        return FailureCount(0, count.first_failed_at, now + lockout)
    return FailureCount(failures, count.first_failed_at)


def after_name_failure(
    count: FailureCount | None, now: datetime, settings: ConsoleSettings
) -> FailureCount:
    """The count of one name from one address after one more failure at ``now``.

    The count is forgotten once ``lockout_minutes`` have passed both since its first failure
    and since its last delay ended, so a guesser who keeps coming back as each delay ends
    keeps the delay long; an operator who mistyped is forgotten a quarter of an hour later.
    """
    forget = now - timedelta(minutes=settings.lockout_minutes)
    if count is None or (
        count.first_failed_at <= forget
        and (count.locked_until is None or count.locked_until <= forget)
    ):
        count = FailureCount(0, now)
    failures = count.failures + 1
    wait = name_delay(failures, settings)
    return FailureCount(failures, count.first_failed_at, None if wait is None else now + wait)


def name_delay(failures: int, settings: ConsoleSettings) -> timedelta | None:
    """How long a name is delayed from an address after its ``failures``-th failure there:
    none below ``max_failures``, then ``delay_seconds``, doubling with each failure, up to
    ``lockout_minutes``."""
    past_limit = failures - settings.max_failures
    if past_limit < 0:
        return None
    longest = timedelta(minutes=settings.lockout_minutes)
    wait = timedelta(seconds=settings.delay_seconds * 2 ** min(past_limit, _MAX_DOUBLINGS))
    return min(wait, longest)
