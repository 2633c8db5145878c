"""``python -m bench routing``: every scenario with every strategy and several seeds, then
the CPU of a decision and of the refresh measured directly with 10 gateways.

Nothing is started and nothing touches the network: the simulation runs in this process on
simulated time (``bench/routing_sim.py``). A smoke run plays each scenario's timeline
compressed to about a minute, with one seed and short CPU measurements, and judges no figure.
"""

from __future__ import annotations

import os
import statistics
import time
from dataclasses import dataclass
from datetime import UTC, datetime

import msgspec
from payments_platform.breaker import BreakerPolicy
from payments_platform.scoring import ScorePolicy

from bench.routing_cost import FINER_POLICY, measure_decisions, measure_refresh
from bench.routing_report import RoutingReport, ScenarioInfo, StrategyResult, combine, evaluate
from bench.routing_sim import PAYMENTS_PER_SECOND, STRATEGIES, simulate
from bench.routing_world import MINUTE, scenarios
from bench.run import machine_facts


@dataclass(frozen=True, kw_only=True)
class RoutingOptions:
    """What the command line asked for."""

    seeds: int
    scenarios: tuple[str, ...]
    policy: ScorePolicy
    smoke: bool = False

    @property
    def scale(self) -> float:
        """How much each scenario's timeline is compressed (a smoke run: 45 minutes in 68
        seconds)."""
        return 0.025 if self.smoke else 1.0


def run_routing(options: RoutingOptions) -> RoutingReport:
    """Run the scenarios and the CPU measurements; the report, its targets judged (a smoke
    run: its problems listed instead)."""
    started = time.perf_counter()
    started_at = datetime.now(UTC).isoformat(timespec="seconds")
    load_before = os.getloadavg()[0]
    infos: list[ScenarioInfo] = []
    results: list[StrategyResult] = []
    for scenario in scenarios(options.scale):
        if scenario.key not in options.scenarios:
            continue
        print(f"routing scenario {scenario.key} ...", flush=True)
        infos.append(
            ScenarioInfo(
                key=scenario.key,
                title=scenario.title,
                simulated_minutes=(scenario.seconds - scenario.warmup_seconds) / MINUTE,
                warmup_minutes=scenario.warmup_seconds / MINUTE,
                gateways=[gateway.name for gateway in scenario.gateways],
            )
        )
        for strategy in STRATEGIES:
            runs = [
                simulate(scenario, strategy, seed, policy=options.policy)
                for seed in range(1, options.seeds + 1)
            ]
            results.append(combine(scenario.key, strategy, runs))
    print("routing CPU: decide and refresh with 10 gateways ...", flush=True)
    decisions = measure_decisions(
        calls=200 if options.smoke else 2_000, rounds=3 if options.smoke else 9
    )
    adds, rounds, fill = (10, 2, 0.05) if options.smoke else (150, 5, 1.0)
    refresh = [
        measure_refresh(policy, label, measured_adds=adds, rounds=rounds, window_fill=fill)
        for policy, label in (
            (options.policy, "policy as run"),
            (FINER_POLICY, "amount bands x card network"),
        )
    ]
    report = RoutingReport(
        started_at=started_at,
        seconds=time.perf_counter() - started,
        machine=machine_facts(load_before),
        settings={
            "payments_per_second": f"{PAYMENTS_PER_SECOND:g}",
            "seeds": str(options.seeds),
            "timeline_scale": f"{options.scale:g}",
            "score_policy": msgspec.json.encode(options.policy).decode(),
            "breaker_policy": msgspec.json.encode(BreakerPolicy()).decode(),
            "smoke": str(options.smoke).lower(),
        },
        scenarios=infos,
        results=results,
        decisions=decisions,
        refresh=refresh,
        timer_overhead_us=_timer_overhead_us(),
    )
    if options.smoke:
        report.smoke_problems = smoke_problems(report)
    else:
        report.targets = evaluate(report)
    return report


def _timer_overhead_us() -> float:
    """CPU of one pair of ``time.process_time`` calls, as each decision is timed with."""
    rounds = []
    for _ in range(5):
        started = time.process_time()
        for _ in range(20_000):
            time.process_time()
            time.process_time()
        rounds.append((time.process_time() - started) / 20_000 * 1e6)
    return statistics.median(rounds)


def smoke_problems(report: RoutingReport) -> list[str]:
    """What a smoke run found wrong: a scenario or strategy that did not run, made no
    decisions or sent no payment anywhere. No figure is judged."""
    problems = []
    for info in report.scenarios:
        for strategy in STRATEGIES:
            result = report.result(info.key, strategy)
            if result is None:
                problems.append(f"{info.key}: {strategy} did not run")
            elif result.payments_per_seed == 0:
                problems.append(f"{info.key}: {strategy} routed no payment")
            elif result.unanswered_share >= 1.0:
                problems.append(f"{info.key}: {strategy} had no payment answered")
    if not report.decisions or not report.refresh:
        problems.append("the CPU of a decision or of the refresh was not measured")
    return problems
