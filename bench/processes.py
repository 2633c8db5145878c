"""Child processes of the bench: starting, waiting for, stopping and watching them.

CPU time and memory are read from ``/proc`` (Linux), so they cover every thread of a process,
including the threads a database driver runs its calls on.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx

REPO_ROOT = Path(__file__).resolve().parent.parent
STARTUP_SECONDS = 60.0
STOP_SECONDS = 40.0
_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


class BenchError(RuntimeError):
    """The bench cannot go on; the message says why and what to do."""


@dataclass(frozen=True)
class Child:
    """A running child process, where it answers, and where its output goes."""

    name: str
    process: subprocess.Popen[bytes]
    base_url: str
    log: Path

    @property
    def pid(self) -> int:
        """The process id."""
        return self.process.pid

    def output_tail(self, lines: int = 40) -> str:
        """The end of what the process printed."""
        text = self.log.read_text(encoding="utf-8", errors="replace")
        return "\n".join(text.splitlines()[-lines:])

    def cpu_seconds(self) -> float:
        """User and system CPU time the process and its children (the server processes of
        ``--workers N``) have used so far, all threads included."""
        return sum(cpu_seconds(pid) for pid in process_tree(self.pid))

    def processes(self) -> list[int]:
        """The process and its descendants alive now."""
        return process_tree(self.pid)

    def rss_bytes(self) -> int:
        """Resident memory now."""
        status = Path(f"/proc/{self.pid}/status").read_text(encoding="ascii")
        for line in status.splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        raise BenchError(f"no VmRSS for {self.name} (pid {self.pid})")


def cpu_seconds(pid: int) -> float:
    """User and system CPU time of process ``pid`` (0 once it has gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii")
    except FileNotFoundError:
        return 0.0
    # The command name (field 2) may hold spaces; the fields after it are plain numbers.
    fields = stat.rsplit(")", 1)[1].split()
    utime, stime = int(fields[11]), int(fields[12])
    return (utime + stime) / _CLOCK_TICKS


def process_tree(pid: int) -> list[int]:
    """``pid`` and its descendants alive now (``/proc/<pid>/task/<tid>/children``)."""
    found, queue = [], [pid]
    while queue:
        current = queue.pop()
        found.append(current)
        with contextlib.suppress(OSError):
            for task in Path(f"/proc/{current}/task").iterdir():
                children = (task / "children").read_text(encoding="ascii").split()
                queue.extend(int(child) for child in children)
    return found


def child_environment() -> dict[str, str]:
    """The environment for child processes: no ``PAYMENTS_*`` override leaks in, and the bench
    package is importable whatever the working folder."""
    environment = {
        key: value for key, value in os.environ.items() if not key.startswith("PAYMENTS_")
    }
    paths = [str(REPO_ROOT), *filter(None, [environment.get("PYTHONPATH")])]
    environment["PYTHONPATH"] = os.pathsep.join(paths)
    return environment


def python_module(module: str, *args: str) -> list[str]:
    """The command line running ``python -m module args`` with this interpreter."""
    return [sys.executable, "-m", module, *args]


@contextlib.contextmanager
def running(
    name: str, command: Sequence[str], *, workdir: Path, base_url: str, ready_path: str
) -> Iterator[Child]:
    """Start ``command``, wait until ``GET base_url + ready_path`` answers 200, stop it at exit."""
    log = workdir / f"{name}.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(  # noqa: S603 - our own interpreter and arguments
            list(command),
            cwd=workdir,
            stdout=sink,
            stderr=subprocess.STDOUT,
            env=child_environment(),
        )
    child = Child(name, process, base_url, log)
    try:
        _wait_until_ready(child, ready_path)
        yield child
    finally:
        stop(child)


def stop(child: Child) -> None:
    """SIGTERM, then SIGKILL if the process is still there after ``STOP_SECONDS``."""
    if child.process.poll() is not None:
        return
    child.process.send_signal(signal.SIGTERM)
    try:
        child.process.wait(timeout=STOP_SECONDS)
    except subprocess.TimeoutExpired:
        child.process.kill()
        child.process.wait()


def _wait_until_ready(child: Child, path: str) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if child.process.poll() is not None:
            raise BenchError(f"{child.name} exited during startup:\n{child.output_tail()}")
        with contextlib.suppress(httpx.TransportError):
            if httpx.get(child.base_url + path, timeout=2).status_code == 200:
                return
        time.sleep(0.05)
    raise BenchError(
        f"{child.name} did not answer within {STARTUP_SECONDS:.0f}s:\n{child.output_tail()}"
    )
