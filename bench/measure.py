"""Measuring one scenario: wrk against the server, with the CPU each process used.

A figure is measured after a warm-up and right after the bare route's own measurement (its
adjacent baseline). Scenarios that use each prepared payment once (the paid webhook, the full
refund, the full capture) get their payments stored first, as many as the baseline's throughput
could use up.
"""

from __future__ import annotations

import asyncio
import math
import secrets
import uuid
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import msgspec

from bench import seeding
from bench.database import BenchDatabase
from bench.processes import BenchError, Child
from bench.profile import ProfileSummary, start_recording
from bench.report import Figure, PerRequest
from bench.server import STATEMENTS_PATH, StatementCounts
from bench.vendor import PREFILL_PATH, CaptureMode, Prefilled
from bench.wrk import WrkRun, run_wrk, write_script

POOL_MARGIN = 1.3
"""Payments stored for a scenario that uses each once: this many times what the baseline's
throughput could use up, so a scenario never runs out of them."""
PREFILL_CHUNK = 20_000
PAYMENT_AMOUNT = "10.00 AED"


@dataclass(frozen=True)
class Options:
    """How long and how hard to load."""

    duration: float
    warmup: float
    """Seconds of warm-up before each measured load; 0: none, statements are counted during
    the measured load itself."""
    connections: int
    threads: int
    profile_folder: Path
    """Where raw profiles go (beside the results)."""
    count_statuses: bool = False
    """Count every answer by its status (``status_<code>`` counters): smoke runs."""


@dataclass(frozen=True)
class Stack:
    """The processes under test and how to load them."""

    wrk: str
    server: Child
    vendor: Child
    bare: Child
    """The bare app (``bench.bare``): the baseline every figure's CPU is read against."""
    database: BenchDatabase
    scripts: Path
    options: Options
    secret: str
    api_key: str | None
    """Sent as ``Authorization: Bearer`` on every client request, when the API asks for keys."""
    workers: int = 1

    @property
    def merchant(self) -> str:
        """The merchant the API key belongs to; empty for the open API."""
        return seeding.MERCHANT if self.api_key else ""

    """Server processes behind the port; statements are counted only with one."""


@dataclass(frozen=True)
class Sample:
    """One wrk run and the CPU each process used meanwhile."""

    run: WrkRun
    server_cpu_seconds: float
    """CPU the loaded server used (all its processes and threads)."""
    vendor_cpu_seconds: float

    @property
    def cpu_us_per_request(self) -> float:
        """Server CPU per completed request, in microseconds."""
        requests = self.run.summary.requests
        return self.server_cpu_seconds / requests * 1e6 if requests else 0.0

    def cores(self, cpu_seconds: float) -> float:
        """``cpu_seconds`` spread over the load's wall time, in cores."""
        return cpu_seconds / self.run.wall_seconds


def load(
    stack: Stack, scenario: str, args: list[str], seconds: float, *, target: Child | None = None
) -> Sample:
    """Run ``scenario`` with ``args`` against the server (or ``target``) for ``seconds``."""
    server = target or stack.server
    script = write_script(scenario, stack.scripts, count_statuses=stack.options.count_statuses)
    server_cpu, vendor_cpu = server.cpu_seconds(), stack.vendor.cpu_seconds()
    result = run_wrk(
        stack.wrk,
        server.base_url,
        script,
        args,
        seconds=seconds,
        threads=stack.options.threads,
        connections=stack.options.connections,
        api_key=stack.api_key,
    )
    if server.process.poll() is not None:
        raise BenchError(f"the {server.name} died under load:\n{server.output_tail()}")
    return Sample(
        run=result,
        server_cpu_seconds=server.cpu_seconds() - server_cpu,
        vendor_cpu_seconds=stack.vendor.cpu_seconds() - vendor_cpu,
    )


def _count_statements(server: Child, start: bool) -> StatementCounts | None:
    answer = httpx.post(server.base_url + STATEMENTS_PATH, json={"count": start}, timeout=30)
    answer.raise_for_status()
    return None if start else msgspec.json.decode(answer.content, type=StatementCounts)


