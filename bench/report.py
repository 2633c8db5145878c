"""The results of a bench run: figures, ratios to the baseline, targets, the table and the JSON."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import msgspec

from bench.profile import ProfileSummary
from bench.routing_speed import RoutingSpeed

BASELINE = "echo"


class Figure(msgspec.Struct, frozen=True, kw_only=True):
    """One measured route under load, over the measured window (warm-up excluded)."""

    key: str
    label: str
    requests_per_second: float
    """Answers that were not errors, per second."""
    p50_ms: float
    p99_ms: float
    baseline_rps: float | None = None
    """The bare route's throughput measured right before this figure (after its warm-up)."""
    ratio: float | None = None
    """``requests_per_second`` over ``baseline_rps``: the machine's drift during the run
    cancels out, since both are measured within seconds of each other."""
    requests: int
    errors: int
    seconds: float
    server_cores: float
    """CPU the server used, in cores (1.0 = one core busy all the time)."""
    vendor_cores: float
    generator_cores: float
    counters: dict[str, int] = msgspec.field(default_factory=dict)
    """What the scenario counted in the answers (transitions, refunds, flows, ...)."""
    stored_before: int | None = None
    """Payments stored when the measurement started."""
    problem: str | None = None
    """Why the figure cannot be trusted, if it cannot."""


class Memory(msgspec.Struct, frozen=True, kw_only=True):
    """The server's resident memory after warm-up and after the run with all payments stored."""

    after_warmup_bytes: int
    after_stored_run_bytes: int
    growth: float
    """``after_stored_run_bytes`` over ``after_warmup_bytes``."""


class Target(msgspec.Struct, frozen=True, kw_only=True):
    """A goal of the issue and whether this run met it; ``met`` is None when not measured."""

    name: str
    goal: str
    measured: str
    met: bool | None


class Report(msgspec.Struct, kw_only=True):
    """Everything one run found."""

    started_at: str
    seconds: float
    machine: dict[str, str]
    settings: dict[str, str]
    figures: list[Figure]
    routing: list[RoutingSpeed]
    memory: Memory | None
    targets: list[Target] = msgspec.field(default_factory=list)
    generator: str = ""
    profile: ProfileSummary | None = None

    def figure(self, key: str) -> Figure | None:
        """The figure measured under ``key``."""
        return next((figure for figure in self.figures if figure.key == key), None)


def with_ratios(figures: list[Figure]) -> list[Figure]:
    """Each figure with its throughput over its adjacent baseline's (or the first baseline's)."""
    first = next((figure for figure in figures if figure.key == BASELINE), None)
    fallback = first.requests_per_second if first is not None else None
    rated = []
    for figure in figures:
        baseline = figure.baseline_rps or fallback
        ratio = figure.requests_per_second / baseline if baseline else None
        rated.append(msgspec.structs.replace(figure, ratio=ratio))
    return rated


def _ratio_target(report: Report, key: str, name: str, minimum: float) -> Target:
    figure = report.figure(key)
    if figure is None or figure.ratio is None:
        return Target(name=name, goal=f">= {minimum:g} of baseline", measured="-", met=None)
    return Target(
        name=name,
        goal=f">= {minimum:g} of baseline",
        measured=f"{figure.ratio:.3f}",
        met=figure.problem is None and figure.ratio >= minimum,
    )


