"""A sampling profile of the server under load, taken with py-spy, and its summary.

py-spy reads the server's stacks from outside the process, so the server runs the same code as
in the measurements; ``--native`` adds the C frames, so time in uvloop, the drivers' C code and
system calls is named too. To read native stacks py-spy pauses the process for each sample (a
few percent at this rate), which is why the profile has a load run of its own, not counted in
any figure. Its raw output is one line per
distinct stack, ``thread (tid): name;frame;frame;... count``. The summary splits each thread's
samples into busy, idle (waiting in epoll or on a condition) and waiting for the GIL, and ranks
the busy ones: functions by inclusive and by self time, packages by self time.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import msgspec

from bench.processes import BenchError

SAMPLES_PER_SECOND = 200
MAIN_THREAD = "MainThread"

# The package a frame's file belongs to, by the first of these path parts found in it.
_PACKAGES = (
    "payments_platform",
    "payments_plugin_json_gateway",
    "payments_plugins",
    "litestar",
    "msgspec",
    "sqlalchemy",
    "asyncpg",
    "httpx",
    "httpcore",
    "h11",
    "anyio",
    "uvicorn",
    "httptools",
    "uvloop",
    "opentelemetry",
    "alembic",
)
_STDLIB_GROUPS = ("asyncio", "logging", "sqlite3", "json", "uuid", "hashlib", "hmac")
# A thread whose innermost frame is one of these is waiting, not working.
_IDLE_FUNCTIONS = frozenset(
    {
        "epoll_wait",
        "epoll_pwait",
        "poll",
        "select",
        "pthread_cond_wait",
        "pthread_cond_timedwait",
        "sem_wait",
        "sem_timedwait",
        "sem_clockwait",
        "__futex_abstimed_wait_common",
        "do_futex_wait",
        "futex_wait",
    }
)
_GIL_WAIT = "take_gil"
# Blocked on a Python lock or queue (a driver's worker thread waiting for work, say).
_LOCK_WAIT = "PyThread_acquire_lock_timed"
_TRUNK_SHARE = 85.0
"""Frames on nearly every busy stack (the server's loop) say nothing; they are not ranked."""


class Share(msgspec.Struct, frozen=True):
    """A function or package and its share of a thread's samples."""

    name: str
    percent: float


class ThreadProfile(msgspec.Struct, frozen=True, kw_only=True):
    """Where one group of threads spent its samples; the rankings are of the busy ones."""

    threads: str
    samples: int
    busy_percent: float
    idle_percent: float
    gil_wait_percent: float
    by_package: list[Share]
    by_function_inclusive: list[Share]
    by_function_self: list[Share]


class ProfileSummary(msgspec.Struct, frozen=True, kw_only=True):
    """The profile of the server while it served one scenario."""

    scenario: str
    seconds: float
    samples_per_second: int
    raw_file: str
    groups: list[ThreadProfile]
    by_part: list[Share] = msgspec.field(default_factory=list)
    """Busy samples of every thread by the part of a request they were in (:func:`part_of`)."""


def py_spy() -> str:
    """The py-spy executable: on PATH or beside this interpreter."""
    found = shutil.which("py-spy") or shutil.which("py-spy", path=str(Path(sys.executable).parent))
    if found is None:
        raise BenchError("--profile needs py-spy: `uv pip install py-spy` (nox -s bench has it)")
    return found


@dataclass
class Recording:
    """A py-spy recording in progress."""

    process: subprocess.Popen[bytes]
    raw_file: Path
    seconds: float

    def finish(self, scenario: str, top: int = 25) -> ProfileSummary:
        """Wait for py-spy and summarise what it recorded."""
        try:
            _, errors = self.process.communicate(timeout=self.seconds + 60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            raise BenchError("py-spy did not finish") from None
        if self.process.returncode != 0 or not self.raw_file.exists():
            raise BenchError(f"py-spy failed: {errors.decode(errors='replace')}")
        lines = self.raw_file.read_text(encoding="utf-8").splitlines()
        return ProfileSummary(
            scenario=scenario,
            seconds=self.seconds,
            samples_per_second=SAMPLES_PER_SECOND,
            raw_file=str(self.raw_file),
            groups=summarise(lines, top),
            by_part=by_part(lines),
        )


def start_recording(pid: int, seconds: float, raw_file: Path) -> Recording:
    """Start sampling process ``pid`` for ``seconds`` into ``raw_file`` (collapsed stacks)."""
    command = [
        py_spy(),
        "record",
        f"--pid={pid}",
        f"--duration={max(1, round(seconds))}",
        f"--rate={SAMPLES_PER_SECOND}",
        "--format=raw",
        "--threads",
        "--nolineno",
        "--native",
        "--full-filenames",
        f"--output={raw_file}",
    ]
    process = subprocess.Popen(  # noqa: S603 - py-spy with our own arguments
        command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    return Recording(process=process, raw_file=raw_file, seconds=seconds)


def summarise(lines: Iterable[str], top: int = 25) -> list[ThreadProfile]:
    """Rank functions and packages in the event loop's thread and in all the other threads."""
    stacks: dict[str, list[tuple[list[str], int]]] = {MAIN_THREAD: [], "other threads": []}
    for line in lines:
        stack_text, _, count_text = line.rpartition(" ")
        if not stack_text or not count_text.isdigit():
            continue
        thread, *frames = stack_text.split(";")
        group = MAIN_THREAD if thread.endswith(f": {MAIN_THREAD}") else "other threads"
        stacks[group].append((frames, int(count_text)))
    return [_rank(group, found, top) for group, found in stacks.items() if found]


def _rank(group: str, stacks: list[tuple[list[str], int]], top: int) -> ThreadProfile:
    total = sum(count for _, count in stacks)
    idle = gil_wait = busy = 0
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    packages: Counter[str] = Counter()
    for frames, count in stacks:
        names = [_function(frame) for frame in frames]
        bare = [frame.partition(" (")[0] for frame in frames]
        if any(name == _GIL_WAIT for name in bare):
            gil_wait += count
            continue
        if not frames or bare[-1] in _IDLE_FUNCTIONS or _LOCK_WAIT in bare:
            idle += count
            continue
        busy += count
        for name in set(names):
            inclusive[name] += count
        own[names[-1]] += count
        packages[_package(frames[-1])] += count

    def shares(counter: Counter[str], below: float = 100.1) -> list[Share]:
        ranked = [Share(name, 100.0 * count / (busy or 1)) for name, count in counter.most_common()]
        return [share for share in ranked if share.percent < below][:top]

    return ThreadProfile(
        threads=group,
        samples=total,
        busy_percent=100.0 * busy / total,
        idle_percent=100.0 * idle / total,
        gil_wait_percent=100.0 * gil_wait / total,
        by_package=shares(packages),
        by_function_inclusive=shares(inclusive, below=_TRUNK_SHARE),
        by_function_self=shares(own),
    )


_PARTS: tuple[tuple[str, tuple[str, ...]], ...] = (
    (
        "SQL: statements, transactions and the driver",
        (
            "payments_platform/store/sql.py",
            "payments_platform/database/",
            "/sqlalchemy/engine/",
            "/sqlalchemy/pool/",
            "/sqlalchemy/dialects/",
            "/sqlalchemy/sql/",
            "/asyncpg/",
            "libsqlite3",
            "_sqlite3",
            "/sqlite3/",
        ),
    ),
    (
        "thread hand-offs",
        ("run_in_executor", "call_soon_threadsafe", "concurrent/futures", "_WorkItem"),
    ),
    (
        "vendor call (httpx API over aiohttp, gateway)",
        ("call_gateway (", "/httpx/", "/aiohttp/", "/payments_plugin_", "/payments_plugins/"),
    ),
    ("logs", ("/logging/", "payments_platform/logs.py")),
    (
        "use cases and jobs (Python around the SQL)",
        (
            "payments_platform/usecases/",
            "payments_platform/store/",
            "payments_platform/jobs.py",
            "payments_platform/worker.py",
            "payments_platform/routing.py",
            "payments_platform/breaker.py",
        ),
    ),
    ("Litestar, middleware, bodies", ("/litestar/", "payments_platform/web/")),
    ("HTTP server (uvicorn)", ("/uvicorn/", "httptools")),
    ("metrics and tracing", ("/prometheus_client/", "/opentelemetry/")),
)
_DISK_SYNC = frozenset({"fdatasync", "fsync"})
_SOCKET_WRITES = frozenset({"write", "send", "sendto", "writev"})


def part_of(frames: list[str]) -> str:
    """The part of serving a request a busy stack is in (the first rule that matches).

    Samples are of wall time on the CPU or waiting for it: a thread descheduled in ``write``
    while the database server it woke runs counts as busy there, which on a machine with more
    runnable processes than cores makes socket writes look larger than the CPU they take.
    """
    leaf = frames[-1].partition(" (")[0]
    if leaf in _DISK_SYNC:
        return "commit: waiting for the disk (fdatasync)"
    # The innermost frame that names a part decides: a use case runs inside a transaction (and
    # on PostgreSQL inside SQLAlchemy's greenlet), a statement inside a use case.
    for frame in reversed(frames):
        for name, markers in _PARTS:
            if any(marker in frame for marker in markers):
                if name.startswith("SQL") and leaf in _SOCKET_WRITES:
                    return "SQL: socket writes to the database server"
                return name
    return "event loop and other"


def by_part(lines: Iterable[str]) -> list[Share]:
    """Busy samples of all threads by :func:`part_of`, largest first."""
    parts: Counter[str] = Counter()
    for line in lines:
        stack_text, _, count_text = line.rpartition(" ")
        if not stack_text or not count_text.isdigit():
            continue
        frames = stack_text.split(";")[1:]
        bare = [frame.partition(" (")[0] for frame in frames]
        if not frames or bare[-1] in _IDLE_FUNCTIONS or _LOCK_WAIT in bare or _GIL_WAIT in bare:
            continue
        parts[part_of(frames)] += int(count_text)
    busy = sum(parts.values()) or 1
    return [Share(name, 100.0 * count / busy) for name, count in parts.most_common()]


def _function(frame: str) -> str:
    """``name (path)`` with the path shortened to the package's own part."""
    name, _, path = frame.partition(" (")
    return f"{name} ({_short_path(path.rstrip(')'))})"


def _short_path(path: str) -> str:
    if not path.endswith(".py"):
        return path.rsplit("/", 1)[-1]  # a C source or a shared library: its name says enough
    for marker in ("site-packages/", "/src/", "/lib/python3."):
        if marker in path:
            tail = path.split(marker, 1)[1]
            return tail.split("/", 1)[1] if marker == "/lib/python3." else tail
    return path


def _package(frame: str) -> str:
    path = _short_path(frame.partition(" (")[2].rstrip(")"))
    if not path.endswith(".py") and "<frozen" not in path:
        return f"native {path.rsplit('/', 1)[-1]}" if path else "native"
    first = path.split("/", 1)[0]
    if first in _PACKAGES:
        return first
    if first.removesuffix(".py") in _STDLIB_GROUPS:
        return f"stdlib {first.removesuffix('.py')}"
    if "/" not in path and path.endswith(".py"):
        return "stdlib (other)"
    return first or "(native)"


def render(summary: ProfileSummary, top: int = 15) -> str:
    """The summary as text."""
    lines = [
        f"py-spy profile of the server during {summary.scenario}: {summary.seconds:.0f}s at"
        f" {summary.samples_per_second} samples/s (raw stacks: {summary.raw_file})",
    ]
    if summary.by_part:
        lines.append("")
        lines.append("every thread's busy samples, by part of a request:")
        lines.extend(f"    {share.percent:5.1f}%  {share.name}" for share in summary.by_part)
    for group in summary.groups:
        lines.append("")
        lines.append(
            f"{group.threads}: {group.samples} samples, {group.busy_percent:.0f}% busy,"
            f" {group.idle_percent:.0f}% idle, {group.gil_wait_percent:.0f}% waiting for the GIL"
            " (shares below are of the busy samples)"
        )
        for title, shares in (
            ("by package (self time)", group.by_package),
            ("by function, inclusive", group.by_function_inclusive),
            ("by function, self", group.by_function_self),
        ):
            lines.append(f"  {title}:")
            lines.extend(f"    {share.percent:5.1f}%  {share.name}" for share in shares[:top])
    return "\n".join(lines)
