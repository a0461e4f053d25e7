"""Renderings of one :class:`~fleet.results.Report`, and the live progress display.

Three renderings of the same frozen report: rich tables for a terminal, plain
``KEY value key=value`` lines for logs and pipes, and JSON for programs.  The
live display is a set of event callbacks the scheduler calls while it runs;
:class:`SafeEvents` makes sure a broken display can only warn, never stop a
rollout.

Everything a host sends back (errors, names, versions) is untrusted text: it is
never read as rich markup, and control characters are made visible so a
hostile or garbled message cannot repaint the terminal or split a log line.
"""

from __future__ import annotations

import json
import os
import re
import sys
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO

from rich.console import Console, ConsoleOptions, Group, RenderableType, RenderResult
from rich.live import Live
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from fleet.errors import EnvironmentProblem
from fleet.results import HostResult, Report, Status, StepResult

LARGE_RUN = 50  # above this many hosts the terminal table lists only hosts that need attention

STATUS_STYLE: Mapping[Status, str] = {
    Status.OK: "green",
    Status.CHANGED: "yellow",
    Status.FAILED: "bold red",
    Status.UNREACHABLE: "bold magenta",
    Status.SKIPPED: "cyan",
    Status.INTERRUPTED: "bold dark_orange",
    Status.NOT_RUN: "dim",
}

# Worst first: the order in which causes of the same size are listed.
_BAD_STATUSES = (
    Status.FAILED,
    Status.UNREACHABLE,
    Status.INTERRUPTED,
    Status.SKIPPED,
    Status.NOT_RUN,
)
# What failed-hosts.txt lists: every host a re-run has something left to do on.
RETRY_STATUSES = frozenset({Status.FAILED, Status.UNREACHABLE, Status.INTERRUPTED, Status.NOT_RUN})


# --------------------------------------------------------------------------- text hygiene

_LINE_BREAKS = re.compile(r"\s*[\r\n]+\s*")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def one_line(text: str) -> str:
    """Host text made safe for one line: line breaks joined, control characters shown as ``\\xNN``.

    An ESC byte in a host's error would otherwise restyle the user's terminal,
    and a newline would break the one-line-per-host promise of the plain output.
    """
    joined = _LINE_BREAKS.sub(" | ", text.strip()).replace("\t", " ")
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", joined)


def _safe(text: str | None, missing: str = "-") -> Text:
    """A rich cell that is never parsed as markup or emoji codes."""
    return Text(one_line(text) if text else missing)


def format_duration(seconds: float) -> str:
    """``3.2s``, ``4m03s``, ``2h05m``: short enough for a table column."""
    if seconds < 60:
        return f"{seconds:.1f}s"
    whole = int(seconds)
    if whole < 3600:
        return f"{whole // 60}m{whole % 60:02d}s"
    return f"{whole // 3600}h{whole % 3600 // 60:02d}m"


def _percent(part: int, total: int) -> str:
    """Rounded *down* to 0.1%, so 999 of 1000 never reads as 100%."""
    tenths = part * 1000 // total if total else 0
    return f"{tenths // 10}.{tenths % 10}%"


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


# --------------------------------------------------------------------------- host names

_DIGIT_RUNS = re.compile(r"(\d+)")
_LAST_NUMBER = re.compile(r"^(.*?)(\d+)(\D*)$")


def _natural_key(name: str) -> tuple[object, ...]:
    """``node2`` before ``node10``; ``node01`` next to ``node1`` (ties broken by width)."""
    parts = _DIGIT_RUNS.split(name)
    return tuple((int(p), len(p)) if i % 2 else p for i, p in enumerate(parts))


def _joins(previous: str, current: str) -> bool:
    """Whether two numbers belong to one ``[a:b]`` range in inventory-pattern syntax.

    A range pads every number to the width of its first one, so ``node[099:100]``
    is fine, but ``node9`` and ``node010`` cannot share a range.
    """
    if int(current) != int(previous) + 1:
        return False
    natural = current == str(int(current)) and previous == str(int(previous))
    return natural or len(current) == len(previous)


def _name_runs(names: Sequence[str]) -> list[tuple[str, int]]:
    """Consecutive numbered names as ``(text, host count)``; three or more fold to a range."""
    runs: list[list[tuple[str, str, str]]] = []
    for name in names:
        match = _LAST_NUMBER.match(name)
        parts = match.groups() if match else (name, "", "")
        last = runs[-1][-1] if runs else None
        if (
            last is not None
            and parts[1]
            and last[1]
            and (last[0], last[2]) == (parts[0], parts[2])
            and _joins(last[1], parts[1])
        ):
            runs[-1].append(parts)
        else:
            runs.append([parts])
    items: list[tuple[str, int]] = []
    for run in runs:
        if len(run) >= 3:
            prefix, first, suffix = run[0]
            items.append((f"{prefix}[{first}:{run[-1][1]}]{suffix}", len(run)))
        else:
            items.extend(("".join(parts), 1) for parts in run)
    return items


