"""Every process's circuit breakers, as the console shows them. Pure: the clocks are injected.

A breaker is a guard each process keeps for itself (:mod:`payments_platform.breaker`), so no
process knows another's. Each one records its breakers in the database (the recorder,
:mod:`payments_platform.breaker_recorder`): at once when one changes (its state, or its count of
failures in a row), and every :data:`HEARD_EVERY` anyway, so that a process that says nothing
can be told from one that is gone. A process not heard from for :data:`STALE_AFTER` is shown
as stale; after :data:`DROPPED_AFTER` it is no longer shown, and its rows are deleted.

A process is named by its host, its pid and when it started, so that a pid reused by a later
process on the same host is not taken for the earlier one.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from payments_platform.breaker import BreakerState, WindowSnapshot
from payments_platform.routing import Route

CHECK_SECONDS = 1.0
"""How often a process looks at its breakers for a change (in memory, no I/O)."""
HEARD_EVERY = timedelta(seconds=10)
"""How often a process records its breakers when none changed."""
STALE_AFTER = timedelta(seconds=30)
"""A process not heard from for this long (three records missed) is shown as stale."""
DROPPED_AFTER = timedelta(minutes=10)
"""A process not heard from for this long is gone: no longer shown, its rows deleted."""


@dataclass(frozen=True, order=True)
class ProcessIdentity:
    """One running process of the deployment (``payments serve`` or ``payments worker``)."""

    host: str
    pid: int
    started_at: datetime

    @classmethod
    def of_this_process(cls, started_at: datetime) -> ProcessIdentity:
        """This process, started at ``started_at``."""
        return cls(socket.gethostname(), os.getpid(), started_at)

    @property
    def label(self) -> str:
        """``host:pid``, as operators find it in ``ps`` and in the logs."""
        return f"{self.host}:{self.pid}"


@dataclass(frozen=True, kw_only=True)
class BreakerReport:
    """One gateway's breaker in one process, as that process last recorded it."""

    process: ProcessIdentity
    gateway: str
    state: BreakerState
    since: datetime
    """When it entered its state (for a closed one that never opened: when its process
    started)."""
    consecutive_failures: int
    window: WindowSnapshot
    """Calls and failures in the breaker's window when it was recorded."""
    reported_at: datetime


@dataclass(frozen=True, kw_only=True)
class ShownBreaker:
    """A breaker as the console shows it: whose it is, and whether its process is still heard
    from."""

    report: BreakerReport
    this_process: bool
    stale: bool

    @property
    def counts(self) -> bool:
        """Whether it tells how the gateway is guarded now (its process is heard from)."""
        return not self.stale


class ProcessBreakers:
    """This process's breakers, read in memory: what the recorder writes, and what the console
    shows of the process that renders it (fresher than what it last recorded)."""

    def __init__(
        self,
        process: ProcessIdentity,
        routes: Sequence[Route],
        clock: Callable[[], float],
        wall_clock: Callable[[], datetime],
    ) -> None:
        self.process = process
        self.routes = tuple(routes)
        self._clock = clock
        self._wall_clock = wall_clock
        self._since: dict[tuple[str, float], datetime] = {}
        """The wall-clock time of each state's start, by gateway and breaker-clock time,
        worked out once so that it reads the same in every record."""

    def reports(self) -> list[BreakerReport]:
        """Every breaker of this process now, in config order."""
        now, wall_now = self._clock(), self._wall_clock()
        found = []
        for route in self.routes:
            breaker = route.breaker
            state, started = breaker.state, breaker.state_since
            key = (route.name, started)
            since = self._since.get(key)
            if since is None:
                self._since = {k: v for k, v in self._since.items() if k[0] != route.name}
                since = self._since[key] = wall_now - timedelta(seconds=now - started)
            found.append(
                BreakerReport(
                    process=self.process,
                    gateway=route.name,
                    state=state,
                    since=since,
                    consecutive_failures=breaker.consecutive_failures,
                    window=breaker.snapshot(),
                    reported_at=wall_now,
                )
            )
        return found


def changes(report: BreakerReport) -> tuple[str, BreakerState, datetime, int]:
    """What of a breaker is recorded as soon as it changes: the window's counts move with every
    call, and wait for the next regular record."""
    return (report.gateway, report.state, report.since, report.consecutive_failures)


def shown_breakers(
    recorded: Iterable[BreakerReport], own: Iterable[BreakerReport], *, now: datetime
) -> dict[str, list[ShownBreaker]]:
    """Each gateway's breakers in every process heard from within :data:`DROPPED_AFTER`: this
    process's as it sees them now (``own``), then the others' as they recorded them, by host,
    pid and start; those not heard from within :data:`STALE_AFTER` marked stale."""
    mine = list(own)
    ours = {report.process for report in mine}
    shown: dict[str, list[ShownBreaker]] = {}
    for report in mine:
        shown.setdefault(report.gateway, []).append(
            ShownBreaker(report=report, this_process=True, stale=False)
        )
    others = sorted(
        (report for report in recorded if report.process not in ours),
        key=lambda report: (report.process, report.gateway),
    )
    for report in others:
        silent = now - report.reported_at
        if silent >= DROPPED_AFTER:
            continue
        shown.setdefault(report.gateway, []).append(
            ShownBreaker(report=report, this_process=False, stale=silent >= STALE_AFTER)
        )
    return shown


def open_breakers(breakers: Sequence[ShownBreaker]) -> tuple[int, int]:
    """How many of a gateway's breakers in processes still heard from are open, of how many."""
    counted = [breaker for breaker in breakers if breaker.counts]
    return sum(b.report.state is BreakerState.OPEN for b in counted), len(counted)
