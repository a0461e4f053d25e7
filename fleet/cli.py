"""The command line: a thin layer over the library.

``main(argv) -> int`` parses arguments, builds the library objects, runs, renders
and returns the exit code documented in the README.  No state lives here
between calls; everything is passed explicitly.
"""

from __future__ import annotations

import argparse
import getpass
import os
import shlex
import signal
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, replace
from pathlib import Path
from typing import IO, NoReturn

from rich.console import Console

from fleet import DISTRIBUTION, __version__
from fleet.batches import parse_batch_spec, parse_max_failures, plan_batches
from fleet.errors import ExitCode, FleetError, InputError
from fleet.inventory import Host, load_inventory, select_hosts
from fleet.report import (
    failed_hosts_file,
    make_progress,
    one_line,
    render_plain,
    render_tables,
    write_json,
)
from fleet.results import Report
from fleet.rollout import RolloutOptions, run_rollout
from fleet.runlog import new_run_dir
from fleet.settings import SETTING_SPECS, Settings
from fleet.steps.runner import Mode
from fleet.stopping import Stage, StopRequest
from fleet.transport import ConnectOptions

# Namespace attribute naming the innermost command parsed, for its --help in error lines.
_HELP_PROG = "_fleet_help_prog"


class FleetParser(argparse.ArgumentParser):
    """argparse, but a bad flag gets fleet's one-line error and exit code 2.

    The line names the program once and points at the help of the command that
    was typed: ``fleet: unrecognized arguments: --bogus (see fleet rollout --help)``.
    Subcommand parsers are of this class too (argparse makes them the parent's type).
    """

    def parse_known_args(
        self, args: Sequence[str] | None = None, namespace: argparse.Namespace | None = None
    ) -> tuple[argparse.Namespace, list[str]]:
        parsed, extras = super().parse_known_args(args, namespace)
        # The innermost subcommand returns first, so the first parser to set this wins.
        if not hasattr(parsed, _HELP_PROG):
            setattr(parsed, _HELP_PROG, self.prog)
        return parsed, extras

    def parse_args(
        self, args: Sequence[str] | None = None, namespace: argparse.Namespace | None = None
    ) -> argparse.Namespace:
        """Unknown arguments are only known at the top; report them against the subcommand."""
        parsed, extras = self.parse_known_args(args, namespace)
        help_prog = vars(parsed).pop(_HELP_PROG, self.prog)
        if extras:
            self._fail(f"unrecognized arguments: {' '.join(extras)}", help_prog)
        return parsed

    def error(self, message: str) -> NoReturn:
        self._fail(message, self.prog)

    def _fail(self, message: str, help_prog: str) -> NoReturn:
        line = f"fleet: {one_line(message)} (see {help_prog} --help)"
        self.exit(int(ExitCode.BAD_INPUT), line + "\n")


