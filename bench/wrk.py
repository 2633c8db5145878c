"""The load generator: wrk, driven by the Lua scenarios in ``bench/lua``.

wrk is a C program with one event loop per thread; each request body is built in Lua (LuaJIT),
fresh UUIDs included, so the generator stays far cheaper per request than the server it loads.
Every scenario script is ``common.lua`` followed by the scenario's own file; its ``done()``
prints one ``BENCH_RESULT {json}`` line that :func:`run_wrk` reads.
"""

from __future__ import annotations

import os
import resource
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import msgspec

from bench.processes import BenchError

LUA_FOLDER = Path(__file__).resolve().parent / "lua"
RESULT_MARKER = "BENCH_RESULT "
REQUEST_TIMEOUT_SECONDS = 10
API_KEY_VARIABLE = "BENCH_API_KEY"


class LatencyMicros(msgspec.Struct, frozen=True):
    """Latency percentiles of one wrk run, in microseconds."""

    p50: int
    p90: int
    p99: int
    max: int
    mean: float


class WrkErrors(msgspec.Struct, frozen=True):
    """What wrk counts as errors: socket errors, timeouts and answers with status >= 400."""

    connect: int
    read: int
    write: int
    status: int
    timeout: int

    @property
    def total(self) -> int:
        """All errors."""
        return self.connect + self.read + self.write + self.status + self.timeout


class WrkSummary(msgspec.Struct, frozen=True):
    """The ``BENCH_RESULT`` line a scenario's ``done()`` prints."""

    requests: int
    duration_us: int
    bytes: int
    errors: WrkErrors
    latency_us: LatencyMicros
    counters: dict[str, int] = msgspec.field(default_factory=dict)


@dataclass(frozen=True)
class WrkRun:
    """One wrk run and the CPU wrk itself used."""

    summary: WrkSummary
    cpu_seconds: float
    wall_seconds: float

    @property
    def seconds(self) -> float:
        """How long the load lasted, as wrk measured it."""
        return self.summary.duration_us / 1e6

    @property
    def answered_per_second(self) -> float:
        """Answers that were not errors, per second."""
        good = self.summary.requests - self.summary.errors.status
        return good / self.seconds if self.seconds else 0.0


_SUMMARY_DECODER = msgspec.json.Decoder(WrkSummary)


def ensure_wrk() -> str:
    """The path of wrk, installing Debian's package when it is missing and we may."""
    found = shutil.which("wrk")
    if found:
        return found
    apt = shutil.which("apt-get")
    if apt is None or os.geteuid() != 0:
        raise BenchError(
            "wrk is not installed. Install it (Debian/Ubuntu: `sudo apt-get install -y wrk`;"
            " macOS: `brew install wrk`) and run the bench again."
        )
    print("wrk is missing: installing Debian's package (apt-get install -y wrk)", flush=True)
    environment = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    try:
        for command in ([apt, "update", "-qq"], [apt, "install", "-y", "-qq", "wrk"]):
            subprocess.run(  # noqa: S603 - apt-get with fixed arguments
                command, env=environment, stdout=subprocess.DEVNULL, check=True
            )
    except subprocess.CalledProcessError as error:
        raise BenchError(f"installing wrk failed ({error}); install it by hand") from None
    found = shutil.which("wrk")
    if found is None:
        raise BenchError("apt-get installed wrk but it is not on PATH")
    return found


def write_script(scenario: str, folder: Path, *, count_statuses: bool = False) -> Path:
    """Write ``common.lua`` + ``<scenario>.lua`` as one script into ``folder``; with
    ``count_statuses``, + ``statuses.lua``, which counts every answer by its status."""
    parts = ["common.lua", f"{scenario}.lua", *(["statuses.lua"] if count_statuses else [])]
    script = folder / f"{scenario}.lua"
    script.write_text(
        "\n".join((LUA_FOLDER / part).read_text(encoding="utf-8") for part in parts),
        encoding="utf-8",
    )
    return script


def run_wrk(
    wrk: str,
    url: str,
    script: Path,
    args: list[str],
    *,
    seconds: float,
    threads: int,
    connections: int,
    api_key: str | None = None,
) -> WrkRun:
    """Load ``url`` with ``script`` for ``seconds``; return wrk's summary and its own CPU use.

    ``api_key`` goes to the scripts as ``BENCH_API_KEY``: they send it as a bearer token on
    every client request.
    """
    command = [
        wrk,
        f"--threads={threads}",
        f"--connections={connections}",
        f"--duration={max(1, round(seconds))}s",
        f"--timeout={REQUEST_TIMEOUT_SECONDS}s",
        f"--script={script}",
        url,
        "--",
        *args,
    ]
    before = _children_cpu()
    started = time.perf_counter()
    environment = {**os.environ, API_KEY_VARIABLE: api_key or ""}
    completed = subprocess.run(  # noqa: S603 - wrk with our own arguments
        command,
        env=environment,
        capture_output=True,
        text=True,
        timeout=seconds + 60,
        check=False,
    )
    wall = time.perf_counter() - started
    cpu = _children_cpu() - before
    for line in completed.stdout.splitlines():
        if line.startswith(RESULT_MARKER):
            summary = _SUMMARY_DECODER.decode(line[len(RESULT_MARKER) :])
            return WrkRun(summary=summary, cpu_seconds=cpu, wall_seconds=wall)
    raise BenchError(
        f"wrk gave no result (exit {completed.returncode}):\n{completed.stdout}\n{completed.stderr}"
    )


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime
