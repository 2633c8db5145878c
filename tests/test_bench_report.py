"""The bench's report (``bench/report.py``) on figures made up here: a full capture's CPU per
request is judged against the full refund's of the same run, as the issue asks (a capture
costs no more than a refund), and printed beside it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def bench_importable(monkeypatch: pytest.MonkeyPatch) -> None:
    """``bench`` is run from the repository's root (``python -m bench``), not installed."""
    monkeypatch.syspath_prepend(str(REPO_ROOT))


def report(refund_us: float, capture_us: float, **capture_changes: Any) -> Any:
    from bench.report import Figure, Report

    def figure(key: str, cpu_us: float, **changes: Any) -> Figure:
        fields: dict[str, Any] = {
            "key": key,
            "label": f"{key}, full",
            "requests_per_second": 500.0,
            "p50_ms": 50.0,
            "p99_ms": 150.0,
            "cpu_us_per_request": cpu_us,
            "requests": 2500,
            "errors": 0,
            "seconds": 5.0,
            "server_cores": 0.6,
            "vendor_cores": 0.05,
            "generator_cores": 0.1,
        }
        return Figure(**{**fields, **changes})

    return Report(
        started_at="2026-12-07T00:00:00+00:00",
        seconds=200.0,
        machine={},
        settings={},
        figures=[figure("refund", refund_us), figure("capture", capture_us, **capture_changes)],
        routing=[],
        memory=None,
    )


def capture_target(run: Any) -> Any:
    from bench.report import evaluate

    return next(t for t in evaluate(run, backend="sqlite") if t.name.startswith("capture"))


@pytest.mark.parametrize(
    ("refund_us", "capture_us", "met", "measured"),
    [
        (1300, 1250, True, "1,250 us vs 1,300 us CPU/request (0.96 x)"),
        (1300, 1300, True, "1,300 us vs 1,300 us CPU/request (1.00 x)"),
        (1300, 1352, False, "1,352 us vs 1,300 us CPU/request (1.04 x)"),
    ],
)
def test_a_capture_is_judged_against_the_refund_of_the_same_run(
    refund_us: float, capture_us: float, met: bool, measured: str
) -> None:
    target = capture_target(report(refund_us, capture_us))

    assert (target.name, target.met, target.measured) == ("capture (full) (sqlite)", met, measured)


def test_a_capture_figure_marked_invalid_meets_nothing() -> None:
    target = capture_target(report(1300, 1000, problem="ran out of prepared payments"))

    assert target.met is False


def test_the_table_prints_the_capture_beside_the_refund() -> None:
    from bench.report import render_table

    table = render_table(report(1300, 1352))

    assert "capture (full) beside refund (full): 1,352 us vs 1,300 us CPU/request (1.04 x)" in table
