"""Rows of measurements: CSV, the summary table (medians and ratios), the plot."""

from __future__ import annotations

import csv
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path

BASELINE = "openssh xargs"


@dataclass(frozen=True)
class Row:
    """One measurement of one runner on one lab."""

    work: str
    hosts: int
    delay_ms: int
    label: str
    tool_version: str
    repeat: int
    wall_s: float
    cpu_s: float
    cpu_ms_per_host: float
    peak_mib: float
    connections_per_host: float
    sessions_per_host: float
    server_cpu_ms_per_host: float  # the lab hosts' side: sshd sessions and what they ran
    ok_hosts: int
    compliant_after: int  # fleet verify's count after a rollout/no-op; -1 when not judged
    exit_code: int
    note: str = ""


FIELDS = [f.name for f in fields(Row)]


class CsvSink:
    """Appends rows as they are measured, so an interrupted run keeps what it has."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("w", newline="", encoding="utf-8") as handle:
            csv.writer(handle).writerow(FIELDS)

    def add(self, row: Row) -> None:
        with self.path.open("a", newline="", encoding="utf-8") as handle:
            csv.DictWriter(handle, FIELDS).writerow(_rounded(row))


def _rounded(row: Row) -> dict[str, object]:
    return {k: round(v, 4) if isinstance(v, float) else v for k, v in asdict(row).items()}


def read_csv(path: Path) -> list[Row]:
    with path.open(newline="", encoding="utf-8") as handle:
        return [_row(record) for record in csv.DictReader(handle)]


def _row(record: dict[str, str]) -> Row:
    values: dict[str, object] = {}
    for f in fields(Row):
        raw = record[f.name]
        values[f.name] = int(raw) if f.type == "int" else float(raw) if f.type == "float" else raw
    return Row(**values)  # type: ignore[arg-type]


@dataclass(frozen=True)
class Summary:
    """The median of the repeats of one runner on one (work, hosts, delay)."""

    work: str
    hosts: int
    delay_ms: int
    label: str
    runs: int
    wall_s: float
    cpu_ms_per_host: float
    peak_mib: float
    connections_per_host: float
    sessions_per_host: float
    server_cpu_ms_per_host: float
    ok_hosts: int
    compliant_after: int
    ratio: float | None  # wall time against openssh xargs in the same run (same work/hosts/delay)


def summarise(rows: Iterable[Row]) -> list[Summary]:
    groups: dict[tuple[str, int, int, str], list[Row]] = {}
    for row in rows:
        groups.setdefault((row.work, row.hosts, row.delay_ms, row.label), []).append(row)
    medians = {key: statistics.median(r.wall_s for r in group) for key, group in groups.items()}
    out = []
    for (work, hosts, delay, label), group in groups.items():
        base = medians.get((work, hosts, delay, _baseline(work)))
        out.append(
            Summary(
                work, hosts, delay, label, len(group), medians[(work, hosts, delay, label)],
                statistics.median(r.cpu_ms_per_host for r in group),
                statistics.median(r.peak_mib for r in group),
                statistics.median(r.connections_per_host for r in group),
                statistics.median(r.sessions_per_host for r in group),
                statistics.median(r.server_cpu_ms_per_host for r in group),
                min(r.ok_hosts for r in group),
                min(r.compliant_after for r in group),
                medians[(work, hosts, delay, label)] / base if base else None,
            )
        )  # fmt: skip
    order = {"fanout": 0, "rollout": 1, "noop": 2}
    return sorted(out, key=lambda s: (order.get(s.work, 9), s.delay_ms, s.hosts, s.wall_s))


def first_of_each(summaries: Iterable[Summary]) -> list[Summary]:
    """One summary per (work, hosts, delay, tool): the first, when runs overlap."""
    seen: dict[tuple[str, int, int, str], Summary] = {}
    for s in summaries:
        seen.setdefault((s.work, s.hosts, s.delay_ms, s.label), s)
    return list(seen.values())


def _baseline(work: str) -> str:
    return BASELINE if work == "fanout" else BASELINE + " (script)"


def table(summaries: Sequence[Summary]) -> str:
    """A Markdown table: readable in a terminal and pasted as it is into docs/performance.md."""
    head = (
        "| work | N | delay | tool | runs | wall s | vs xargs | CPU ms/host | peak MiB "
        "| conn/host | sessions/host | server CPU ms/host | ok | compliant after |"
    )
    lines = [head, "|" + "---|" * 14]
    for s in summaries:
        ratio = f"{s.ratio:.2f}" if s.ratio is not None else "-"
        compliant = str(s.compliant_after) if s.compliant_after >= 0 else "-"
        lines.append(
            f"| {s.work} | {s.hosts} | {s.delay_ms} ms | {s.label} | {s.runs} | {s.wall_s:.2f} "
            f"| {ratio} | {s.cpu_ms_per_host:.1f} | {s.peak_mib:.0f} | {s.connections_per_host:.2f} "
            f"| {s.sessions_per_host:.2f} | {s.server_cpu_ms_per_host:.0f} | {s.ok_hosts} "
            f"| {compliant} |"
        )
    return "\n".join(lines)


def plot(summaries: Sequence[Summary], path: Path) -> Path | None:
    """Wall time and peak memory against N, one panel per work (no delay); None without matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    works = [w for w in ("fanout", "rollout", "noop") if any(s.work == w for s in summaries)]
    if not works:
        return None
    figure, axes = plt.subplots(2, len(works), figsize=(5 * len(works), 8), squeeze=False)
    tools = ("fleet", "openssh", "parallel-ssh", "pyinfra", "ansible")
    colours = dict(
        zip(tools, ("tab:green", "tab:gray", "tab:purple", "tab:orange", "tab:red"), strict=True)
    )
    for column, work in enumerate(works):
        chosen = [s for s in summaries if s.work == work and s.delay_ms == 0]
        for label in sorted({s.label for s in chosen}):
            points = sorted((s.hosts, s.wall_s, s.peak_mib) for s in chosen if s.label == label)
            xs = [p[0] for p in points]
            style = {
                "marker": "o",
                "label": label,
                "color": colours.get(label.split()[0], "tab:blue"),
                "linestyle": "--" if label == "fleet verify" else "-",
            }
            axes[0][column].plot(xs, [p[1] for p in points], **style)
            axes[1][column].plot(xs, [p[2] for p in points], **style)
        axes[0][column].set_title(f"{work}: wall time (median, log scale)")
        axes[0][column].set_ylabel("seconds")
        axes[1][column].set_title(f"{work}: controller peak memory (PSS)")
        axes[1][column].set_ylabel("MiB")
        for row in (0, 1):
            axes[row][column].set_yscale("log")
            axes[row][column].set_xlabel("hosts (N)")
            axes[row][column].grid(True, alpha=0.3)
            axes[row][column].legend(fontsize=7)
    figure.tight_layout()
    figure.savefig(path, dpi=90)
    plt.close(figure)
    return path