def build_parser() -> argparse.ArgumentParser:
    parser = FleetParser(
        prog="fleet",
        description="Prepare fleets of CentOS/RHEL servers as Kubernetes nodes: a rolling, "
        "verified Docker CE rollout over SSH.",
    )
    parser.add_argument(
        "--version", action="version", version=f"fleet ({DISTRIBUTION}) {__version__}"
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name, text in (
        ("rollout", "install and configure Docker CE in rolling batches, then verify"),
        ("plan", "show what a rollout would change on each host (touches nothing)"),
        ("verify", "read-only compliance audit: does every engine run systemd + overlay2?"),
    ):
        _add_run_arguments(sub.add_parser(name, help=text, description=text), name)
    _add_lab_commands(sub)
    return parser


def _add_run_arguments(p: argparse.ArgumentParser, command: str) -> None:
    p.add_argument("-i", "--inventory", required=True, help="fleet YAML or Ansible YAML/INI")
    p.add_argument("-l", "--limit", help="hosts, groups, globs, !exclusions, @FILE")
    p.add_argument("-f", "--forks", type=int, default=50, help="hosts at once (default 50)")
    p.add_argument(
        "--batch-size",
        help="hosts per batch: a count, a percentage or a ramp such as 1,5,25%% (default: all)",
    )
    p.add_argument(
        "--max-failures",
        default="0",
        help="halt when failed+unreachable hosts exceed this count or percentage (default 0)",
    )
    p.add_argument("--keep-going", action="store_true", help="never halt between batches")
    p.add_argument(
        "--list-hosts",
        action="store_true",
        help="print the selected hosts (and their batches) and exit; connects to nothing",
    )
    if command == "rollout":
        p.add_argument("--check", action="store_true", help="same as 'fleet plan'")
    p.add_argument("--force", action="store_true", help="also change hosts with a live kubelet")
    p.add_argument("--accept-new-host-keys", action="store_true", help="trust unknown host keys")
    p.add_argument(
        "--ask-become-pass", action="store_true", help="prompt once for the sudo password"
    )
    p.add_argument("--ssh-config", help="ssh_config file to use instead of ~/.ssh/config")
    p.add_argument("--report", type=Path, help="also write the JSON report to this file")
    p.add_argument("--runs-dir", type=Path, default=Path("fleet-runs"), help="where run folders go")
    p.add_argument("--plain", action="store_true", help="plain lines instead of live tables")
    p.add_argument("-v", "--verbose", action="store_true", help="list every host in the tables")
    group = p.add_argument_group("settings (also settable per host or group in the inventory)")
    for spec in SETTING_SPECS.values():
        if spec.name == "system_update":
            group.add_argument(spec.flag, action="store_const", const="true", help=spec.help)
        else:
            group.add_argument(spec.flag, metavar=spec.name.upper(), help=spec.help)


def _add_lab_commands(sub: argparse._SubParsersAction) -> None:
    from fleet.lab.cli import add_lab_parser, add_sudo_argument

    add_lab_parser(sub)
    demo = sub.add_parser("demo", help="start a simulated fleet, roll out to it, tear it down")
    demo.add_argument("--sshd", choices=("paramiko", "openssh"), default="paramiko")
    add_sudo_argument(demo)
    demo.add_argument("--keep", action="store_true", help="leave the lab running afterwards")
    demo.add_argument("--dir", type=Path, default=Path("fleet-demo"), help="lab folder")
    demo.add_argument("--plain", action="store_true", help="plain lines instead of live tables")


def settings_from(args: argparse.Namespace) -> Settings:
    overrides = {
        name: getattr(args, name) for name in SETTING_SPECS if getattr(args, name, None) is not None
    }
    return Settings().merged(overrides, "command line")


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    # As typed, for messages that say what to run instead ("run: sudo fleet demo").
    args.typed = shlex.join(["fleet", *(sys.argv[1:] if argv is None else argv)])
    console = Console(stderr=False, highlight=False)
    try:
        if args.command in ("rollout", "plan", "verify"):
            return run_command(args, console)
        if args.command == "demo":
            from fleet.demo import run_demo

            return run_demo(args, console)
        from fleet.lab.cli import run_lab

        return int(run_lab(args))
    except FleetError as exc:
        print(f"fleet: {exc.message}", file=sys.stderr)
        return int(exc.exit_code)
    except KeyboardInterrupt:
        print("fleet: interrupted", file=sys.stderr)
        return int(ExitCode.INTERRUPTED)


def run_command(args: argparse.Namespace, console: Console) -> int:
    """rollout / plan / verify: inventory -> plan -> scheduler -> report -> exit code.

    Signals are caught from the first connection until the files are written, so
    Ctrl-C or SIGTERM, once or more, always ends with the report written.
    """
    if args.list_hosts:
        return list_hosts(args, sys.stdout)
    plain = args.plain or not console.is_terminal
    run = setup_run(args)
    with stop_on_signals() as stop:
        report = execute_run(run, console, plain, stop)
        return finish(report, args, console, plain)


def prepare(args: argparse.Namespace) -> tuple[tuple[Host, ...], Settings, RolloutOptions]:
    """Everything a run takes from its input alone, checked before anything is touched.

    Shared by a real run and ``--list-hosts``, so a flag that would stop the run
    also stops the listing.  ``run_dir`` is left unset: creating it is the run's job.
    """
    mode = _mode(args)
    hosts = select_hosts(load_inventory(args.inventory), args.limit)
    if args.forks < 1:
        raise InputError(f"--forks {args.forks}: must be at least 1")
    settings = settings_from(args)
    options = RolloutOptions(
        mode=mode,
        batch_size=parse_batch_spec(args.batch_size) if args.batch_size else None,
        max_failures=parse_max_failures(args.max_failures),
        keep_going=args.keep_going,
        forks=args.forks,
        force=args.force,
    )
    return hosts, settings, options


def list_hosts(args: argparse.Namespace, out: IO[str]) -> int:
    """``--list-hosts``: the selection and its batches, with no run folder and no connection."""
    hosts, _, options = prepare(args)
    if options.batch_size:
        batches = plan_batches(hosts, options.batch_size)
        rows = [(host, number) for number, batch in enumerate(batches, 1) for host in batch]
    else:
        rows = [(host, None) for host in hosts]
    out.write("".join(line + "\n" for line in host_list_lines(rows)))
    out.flush()
    return int(ExitCode.OK)


def host_list_lines(rows: Sequence[tuple[Host, int | None]]) -> list[str]:
    """``hosts (N):`` then ``  NAME  ADDRESS[:PORT]`` per host, plus ``  batch B`` when planned.

    Plain text on purpose: names and addresses come from the inventory and are
    shown as they are, with control characters made visible, never as markup.
    """
    cells = [(one_line(host.name), _where(host), batch) for host, batch in rows]
    name_width = max((len(name) for name, _, _ in cells), default=0)
    where_width = max((len(where) for _, where, _ in cells), default=0)
    lines = [f"hosts ({len(cells)}):"]
    for name, where, batch in cells:
        if batch is None:
            lines.append(f"  {name:<{name_width}}  {where}")
        else:
            lines.append(f"  {name:<{name_width}}  {where:<{where_width}}  batch {batch}")
    return lines


def _where(host: Host) -> str:
    """``ADDRESS`` or ``ADDRESS:PORT``; an IPv6 address is bracketed when a port follows."""
    address = one_line(host.address)
    if host.port is None:
        return address
    return f"[{address}]:{host.port}" if ":" in address else f"{address}:{host.port}"


@dataclass(frozen=True)
class RunSetup:
    """A run ready to start: hosts, settings, options with its run folder, how to connect."""

    hosts: tuple[Host, ...]
    settings: Settings
    options: RolloutOptions
    connect: ConnectOptions


def setup_run(args: argparse.Namespace) -> RunSetup:
    """Everything before the first connection, including the password prompt.

    Kept apart from the run because Ctrl-C at the prompt must still end fleet at once.
    """
    hosts, settings, options = prepare(args)
    connect = ConnectOptions(
        connect_timeout=settings.connect_timeout,
        command_timeout=settings.command_timeout,
        accept_new_host_keys=args.accept_new_host_keys,
        ssh_config=args.ssh_config,
        become_password=_ask_password() if args.ask_become_pass else None,
    )
    options = replace(options, run_dir=new_run_dir(args.runs_dir, options.mode.value))
    return RunSetup(hosts, settings, options, connect)


def execute_run(run: RunSetup, console: Console, plain: bool, stop: StopRequest) -> Report:
    """Schedule the hosts with the live display: the whole run as a library call."""
    with make_progress(console, plain=plain) as events:
        return run_rollout(run.hosts, run.settings, run.connect, run.options, events, stop)


def finish(report: Report, args: argparse.Namespace, console: Console, plain: bool) -> int:
    """Render the report, write its files, and derive the exit code from it."""
    if plain:
        render_plain(report, sys.stdout)
    else:
        render_tables(report, console, full=args.verbose)
    run_dir = Path(report.run_dir) if report.run_dir else None
    if run_dir is not None:
        write_json(report, run_dir / "report.json")
        failed = failed_hosts_file(report, run_dir / "failed-hosts.txt")
        console.print(f"run folder: {run_dir}", markup=False, highlight=False, soft_wrap=True)
        if failed:
            console.print(
                f"retry the {failed} hosts not done with: --limit @{run_dir / 'failed-hosts.txt'}",
                markup=False,
                highlight=False,
                soft_wrap=True,
            )
    if args.report:
        write_json(report, args.report)
    return int(exit_code(report))


def exit_code(report: Report) -> ExitCode:
    if report.interrupted:
        return ExitCode.INTERRUPTED
    if report.halted:
        return ExitCode.HALTED
    if any(not h.compliant for h in report.hosts):
        return ExitCode.HOST_FAILURES
    return ExitCode.OK


def _mode(args: argparse.Namespace) -> Mode:
    if args.command == "rollout" and not getattr(args, "check", False):
        return Mode.ROLLOUT
    return Mode.VERIFY if args.command == "verify" else Mode.PLAN


def _ask_password() -> str:
    try:
        return getpass.getpass("sudo password (used for every host that asks): ")
    except EOFError:
        raise InputError("--ask-become-pass: no terminal to read the password from") from None


@contextmanager
def stop_on_signals() -> Iterator[StopRequest]:
    """Ctrl-C or SIGTERM raise the run's stop request by one stage, and never end fleet.

    First: no new host starts and running hosts stop after their current step.  Again:
    the commands in flight are abandoned.  Either way the run ends with its report
    written and exit code 130; the handler only sets events and prints one line.
    """
    stop = StopRequest()
    previous = {}

    def handler(signum: int, _frame: object) -> None:
        stage = stop.escalate()
        _say(stop_line(stage, signal.Signals(signum).name))

    for sig in (signal.SIGINT, signal.SIGTERM):
        previous[sig] = signal.signal(sig, handler)
    try:
        yield stop
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def _say(line: str) -> None:
    """Print from a signal handler, which may interrupt this thread in the middle of a write:
    the stream then refuses a second writer, and the line goes to the descriptor directly."""
    try:
        print(line, file=sys.stderr, flush=True)
    except (RuntimeError, OSError):
        with suppress(OSError):
            os.write(2, (line + "\n").encode())


def stop_line(stage: Stage, signal_name: str) -> str:
    """What fleet says when a signal raises the stop request to ``stage``."""
    if stage is Stage.AFTER_STEP:
        return (
            f"fleet: stopping ({signal_name}): no new host starts; running hosts stop after "
            "their current step (Ctrl-C again abandons their commands)"
        )
    return (
        f"fleet: stopping at once ({signal_name}): abandoning the commands in flight; "
        "the report follows"
    )
