"""A frozen host (hung kernel, frozen VM, black-holed route) must not stall the run.

The host keeps its TCP connection open and answers nothing; fleet's keepalives
(ServerAliveInterval 1 x ServerAliveCountMax 2 here, from an ssh_config file) find
it dead, the command in flight fails at once, the host is reported unreachable
with the reason, and the worker goes on to the next host.  fleet's own lab server
freezes a connection with the ``freeze`` fault; OpenSSH's sshd is frozen for real,
by SIGSTOP of the host's sshd session processes while its command hangs.  No test
sleeps or measures time: the runs end on their own, and the reports say why.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

from fleet import rootshell
from fleet.errors import ExitCode
from fleet.lab import procfs, runtime
from fleet.lab.server import CommandText
from tests.labkit import RunningLab
from tests.rollout.helpers import by_name, fleet

SSH_CONFIG = "Host *\n  ServerAliveInterval 1\n  ServerAliveCountMax 2\n"
REASON = (
    "no answer to 2 keepalives 1s apart (ServerAliveInterval 1, ServerAliveCountMax 2); "
    "the host or the route to it is frozen"
)
ENGINE_INSTALL = "docker-ce-19.03.11"  # only the engine_packages step's command names it
SSHD_NAMES = ("sshd", "sshd-session")


def _ssh_config(tmp_path: Path) -> str:
    path = tmp_path / "ssh_config"
    path.write_text(SSH_CONFIG)
    return str(path)


def _frozen_spec(sshd: str) -> dict:
    """node02 freezes in its engine install (behind the delay proxy); node03 is slow but alive.

    fleet's server freezes the connection itself (``freeze``); under OpenSSH the command
    hangs (``hang``) until the test stops the host's sshd.
    """
    fault = {"freeze": ENGINE_INSTALL} if sshd == "paramiko" else {"hang": ENGINE_INSTALL}
    return {
        "node02": {"delay_ms": 5, "faults": fault},
        # Every tool takes half a second: this host's run spans several keepalive
        # intervals, all answered, so it must not be taken for frozen.
        "node03": {"faults": {"slow": 0.5}},
    }


def _start_fleet(tmp_path: Path, *argv: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "fleet", *argv, "--plain", "--runs-dir", str(tmp_path / "runs")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )


def _wait_for_line(proc: subprocess.Popen, prefix: str) -> None:
    seen = []
    for line in proc.stdout:
        seen.append(line)
        if line.startswith(prefix):
            return
    raise AssertionError(f"fleet ended before printing {prefix!r}: {seen}")


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for pid in procfs.all_pids():
        parent = procfs.parent_of(pid)
        if parent is not None:
            tree.setdefault(parent, []).append(pid)
    return tree


def _comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


def sshd_sessions(lab: RunningLab, name: str) -> list[int]:
    """The host's per-connection sshd processes: below its listening sshd (in lab.json)."""
    listener = runtime.load_lab(lab.dir).sshd_pids[name].pid
    tree, found, todo = _children(), [], [listener]
    while todo:
        for child in tree.get(todo.pop(), []):
            todo.append(child)
            if _comm(child) in SSHD_NAMES:
                found.append(child)
    return found


@contextlib.contextmanager
def frozen(pids: list[int]) -> Iterator[None]:
    """SIGSTOP the processes; SIGCONT them at the end, so the lab stops cleanly."""
    for pid in pids:
        os.kill(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)


def _rollout_with_a_frozen_host(lab: RunningLab, sshd: str, tmp_path: Path) -> dict:
    report_file = tmp_path / "report.json"
    proc = _start_fleet(
        tmp_path,
        "rollout",
        "-i",
        str(lab.inventory),
        "--ssh-config",
        _ssh_config(tmp_path),
        "--forks",
        "1",  # one worker: node03 runs only if the frozen node02 gives it back
        "--report",
        str(report_file),
    )
    if sshd == "paramiko":
        _out, err = proc.communicate(timeout=300)
    else:
        # From here node02's next command (the engine install) hangs: whenever the
        # stop lands, a command is in flight and nothing will ever answer it.
        _wait_for_line(proc, "STEP node02 step=repository")
        sessions = sshd_sessions(lab, "node02")
        assert sessions, "node02 has no sshd session to freeze"
        with frozen(sessions):
            _out, err = proc.communicate(timeout=300)
    assert proc.returncode == ExitCode.HOST_FAILURES, err
    return json.loads(report_file.read_text())