def fold_names(names: Iterable[str], max_items: int | None = 6, sep: str = ", ") -> str:
    """Host names, sorted naturally, with runs folded: ``node[001:012], node020, and 25 more``.

    ``max_items`` bounds the length so one cause shared by 500 hosts stays one
    line; ``None`` lists every name (for log files, where completeness wins).
    """
    items = _name_runs(sorted(set(names), key=_natural_key))
    if max_items is None or len(items) <= max_items:
        return sep.join(text for text, _ in items)
    hidden = sum(count for _, count in items[max_items:])
    shown = sep.join(text for text, _ in items[:max_items])
    return f"{shown}{sep}and {hidden} more"


# --------------------------------------------------------------------------- failure causes


@dataclass(frozen=True)
class Cause:
    """Hosts that ended with the same status and, up to host-specific details, the same error."""

    status: Status
    message: str  # details that differ between the hosts are shown as <host>, <address>, <n>
    hosts: tuple[str, ...]  # in report order

    def line(self, max_items: int | None = 6) -> str:
        """``37 hosts failed: No package docker-ce-19.03.11 available. (node[001:037])``."""
        word = "not run" if self.status is Status.NOT_RUN else self.status.value
        names = fold_names(self.hosts, max_items)
        return (
            f"{_plural(len(self.hosts), 'host')} {status_and_error(word, self.message)} ({names})"
        )


def status_and_error(status: str, error: str) -> str:
    """``failed: REASON``, but ``interrupted after daemon_json: ...`` rather than the word twice.

    An interrupted host's error starts with the word itself, so it reads whole in the
    JSON report; where the status is shown next to it, it is said once.
    """
    if error.startswith(f"{status} "):
        return error
    return f"{status}: {error}"


_SLOT_PATTERNS = (
    ("ipv4", r"(?<![\w.])(?:\d{1,3}\.){3}\d{1,3}(?::\d{1,5})?(?!\w|\.\w)"),
    ("ipv6", r"\[[0-9A-Fa-f:.]+\](?::\d{1,5})?"),
    ("ipv6", r"(?<![\w:])(?:[0-9A-Fa-f]{1,4}:){7}[0-9A-Fa-f]{1,4}(?![\w:])"),
    (
        "ipv6",
        r"(?<![\w:])(?:[0-9A-Fa-f]{1,4}(?::[0-9A-Fa-f]{1,4})*)?::"
        r"(?:[0-9A-Fa-f]{1,4}(?::[0-9A-Fa-f]{1,4})*)?(?![\w:])",
    ),
    # A free-standing number (a PID, a duration, a port), not part of a version or a name:
    # "pid 2922" and "after 10.0s" vary per host, "docker-ce-19.03.11" does not.
    ("number", r"(?<![\w.-])\d+(?:\.\d+)?(?:ms|s|m|h)?(?!\w|\.\w|-\w)"),
)
_PLACEHOLDER = {"host": "<host>", "address": "<address>", "number": "<n>"}


def _slot_regex(host: HostResult) -> re.Pattern[str]:
    """Own name and address first, so ``node001``'s digits are not read as a number."""
    own = [("address", host.address), ("host", host.name)]
    alternatives = [
        f"(?P<{kind}{i}>(?<![\\w.-]){re.escape(text)}(?![\\w-]))"
        for i, (kind, text) in enumerate(own)
        if text
    ]
    alternatives += [f"(?P<{kind}x{i}>{rx})" for i, (kind, rx) in enumerate(_SLOT_PATTERNS)]
    return re.compile("|".join(alternatives))


def _kind(group_name: str) -> str:
    if group_name.startswith(("ipv4", "ipv6", "address")):
        return "address"
    return "host" if group_name.startswith("host") else "number"


def _template(message: str, host: HostResult) -> tuple[tuple[str, ...], tuple[str, ...], list[str]]:
    """Split a message into fixed text, slot kinds and this host's slot values."""
    literals: list[str] = []
    kinds: list[str] = []
    values: list[str] = []
    position = 0
    for match in _slot_regex(host).finditer(message):
        literals.append(message[position : match.start()])
        kinds.append(_kind(match.lastgroup or ""))
        values.append(match.group())
        position = match.end()
    literals.append(message[position:])
    return tuple(literals), tuple(kinds), values


