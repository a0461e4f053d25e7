"""``fleet demo``: a real rollout against a simulated fleet started on this machine.

It starts the built-in demo lab (twelve CentOS-like hosts behind real SSH
servers, a few of them with the faults a real fleet has), rolls Docker CE out
to it in a canary-first ramp, shows the live progress and the summary tables,
and tears the lab down.  The demo succeeds when every host ends as its spec
intends: clean hosts compliant, the faulty ones failed, skipped or unreachable
for the reason injected.
"""

from __future__ import annotations

import argparse

from rich.console import Console

from fleet.errors import ExitCode
from fleet.lab import runtime
from fleet.lab.spec import builtin_spec_path, load_spec
from fleet.results import Report, Status

DEMO_ROLLOUT = ("--batch-size", "1,25%", "--max-failures", "25%")


def expected_status(spec: dict) -> Status:
    """What a demo host should end as, from its own spec."""
    faults = spec.get("faults") or {}
    if faults.get("unreachable"):
        return Status.UNREACHABLE
    if faults.get("auth"):
        return Status.FAILED
    if spec.get("kubelet") == "running" and (spec.get("engine") or {}).get("running"):
        return Status.SKIPPED
    if faults.get("missing_packages") or faults.get("repo_down") or faults.get("engine_fails"):
        return Status.FAILED
    return Status.CHANGED


def surprises(report: Report, lab: runtime.Lab) -> list[str]:
    found = []
    for result in report.hosts:
        want = expected_status(lab.host(result.name).spec)
        if result.status is not want:
            found.append(f"{result.name}: {result.status.value}, expected {want.value}")
    return found


def run_demo(args: argparse.Namespace, console: Console) -> int:
    from fleet.cli import build_parser, execute_run, finish, setup_run, stop_on_signals

    runtime.require_root(getattr(args, "typed", "fleet demo"))
    spec = load_spec(builtin_spec_path("demo"))
    console.print(f"fleet demo: starting {spec.hosts} simulated hosts in {args.dir} ...")
    lab = runtime.lab_up(args.dir, spec, sshd=args.sshd, sudo=args.sudo)
    console.print(
        f"fleet demo: {len(lab.hosts)} hosts up behind {lab.sshd} SSH servers, {lab.sudo} sudo",
        markup=False,
    )
    try:
        argv = ["rollout", "-i", str(lab.inventory), *DEMO_ROLLOUT]
        if args.plain:
            argv.append("--plain")
        rollout_args = build_parser().parse_args(argv)
        plain = args.plain or not console.is_terminal
        run = setup_run(rollout_args)
        with stop_on_signals() as stop:
            report = execute_run(run, console, plain, stop)
            finish(report, rollout_args, console, plain)
    finally:
        if not args.keep:
            runtime.lab_down(args.dir)
            console.print(f"fleet demo: lab stopped and removed ({args.dir})")
    if report.interrupted:
        return int(ExitCode.INTERRUPTED)
    unexpected = surprises(report, lab)
    if unexpected:
        console.print("fleet demo: UNEXPECTED results: " + "; ".join(unexpected), markup=False)
        return int(ExitCode.HOST_FAILURES)
    console.print(
        "fleet demo: every host ended as intended: clean hosts now run Docker with the systemd "
        "cgroup driver and overlay2; the injected faults were caught and reported.",
        markup=False,
    )
    return int(ExitCode.OK)