def measure(
    stack: Stack,
    key: str,
    label: str,
    scenario: str,
    args: list[str],
    *,
    warmup_args: list[str] | None = None,
    stored_before: int | None = None,
    bare: bool = False,
) -> Figure:
    """Warm up (counting the statements the server runs meanwhile), then measure; without a
    warm-up, count during the measured load."""
    options = stack.options
    target = stack.bare if bare else stack.server
    print(f"{label}: warm-up {options.warmup:g}s, measure {options.duration:g}s ...", flush=True)
    counting = not bare and stack.workers == 1
    if counting:
        _count_statements(target, start=True)
    if options.warmup:
        warm_args = warmup_args if warmup_args is not None else args
        warm = load(stack, scenario, warm_args, options.warmup, target=target)
        counts = _count_statements(target, start=False) if counting else None
        sample = load(stack, scenario, args, options.duration, target=target)
    else:
        sample = warm = load(stack, scenario, args, options.duration, target=target)
        counts = _count_statements(target, start=False) if counting else None
    summary = sample.run.summary
    problem = None
    if summary.errors.total > summary.requests * 0.001:
        problem = f"{summary.errors.total:,} errors in {summary.requests:,} requests"
    per_request = None
    if counts is not None and warm.run.summary.requests:
        warmed = warm.run.summary.requests
        per_request = PerRequest(
            statements=counts.statements / warmed,
            transactions=counts.transactions / warmed,
            durable_commits=counts.durable_commits / warmed,
        )
    return Figure(
        key=key,
        label=label,
        requests_per_second=sample.run.answered_per_second,
        p50_ms=summary.latency_us.p50 / 1000,
        p99_ms=summary.latency_us.p99 / 1000,
        cpu_us_per_request=sample.cpu_us_per_request,
        database=per_request,
        requests=summary.requests,
        errors=summary.errors.total,
        seconds=sample.run.seconds,
        workers=1 if bare else stack.workers,
        server_cores=sample.cores(sample.server_cpu_seconds),
        vendor_cores=sample.cores(sample.vendor_cpu_seconds),
        generator_cores=sample.cores(sample.run.cpu_seconds),
        counters=dict(summary.counters),
        stored_before=stored_before,
        problem=problem,
    )


def _pool_size(ceiling: float, seconds: float) -> int:
    if not seconds:
        return 0
    return math.ceil(ceiling * seconds * POOL_MARGIN) + 1000


def measure_webhooks(stack: Stack, ceiling: float) -> Figure:
    """Each request moves one initiated payment to paid: transitions, not repeats."""
    options = stack.options
    warm, measured = _pool_size(ceiling, options.warmup), _pool_size(ceiling, options.duration)
    prefix = f"bench-wh-{secrets.token_hex(3)}-"
    print(f"storing {warm + measured:,} initiated payments for the webhook ...", flush=True)
    asyncio.run(seeding.add_initiated_payments(stack.database.url, prefix, warm + measured))
    asyncio.run(seeding.quiesce(stack.database.url))
    threads, secret = str(options.threads), stack.secret
    figure = measure(
        stack,
        "webhook",
        "webhook paid (each a transition)",
        "webhook",
        [prefix, str(warm), str(measured), threads, secret],
        warmup_args=[prefix, "0", str(warm), threads, secret],
    )
    return _each_once(figure, "transitions")


def measure_refunds(stack: Stack, ceiling: float) -> tuple[Figure, str, int]:
    """Each request refunds one paid payment in full; also the payments' id prefix and count
    (ids ``<prefix><index as 12 hex digits>``), refunded now, for the reads to read."""
    pool = _prepare(stack, ceiling, "automatic", "paid", seeding.add_paid_payments)
    figure = _use_each_once(stack, pool, "refund", "refund, full", "refund")
    return _each_once(figure, "refunds"), pool.prefix, pool.total


def measure_captures(stack: Stack, ceiling: float) -> Figure:
    """Each request captures one authorized payment (taken with manual capture) in full,
    prepared and measured as the full refund is."""
    pool = _prepare(stack, ceiling, "manual", "authorized", seeding.add_authorized_payments)
    figure = _use_each_once(stack, pool, "capture", "capture, full", "capture")
    return _each_once(figure, "captures")


@dataclass(frozen=True)
class _Pool:
    """Payments prepared for a scenario that uses each once: ids ``<prefix><index as 12 hex
    digits>``, the first ``warm`` for the warm-up, the next ``measured`` for the measurement."""

    prefix: str
    warm: int
    measured: int

    @property
    def total(self) -> int:
        """How many there are."""
        return self.warm + self.measured


_Store = Callable[[str, Sequence[uuid.UUID], Sequence[str]], Coroutine[Any, Any, None]]