def _host_message(host: HostResult, report: Report) -> str:
    if host.error:
        return one_line(host.error)
    if host.status is Status.NOT_RUN:
        if report.interrupted:
            return "the rollout was interrupted first"
        # The reason is on the report's HALTED line; repeating it here adds nothing.
        return "the rollout halted first" if report.halted else "never started"
    return f"{host.status.value} without an error message"


def group_causes(report: Report) -> list[Cause]:
    """Non-compliant hosts grouped by status and normalised error, biggest group first.

    Host names, addresses and free-standing numbers (PIDs, durations, ports) are
    compared as placeholders, so ``Connection refused by 10.0.0.7:22`` on 300
    hosts is one cause.  Where every host in a group agrees on such a detail,
    the real value is shown; hosts that were never started are listed last,
    because they are a consequence, not a cause.
    """
    groups: dict[_CauseKey, list[tuple[str, list[str]]]] = {}
    for host in report.hosts:
        if host.compliant:
            continue
        literals, kinds, values = _template(_host_message(host, report), host)
        groups.setdefault(_CauseKey(host.status, literals, kinds), []).append((host.name, values))
    causes = [
        Cause(
            key.status,
            _merge_message(key.literals, key.kinds, [values for _, values in members]),
            tuple(name for name, _ in members),
        )
        for key, members in groups.items()
    ]
    # sorted() is stable: equal causes keep the order of their first host in the report.
    return sorted(causes, key=_cause_rank)


def _cause_rank(cause: Cause) -> tuple[bool, int, int]:
    return (cause.status is Status.NOT_RUN, -len(cause.hosts), _BAD_STATUSES.index(cause.status))


@dataclass(frozen=True)
class _CauseKey:
    status: Status
    literals: tuple[str, ...]
    kinds: tuple[str, ...]


def _merge_message(
    literals: Sequence[str], kinds: Sequence[str], values: Sequence[Sequence[str]]
) -> str:
    parts = [literals[0]]
    for slot, kind in enumerate(kinds):
        seen = {host_values[slot] for host_values in values}
        parts.append(seen.pop() if len(seen) == 1 else _PLACEHOLDER[kind])
        parts.append(literals[slot + 1])
    return "".join(parts)


# --------------------------------------------------------------------------- counts


def _batch_numbers(report: Report) -> list[int]:
    return sorted({h.batch for h in report.hosts} | set(range(1, report.batches + 1)))


def _counts(report: Report, batch: int | None) -> list[int]:
    return [report.count(status, batch) for status in Status]


def _compliance_line(report: Report) -> str:
    total = len(report.hosts)
    if not total:
        return f"{report.command}: no hosts selected"
    compliant = sum(1 for h in report.hosts if h.compliant)
    return (
        f"{report.command}: {compliant} of {_plural(total, 'host')} compliant "
        f"({_percent(compliant, total)}) in {format_duration(report.duration_s)}"
    )


# --------------------------------------------------------------------------- rich tables


def render_tables(report: Report, console: Console, *, full: bool = False) -> None:
    """The final report for a terminal: hosts, a recap per batch, failures grouped by cause.

    With more than :data:`LARGE_RUN` hosts the host table lists only hosts that
    need attention (failed, unreachable, skipped) and says how many others were
    left out; ``full=True`` (``--verbose``) lists every host.  The recap and the
    causes come last, so the end of a long run is what stays on screen.
    """
    compact = not full and len(report.hosts) > LARGE_RUN
    shown = [h for h in report.hosts if not compact or _needs_attention(h)]
    if shown:
        console.print(_host_table(shown, console.width))
    if compact:
        for line in _omission_lines(report):
            console.print(Text(line, style="dim"))
    for heading, diff in plan_groups(report):
        console.print(Text(heading, style="bold"))
        if diff:
            console.print(Text(diff.rstrip("\n"), style="dim"))
    console.print(_recap_table(report))
    causes = group_causes(report)
    if causes:
        console.print(Text("Failures by cause", style="bold"))
        for cause in causes:
            console.print(Text(cause.line(), style=STATUS_STYLE[cause.status]))
    for text, style in _closing_lines(report):
        console.print(Text(text, style=style))


def _needs_attention(host: HostResult) -> bool:
    # Hosts that never started are listed under the causes, folded into ranges.
    return not host.compliant and host.status is not Status.NOT_RUN


