"""The routing benchmark's results: figures per scenario and strategy, the issue's targets,
the table, the JSON and the chart."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence

import msgspec

from bench.report import Target, columns, verdict
from bench.routing_cost import DecisionCpu, RefreshCpu
from bench.routing_sim import DECISION_ENGINE, STRATEGIES, RunTally
from bench.svg_chart import Series, bar_chart

OURS = "adaptive"
DECISION_US_TARGET = 50.0
REFRESH_MS_TARGET = 5.0
ORACLE_PP_TARGET = 1.0
LABELS = {
    "priority": "priority",
    "weighted": "weighted",
    DECISION_ENGINE: "decision engine SR v3",
    OURS: "adaptive (ours)",
}
COLOURS = {
    "priority": "#9e9e9e",
    "weighted": "#f2a541",
    DECISION_ENGINE: "#4a7fc1",
    OURS: "#2e9e5b",
}


class ScenarioInfo(msgspec.Struct, frozen=True, kw_only=True):
    """A scenario as run."""

    key: str
    title: str
    simulated_minutes: float
    warmup_minutes: float
    gateways: list[str]


class StrategyResult(msgspec.Struct, frozen=True, kw_only=True):
    """One strategy in one scenario, averaged over seeds (warm-up left out)."""

    scenario: str
    strategy: str
    seeds: int
    payments_per_seed: int
    taken_share: float
    """Payments accepted, over payments."""
    oracle_share: float
    """Payments the oracle's choice would have accepted, on the same draws."""
    regret_pp: float
    """The oracle's acceptance probability minus the answering gateway's, in percentage
    points, averaged over payments (mean over seeds)."""
    regret_pp_by_seed: list[float]
    calls_per_payment: float
    unanswered_share: float
    decide_cpu_us: float
    """CPU per decision, ``time.process_time`` around each one (3-4 candidates)."""


class RoutingReport(msgspec.Struct, kw_only=True):
    """Everything one run of the routing benchmark found."""

    started_at: str
    seconds: float
    machine: dict[str, str]
    settings: dict[str, str]
    scenarios: list[ScenarioInfo]
    results: list[StrategyResult]
    decisions: list[DecisionCpu]
    refresh: list[RefreshCpu]
    targets: list[Target] = msgspec.field(default_factory=list)
    timer_overhead_us: float = 0.0
    """CPU of one pair of ``time.process_time`` calls, included in every decision's figure."""
    smoke_problems: list[str] | None = None

    def result(self, scenario: str, strategy: str) -> StrategyResult | None:
        """The figures of ``strategy`` in ``scenario``."""
        return next(
            (r for r in self.results if r.scenario == scenario and r.strategy == strategy), None
        )


def combine(scenario: str, strategy: str, runs: Sequence[RunTally]) -> StrategyResult:
    """One strategy's seeds of one scenario, as one result."""
    by_seed = [100 * run.regret / max(run.payments, 1) for run in runs]
    payments = sum(run.payments for run in runs)
    decisions = sum(run.decisions for run in runs)
    return StrategyResult(
        scenario=scenario,
        strategy=strategy,
        seeds=len(runs),
        payments_per_seed=payments // max(len(runs), 1),
        taken_share=sum(run.accepted for run in runs) / max(payments, 1),
        oracle_share=sum(run.oracle_accepted for run in runs) / max(payments, 1),
        regret_pp=statistics.fmean(by_seed) if by_seed else math.nan,
        regret_pp_by_seed=[round(value, 4) for value in by_seed],
        calls_per_payment=sum(run.calls for run in runs) / max(payments, 1),
        unanswered_share=sum(run.unanswered for run in runs) / max(payments, 1),
        decide_cpu_us=1e6 * sum(run.decide_cpu_seconds for run in runs) / max(decisions, 1),
    )


def _paired_gap(ours: StrategyResult, theirs: StrategyResult) -> tuple[float, float]:
    """Our regret minus theirs, and its standard error over the seeds (paired: the same
    payments and draws)."""
    gaps = [
        mine - other
        for mine, other in zip(ours.regret_pp_by_seed, theirs.regret_pp_by_seed, strict=True)
    ]
    if len(gaps) < 2:
        return statistics.fmean(gaps), math.nan
    return statistics.fmean(gaps), statistics.stdev(gaps) / math.sqrt(len(gaps))


