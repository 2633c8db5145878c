"""One bench run: the processes, the data, the load phases, in order.

1. Time the routing decision alone, and the store's path on the run's database (in this
   process, before any load).
2. Create the database (``payments migrate``), store the baseline's payments, start the fake
   vendor, the server (one process) and the bare app, warm them up and read the server's RSS.
3. Under wrk, each scenario warms up (while the server counts the SQL it runs), then is
   measured: the bare app's echo, the platform's echo and ``GET /health``, init-payment, the
   paid webhook, the full refund, the full capture of an authorized payment, ``GET
   /payments/{id}``, the whole init -> webhook -> refund flow. Each figure's currency is the
   server's CPU per request (``/proc``), which a shared machine's drift moves far less than
   its throughput.
4. Store payments up to the large count, measure init-payment again, read the RSS again, and
   measure both echoes once more to show how much the machine drifted during the run.
5. Restart the server with two worker processes and measure init-payment again: cores used,
   CPU per request and req/s beside the one-process figure.

A smoke run (``--smoke``, ``bench/smoke.py``) does all of it briefly, and judges the answers
instead of the figures.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import platform
import secrets
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from payments_platform.config import Settings
from payments_plugins.testing.asgi_server import free_port

from bench import seeding
from bench.database import BenchDatabase, bench_database
from bench.deployment import check_echo_route, migrate, work_folder, write_config
from bench.measure import (
    Options,
    Stack,
    flow_checked,
    load,
    measure,
    measure_captures,
    measure_reads,
    measure_refunds,
    measure_webhooks,
    profile_refund_and_capture,
    profile_run,
)
from bench.processes import REPO_ROOT, BenchError, python_module, running
from bench.profile import ProfileSummary
from bench.report import Figure, Memory, Report, evaluate
from bench.routing_speed import measure_routing
from bench.server import ECHO_PATH
from bench.smoke import smoke_problems
from bench.store_path import measure_store_path
from bench.vendor import READY_PATH
from bench.wrk import ensure_wrk

IN_FLIGHT_SECONDS = 2.0


@dataclass(frozen=True, kw_only=True)
class BenchOptions:
    """What the command line asked for."""

    db: str | None
    duration: float
    warmup: float
    connections: int
    threads: int
    stored: int
    baseline_stored: int
    output: Path
    profile: bool
    keep: bool
    smoke: bool = False
    """Judge every scenario's answers, no figure (``bench/smoke.py``)."""


def run(options: BenchOptions) -> Report:
    """Run the whole bench and return its report (targets judged)."""
    started = time.perf_counter()
    started_at = datetime.now(UTC).isoformat(timespec="seconds")
    load_before = os.getloadavg()[0]
    wrk = ensure_wrk()
    print("routing decision micro-benchmark ...", flush=True)
    routing = measure_routing()
    with work_folder(options.keep) as workdir, bench_database(options.db, workdir) as database:
        print("store path micro-benchmark ...", flush=True)
        store_path = measure_store_path(database.url)
        figures, workers, workers_note, memory, profiles = _load_phases(
            wrk, workdir, database, options
        )
    report = Report(
        started_at=started_at,
        seconds=time.perf_counter() - started,
        machine=machine_facts(load_before),
        settings={
            "database": database.backend,
            "duration_seconds": f"{options.duration:g}",
            "warmup_seconds": f"{options.warmup:g}",
            "connections": str(options.connections),
            "wrk_threads": str(options.threads),
            "baseline_stored": str(options.baseline_stored),
            "stored": str(options.stored),
            "smoke": str(options.smoke).lower(),
        },
        figures=figures,
        workers=workers,
        workers_note=workers_note,
        routing=routing,
        store_path=store_path,
        memory=memory,
        profiles=profiles,
    )
    if options.smoke:
        report.smoke_problems = smoke_problems(report, backend=database.backend)
    else:
        report.targets = evaluate(report, backend=database.backend)
    report.generator = _generator_check(report)
    return report


@dataclass(frozen=True)
class _Deployment:
    config: Path
    workdir: Path
    server_port: int

    def server_command(self, workers: int) -> list[str]:
        return python_module(
            "bench.server",
            f"--config={self.config}",
            "--host=127.0.0.1",
            f"--port={self.server_port}",
            f"--workers={workers}",
        )