def _omission_lines(report: Report) -> list[str]:
    compliant = sum(1 for h in report.hosts if h.compliant)
    not_run = report.count(Status.NOT_RUN)
    lines = []
    if compliant:
        lines.append(
            f"{_plural(compliant, 'compliant host')} (ok or changed) not listed; "
            "--verbose lists every host"
        )
    if not_run:
        lines.append(f"{_plural(not_run, 'host')} not run, listed under the causes below")
    return lines


# Below this many terminal columns the engine's three facts stack in their cell, so
# the result and the changed steps keep enough room to wrap between words.
WIDE_TERMINAL = 100


def _host_table(hosts: Sequence[HostResult], width: int) -> Table:
    """One row per host, laid out to stay whole in an 80-column terminal.

    Nine separate columns cannot fit 80 columns once borders are drawn, so the
    error follows the status in the result cell and the engine's version, cgroup
    driver and storage driver share one cell.  Text columns wrap between words
    instead of cutting them: a fresh host changes six steps, and every name must
    stay readable (the plain lines and the JSON keep the exact list too).
    """
    engines = [_engine_text(h) for h in hosts]
    # Stacked, the cell is as wide as its longest fact, and never narrower than its header.
    stacked = max(len("engine"), *(len(word) for text in engines for word in text.split()))
    table = Table(title="Hosts", title_justify="left")
    table.add_column("host", overflow="fold")
    table.add_column("batch", no_wrap=True)
    table.add_column("result", overflow="fold")
    table.add_column("changed steps", overflow="fold")
    table.add_column(
        "engine", overflow="fold", max_width=None if width >= WIDE_TERMINAL else stacked
    )
    table.add_column("duration", justify="right", no_wrap=True)
    for h, engine in zip(hosts, engines, strict=True):
        table.add_row(
            _safe(h.name),
            str(h.batch),
            _result_cell(h),
            _safe(_changed_steps_text(h)),
            Text(engine),
            format_duration(h.duration_s),
        )
    return table


def _changed_steps_text(host: HostResult) -> str | None:
    """``6: prerequisites, repository, ...``: the count first, then names that wrap at ", "."""
    names = host.changed_steps
    return f"{len(names)}: {', '.join(names)}" if names else None


def _result_cell(host: HostResult) -> Text:
    """The status, and after it the error: the reason reads next to the outcome it explains."""
    return _status_text(host.status, host.error)


def _status_text(status: Status, error: str | None) -> Text:
    """The status word in its colour, then the error (see :func:`status_and_error`)."""
    if not error:
        return Text(str(status), style=STATUS_STYLE[status])
    error = one_line(error)
    if error.startswith(f"{status} "):
        return Text.assemble((str(status), STATUS_STYLE[status]), error[len(str(status)) :])
    return Text.assemble((str(status), STATUS_STYLE[status]), f": {error}")


def _engine_text(host: HostResult) -> str:
    """``19.03.11 systemd overlay2`` (version, cgroup driver, storage driver), ``-`` if unknown."""
    runtime = host.runtime_summary
    if runtime is None:
        return "-"
    facts = (runtime.version, runtime.cgroup_driver, runtime.snapshotter)
    return " ".join(one_line(fact) if fact else "-" for fact in facts)


def recap_statuses(report: Report) -> tuple[Status, ...]:
    """The recap's columns: every status, but ``interrupted`` only in a run that was.

    Seven counts do not fit an 80-column terminal beside the batch and the total, and
    a run nobody stopped never has an interrupted host.
    """
    shown = report.interrupted or report.count(Status.INTERRUPTED) > 0
    return tuple(s for s in Status if s is not Status.INTERRUPTED or shown)


def _recap_table(report: Report) -> Table:
    statuses = recap_statuses(report)
    table = Table(title="Recap", title_justify="left")
    table.add_column("batch")
    for status in statuses:
        table.add_column(status.value.replace("_", " "), justify="right", overflow="fold")
    table.add_column("total", justify="right")
    for batch in _batch_numbers(report):
        counts = _counts(report, batch)
        table.add_row(str(batch), *_count_cells(statuses, counts), str(sum(counts)))
    table.add_section()
    counts = _counts(report, None)
    table.add_row(Text("total", style="bold"), *_count_cells(statuses, counts), str(sum(counts)))
    return table


def _count_cells(statuses: Sequence[Status], counts: Sequence[int]) -> list[Text]:
    by_status = dict(zip(Status, counts, strict=True))
    return [
        Text(str(by_status[status]), style=STATUS_STYLE[status] if by_status[status] else "dim")
        for status in statuses
    ]


def _closing_lines(report: Report) -> list[tuple[str, str]]:
    lines = [(_compliance_line(report), "bold")]
    if report.halted:
        reason = one_line(report.halt_reason or "failure threshold exceeded")
        lines.append((f"HALTED: {reason}", "bold red"))
    if report.interrupted:
        lines.append(("INTERRUPTED: the rollout was stopped before it finished", "bold red"))
    # The run folder is printed by the CLI together with the retry hint, not here.
    return lines


# --------------------------------------------------------------------------- plain lines

_BARE_VALUE = re.compile(r"[\w.,:/@%+\-\[\]]+")


def plain_value(text: str) -> str:
    """A value for a ``key=value`` field: bare when safe, else a JSON string.

    JSON strings are also valid POSIX shell double-quoted words here (control
    characters were already escaped by :func:`one_line`), so ``shlex.split``
    reads every line back.
    """
    text = one_line(text)
    if _BARE_VALUE.fullmatch(text):
        return text
    return json.dumps(text, ensure_ascii=False)


def _fields(**values: object) -> str:
    return " ".join(f"{key}={plain_value(str(value))}" for key, value in values.items())


def host_line(host: HostResult) -> str:
    """``HOST node01 batch=1 status=changed engine=19.03.11 ... duration=3.2s [error="..."]``."""
    runtime = host.runtime_summary
    line = f"HOST {plain_value(host.name)} " + _fields(
        batch=host.batch,
        status=host.status.value,
        engine=(runtime and runtime.version) or "-",
        cgroup=(runtime and runtime.cgroup_driver) or "-",
        storage=(runtime and runtime.snapshotter) or "-",
        changed=",".join(host.changed_steps) or "-",
        duration=f"{host.duration_s:.1f}s",
    )
    return f"{line} {_fields(error=host.error)}" if host.error else line


def plan_groups(report: Report) -> list[tuple[str, str]]:
    """For ``fleet plan``: what would change, hosts with identical plans folded together.

    Returns ``(heading, diff)`` pairs; a 500-host fleet that needs the same change
    everywhere reads as one heading and one daemon.json diff.
    """
    if report.command != "plan":
        return []
    groups: dict[tuple[tuple[str, ...], str], list[str]] = {}
    for host in report.hosts:
        planned = tuple(s.message for s in host.steps if s.status is Status.CHANGED)
        if planned:
            diff = "".join(s.diff for s in host.steps if s.diff)
            groups.setdefault((planned, diff), []).append(host.name)
    return [
        (f"{fold_names(names)}: {'; '.join(planned)}", diff)
        for (planned, diff), names in groups.items()
    ]


def plain_lines(report: Report, *, full: bool = True) -> list[str]:
    """The report as grep-friendly lines (see :func:`render_plain`)."""
    hosts = report.hosts if full else [h for h in report.hosts if not h.compliant]
    lines = [host_line(h) for h in hosts]
    if not full:
        lines.append("OMIT " + _fields(compliant=sum(1 for h in report.hosts if h.compliant)))
    for heading, diff in plan_groups(report):
        lines.append("PLAN " + heading)
        lines += ["DIFF " + line for line in diff.rstrip("\n").splitlines()]
    names = [status.value for status in Status]
    for batch in _batch_numbers(report):
        counts = _counts(report, batch)
        lines.append(
            f"BATCH {batch} " + _fields(**dict(zip(names, counts, strict=True)), total=sum(counts))
        )
    counts = _counts(report, None)
    lines.append("TOTAL " + _fields(**dict(zip(names, counts, strict=True)), total=sum(counts)))
    for cause in group_causes(report):
        lines.append(
            "CAUSE "
            + _fields(
                hosts=len(cause.hosts),
                status=cause.status.value,
                names=fold_names(cause.hosts, None, sep=","),
                error=cause.message,
            )
        )
    if report.halted:
        lines.append("HALTED " + _fields(reason=report.halt_reason or "failure threshold exceeded"))
    if report.interrupted:
        lines.append("INTERRUPTED")
    lines.append("SUMMARY " + _summary_fields(report))
    return lines


def _summary_fields(report: Report) -> str:
    total = len(report.hosts)
    compliant = sum(1 for h in report.hosts if h.compliant)
    return _fields(
        command=report.command,
        hosts=total,
        compliant=compliant,
        compliant_pct=_percent(compliant, total).rstrip("%"),
        halted="yes" if report.halted else "no",
        interrupted="yes" if report.interrupted else "no",
        duration=f"{report.duration_s:.1f}s",
        run_dir=report.run_dir or "-",
    )