def test_a_frozen_host_is_unreachable_and_the_others_finish(lab, sshd, tmp_path):
    lab = lab(3, host=_frozen_spec(sshd))
    report = _rollout_with_a_frozen_host(lab, sshd, tmp_path)
    hosts = by_name(report)
    frozen_host = hosts["node02"]
    assert frozen_host["status"] == "unreachable", frozen_host
    address = lab.host("node02").address
    assert frozen_host["error"] == f"node02 ({address}:22): {REASON}"
    steps = [s["name"] for s in frozen_host["steps"]]
    assert "repository" in steps and "engine_packages" not in steps  # froze in the install
    assert hosts["node01"]["status"] == "changed"
    assert hosts["node03"]["status"] == "changed"
    assert report["summary"]["unreachable"] == 1 and report["summary"]["changed"] == 2


def test_a_host_frozen_in_its_first_command_is_unreachable_and_a_rerun_converges(
    lab_factory, tmp_path
):
    # fleet's server only: the first command (facts and the host lock) is an exec
    # request, so this freezes the other read loop of the transport.
    frozen_first = {"node01": {"faults": {"freeze": "flock -w"}}}
    lab = lab_factory({"hosts": 2, "defaults": {"os": "centos7"}, "host": frozen_first}, "paramiko")
    argv = ("rollout", "-i", str(lab.inventory), "--ssh-config", _ssh_config(tmp_path))
    code, report = fleet(tmp_path, *argv, "--keep-going")
    assert code == ExitCode.HOST_FAILURES
    host = by_name(report)["node01"]
    assert host["status"] == "unreachable" and host["steps"] == []
    assert host["error"] == f"node01 ({lab.host('node01').address}:22): {REASON}"
    assert by_name(report)["node02"]["status"] == "changed"
    code, report = fleet(tmp_path, *argv)  # the fault freezes a host once, like a reboot cures it
    assert code == ExitCode.OK
    assert [h["status"] for h in report["hosts"]] == ["changed", "ok"]


def test_keepalives_off_leave_a_frozen_host_to_the_command_timeout(lab_factory, tmp_path):
    # ServerAliveInterval 0 turns keepalives off: the frozen host is then left to the
    # command timeout, as before (and as OpenSSH does).
    lab = lab_factory(
        {"hosts": 1, "defaults": {"os": "centos7", "faults": {"freeze": ENGINE_INSTALL}}},
        "paramiko",
    )
    config = tmp_path / "ssh_config_off"
    config.write_text("Host *\n  ServerAliveInterval 0\n")
    code, report = fleet(
        tmp_path,
        "rollout",
        "-i",
        str(lab.inventory),
        "--ssh-config",
        str(config),
        "--command-timeout",
        "2",
    )
    assert code == ExitCode.HOST_FAILURES
    host = report["hosts"][0]
    assert host["status"] == "failed"
    assert host["error"].startswith("command timed out after 2s on node01")


def test_the_freeze_fault_finds_its_text_in_served_shell_commands_however_they_arrive():
    # Commands sent through fleet's served root shell arrive in the session's input, in
    # pieces of any size, stdin after them: the fault must see them, and not a near miss.
    wanted = rootshell.encode_request(7, f"yum install -y {ENGINE_INSTALL}", 200) + b"x" * 200
    other = rootshell.encode_request(8, "yum install -y lvm2", 15) + b"docker-ce-19.03"
    for data, found in ((wanted, True), (other, False), (f"true; {ENGINE_INSTALL}".encode(), True)):
        for size in (1, 5, 77, len(data)):
            text = CommandText(ENGINE_INSTALL)
            pieces = [data[i : i + size] for i in range(0, len(data), size)]
            assert any([text.feed(piece) for piece in pieces]) is found, (data, size)