def _prepare(
    stack: Stack, ceiling: float, capture: CaptureMode, stored_as: str, store: _Store
) -> _Pool:
    """Start as many payments at the vendor as the baseline's throughput could use up, taken
    with ``capture``, and store them (``store``) at the vendor's ids."""
    options = stack.options
    pool = _Pool(
        prefix=str(uuid.uuid4())[:24],
        warm=_pool_size(ceiling, options.warmup),
        measured=_pool_size(ceiling, options.duration),
    )
    ids = [uuid.UUID(f"{pool.prefix}{index:012x}") for index in range(pool.total)]
    print(
        f"starting {pool.total:,} payments at the vendor and storing them {stored_as} ...",
        flush=True,
    )
    external_ids = _prefill_vendor(stack.vendor, [str(payment_id) for payment_id in ids], capture)
    asyncio.run(store(stack.database.url, ids, external_ids))
    asyncio.run(seeding.quiesce(stack.database.url))
    return pool


def _use_each_once(stack: Stack, pool: _Pool, key: str, label: str, scenario: str) -> Figure:
    """Measure ``scenario``, which uses each payment of ``pool`` once: the warm-up the first
    ones, the measured load the rest."""
    threads = str(stack.options.threads)
    return measure(
        stack,
        key,
        label,
        scenario,
        [pool.prefix, str(pool.warm), str(pool.measured), threads],
        warmup_args=[pool.prefix, "0", str(pool.warm), threads],
    )


def measure_reads(stack: Stack, prefix: str, total: int) -> Figure:
    """``GET /payments/{id}`` of refunded payments (with their attempt, refund and events),
    picked at random; every answer must be a 200."""
    figure = measure(
        stack, "get_payment", "GET /payments/{id} (refunded)", "get_payment", [prefix, str(total)]
    )
    return _each_once(figure, "found")


def _each_once(figure: Figure, counter: str) -> Figure:
    """Mark the figure invalid unless every answer counted ``counter`` and the pool lasted."""
    problems = []
    if figure.counters.get("exhausted"):
        problems.append("ran out of prepared payments")
    done = figure.counters.get(counter, 0)
    if done < figure.requests - figure.errors:
        problems.append(f"only {done:,} of {figure.requests:,} answers were {counter}")
    if not problems:
        return figure
    joined = "; ".join(problems if figure.problem is None else [figure.problem, *problems])
    return msgspec.structs.replace(figure, problem=joined)


def flow_checked(figure: Figure) -> Figure:
    """Mark the flow's figure invalid when no payment went all the way through."""
    flows = figure.counters.get("flows", 0)
    if flows == 0:
        return msgspec.structs.replace(figure, problem="no flow completed")
    return figure


def _prefill_vendor(vendor: Child, references: list[str], capture: CaptureMode) -> list[str]:
    external_ids: list[str] = []
    with httpx.Client(base_url=vendor.base_url, timeout=300) as client:
        for first in range(0, len(references), PREFILL_CHUNK):
            chunk = references[first : first + PREFILL_CHUNK]
            body = {"references": chunk, "amount": PAYMENT_AMOUNT, "capture": capture}
            answer = client.post(PREFILL_PATH, json=body)
            answer.raise_for_status()
            external_ids += msgspec.json.decode(answer.content, type=Prefilled).external_ids
    return external_ids


def profile_refund_and_capture(stack: Stack, ceiling: float) -> list[ProfileSummary]:
    """The full refund, then the full capture, under py-spy, each on payments of its own
    prepared as for its measurement: where each one's CPU goes, side by side."""
    threads = str(stack.options.threads)
    refunds = _prepare(stack, ceiling, "automatic", "paid", seeding.add_paid_payments)
    refund = profile_run(
        stack, "refund, full", "refund", [refunds.prefix, "0", str(refunds.total), threads]
    )
    captures = _prepare(stack, ceiling, "manual", "authorized", seeding.add_authorized_payments)
    capture = profile_run(
        stack, "capture, full", "capture", [captures.prefix, "0", str(captures.total), threads]
    )
    return [refund, capture]


def profile_run(stack: Stack, label: str, scenario: str, args: list[str]) -> ProfileSummary:
    """Profile the server with py-spy during a load run of ``scenario`` of its own; the raw
    stacks go beside the results (``profile-<scenario>.raw``)."""
    seconds = stack.options.duration
    raw = stack.options.profile_folder / f"profile-{scenario}.raw"
    raw.parent.mkdir(parents=True, exist_ok=True)
    print(f"profiling {label} for {seconds:g}s with py-spy ...", flush=True)
    recording = start_recording(stack.server.pid, seconds, raw)
    load(stack, scenario, args, seconds)
    return recording.finish(label)
