"""The command line's first contact: argument errors and ``--list-hosts``.

Everything runs through the real entry points (``fleet.cli.main``, the lab's own
``main`` and, once, the installed program in a child process).
"""

from __future__ import annotations

import re
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from fleet.cli import build_parser, host_list_lines, main
from fleet.inventory import Host
from fleet.lab import cli as lab_cli


def argument_error(capsys: pytest.CaptureFixture[str], entry, argv: list[str]) -> str:
    """Run an entry point that must reject ``argv``; return its one stderr line."""
    with pytest.raises(SystemExit) as stopped:
        entry(argv)
    out, err = capsys.readouterr()
    assert stopped.value.code == 2
    assert out == ""
    assert err.endswith("\n") and err.count("\n") == 1, err
    line = err.rstrip("\n")
    assert line.startswith("fleet: ") and not line.startswith("fleet: fleet")
    return line


# --------------------------------------------------------------------------- argument errors


@pytest.mark.parametrize(
    ("argv", "line"),
    [
        ([], "fleet: the following arguments are required: COMMAND (see fleet --help)"),
        (
            ["bogus"],
            # How argparse quotes the choices differs between Python versions.
            re.compile(
                r"fleet: argument COMMAND: invalid choice: 'bogus' \(choose from "
                r"'?rollout'?, '?plan'?, '?verify'?, '?lab'?, '?demo'?\) \(see fleet --help\)"
            ),
        ),
        (
            ["rollout", "-i", "inv.yml", "--bogus"],
            "fleet: unrecognized arguments: --bogus (see fleet rollout --help)",
        ),
        (
            ["rollout", "--bogus"],
            "fleet: the following arguments are required: -i/--inventory "
            "(see fleet rollout --help)",
        ),
        (
            ["plan", "-i", "inv.yml", "--forks", "many"],
            "fleet: argument -f/--forks: invalid int value: 'many' (see fleet plan --help)",
        ),
        (
            ["verify", "-i", "inv.yml", "--bogus", "x"],
            "fleet: unrecognized arguments: --bogus x (see fleet verify --help)",
        ),
        (["demo", "--bogus"], "fleet: unrecognized arguments: --bogus (see fleet demo --help)"),
        (
            ["demo", "--sshd", "telnet"],
            re.compile(
                r"fleet: argument --sshd: invalid choice: 'telnet' "
                r"\(choose from '?paramiko'?, '?openssh'?\) \(see fleet demo --help\)"
            ),
        ),
        (
            ["lab"],
            "fleet: the following arguments are required: LAB_COMMAND (see fleet lab --help)",
        ),
        (
            ["lab", "up", "--bogus"],
            "fleet: unrecognized arguments: --bogus (see fleet lab up --help)",
        ),
        (
            ["lab", "up", "--hosts", "ten"],
            "fleet: argument --hosts: invalid int value: 'ten' (see fleet lab up --help)",
        ),
        (
            ["lab", "status", "--bogus"],
            "fleet: unrecognized arguments: --bogus (see fleet lab status --help)",
        ),
        (
            ["lab", "down", "--dir"],
            "fleet: argument --dir: expected one argument (see fleet lab down --help)",
        ),
        (
            ["rollout", "-i", "inv.yml", "--bogus\n\x1b[2J"],
            "fleet: unrecognized arguments: --bogus | \\x1b[2J (see fleet rollout --help)",
        ),
    ],
)
def test_argument_errors_name_fleet_once_and_the_command_help(capsys, argv, line):
    error = argument_error(capsys, main, argv)
    if isinstance(line, re.Pattern):
        assert line.fullmatch(error), error
    else:
        assert error == line


@pytest.mark.parametrize(
    ("argv", "line"),
    [
        ([], "fleet: the following arguments are required: LAB_COMMAND (see fleet lab --help)"),
        (["up", "--bogus"], "fleet: unrecognized arguments: --bogus (see fleet lab up --help)"),
        (["status", "extra"], "fleet: unrecognized arguments: extra (see fleet lab status --help)"),
    ],
)
def test_standalone_lab_command_errors_the_same_way(capsys, argv, line):
    assert argument_error(capsys, lab_cli.main, argv) == line