def render_plain(report: Report, stream: IO[str], *, full: bool = True) -> None:
    """The report as plain lines for logs and pipes: no colour, stable order, one fact per line.

    Line kinds: ``HOST`` (one per host, report order), ``BATCH`` and ``TOTAL``
    (counts per status), ``CAUSE`` (hosts sharing an error, all names listed),
    ``HALTED``, ``INTERRUPTED``, ``SUMMARY``.  Every host is listed by default,
    because a log is read with grep rather than scrolled; ``full=False`` keeps
    only hosts that are not compliant and adds an ``OMIT`` line.
    """
    stream.write("".join(line + "\n" for line in plain_lines(report, full=full)))
    stream.flush()


# --------------------------------------------------------------------------- files


def write_json(report: Report, path: str | os.PathLike[str]) -> None:
    """Write ``report.to_dict()`` as JSON; readers see the old file or the new one, never half."""
    text = json.dumps(report.to_dict(), indent=2, ensure_ascii=False) + "\n"
    _atomic_write(Path(path), text)


def failed_host_names(report: Report) -> list[str]:
    """Hosts a re-run has work left on: failed, unreachable, interrupted, not run; report order.

    Skipped hosts are not among them: a re-run would refuse them again for the same reason.
    """
    return [h.name for h in report.hosts if h.status in RETRY_STATUSES]


def failed_hosts_file(report: Report, path: str | os.PathLike[str]) -> int:
    """Write :func:`failed_host_names`, one per line, for ``--limit @FILE``.

    Returns how many names were written; an empty file is still written, so a
    stale list from an earlier run is never retried by mistake.
    """
    names = failed_host_names(report)
    _atomic_write(Path(path), "".join(name + "\n" for name in names))
    return len(names)


def _atomic_write(path: Path, text: str) -> None:
    directory = path.parent
    try:
        fd, temp = tempfile.mkstemp(dir=directory, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as exc:
        raise EnvironmentProblem(
            f"cannot write {path}: {exc.strerror}; check that {directory} exists and is writable"
        ) from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temp, 0o644)  # mkstemp's 0600 would hide a report that holds no secrets
        os.replace(temp, path)
    except OSError as exc:
        Path(temp).unlink(missing_ok=True)
        raise EnvironmentProblem(f"cannot write {path}: {exc.strerror}") from None


# --------------------------------------------------------------------------- live progress


class Progress:
    """A live display: every event is a no-op here, so subclasses handle only what they show.

    Use it as a context manager (or call :meth:`close`) so the display is taken
    down before the final report is printed.
    """

    def batch_started(self, batch_no: int, hosts: Sequence[str]) -> None:
        """A batch of hosts is about to start."""

    def host_started(self, name: str) -> None:
        """A worker picked up this host."""

    def step_finished(self, name: str, step: StepResult) -> None:
        """One step on one host is done."""

    def host_finished(self, result: HostResult) -> None:
        """A host has its final result."""

    def batch_finished(self, batch_no: int, counts: Mapping[str, int]) -> None:
        """Every host of the batch is done; ``counts`` maps status values to host counts."""

    def halted(self, reason: str) -> None:
        """The failure threshold stopped the rollout; no further batch starts."""

    def message(self, text: str) -> None:
        """A note for the user that belongs to no host."""

    def close(self) -> None:
        """Take the display down; safe to call more than once."""

    def __enter__(self) -> Progress:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def _count_fields(counts: Mapping[str, int]) -> str:
    """Status counts in the fixed status order, then anything else the scheduler added."""
    known = [s.value for s in Status if s.value in counts]
    extra = sorted(key for key in counts if key not in known)
    return _fields(**{key: counts[key] for key in (*known, *extra)})


