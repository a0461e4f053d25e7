"""Benchmark fleet against its peers on lab hosts behind real OpenSSH servers.

Run on purpose, as root, not from the test suite (a 3-host smoke run is):

    python benchmarks/run.py --hosts 50,200 --repeat 3 \\
        --tools fleet,openssh,pssh,pyinfra,ansible --work fanout,rollout,noop [--delay-ms 50]

Work: ``fanout`` = ``sudo docker info --format '{{json .}}'`` on every host of a
converged lab (fleet does it twice: raw through its transport, and as ``fleet
verify``); ``rollout`` = the reference Docker CE sequence on fresh hosts (a new
lab per measurement); ``noop`` = the same again on the hosts it just converged.
Runners alternate within each repeat.  Writes docs/perf-NAME.csv (every
measurement) and docs/perf-NAME.png (medians against N) and prints the table
of medians.  Every lab is stopped again, even on errors or Ctrl-C.
"""

from __future__ import annotations

import argparse
import atexit
import shutil
import signal
import subprocess
import sys
import tempfile
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.harness import labs, process, results, snapshot, sshdlog, tools, venvs
from fleet import __version__ as fleet_version
from fleet.errors import FleetError

DOCS = snapshot.source_repo() / "docs"


@dataclass(frozen=True)
class Plan:
    hosts: tuple[int, ...]
    repeat: int
    tools: tuple[str, ...]
    works: tuple[str, ...]
    delays: tuple[int, ...]
    forks: int
    timeout_s: float
    cache: Path
    scratch: Path
    judge: bool = True


@dataclass(frozen=True)
class Peers:
    """Installed peers: venv and version per tool; why the others are missing."""

    venvs: dict[str, Path]
    versions: dict[str, str]
    missing: dict[str, str]


def _numbers(text: str) -> tuple[int, ...]:
    try:
        values = tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: give numbers separated by commas") from None
    if not values or min(values) < 0:
        raise argparse.ArgumentTypeError(f"{text!r}: give non-negative numbers")
    return values


def _names(choices: tuple[str, ...]):
    def parse(text: str) -> tuple[str, ...]:
        names = tuple(n.strip() for n in text.split(",") if n.strip())
        unknown = [n for n in names if n not in choices]
        if unknown or not names:
            raise argparse.ArgumentTypeError(
                f"unknown {unknown[0] if unknown else 'empty list'!r}: choose from {', '.join(choices)}"
            )
        return names

    return parse


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", type=_numbers, default=(50, 200), help="N values, e.g. 50,200")
    parser.add_argument("--repeat", type=int, default=3, help="measurements per runner (median)")
    parser.add_argument("--tools", type=_names(tools.TOOLS), default=tools.TOOLS)
    parser.add_argument("--work", type=_names(tools.WORKS), default=tools.WORKS)
    parser.add_argument("--delay-ms", type=_numbers, default=(0,), help="e.g. 0,50")
    parser.add_argument("--forks", type=int, default=50, help="hosts at once, every tool")
    parser.add_argument("--timeout", type=float, default=1800.0, help="seconds per measurement")
    parser.add_argument("--name", default="results", help="docs/perf-NAME.csv and .png")
    parser.add_argument("--out", type=Path, default=DOCS, help="folder for the CSV and PNG")
    parser.add_argument("--cache", type=Path, default=Path("/var/cache/fleet-bench"))
    parser.add_argument("--no-plot", action="store_true")
    parser.add_argument(
        "--no-judge",
        action="store_true",
        help="skip fleet verify after each rollout (rollouts are then judged by their output)",
    )
    parser.add_argument(
        "--from-csv",
        type=lambda text: [Path(p) for p in text.split(",") if p],
        help="measure nothing: table and plot (perf-NAME.png) from these CSV files",
    )
    return parser.parse_args(argv)


def prepare_peers(plan: Plan) -> Peers:
    found, versions, missing = {}, {"fleet": f"fleet {fleet_version}"}, {}
    versions["openssh"] = _ssh_version()
    for tool in plan.tools:
        if tool not in venvs.PEERS:
            continue
        try:
            found[tool] = venvs.ensure(tool, plan.cache)
            versions[tool] = venvs.version(tool, found[tool])
        except FleetError as exc:
            missing[tool] = exc.message
            print(f"bench: {tool} left out: {exc.message}", flush=True)
    return Peers(found, versions, missing)


def _ssh_version() -> str:
    done = subprocess.run(["ssh", "-V"], capture_output=True, text=True, check=False)
    return done.stderr.strip().split(",")[0]


def measure(
    runner: tools.Runner,
    ctx: tools.Context,
    repeat: int,
    version: str,
    timeout_s: float,
    judge: bool = True,
) -> results.Row:
    """One measured run of ``runner`` on the lab of ``ctx``, judged afterwards when it changes hosts."""
    invocation = runner.build(ctx)
    marks = sshdlog.mark(ctx.lab)
    server_before = ctx.server.seconds() if ctx.server else -1.0
    log = ctx.scratch / "output.log"
    usage = process.measure(
        invocation.argv, log=log, env=invocation.env, cwd=invocation.cwd, timeout_s=timeout_s
    )
    counts = sshdlog.since(ctx.lab, marks)
    server_s = ctx.server.seconds() - server_before if ctx.server and server_before >= 0 else -1.0
    output = log.read_text(encoding="utf-8", errors="replace")
    judged = judge and runner.work == "rollout"  # a no-op run is judged by its own output
    hosts = len(ctx.lab.hosts)
    return results.Row(
        work=runner.work,
        hosts=hosts,
        delay_ms=ctx.lab.hosts[0].spec.get("delay_ms", 0) or 0,
        label=runner.label,
        tool_version=version,
        repeat=repeat,
        wall_s=usage.wall_s,
        cpu_s=usage.cpu_s,
        cpu_ms_per_host=usage.cpu_s * 1000 / hosts,
        peak_mib=usage.peak_mib,
        connections_per_host=counts.connections / hosts,
        sessions_per_host=counts.sessions / hosts,
        server_cpu_ms_per_host=server_s * 1000 / hosts if server_s >= 0 else -1.0,
        ok_hosts=runner.ok_hosts(output),
        compliant_after=labs.compliant_hosts(ctx.lab, ctx.scratch) if judged else -1,
        exit_code=usage.exit_code,
        note=_note(usage, output),
    )


def _note(usage: process.Usage, output: str) -> str:
    if usage.timed_out:
        return "timed out"
    if usage.exit_code == 0:
        return ""
    lines = [ln.strip() for ln in output.splitlines() if ln.strip()]
    return (lines[-1] if lines else f"exit {usage.exit_code}")[:200]


class Bench:
    """Runs the plan: labs, runners alternating within each repeat, rows into the sink."""

    def __init__(self, plan: Plan, peers: Peers, sink: results.CsvSink) -> None:
        self.plan = plan
        self.peers = peers
        self.sink = sink
        self.rows: list[results.Row] = []
        self.runs = 0

    def usable(self, work: str) -> list[tools.Runner]:
        return [r for r in tools.runners(self.plan.tools, work) if r.tool not in self.peers.missing]

    def context(self, lab: labs.BenchLab, label: str) -> tools.Context:
        self.runs += 1
        scratch = self.plan.scratch / "runs" / f"{self.runs:04d}-{label.replace(' ', '_')}"
        scratch.mkdir(parents=True)
        return tools.Context(lab.lab, scratch, self.plan.forks, self.peers.venvs, lab.server)

    def record(self, runner: tools.Runner, lab: labs.BenchLab, repeat: int) -> results.Row | None:
        ctx = self.context(lab, f"{runner.work}-{runner.label}")
        version = self.peers.versions.get(runner.tool, runner.tool)
        try:
            row = measure(runner, ctx, repeat, version, self.plan.timeout_s, self.plan.judge)
        except (OSError, FleetError, ValueError) as exc:
            print(f"bench: {runner.label} {runner.work} failed to run: {exc}", flush=True)
            return None
        self.rows.append(row)
        self.sink.add(row)
        print(
            f"bench: {row.work} N={row.hosts} delay={row.delay_ms} {row.label:24} "
            f"#{repeat} {row.wall_s:7.2f} s  cpu {row.cpu_ms_per_host:6.1f} ms/host  "
            f"{row.peak_mib:6.0f} MiB  sessions/host {row.sessions_per_host:.2f}  "
            f"server {row.server_cpu_ms_per_host:5.0f} ms/host  "
            f"ok {row.ok_hosts}/{row.hosts}{'  ' + row.note if row.note else ''}",
            flush=True,
        )
        return row

    def lab_dir(self, hosts: int, delay: int) -> Path:
        self.runs += 1
        return self.plan.scratch / f"lab-{self.runs:04d}-{hosts}-{delay}"

    def fanout(self, hosts: int, delay: int) -> None:
        runners = self.usable("fanout")
        if not runners:
            return
        with labs.running_lab(self.lab_dir(hosts, delay), hosts, delay) as lab:
            compliant = labs.converge(lab.lab, self.plan.scratch)
            if compliant != hosts:
                print(
                    f"bench: only {compliant}/{hosts} hosts converged for the fan-out", flush=True
                )
            for repeat in range(self.plan.repeat):
                for runner in _rotate(runners, repeat):
                    self.record(runner, lab, repeat)

    def rollouts(self, hosts: int, delay: int) -> None:
        first = self.usable("rollout")
        again = {r.label: r for r in self.usable("noop")}
        for repeat in range(self.plan.repeat):
            for runner in _rotate(first, repeat):
                with labs.running_lab(self.lab_dir(hosts, delay), hosts, delay) as lab:
                    self.rollout_pair(runner, again[runner.label], lab, repeat)

    def rollout_pair(
        self, runner: tools.Runner, noop: tools.Runner, lab: labs.BenchLab, repeat: int
    ) -> None:
        if "rollout" in self.plan.works:
            self.record(runner, lab, repeat)
        else:  # converge with the same tool, unmeasured
            invocation = runner.build(self.context(lab, "converge"))
            subprocess.run(
                invocation.argv, env=invocation.env, cwd=invocation.cwd, check=False,
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=self.plan.timeout_s,
            )  # fmt: skip
        if "noop" in self.plan.works:
            self.record(noop, lab, repeat)

    def run(self) -> None:
        for delay in self.plan.delays:
            for hosts in self.plan.hosts:
                if "fanout" in self.plan.works:
                    self.guarded(self.fanout, hosts, delay)
                if {"rollout", "noop"} & set(self.plan.works):
                    self.guarded(self.rollouts, hosts, delay)

    def guarded(self, part: Callable[[int, int], None], hosts: int, delay: int) -> None:
        """A lab that cannot start costs its part of the plan, not the whole run."""
        try:
            part(hosts, delay)
        except FleetError as exc:
            print(f"bench: N={hosts} delay={delay}: {exc.message}; going on", flush=True)


