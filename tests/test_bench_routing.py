"""The routing benchmark (``python -m bench routing``): a smoke run goes through every
scenario with every strategy in a few seconds and writes its JSON and chart (no figure is
judged: that is the full run's job, read by a person); its options; and the decision engine's
algorithm it compares against, as published (``bench/decision_engine.py``)."""

from __future__ import annotations

import random
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import msgspec
import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def bench_importable(monkeypatch: pytest.MonkeyPatch) -> None:
    """``bench`` is run from the repository's root (``python -m bench``), not installed."""
    monkeypatch.syspath_prepend(str(REPO_ROOT))


def test_a_smoke_run_covers_every_scenario_and_strategy_and_writes_json_and_chart(
    tmp_path: Path,
) -> None:
    from bench.cli import main
    from bench.routing_report import RoutingReport
    from bench.routing_sim import STRATEGIES
    from bench.routing_world import SCENARIO_KEYS

    output, chart = tmp_path / "routing.json", tmp_path / "routing.svg"

    status = main(["routing", "--smoke", "--output", str(output), "--chart", str(chart)])

    assert status == 0
    report = msgspec.json.decode(output.read_bytes(), type=RoutingReport)
    assert report.smoke_problems == []
    assert {(r.scenario, r.strategy) for r in report.results} == {
        (scenario, strategy) for scenario in SCENARIO_KEYS for strategy in STRATEGIES
    }
    assert {figure.strategy for figure in report.decisions} == {
        "adaptive",
        "weighted",
        "priority",
    }
    # The file this run just wrote, not untrusted input.
    root = ET.parse(chart).getroot()  # noqa: S314
    assert root.tag == "{http://www.w3.org/2000/svg}svg"


def options(*arguments: str) -> Any:
    from bench.cli import parser, routing_options_of

    return routing_options_of(parser().parse_args(["routing", *arguments]))


def test_a_routing_run_takes_five_seeds_of_every_scenario_unless_told_otherwise() -> None:
    from payments_platform.scoring import ScorePolicy

    from bench.routing_world import SCENARIO_KEYS

    run = options()

    assert (run.seeds, run.scenarios, run.policy, run.smoke) == (
        5,
        SCENARIO_KEYS,
        ScorePolicy(),
        False,
    )
    assert options("--smoke").seeds == 1
    assert options("--seeds", "2", "--scenario", "outage").scenarios == ("outage",)


def test_score_policy_settings_are_decoded_and_checked_as_the_config_is() -> None:
    run = options("--policy", "max_samples=500", "--policy", "amount_bands=[1000, 5000]")

    assert (run.policy.max_samples, run.policy.amount_bands) == (500, (1000, 5000))
    with pytest.raises(ValueError, match="max_samples"):
        options("--policy", "max_samples=1")


def test_the_server_bench_keeps_its_options_beside_the_routing_subcommand() -> None:
    from bench.cli import options_of, parser

    args = parser().parse_args(["--smoke", "--duration", "2"])

    assert args.benchmark is None
    assert (options_of(args).duration, options_of(args).smoke) == (2.0, True)


def engine(**policy: Any) -> Any:
    from bench.decision_engine import SuccessRateV3, SuccessRateV3Policy

    return SuccessRateV3(SuccessRateV3Policy(**policy), random.Random(1))


def test_a_gateway_nothing_is_known_of_scores_one() -> None:
    assert engine().score("A", "USD") == 1.0


def test_the_score_is_successes_over_the_last_bucket_size_outcomes() -> None:
    rates = engine(bucket_size=4)
    for accepted in (False, False, True, False, True, True):
        rates.record("A", "USD", accepted=accepted, unavailable=False, now=0.0)

    # The last four: True, False, True, True.
    assert rates.score("A", "USD") == 0.75
    assert rates.score("A", "AED") == 1.0


def test_the_best_scored_gateway_goes_first_and_the_rest_by_score() -> None:
    rates = engine(bucket_size=10, hedging=0.0)
    for _ in range(3):
        rates.record("A", "USD", accepted=False, unavailable=False, now=0.0)
    rates.record("B", "USD", accepted=False, unavailable=False, now=0.0)

    assert rates.order(["A", "B", "C"], "USD", now=0.0) == ["C", "B", "A"]


def test_hedging_demotes_the_leader_behind_every_other_gateway() -> None:
    rates = engine(bucket_size=10, hedging=1.0)
    rates.record("B", "USD", accepted=False, unavailable=False, now=0.0)
    rates.record("C", "USD", accepted=False, unavailable=False, now=0.0)

    order = rates.order(["A", "B", "C"], "USD", now=0.0)

    assert order[-1] == "A"
    assert sorted(order[:2]) == ["B", "C"]


def test_five_unavailable_calls_in_five_minutes_eliminate_a_gateway_until_one_leaks() -> None:
    rates = engine(hedging=0.0)
    for second in range(5):
        rates.record("A", "USD", accepted=False, unavailable=True, now=float(second))

    assert rates.order(["A", "B"], "USD", now=10.0) == ["B", "A"]
    assert rates.eliminated("A", now=299.0)
    assert not rates.eliminated("A", now=300.0)


def test_declines_fill_no_bucket() -> None:
    rates = engine()
    for second in range(10):
        rates.record("A", "USD", accepted=False, unavailable=False, now=float(second))

    assert not rates.eliminated("A", now=10.0)