class PlainProgress(Progress):
    """One line per event, no ANSI, flushed at once so ``tail -f`` on a log follows the run.

    Keywords differ from the final report's (``BEGIN``/``START``/``STEP``/``DONE``
    /``END``/``HALT``/``NOTE`` against ``HOST``/``BATCH``/``SUMMARY``...), so
    grepping a log for ``^HOST`` finds each host exactly once.
    """

    def __init__(self, stream: IO[str]) -> None:
        self._stream = stream

    def _write(self, line: str) -> None:
        self._stream.write(line + "\n")
        self._stream.flush()

    def batch_started(self, batch_no: int, hosts: Sequence[str]) -> None:
        names = fold_names(hosts, None, sep=",")
        self._write(f"BEGIN {_fields(batch=batch_no, hosts=len(hosts), names=names)}")

    def host_started(self, name: str) -> None:
        self._write(f"START {plain_value(name)}")

    def step_finished(self, name: str, step: StepResult) -> None:
        fields = _fields(
            step=step.name, status=step.status.value, duration=f"{step.duration_s:.1f}s"
        )
        message = f" {_fields(message=step.message)}" if step.message else ""
        self._write(f"STEP {plain_value(name)} {fields}{message}")

    def host_finished(self, result: HostResult) -> None:
        fields = _fields(
            batch=result.batch, status=result.status.value, duration=f"{result.duration_s:.1f}s"
        )
        error = f" {_fields(error=result.error)}" if result.error else ""
        self._write(f"DONE {plain_value(result.name)} {fields}{error}")

    def batch_finished(self, batch_no: int, counts: Mapping[str, int]) -> None:
        self._write(f"END {_fields(batch=batch_no)} {_count_fields(counts)}")

    def halted(self, reason: str) -> None:
        self._write(f"HALT {_fields(reason=reason)}")

    def message(self, text: str) -> None:
        self._write(f"NOTE {one_line(text)}")


@dataclass
class _BatchState:
    size: int
    done: int = 0
    bad: int = 0
    finished: bool = False


@dataclass(frozen=True)
class _LiveView:
    """Builds the display when it is drawn, not when it is handed over.

    rich redraws the live display under every line printed above it; drawing
    the current state each time keeps those frames from showing stale counts.
    """

    build: Callable[[], RenderableType]

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        yield self.build()