def _load_phases(
    wrk: str, workdir: Path, database: BenchDatabase, options: BenchOptions
) -> tuple[list[Figure], list[Figure], str, Memory, list[ProfileSummary]]:
    secret = secrets.token_hex(16)
    has_keys = "security" in Settings.__struct_fields__
    api_key = f"pay_{secrets.token_urlsafe(32)}" if has_keys else None
    config = workdir / "payments.toml"
    vendor_port, server_port, bare_port = free_port(), free_port(), free_port()
    vendor_url = f"http://127.0.0.1:{vendor_port}"
    write_config(config, database, server_port, vendor_url, secret, api_key)
    print(f"database: {database.display_url}; migrating ...", flush=True)
    migrate(config, workdir)
    print(f"storing {options.baseline_stored:,} payments ...", flush=True)
    asyncio.run(seeding.add_stored_payments(database.url, options.baseline_stored, "base"))
    asyncio.run(seeding.quiesce(database.url))
    scripts = workdir / "lua"
    scripts.mkdir()
    deployment = _Deployment(config, workdir, server_port)
    vendor_command = python_module("bench.vendor", f"--port={vendor_port}", f"--secret={secret}")
    with (
        running(
            "vendor",
            vendor_command,
            workdir=workdir,
            base_url=f"http://127.0.0.1:{vendor_port}",
            ready_path=READY_PATH,
        ) as vendor,
        running(
            "bare app",
            python_module("bench.bare", f"--port={bare_port}"),
            workdir=workdir,
            base_url=f"http://127.0.0.1:{bare_port}",
            ready_path="/health",
        ) as bare,
    ):
        load_options = Options(
            duration=options.duration,
            warmup=options.warmup,
            connections=options.connections,
            threads=options.threads,
            profile_folder=options.output.parent,
            count_statuses=options.smoke,
        )
        with running(
            "server",
            deployment.server_command(1),
            workdir=workdir,
            base_url=f"http://127.0.0.1:{server_port}",
            ready_path="/health",
        ) as server:
            stack = Stack(
                wrk, server, vendor, bare, database, scripts, load_options, secret, api_key
            )
            check_echo_route(server)
            check_echo_route(bare)
            figures, memory, profiles = _measure_all(stack, options)
        one_worker = next(f for f in figures if f.key == "init_payment")
        workers, note = _measure_workers(stack, deployment, one_worker)
        return figures, workers, note, memory, profiles


def _measure_all(
    stack: Stack, options: BenchOptions
) -> tuple[list[Figure], Memory, list[ProfileSummary]]:
    if options.warmup:
        print("warming up ...", flush=True)
        load(stack, "payment_body", [ECHO_PATH], options.warmup, target=stack.bare)
        load(stack, "payment_body", [ECHO_PATH], options.warmup)
        load(stack, "payment_body", ["/init-payment"], options.warmup)
    rss_warm = stack.server.rss_bytes()

    figures = [
        measure(
            stack,
            "bare_echo",
            "echo, bare app (baseline)",
            "payment_body",
            [ECHO_PATH],
            bare=True,
        ),
        measure(stack, "echo", "echo, platform app", "payment_body", [ECHO_PATH]),
        measure(stack, "health", "GET /health", "health", []),
    ]
    ceiling = figures[1].requests_per_second

    stored = asyncio.run(seeding.count_payments(stack.database.url))
    figures.append(
        measure(
            stack,
            "init_payment",
            f"init-payment ({stored:,} stored)",
            "payment_body",
            ["/init-payment"],
            stored_before=stored,
        )
    )
    profiles = []
    if options.profile:
        profiles.append(profile_run(stack, "init-payment", "payment_body", ["/init-payment"]))
    figures.append(measure_webhooks(stack, ceiling))
    refunds, refunded_prefix, refunded = measure_refunds(stack, ceiling)
    figures.append(refunds)
    # Right after the refund, so that the two are read on the machine as it was then.
    figures.append(measure_captures(stack, ceiling))
    figures.append(measure_reads(stack, refunded_prefix, refunded))
    flow = measure(
        stack,
        "flow",
        "init -> webhook -> refund (all requests)",
        "flow",
        [stack.secret, stack.merchant],
    )
    figures.append(flow_checked(flow))
    if options.profile:
        # The webhook and the refund as a real client mixes them: each handler's share of the
        # samples is in the summary's inclusive list (webhook, refund, init_payment).
        profiles.append(
            profile_run(stack, "init -> webhook -> refund", "flow", [stack.secret, stack.merchant])
        )
        profiles += profile_refund_and_capture(stack, ceiling)

    time.sleep(IN_FLIGHT_SECONDS)  # requests wrk left in flight finish before the count
    stored = asyncio.run(seeding.count_payments(stack.database.url))
    if options.stored > stored:
        print(f"storing {options.stored - stored:,} more payments ...", flush=True)
        asyncio.run(
            seeding.add_stored_payments(stack.database.url, options.stored - stored, "bulk")
        )
    asyncio.run(seeding.quiesce(stack.database.url))
    stored = asyncio.run(seeding.count_payments(stack.database.url))
    figures.append(
        measure(
            stack,
            "init_payment_stored",
            f"init-payment ({stored:,} stored)",
            "payment_body",
            ["/init-payment"],
            stored_before=stored,
        )
    )
    rss_after = stack.server.rss_bytes()
    figures.append(
        measure(stack, "echo_end", "echo, platform app (end of run)", "payment_body", [ECHO_PATH])
    )
    figures.append(
        measure(
            stack,
            "bare_echo_end",
            "echo, bare app (end of run)",
            "payment_body",
            [ECHO_PATH],
            bare=True,
        )
    )
    memory = Memory(
        after_warmup_bytes=rss_warm,
        after_stored_run_bytes=rss_after,
        growth=rss_after / rss_warm,
    )
    return figures, memory, profiles


