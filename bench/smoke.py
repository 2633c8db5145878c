"""``python -m bench --smoke``: every route and scenario of a run, briefly, judged on answers
alone.

The bench had broken before with nobody noticing: a run takes minutes and a person reads its
figures. A smoke run is the same run (the same processes, config, Lua scenarios and checks)
with tiny stored counts, no warm-ups and a second of load per scenario, so CI can afford it.
No figure is judged: the machine is shared and a second says nothing about speed. It fails if
the server does not start (the bench stops, exit status 2), or (exit status 1) if a scenario
made no requests, answered a status its route never should, or found its answers not what
they should be (the checks that mark a figure INVALID).
"""

from __future__ import annotations

from collections.abc import Mapping

from payments_platform.cli.serving import SQLITE_WORKERS_REFUSED

from bench.report import Figure, Report

STATUS_COUNTER = "status_"
"""Prefix of the counters a smoke run's scenarios keep per answer status (``status_201``)."""

EXPECTED_STATUSES: Mapping[str, frozenset[int]] = {
    "bare_echo": frozenset({200}),
    "echo": frozenset({200}),
    "health": frozenset({200}),
    "init_payment": frozenset({201}),
    "webhook": frozenset({200}),
    "refund": frozenset({200}),
    "capture": frozenset({200}),
    "get_payment": frozenset({200}),
    "flow": frozenset({200, 201}),
    "init_payment_stored": frozenset({201}),
    "echo_end": frozenset({200}),
    "bare_echo_end": frozenset({200}),
}
"""Every scenario a run measures, and the statuses its answers may have."""
TWO_WORKERS = "init_payment_workers"
"""init-payment under two server processes: measured on PostgreSQL, refused on SQLite."""
EXPECTED_STATUSES_TWO_WORKERS = frozenset({201})


def smoke_problems(report: Report, *, backend: str) -> list[str]:
    """What went wrong in a smoke run, one line each; empty when every route answered as it
    should."""
    problems = []
    measured = {figure.key for figure in report.figures}
    problems += [
        f"scenario {key!r} did not run" for key in EXPECTED_STATUSES if key not in measured
    ]
    for figure in report.figures:
        expected = EXPECTED_STATUSES.get(figure.key)
        if expected is None:
            problems.append(f"{figure.label}: no statuses are expected of it (bench/smoke.py)")
            continue
        problems += _figure_problems(figure, expected)
    two = [figure for figure in report.workers if figure.workers == 2]
    if backend == "sqlite":
        if SQLITE_WORKERS_REFUSED not in report.workers_note:
            problems.append(f"2 workers on SQLite: not refused as expected ({report.workers_note})")
    elif not two:
        problems.append(report.workers_note or "2 workers: not measured")
    for figure in two:
        problems += _figure_problems(figure, EXPECTED_STATUSES_TWO_WORKERS)
    if not report.routing:
        problems.append("routing decision: not measured")
    return problems


def _figure_problems(figure: Figure, expected: frozenset[int]) -> list[str]:
    name = figure.label if figure.workers == 1 else f"{figure.label}, {figure.workers} workers"
    if figure.requests == 0:
        return [f"{name}: no requests"]
    problems = []
    statuses = statuses_of(figure)
    unexpected = {status: count for status, count in statuses.items() if status not in expected}
    if unexpected:
        answered = ", ".join(f"{n:,} x {status}" for status, n in sorted(unexpected.items()))
        allowed = " or ".join(str(status) for status in sorted(expected))
        problems.append(f"{name}: answered {answered} (only {allowed} expected)")
    if not statuses:
        problems.append(f"{name}: no answer was read ({figure.errors:,} errors)")
    if figure.problem is not None:
        problems.append(f"{name}: {figure.problem}")
    return problems


def statuses_of(figure: Figure) -> dict[int, int]:
    """How many answers of each status the scenario got (counted by smoke runs only)."""
    return {
        int(name.removeprefix(STATUS_COUNTER)): count
        for name, count in figure.counters.items()
        if name.startswith(STATUS_COUNTER)
    }