class RichProgress(Progress):
    """A live terminal display: a bar per batch, the hosts running now, the last ones finished.

    Events only update counters under a lock (constant time); drawing happens
    on rich's refresh thread at most ``refresh_per_second`` times, and the
    drawing is bounded (the last ``max_bars`` batches, a few names), so 1,000
    hosts cost no more per frame than 10.  Failures are printed above the
    display as they happen, so they stay in the scrollback; each such line
    redraws the display once, which is the only per-event drawing.
    """

    def __init__(
        self,
        console: Console,
        *,
        refresh_per_second: float = 4.0,
        max_bars: int = 6,
        recent: int = 5,
        auto_refresh: bool = True,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._console = console
        self._lock = threading.Lock()
        self._batches: dict[int, _BatchState] = {}
        self._running: dict[str, None] = {}  # insertion-ordered set
        self._recent: deque[tuple[str, Status]] = deque(maxlen=recent)
        self._max_bars = max_bars
        self._clock = clock
        self._started_at = clock()
        self._live = Live(
            _LiveView(self.view),
            console=console,
            auto_refresh=auto_refresh,
            refresh_per_second=refresh_per_second,
            transient=True,
        )
        self._live_started = False

    def _ensure_live(self) -> None:
        if not self._live_started:
            self._live_started = True
            self._live.start(refresh=True)

    def batch_started(self, batch_no: int, hosts: Sequence[str]) -> None:
        with self._lock:
            self._batches[batch_no] = _BatchState(size=len(hosts))
        self._ensure_live()

    def host_started(self, name: str) -> None:
        with self._lock:
            self._running[name] = None

    def host_finished(self, result: HostResult) -> None:
        with self._lock:
            self._running.pop(result.name, None)
            self._recent.append((result.name, result.status))
            batch = self._batches.setdefault(result.batch, _BatchState(size=0))
            batch.done += 1
            batch.size = max(batch.size, batch.done)
            batch.bad += result.status in (Status.FAILED, Status.UNREACHABLE)
        if not result.compliant and result.status is not Status.NOT_RUN:
            line = Text.assemble(
                (one_line(result.name), "bold"),
                " ",
                _status_text(result.status, result.error or "no error message"),
            )
            self._console.print(line)

    def batch_finished(self, batch_no: int, counts: Mapping[str, int]) -> None:
        with self._lock:
            self._batches.setdefault(batch_no, _BatchState(size=0)).finished = True

    def halted(self, reason: str) -> None:
        self._console.print(Text(f"HALTED: {one_line(reason)}", style="bold red"))

    def message(self, text: str) -> None:
        self._console.print(Text(one_line(text)))

    def close(self) -> None:
        if self._live_started:
            self._live_started = False
            self._live.stop()

    def view(self) -> RenderableType:
        """The display as it is drawn now; its size does not grow with the number of hosts."""
        with self._lock:
            batches = list(self._batches.items())
            running = list(self._running)
            recent = list(self._recent)
        done = sum(b.done for _, b in batches)
        bad = sum(b.bad for _, b in batches)
        planned = sum(b.size for _, b in batches)
        elapsed = format_duration(self._clock() - self._started_at)
        header = Text(
            f"{done}/{planned} hosts done, {bad} failed or unreachable, "
            f"{len(running)} running, {elapsed}"
        )
        parts: list[RenderableType] = [header]
        hidden = len(batches) - self._max_bars
        if hidden > 0:
            word = "batch" if hidden == 1 else "batches"
            parts.append(Text(f"{hidden} earlier {word} not shown", style="dim"))
        parts.append(self._bars(batches[max(hidden, 0) :]))
        if running:
            parts.append(Text(f"running: {one_line(fold_names(running, 4))}", style="dim"))
        if recent:
            parts.append(self._recent_line(recent))
        return Group(*parts)

    @staticmethod
    def _bars(batches: Sequence[tuple[int, _BatchState]]) -> Table:
        grid = Table.grid(padding=(0, 1))
        for number, state in batches:
            style = "red" if state.bad else ("green" if state.finished else "cyan")
            bar = ProgressBar(
                total=max(state.size, 1),
                completed=state.done,
                width=30,
                complete_style=style,
                finished_style=style,
            )
            failed = Text(f"{state.bad} bad", style="red") if state.bad else Text("")
            grid.add_row(f"batch {number}", bar, f"{state.done}/{state.size}", failed)
        return grid

    @staticmethod
    def _recent_line(recent: Sequence[tuple[str, Status]]) -> Text:
        line = Text("last: ", style="dim")
        for index, (name, status) in enumerate(reversed(recent)):
            if index:
                line.append(", ")
            line.append(one_line(name))
            line.append(f" {status}", style=STATUS_STYLE[status])
        return line


def _warn_stderr(text: str) -> None:
    # Looked up at call time: a live display may have replaced sys.stderr with its proxy.
    print(text, file=sys.stderr, flush=True)


class SafeEvents(Progress):
    """Calls every display's event methods; one that raises only warns, and only once.

    Calls are serialised, so displays need not be thread-safe even when the
    scheduler reports from many workers.  Targets may implement only some of
    the events.  ``KeyboardInterrupt`` still propagates: Ctrl-C must stop a run.
    """

    def __init__(self, *targets: object, warn: Callable[[str], None] = _warn_stderr) -> None:
        self._targets = targets
        self._warn = warn
        self._lock = threading.Lock()
        self._warned: set[tuple[int, str]] = set()

    @property
    def targets(self) -> tuple[object, ...]:
        return self._targets

    def _dispatch(self, event: str, *args: object) -> None:
        with self._lock:
            for index, target in enumerate(self._targets):
                handler = getattr(target, event, None)
                if handler is None:
                    continue
                try:
                    handler(*args)
                except Exception as exc:
                    self._report(index, target, event, exc)

    def _report(self, index: int, target: object, event: str, exc: Exception) -> None:
        if (index, event) in self._warned:
            return
        self._warned.add((index, event))
        detail = one_line(str(exc))[:200]
        self._warn(
            f"fleet: warning: {type(target).__name__}.{event} failed "
            f"({type(exc).__name__}: {detail}); the rollout continues, further errors hidden"
        )

    def batch_started(self, batch_no: int, hosts: Sequence[str]) -> None:
        self._dispatch("batch_started", batch_no, tuple(hosts))

    def host_started(self, name: str) -> None:
        self._dispatch("host_started", name)

    def step_finished(self, name: str, step: StepResult) -> None:
        self._dispatch("step_finished", name, step)

    def host_finished(self, result: HostResult) -> None:
        self._dispatch("host_finished", result)

    def batch_finished(self, batch_no: int, counts: Mapping[str, int]) -> None:
        self._dispatch("batch_finished", batch_no, dict(counts))

    def halted(self, reason: str) -> None:
        self._dispatch("halted", reason)

    def message(self, text: str) -> None:
        self._dispatch("message", text)

    def close(self) -> None:
        self._dispatch("close")


def make_progress(console: Console, *, plain: bool = False) -> Progress:
    """The live display for this console, already wrapped in :class:`SafeEvents`.

    Bars on a terminal, plain lines anywhere else (or when ``plain`` asks for
    them, as ``--plain`` does).  Use it as a context manager around the
    rollout, so the bars are gone before the final report is printed.
    """
    if plain or not console.is_terminal or console.is_dumb_terminal:
        display: Progress = PlainProgress(console.file)
    else:
        display = RichProgress(console)
    return SafeEvents(display)