def evaluate(report: RoutingReport) -> list[Target]:
    """The issue's targets, judged on this run."""
    targets = []
    ours_regrets = []
    for scenario in report.scenarios:
        ours = report.result(scenario.key, OURS)
        theirs = report.result(scenario.key, DECISION_ENGINE)
        if ours is None or theirs is None:
            continue
        ours_regrets.append(ours.regret_pp)
        gap, error = _paired_gap(ours, theirs)
        spread = "" if math.isnan(error) else f" +- {error:.2f}"
        targets.append(
            Target(
                name=f"{scenario.key}: ours vs decision engine",
                goal="regret <= the decision engine's",
                measured=f"{ours.regret_pp:.2f} vs {theirs.regret_pp:.2f} pp ({gap:+.2f}{spread})",
                met=ours.regret_pp <= theirs.regret_pp,
            )
        )
    if ours_regrets:
        mean = statistics.fmean(ours_regrets)
        targets.append(
            Target(
                name="ours: regret, mean of the scenarios",
                goal=f"<= {ORACLE_PP_TARGET:g} pp",
                measured=f"{mean:.2f} pp",
                met=mean <= ORACLE_PP_TARGET,
            )
        )
    if report.decisions:
        slowest = max(report.decisions, key=lambda figure: figure.median_us)
        targets.append(
            Target(
                name=f"decision among {slowest.gateways} gateways, CPU",
                goal=f"< {DECISION_US_TARGET:g} us",
                measured=f"{slowest.median_us:.1f} us ({slowest.strategy}, median)",
                met=slowest.median_us < DECISION_US_TARGET,
            )
        )
    for refresh in report.refresh:
        targets.append(
            Target(
                name=f"refresh at {refresh.attempts_per_second:,} attempts/s,"
                f" {refresh.gateways} gateways ({refresh.policy})",
                goal=f"< {REFRESH_MS_TARGET:g} ms CPU per second",
                measured=f"{refresh.median_ms_per_second:.2f} ms",
                met=refresh.median_ms_per_second < REFRESH_MS_TARGET,
            )
        )
    return targets


def render_table(report: RoutingReport) -> str:
    """The results per scenario and strategy, the CPU figures and the targets."""
    rows = []
    for scenario in report.scenarios:
        oracle = None
        for strategy in STRATEGIES:
            result = report.result(scenario.key, strategy)
            if result is None:
                continue
            oracle = result.oracle_share
            rows.append(
                (
                    scenario.key,
                    LABELS[strategy],
                    f"{100 * result.taken_share:.2f}%",
                    f"{result.regret_pp:.2f}",
                    f"{result.calls_per_payment:.3f}",
                    f"{result.decide_cpu_us:.1f}",
                    f"{100 * result.unanswered_share:.2f}% unanswered"
                    if result.unanswered_share
                    else "",
                )
            )
        if oracle is not None:
            rows.append((scenario.key, "oracle", f"{100 * oracle:.2f}%", "0", "", "", ""))
    header = (
        "scenario",
        "strategy",
        "taken",
        "regret pp",
        "calls/payment",
        "CPU us/decision",
        "notes",
    )
    lines = [columns(header, rows), ""]
    cpu_rows = [
        (
            f"decide, {figure.gateways} gateways ({figure.strategy})",
            f"{figure.median_us:.1f} us CPU (best {figure.best_us:.1f})",
        )
        for figure in report.decisions
    ]
    cpu_rows += [
        (
            f"ScoreBoard.add, {figure.gateways} gateways x {figure.segments} segment(s) x 3"
            f" currencies, {figure.attempts_per_second:,} attempts/s ({figure.policy})",
            f"{figure.median_ms_per_second:.2f} ms CPU per second"
            f" ({figure.median_ms_per_add:.2f} ms per add)",
        )
        for figure in report.refresh
    ]
    cpu_rows.append(
        (
            "timer pair (in each CPU us/decision above)",
            f"{report.timer_overhead_us:.2f} us",
        )
    )
    lines += [columns(("measured directly", "value"), cpu_rows), ""]
    if report.targets:
        target_rows = [(t.name, t.goal, t.measured, verdict(t.met)) for t in report.targets]
        lines.append(columns(("target", "goal", "measured", "verdict"), target_rows))
    return "\n".join(lines).rstrip("\n")


def chart(report: RoutingReport) -> str:
    """Regret per scenario and strategy, with the mean of the scenarios, as an SVG bar
    chart."""
    keys = [scenario.key for scenario in report.scenarios]
    series = []
    for strategy in STRATEGIES:
        values = []
        for key in keys:
            result = report.result(key, strategy)
            values.append(result.regret_pp if result is not None else 0.0)
        values.append(statistics.fmean(values) if values else 0.0)
        series.append(Series(name=LABELS[strategy], colour=COLOURS[strategy], values=values))
    seeds = max((result.seeds for result in report.results), default=0)
    return bar_chart(
        title=f"Routing regret against the oracle (lower is better; mean of {seeds} seed(s))",
        y_label="percentage points of payments",
        groups=[*(key.replace("_", " ") for key in keys), "mean"],
        series=series,
    )