def test_the_installed_program_prints_one_line_and_exits_2():
    done = subprocess.run(
        [sys.executable, "-m", "fleet", "lab", "up", "--bogus"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr == "fleet: unrecognized arguments: --bogus (see fleet lab up --help)\n"


def test_parsed_arguments_carry_nothing_extra():
    args = build_parser().parse_args(["lab", "status", "--dir", "x"])
    assert vars(args) == {"command": "lab", "lab_command": "status", "dir": Path("x")}


# --------------------------------------------------------------------------- --list-hosts


def closed_port() -> int:
    """A local port nothing listens on: connecting to it would be refused at once."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def inventory(tmp_path: Path) -> tuple[Path, int]:
    port = closed_port()
    path = tmp_path / "inventory.yml"
    text = f"""\
        fleet: 1
        groups:
          web:
            hosts: ["web[01:03]"]
          db:
            hosts: [db01]
        hosts:
          web01: {{address: 127.0.0.1, port: {port}}}
          web02: {{address: 10.0.0.2}}
          web03: {{address: 10.0.0.3, port: 2222}}
          db01: {{address: "fd00::1", port: 2222}}
          cache01: {{}}
        """
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path, port


def list_hosts(capsys, tmp_path: Path, argv: list[str]) -> tuple[int, str, str]:
    runs = tmp_path / "runs"
    report = tmp_path / "report.json"
    code = main([*argv, "--list-hosts", "--runs-dir", str(runs), "--report", str(report)])
    out, err = capsys.readouterr()
    assert not runs.exists() and not report.exists()  # no run folder, no report
    return code, out, err


def test_plan_lists_the_selected_hosts_without_connecting(capsys, tmp_path, inventory):
    path, port = inventory
    code, out, err = list_hosts(capsys, tmp_path, ["plan", "-i", str(path), "--limit", "web"])
    assert (code, err) == (0, "")
    # web01's port is closed: a connection attempt would have made it unreachable (exit 1).
    assert out.splitlines() == [
        "hosts (3):",
        f"  web01  127.0.0.1:{port}",
        "  web02  10.0.0.2",
        "  web03  10.0.0.3:2222",
    ]


def test_rollout_lists_the_batch_of_every_host(capsys, tmp_path, inventory):
    path, port = inventory
    argv = ["rollout", "-i", str(path), "--batch-size", "1,2"]
    code, out, err = list_hosts(capsys, tmp_path, argv)
    where = f"127.0.0.1:{port}"
    width = max(len(where), len("[fd00::1]:2222"))
    assert (code, err) == (0, "")
    assert out.splitlines() == [
        "hosts (5):",
        f"  web01    {where:<{width}}  batch 1",
        f"  web02    {'10.0.0.2':<{width}}  batch 2",
        f"  web03    {'10.0.0.3:2222':<{width}}  batch 2",
        f"  db01     {'[fd00::1]:2222':<{width}}  batch 3",
        f"  cache01  {'cache01':<{width}}  batch 3",
    ]


def test_verify_lists_hosts_after_exclusions(capsys, tmp_path, inventory):
    path, _ = inventory
    argv = ["verify", "-i", str(path), "-l", "all:!web", "--batch-size", "100%"]
    code, out, err = list_hosts(capsys, tmp_path, argv)
    assert (code, err) == (0, "")
    assert (
        out
        == "hosts (2):\n  db01     [fd00::1]:2222  batch 1\n  cache01  cache01         batch 1\n"
    )


def test_an_empty_selection_is_one_line_and_exit_2(capsys, tmp_path, inventory):
    path, _ = inventory
    code, out, err = list_hosts(capsys, tmp_path, ["plan", "-i", str(path), "-l", "web:&db"])
    assert (code, out) == (2, "")
    assert err == "fleet: --limit 'web:&db' selects no hosts; check its '&' and '!' parts\n"


def test_flags_a_run_would_reject_are_rejected_when_listing(capsys, tmp_path, inventory):
    path, _ = inventory
    code, out, err = list_hosts(capsys, tmp_path, ["rollout", "-i", str(path), "--forks", "0"])
    assert (code, out) == (2, "")
    assert err == "fleet: --forks 0: must be at least 1\n"


def test_host_names_are_printed_as_plain_text():
    hosts = [Host("[red]evil[/]", "10.0.0.1"), Host("bell\x07", "fd00::2", port=22)]
    assert host_list_lines([(hosts[0], None), (hosts[1], None)]) == [
        "hosts (2):",
        "  [red]evil[/]  10.0.0.1",
        "  bell\\x07      [fd00::2]:22",
    ]
