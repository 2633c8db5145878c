"""The bench's smoke verdict (``bench/smoke.py``, ``python -m bench --smoke``), on reports made
up here: which runs pass, and what each failing one is told. CI runs the smoke itself.

Issue 19, section 5: the bench had broken without anybody noticing; a smoke run in CI fails
when a route answers a status it never should or a scenario makes no requests.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
STATUSES = {
    "bare_echo": [200],
    "echo": [200],
    "health": [200],
    "init_payment": [201],
    "webhook": [200],
    "refund": [200],
    "capture": [200],
    "get_payment": [200],
    "flow": [200, 201],
    "init_payment_stored": [201],
    "echo_end": [200],
    "bare_echo_end": [200],
}
REFUSED = (
    "2 workers not measured: payments_platform.cli.common.CommandError: --workers above 1 needs"
    " PostgreSQL: on SQLite every write takes the one database lock, and processes waiting for"
    " it back off by sleeping, so one process starves the others (measured: p99 latency from"
    " 0.5 s to 1.5 s and more); run one process per SQLite file"
)


@pytest.fixture(autouse=True)
def bench_importable(monkeypatch: pytest.MonkeyPatch) -> None:
    """``bench`` is run from the repository's root (``python -m bench``), not installed."""
    monkeypatch.syspath_prepend(str(REPO_ROOT))


def figure(key: str, statuses: dict[int, int], **changes: Any) -> Any:
    from bench.report import Figure

    fields: dict[str, Any] = {
        "key": key,
        "label": key.replace("_", " "),
        "requests_per_second": 100.0,
        "p50_ms": 1.0,
        "p99_ms": 2.0,
        "cpu_us_per_request": 1000.0,
        "requests": sum(statuses.values()),
        "errors": sum(n for status, n in statuses.items() if status >= 400),
        "seconds": 1.0,
        "server_cores": 0.5,
        "vendor_cores": 0.1,
        "generator_cores": 0.1,
        "counters": {f"status_{status}": n for status, n in statuses.items()},
    }
    return Figure(**{**fields, **changes})


def report(*, backend: str = "sqlite", **replaced: Any) -> Any:
    """A smoke run's report where every scenario answered as it should, but for ``replaced``
    (a scenario's key: its figure, or None to leave it out)."""
    from bench.report import Report
    from bench.routing_speed import RoutingSpeed

    figures = []
    for key, statuses in STATUSES.items():
        chosen = replaced.get(key, figure(key, dict.fromkeys(statuses, 50)))
        if chosen is not None:
            figures.append(chosen)
    one = next(f for f in figures if f.key == "init_payment")
    workers, note = [one], REFUSED
    if backend == "postgresql":
        two = replaced.get("init_payment_workers", figure("init_payment", {201: 80}, workers=2))
        workers, note = [one, *([two] if two is not None else [])], "2 workers: 3 processes"
        if two is None:
            note = "2 workers not measured: server did not answer within 60s"
    return Report(
        started_at="2026-12-07T00:00:00+00:00",
        seconds=40.0,
        machine={},
        settings={},
        figures=figures,
        routing=[RoutingSpeed(strategy="weighted", gateways=10, median_us=20.0, best_us=18.0)],
        memory=None,
        workers=workers,
        workers_note=note,
    )


def problems(run: Any, backend: str = "sqlite") -> list[str]:
    from bench.smoke import smoke_problems

    found: list[str] = smoke_problems(run, backend=backend)
    return found


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_a_run_where_every_route_answered_as_it_should_passes(backend: str) -> None:
    assert problems(report(backend=backend), backend) == []


def test_every_scenario_the_bench_runs_has_its_expected_statuses() -> None:
    from bench.smoke import EXPECTED_STATUSES

    assert {key: sorted(statuses) for key, statuses in EXPECTED_STATUSES.items()} == STATUSES


@pytest.mark.parametrize(
    ("key", "statuses", "said"),
    [
        ("health", {200: 40, 500: 2}, "GET /health: answered 2 x 500 (only 200 expected)"),
        ("init_payment", {200: 7}, "init payment: answered 7 x 200 (only 201 expected)"),
        ("refund", {200: 3, 409: 1}, "refund: answered 1 x 409 (only 200 expected)"),
        ("flow", {201: 9, 302: 1}, "flow: answered 1 x 302 (only 200 or 201 expected)"),
    ],
)
def test_a_route_answering_a_status_it_never_should_fails(
    key: str, statuses: dict[int, int], said: str
) -> None:
    label = "GET /health" if key == "health" else key.replace("_", " ")
    run = report(**{key: figure(key, statuses, label=label)})

    assert problems(run) == [said]


def test_a_scenario_that_made_no_requests_fails() -> None:
    run = report(webhook=figure("webhook", {}))

    assert problems(run) == ["webhook: no requests"]


def test_a_scenario_that_did_not_run_fails() -> None:
    assert problems(report(get_payment=None)) == ["scenario 'get_payment' did not run"]


def test_a_new_scenario_must_say_what_its_route_answers() -> None:
    run = report()
    run.figures.append(figure("void", {200: 10}))

    assert problems(run) == ["void: no statuses are expected of it (bench/smoke.py)"]


def test_answers_nobody_counted_fail_rather_than_pass_unseen() -> None:
    run = report(echo=figure("echo", {200: 10}, counters={}))

    assert problems(run) == ["echo: no answer was read (0 errors)"]


def test_a_figure_the_bench_marked_invalid_fails() -> None:
    run = report(webhook=figure("webhook", {200: 10}, problem="ran out of prepared payments"))

    assert problems(run) == ["webhook: ran out of prepared payments"]


def test_two_workers_on_postgresql_that_did_not_start_fail() -> None:
    run = report(backend="postgresql", init_payment_workers=None)

    assert problems(run, "postgresql") == [
        "2 workers not measured: server did not answer within 60s"
    ]


def test_two_workers_on_postgresql_answering_wrong_statuses_fail() -> None:
    two = figure("init_payment_workers", {201: 5, 503: 5}, label="init payment", workers=2)
    run = report(backend="postgresql", init_payment_workers=two)

    assert problems(run, "postgresql") == [
        "init payment, 2 workers: answered 5 x 503 (only 201 expected)"
    ]


def test_two_workers_on_sqlite_must_be_refused_for_the_documented_reason() -> None:
    run = report()
    run.workers_note = "2 workers not measured: server exited during startup: ImportError"

    assert problems(run) == [f"2 workers on SQLite: not refused as expected ({run.workers_note})"]


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        (
            ["--smoke"],
            {"duration": 1.0, "warmup": 0.0, "stored": 200, "output": "bench-results/smoke.json"},
        ),
        (
            ["--smoke", "--duration", "2", "--db", "postgresql://127.0.0.1:5432/test"],
            {"duration": 2.0, "warmup": 0.0, "db": "postgresql://127.0.0.1:5432/test"},
        ),
        ([], {"duration": 10.0, "warmup": 3.0, "stored": 1_000_000, "smoke": False}),
        (["--warmup", "0"], {"duration": 10.0, "warmup": 0.0, "smoke": False}),
    ],
)
def test_smoke_runs_are_brief_unless_told_otherwise(
    arguments: list[str], expected: dict[str, Any]
) -> None:
    from bench.cli import options_of, parser

    options = options_of(parser().parse_args(arguments))

    assert {name: getattr(options, name) for name in expected} == {
        name: Path(value) if name == "output" else value for name, value in expected.items()
    }
