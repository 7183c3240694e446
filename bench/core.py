"""What every comparison shares: settings, results, statistics, the table and the JSON."""

from __future__ import annotations

import itertools
import statistics
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

Measurement = Mapping[str, float]


@dataclass(frozen=True)
class BenchConfig:
    """Sizes and knobs; `--quick` picks small ones."""

    quick: bool
    rounds: int
    messages: int
    fanout_messages: int
    prefetch: int
    concurrency: int
    connections: int
    http_seconds: float
    latency_seconds: float
    latency_rates: tuple[int, ...]
    waiting_messages: int
    waiting_seconds: float
    memory_messages: int
    workdir: Path
    deliver_seconds: float = 10.0
    broker_url: str = ""
    peers: bool = True  # Dramatiq and Celery in comparison 1
    memory_publisher: bool = True  # comparison 7 with a destination (the publisher delivers)
    against: Path | None = None  # another source tree whose eventyard runs as an extra contestant

    @property
    def against_label(self) -> str:
        """How the other tree's contestants are named."""
        return f"@{self.against.name}" if self.against else ""


@dataclass
class Row:
    """One contestant's measurements of one metric, one value per round."""

    contestant: str
    metric: str
    values: list[float]
    baseline: str | None = None  # the contestant (same metric) the ratio is taken against
    digits: int = 0

    @property
    def median(self) -> float:
        """The median over rounds."""
        return statistics.median(self.values) if self.values else float("nan")


@dataclass
class Target:
    """One target of the issue and whether this run met it (None: not measurable here).

    `value` is the figure that decides it (a ratio, or milliseconds, µs, % as `unit` says) and
    `threshold` the bound it is held to, `sense` "min" (at least) or "max" (at most).
    """

    text: str
    met: bool | None
    detail: str = ""
    value: float | None = None
    threshold: float | None = None
    sense: str = ""
    unit: str = "x"


def at_least(text: str, value: float | None, threshold: float, unit: str = "x") -> Target:
    """A target met when `value` >= `threshold`; not measured when `value` is None."""
    return _bounded(text, value, threshold, "min", unit)


def at_most(text: str, value: float | None, threshold: float, unit: str = "x") -> Target:
    """A target met when `value` <= `threshold`; not measured when `value` is None."""
    return _bounded(text, value, threshold, "max", unit)


def _bounded(text: str, value: float | None, threshold: float, sense: str, unit: str) -> Target:
    if value is None or value != value:  # None or NaN
        return Target(text, None, "not measured", None, threshold, sense, unit)
    met = value >= threshold if sense == "min" else value <= threshold
    detail = f"{value:.2f}x" if unit == "x" else f"{value:,.1f} {unit}"
    return Target(text, met, detail, value, threshold, sense, unit)


@dataclass
class Section:
    """One comparison's rows, targets and notes."""

    number: int
    key: str
    title: str
    rows: list[Row] = field(default_factory=list)
    targets: list[Target] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    error: str | None = None

    def row(self, contestant: str, metric: str) -> Row | None:
        """The row of this contestant and metric, if measured."""
        return next(
            (r for r in self.rows if r.contestant == contestant and r.metric == metric), None
        )

    def ratio(self, row: Row) -> float | None:
        """Median of the row over the median of its baseline row (same metric)."""
        if row.baseline is None:
            return None
        base = self.row(row.baseline, row.metric)
        if base is None or not base.values or base.median == 0:
            return None
        return row.median / base.median

    def ratio_of(self, contestant: str, baseline: str, metric: str) -> float | None:
        """The ratio of two contestants' medians for a metric."""
        row, base = self.row(contestant, metric), self.row(baseline, metric)
        if row is None or base is None or not base.values or base.median == 0:
            return None
        return row.median / base.median


async def interleave(
    rounds: int, contestants: Mapping[str, Callable[[], Awaitable[Measurement]]]
) -> dict[str, dict[str, list[float]]]:
    """Run A B C, B C A, C A B …: every contestant once per round, the order rotating."""
    names = list(contestants)
    results: dict[str, dict[str, list[float]]] = {name: {} for name in names}
    for index in range(rounds):
        shift = index % len(names)
        for name in names[shift:] + names[:shift]:
            measured = await contestants[name]()
            for metric, value in measured.items():
                results[name].setdefault(metric, []).append(value)
    return results


def percentile(values: Sequence[float], fraction: float) -> float:
    """The nearest-rank percentile (values need not be sorted)."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(fraction * len(ordered) + 0.5) - 1))
    return ordered[rank]


def _number(value: float, digits: int) -> str:
    if value != value:  # NaN
        return "-"
    return f"{value:,.{digits}f}"


def table(sections: Iterable[Section]) -> str:
    """A Markdown table of every row: median, min, max and the ratio to its baseline."""
    lines = [
        "| # | comparison | contestant | metric | median | min | max | vs baseline |",
        "|---|---|---|---|---:|---:|---:|---|",
    ]
    for section in sections:
        if section.error:
            lines.append(f"| {section.number} | {section.title} | - | failed | | | | |")
            continue
        for row in section.rows:
            ratio = section.ratio(row)
            versus = f"{ratio:.2f}x {row.baseline}" if ratio is not None else ""
            lines.append(
                f"| {section.number} | {section.title} | {row.contestant} | {row.metric} | "
                f"{_number(row.median, row.digits)} | {_number(min(row.values), row.digits)} | "
                f"{_number(max(row.values), row.digits)} | {versus} |"
            )
    return "\n".join(lines)


def verdicts(sections: Iterable[Section]) -> str:
    """One line per target: met, missed, or not measured, with the figure that decides it."""
    lines = []
    for section in sections:
        if section.error:
            lines.append(f"{section.number}. {section.title}: FAILED: {section.error}")
            continue
        for target in section.targets:
            mark = {True: "met", False: "MISSED", None: "n/a"}[target.met]
            lines.append(f"{section.number}. {target.text}: {mark} ({target.detail})")
        lines.extend(f"{section.number}. note: {note}" for note in section.notes)
    return "\n".join(lines)


def as_json(config: BenchConfig, sections: Iterable[Section], meta: Mapping[str, Any]) -> Any:
    """The same results, for machines."""
    out = []
    for section in sections:
        entry = asdict(section)
        for row, raw in zip(section.rows, entry["rows"], strict=True):
            raw["median"] = row.median
            raw["min"] = min(row.values) if row.values else None
            raw["max"] = max(row.values) if row.values else None
            raw["ratio"] = section.ratio(row)
        out.append(entry)
    settings = {k: str(v) if isinstance(v, Path) else v for k, v in asdict(config).items()}
    settings.pop("broker_url", None)
    return {"meta": dict(meta), "config": settings, "sections": out}


def rows_from(
    results: Mapping[str, Mapping[str, list[float]]],
    metric: str,
    *,
    baseline: str | None,
    digits: int = 0,
    label: str | None = None,
) -> list[Row]:
    """One row per contestant for `metric` (the baseline row itself has no ratio)."""
    return [
        Row(
            name,
            label or metric,
            list(values[metric]),
            None if name == baseline else baseline,
            digits,
        )
        for name, values in results.items()
        if metric in values
    ]


def chunks(count: int, size: int) -> Iterable[range]:
    """range(0, count) in pieces of at most `size`."""
    for start in itertools.count(0, size):
        if start >= count:
            return
        yield range(start, min(count, start + size))


def ratio_target(text: str, ratio: float | None, at_least_: float) -> Target:
    """A target met when `ratio` is at least `at_least_`; not measured when it is None."""
    return at_least(text, ratio, at_least_)