def _measure_workers(
    stack: Stack, deployment: _Deployment, one_worker: Figure
) -> tuple[list[Figure], str]:
    """init-payment served by two processes, beside the one-process figure."""
    print("restarting the server with 2 worker processes ...", flush=True)
    try:
        with running(
            "server",
            deployment.server_command(2),
            workdir=deployment.workdir,
            base_url=stack.server.base_url,
            ready_path="/health",
        ) as server:
            two = dataclasses.replace(stack, server=server, workers=2)
            if stack.options.warmup:
                load(two, "payment_body", ["/init-payment"], stack.options.warmup)
            stored = asyncio.run(seeding.count_payments(stack.database.url))
            figure = measure(
                two,
                "init_payment_workers",
                f"init-payment ({stored:,} stored)",
                "payment_body",
                ["/init-payment"],
                stored_before=stored,
            )
            processes = len(server.processes()) - 1  # the supervisor
    except BenchError as error:
        reason = str(error).strip().splitlines()
        refusal = next((line for line in reversed(reason) if "error:" in line), reason[-1])
        return [one_worker], f"2 workers not measured: {refusal.strip()}"
    note = (
        f"2 workers: {processes} processes under uvicorn's supervisor (the servers and"
        " multiprocessing's resource tracker); CPU of them all is counted"
    )
    return [one_worker, figure], note


def machine_facts(load_before: float) -> dict[str, str]:
    """What the figures were measured on; a busy machine (load above its CPU count before or
    after the run) gives noisier ratios, so run again when it is quiet."""
    commit = _git("rev-parse", "--short", "HEAD") or "unknown"
    if _git("status", "--porcelain", "--untracked-files=no"):
        commit += " with uncommitted changes"
    return {
        "cpus": str(os.cpu_count()),
        "load_average_1m_before": f"{load_before:.2f}",
        "load_average_1m_after": f"{os.getloadavg()[0]:.2f}",
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "git_commit": commit,
    }


def _git(*args: str) -> str:
    done = subprocess.run(  # noqa: S603 - git with our own arguments
        ["git", *args],  # noqa: S607 - git from PATH is what we want
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    return done.stdout.strip()


def _generator_check(report: Report) -> str:
    """Whether wrk could push harder than anything it measured."""
    baseline = report.figure("echo")
    others = [f for f in report.figures if "echo" not in f.key and f.key != "health"]
    if baseline is None or not others:
        return ""
    busiest = max(others, key=lambda figure: figure.requests_per_second)
    verdict = (
        "the generator is not the limit"
        if baseline.requests_per_second > busiest.requests_per_second
        and baseline.generator_cores < 0.8 * baseline.server_cores
        else "CHECK: the generator may be the limit"
    )
    return (
        f"load generator: wrk pushed the platform's echo route to"
        f" {baseline.requests_per_second:,.0f} req/s using {baseline.generator_cores:.2f} cores"
        f" while the server used {baseline.server_cores:.2f}; the busiest measured route reached"
        f" {busiest.requests_per_second:,.0f} req/s ({busiest.label}): {verdict}"
    )