def evaluate(report: Report, *, backend: str) -> list[Target]:
    """The issue's targets, judged on this run."""
    targets = [
        _ratio_target(
            report,
            "init_payment",
            "init-payment (SQLite)" if backend == "sqlite" else "init-payment",
            0.25,
        ),
        _ratio_target(report, "webhook", "webhook (paid transition)", 0.5),
        _ratio_target(report, "refund", "refund (full)", 0.25),
    ]
    small, large = report.figure("init_payment"), report.figure("init_payment_stored")
    if small is not None and large is not None and small.ratio and large.ratio:
        # Ratios of ratios: each run is taken against its own adjacent baseline.
        kept = large.ratio / small.ratio
        targets.append(
            Target(
                name=f"init-payment with {large.stored_before or 0:,} stored",
                goal=f">= 0.9 of the same with {small.stored_before or 0:,} stored",
                measured=f"{kept:.3f}",
                met=large.problem is None and small.problem is None and kept >= 0.9,
            )
        )
    if report.routing:
        slowest = max(report.routing, key=lambda speed: speed.median_us)
        targets.append(
            Target(
                name=f"routing decision among {slowest.gateways} gateways",
                goal="< 50 us",
                measured=f"{slowest.median_us:.1f} us ({slowest.strategy}, median)",
                met=slowest.median_us < 50,
            )
        )
    if backend == "postgresql" and small is not None:
        targets.append(
            Target(
                name="PostgreSQL init-payment",
                goal=">= 2,000 req/s",
                measured=f"{small.requests_per_second:,.0f} req/s",
                met=small.problem is None and small.requests_per_second >= 2000,
            )
        )
    else:
        targets.append(
            Target(
                name="PostgreSQL init-payment",
                goal=">= 2,000 req/s",
                measured="not measured (run with --db postgresql://...)",
                met=None,
            )
        )
    growth = report.memory.growth if report.memory else None
    targets.append(
        Target(
            name="server RSS after the stored-payments run",
            goal="within 20% of RSS after warm-up",
            measured="-" if growth is None else f"{growth:.3f} x",
            met=None if growth is None else abs(growth - 1.0) <= 0.2,
        )
    )
    return targets


def _verdict(met: bool | None) -> str:
    return {True: "met", False: "MISSED", None: "-"}[met]


def render_table(report: Report) -> str:
    """The figures, their ratios and the targets, as one text table."""
    header = ("figure", "req/s", "p50 ms", "p99 ms", "baseline", "ratio", "server", "notes")
    rows: list[tuple[str, ...]] = []
    for figure in report.figures:
        notes = ", ".join(f"{name} {value:,}" for name, value in sorted(figure.counters.items()))
        if figure.errors:
            notes = f"{figure.errors:,} errors" + (f", {notes}" if notes else "")
        if figure.problem:
            notes = f"INVALID: {figure.problem}" + (f"; {notes}" if notes else "")
        rows.append(
            (
                figure.label,
                f"{figure.requests_per_second:,.0f}",
                f"{figure.p50_ms:.2f}",
                f"{figure.p99_ms:.2f}",
                "" if figure.baseline_rps is None else f"{figure.baseline_rps:,.0f}",
                "-" if figure.ratio is None else f"{figure.ratio:.3f}",
                f"{figure.server_cores:.2f} cores",
                notes,
            )
        )
    for speed in report.routing:
        rows.append(
            (
                f"routing decide, {speed.gateways} gateways ({speed.strategy})",
                f"{speed.median_us:.1f} us/call",
                "",
                "",
                "",
                "",
                "",
                f"best {speed.best_us:.1f} us",
            )
        )
    if report.memory is not None:
        warm = report.memory.after_warmup_bytes / 2**20
        after = report.memory.after_stored_run_bytes / 2**20
        rows.append(
            (
                "server RSS: after warm-up -> after stored run",
                f"{warm:.1f} -> {after:.1f} MB",
                "",
                "",
                "",
                f"{report.memory.growth:.3f}",
                "",
                "",
            )
        )
    lines = [_columns(header, rows)]
    lines.append("")
    target_rows = [(t.name, t.goal, t.measured, _verdict(t.met)) for t in report.targets]
    lines.append(_columns(("target", "goal", "measured", "verdict"), target_rows))
    return "\n".join(lines)


def _columns(header: tuple[str, ...], rows: Sequence[tuple[str, ...]]) -> str:
    widths = [max(len(row[index]) for row in [header, *rows]) for index in range(len(header))]

    def line(cells: tuple[str, ...]) -> str:
        first, *rest = cells
        parts = [first.ljust(widths[0])]
        parts += [cell.rjust(width) for cell, width in zip(rest[:-1], widths[1:-1], strict=True)]
        parts.append(rest[-1])
        return "  ".join(parts).rstrip()

    rule = "  ".join("-" * width for width in widths)
    return "\n".join([line(header), rule, *(line(row) for row in rows)])


def write_json(report: Report, path: Path) -> None:
    """Write the report as indented JSON, creating the folder."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(msgspec.json.format(msgspec.json.encode(report), indent=2) + b"\n")