def _rotate(items: list[tools.Runner], by: int) -> list[tools.Runner]:
    """Alternate the order between repeats, so no tool always runs first (or last)."""
    if not items:
        return items
    shift = by % len(items)
    return items[shift:] + items[:shift]


def report(bench: Bench, args: argparse.Namespace, csv_path: Path) -> None:
    summaries = results.summarise(bench.rows)
    print()
    print(results.table(summaries))
    print()
    for tool, version in bench.peers.versions.items():
        print(f"  {tool}: {version}")
    for tool, why in bench.peers.missing.items():
        print(f"  {tool}: LEFT OUT: {why}")
    print(f"csv: {csv_path}")
    if not args.no_plot:
        png = results.plot(summaries, args.out / f"perf-{args.name}.png")
        print(f"plot: {png}" if png else "plot: skipped (pip install matplotlib)")


def from_csv(args: argparse.Namespace) -> int:
    """Tables of earlier runs, each with its own ratios; one plot of all of them."""
    everything: list[results.Summary] = []
    for path in args.from_csv:
        summaries = results.summarise(results.read_csv(path))
        print(f"{path.name}:\n{results.table(summaries)}\n")
        everything += summaries
    if not args.no_plot:
        png = results.plot(results.first_of_each(everything), args.out / f"perf-{args.name}.png")
        print(f"plot: {png}" if png else "plot: skipped (pip install matplotlib)")
    return 0


def _interrupt(signum: int, _frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.from_csv:
        return from_csv(args)
    # Started in the background by a shell, SIGINT arrives ignored; ``kill`` must
    # also stop the run cleanly (labs down), so both end it the same way.
    signal.signal(signal.SIGINT, _interrupt)
    signal.signal(signal.SIGTERM, _interrupt)
    scratch = Path(tempfile.mkdtemp(prefix="fleet-bench-"))
    plan = Plan(
        args.hosts, max(1, args.repeat), args.tools, args.work, args.delay_ms,
        max(1, args.forks), args.timeout, args.cache, scratch, not args.no_judge,
    )  # fmt: skip
    csv_path = args.out / f"perf-{args.name}.csv"
    bench = Bench(plan, prepare_peers(plan), results.CsvSink(csv_path))
    status = 0
    try:
        bench.run()
    except FleetError as exc:
        print(f"bench: {exc.message}", file=sys.stderr)
        status = 2
    except KeyboardInterrupt:
        print("bench: interrupted; results so far follow", file=sys.stderr)
        status = 130
    except Exception:
        traceback.print_exc()
        status = 1
    finally:
        left = labs.leftover_labs(scratch)
        if left:
            print("bench: LEFT BEHIND: " + "; ".join(left[:5]), file=sys.stderr)
            status = status or 1
        else:
            shutil.rmtree(scratch, ignore_errors=True)
        snapshot.remove()
    report(bench, args, csv_path)
    return status


if __name__ == "__main__":
    snapshot.run_from_snapshot(Path(__file__).resolve())
    atexit.register(snapshot.remove)  # also after --help, --from-csv or an early error
    sys.exit(main())
