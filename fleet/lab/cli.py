"""``fleet lab up/status/down``: argparse wiring and rendering over fleet.lab.runtime.

``add_lab_parser`` and ``run_lab`` are called by fleet's main command line;
``main`` runs the same commands standalone (``python -m fleet.lab.cli``).
Errors are raised as :class:`~fleet.errors.FleetError` for the caller to print.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from rich.console import Console
from rich.table import Table
from rich.text import Text

from fleet.errors import ExitCode, FleetError, InputError
from fleet.lab import runtime
from fleet.lab.spec import PRIVILEGE_CHOICES, SSHD_CHOICES, LabSpec, builtin_spec_path, load_spec

DEFAULT_DIR = Path("fleet-lab")


def add_lab_parser(subparsers: argparse._SubParsersAction) -> None:
    """Add ``lab`` with its ``up``, ``status`` and ``down`` commands."""
    lab = subparsers.add_parser(
        "lab",
        help="simulated CentOS/RHEL hosts on this machine, behind real SSH (needs root)",
        description="Start, inspect and stop a lab of simulated hosts (see docs/lab.md).",
    )
    commands = lab.add_subparsers(dest="lab_command", metavar="LAB_COMMAND")
    commands.required = True
    up = commands.add_parser("up", help="start N hosts and write inventories into DIR")
    up.add_argument("--hosts", type=int, metavar="N", help="number of hosts (overrides the spec)")
    up.add_argument("--spec", help="lab spec YAML file, or a built-in spec name such as 'demo'")
    up.add_argument("--sshd", choices=SSHD_CHOICES, help="SSH server (default: paramiko)")
    add_sudo_argument(up)
    _add_dir(up)
    _add_dir(commands.add_parser("status", help="show each host's address, state and faults"))
    _add_dir(commands.add_parser("down", help="stop the lab and remove its files"))


def add_sudo_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--sudo",
        choices=PRIVILEGE_CHOICES,
        help="the hosts' sudo: the machine's (system) or the lab's own (builtin); "
        "default: system where this machine has sudo, else builtin",
    )


def _add_dir(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--dir", type=Path, default=DEFAULT_DIR, help=f"lab folder (default ./{DEFAULT_DIR})"
    )


def run_lab(args: argparse.Namespace) -> int:
    """Run one lab command; returns the exit code.  FleetError propagates to the caller."""
    console = Console(highlight=False, soft_wrap=True)  # paths stay whole for copy and paste
    if args.lab_command == "up":
        return _up(args, console)
    if args.lab_command == "status":
        return _status(args.dir, console)
    return _down(args.dir, console)


def _spec(value: str | None) -> LabSpec:
    if value is None:
        return LabSpec()
    path = Path(value)
    if not path.exists() and builtin_spec_path(value).exists():
        path = builtin_spec_path(value)
    return load_spec(path)


def _up(args: argparse.Namespace, console: Console) -> int:
    if args.hosts is not None and args.hosts < 1:
        raise InputError(f"--hosts {args.hosts}: a lab needs at least 1 host")
    runtime.require_root(getattr(args, "typed", "fleet lab up"))
    spec = _spec(args.spec)
    lab = runtime.lab_up(args.dir, spec, hosts=args.hosts, sshd=args.sshd, sudo=args.sudo)
    where = _relative(lab.directory)
    first, last = lab.hosts[0], lab.hosts[-1]
    console.print(
        Text(
            f"lab up: {len(lab.hosts)} hosts ({first.name}..{last.name}, "
            f"{first.address}..{last.address}) behind {lab.sshd} SSH servers, "
            f"{lab.sudo} sudo, in {where}"
        )
    )
    console.print(Text(f"  fleet inventory:   {where}/inventory.yml"))
    console.print(Text(f"  Ansible inventory: {where}/ansible.yml"))
    console.print(Text(f"  try:               ssh -F {where}/ssh_config {first.name} hostname"))
    if lab.become_env.exists():
        console.print(Text(f"  sudo passwords:    set -a; . {where}/become.env; set +a"))
    faulty = [h for h in lab.hosts if h.faults or h.spec.get("delay_ms")]
    for host in faulty:
        console.print(Text(f"  {host.name}: {runtime.faults_text(host)}"))
    console.print(Text(f"  stop it with:      fleet lab down --dir {where}"))
    return int(ExitCode.OK)


def _relative(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _status(directory: Path, console: Console) -> int:
    status = runtime.lab_status(directory)
    lab = status.lab
    supervisor = "running" if status.supervisor_alive else "NOT RUNNING"
    pid = lab.supervisor.pid if lab.supervisor else "-"
    console.print(
        Text(
            f"lab {_relative(lab.directory)}: {len(lab.hosts)} hosts, sshd {lab.sshd}, "
            f"sudo {lab.sudo}, "
            f"supervisor pid {pid} {supervisor}, memory {status.memory_kib_per_host} KiB per host"
        )
    )
    table = Table("host", "address", "state", "sshd pid", "faults")
    for host in status.hosts:
        state = host.state if host.expected else f"{host.state} (UNEXPECTED)"
        style = "" if host.expected else "bold red"
        table.add_row(
            Text(host.name),
            Text(f"{host.address}:{host.port}"),
            Text(state, style=style),
            Text(str(host.sshd_pid or "-")),
            Text(host.faults),
        )
    console.print(table)
    return int(ExitCode.OK if status.healthy else ExitCode.HOST_FAILURES)


def _down(directory: Path, console: Console) -> int:
    report = runtime.lab_down(directory)
    where = _relative(report.directory)
    if report.clean:
        stopped = "stopped" if report.supervisor_was_running else "cleaned up after"
        console.print(
            Text(
                f"lab down: {stopped} {report.hosts} hosts in {where}; "
                "no process, mount or listener left; lab files removed"
            )
        )
        return int(ExitCode.OK)
    problems = []
    if report.processes_left:
        problems.append(f"processes {', '.join(map(str, report.processes_left))}")
    if report.listeners_left:
        problems.append(f"listeners {', '.join(report.listeners_left)}")
    if report.mounts_left:
        problems.append(f"{len(report.mounts_left)} mounts")
    raise runtime.LabNotStopped(
        f"lab down: {'; '.join(problems)} still left from {where}; "
        f"run fleet lab down --dir {where} again"
    )


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m fleet.lab.cli up|status|down ...``: the lab commands without fleet's CLI."""
    from fleet.cli import FleetParser  # the same one-line argument errors as ``fleet lab``

    parser = FleetParser(prog="fleet")
    add_lab_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["lab", *(sys.argv[1:] if argv is None else argv)])
    try:
        return run_lab(args)
    except FleetError as exc:
        print(f"fleet: {exc.message}", file=sys.stderr)
        return int(exc.exit_code)


if __name__ == "__main__":
    sys.exit(main())
