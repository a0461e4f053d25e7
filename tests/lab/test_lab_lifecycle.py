"""lab up / status / down as whole lifecycles: nothing may be left behind.

Each test starts and stops its own small lab, and checks from /proc (processes,
mount tables, /proc/net/tcp) that ``down`` removed exactly what ``up`` started.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from fleet.errors import EnvironmentProblem, ExitCode, InputError
from fleet.lab import runtime
from tests.labkit import (
    RunningLab,
    lab_listeners,
    lab_mounts,
    lab_processes,
    lab_skip_reason,
    openssh_client_skip_reason,
    openssh_skip_reason,
    run,
    running_lab,
    start_lab,
    stop_lab,
)

pytestmark = pytest.mark.lab
REPO = Path(__file__).resolve().parents[2]
SMALL = {"hosts": 3, "host": {"node03": {"faults": {"unreachable": "refused"}}}}


@pytest.fixture(autouse=True)
def needs_lab() -> None:
    reason = lab_skip_reason()
    if reason:
        pytest.skip(reason)


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "fleet.lab.cli", *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=300,
        check=False,
    )


def assert_nothing_left(lab: RunningLab) -> None:
    assert lab_processes(lab) == []
    assert lab_listeners(lab) == []
    assert lab_mounts(lab) == []
    assert not lab.dir.exists()


@pytest.mark.parametrize("sshd", ["paramiko", "openssh"])
def test_down_leaves_no_process_mount_or_listener(tmp_path: Path, sshd: str) -> None:
    if sshd == "openssh" and (why := openssh_skip_reason()):
        pytest.skip(why)
    lab = start_lab(tmp_path / "lab", SMALL, sshd)
    try:
        # Sessions that try to outlive the lab: a detached process, and one started by root.
        left = run(lab, "node01", "setsid sleep 600 </dev/null >/dev/null 2>&1 & echo started")
        assert left.stdout == "started\n"
        run(lab, "node02", "sudo -n sh -c 'nohup sleep 600 >/dev/null 2>&1 &'")
        assert len(lab_processes(lab)) >= 3 + 2  # supervisor/sshds, holders, the sleeps
        assert len(lab_listeners(lab)) == 2
        refusing = lab.host("node03").address  # held by a bound, never listening socket
        assert not runtime.port_free(refusing, 22, strict=True)
        assert len(lab_mounts(lab)) > 0  # inside the holders' namespaces only
        assert [m for m in lab_mounts(lab) if m.startswith("self:")] == []
    finally:
        report = stop_lab(lab)
    assert report.clean, report
    assert report.supervisor_was_running
    assert_nothing_left(lab)
    assert runtime.port_free(refusing, 22, strict=True)


def test_down_cleans_up_after_a_dead_supervisor(tmp_path: Path) -> None:
    lab = start_lab(tmp_path / "lab", SMALL)
    supervisor = lab.lab.supervisor
    assert supervisor is not None
    os.kill(supervisor.pid, signal.SIGKILL)
    assert runtime.wait_gone([supervisor.pid], 30) == []
    os.waitpid(supervisor.pid, 0)
    status = cli("status", "--dir", str(lab.dir))
    assert status.returncode == ExitCode.HOST_FAILURES
    assert "NOT RUNNING" in status.stdout
    report = stop_lab(lab)
    assert report.clean, report
    assert not report.supervisor_was_running
    assert_nothing_left(lab)


def test_up_refuses_a_directory_with_a_running_lab(tmp_path: Path) -> None:
    with running_lab(tmp_path / "lab", {"hosts": 1}) as lab:
        with pytest.raises(InputError, match="a lab is running; run: fleet lab down --dir"):
            runtime.lab_up(lab.dir, hosts=1)
        assert run(lab, "node01", "true").status == 0  # the running lab was not disturbed


def test_up_refuses_a_non_empty_directory(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine\n")
    with pytest.raises(InputError, match="directory is not empty"):
        runtime.lab_up(tmp_path, hosts=1)
    assert (tmp_path / "notes.txt").read_text() == "mine\n"


def test_a_namespace_id_reused_by_another_lab_is_not_claimed(tmp_path: Path) -> None:
    # The kernel gives a dead namespace's id to the next namespace made on the machine: a
    # stopped lab's record of its node01 may name the id another lab's node01 now has.
    with running_lab(tmp_path / "other", {"hosts": 1}) as other:
        live = other.lab.holders["node01"]
        dead = runtime.Holder("node01", runtime.ProcRef(live.proc.pid, -1), live.namespace)
        stopped = tmp_path / "stopped"
        (stopped / "hosts" / "node01" / "var" / "lib" / "fleetlab").mkdir(parents=True)
        assert runtime.lab_namespaces([dead], stopped) == set()
        assert runtime.lab_namespaces([dead], other.dir) == {live.namespace}
        assert runtime.clear_namespaces([dead], stopped) == []
        assert run(other, "node01", "hostname").stdout == "node01\n"


def test_a_second_lab_takes_the_next_free_addresses(tmp_path: Path) -> None:
    first = start_lab(tmp_path / "a", SMALL)
    try:
        second = start_lab(tmp_path / "b", {"hosts": 2})
        try:
            taken = {h.address for h in first.lab.hosts}  # incl. node03, which only refuses
            assert taken.isdisjoint(h.address for h in second.lab.hosts)
            assert run(second, "node01", "hostname").stdout == "node01\n"
        finally:
            assert stop_lab(second).clean
        assert run(first, "node01", "hostname").stdout == "node01\n"
    finally:
        assert stop_lab(first).clean


def test_labs_started_at_the_same_moment_get_different_addresses(tmp_path: Path) -> None:
    # Each picks a free block by probing, then binds it: the pick-and-bind window
    # is serialised, so neither can take the block the other is about to bind.
    argv = [sys.executable, "-m", "fleet.lab.cli", "up", "--hosts", "4", "--dir"]
    starts = [
        subprocess.Popen([*argv, str(tmp_path / name)], cwd=REPO, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, text=True)
        for name in ("a", "b", "c")
    ]  # fmt: skip
    outputs = [p.communicate(timeout=300)[0] for p in starts]
    try:
        assert [p.returncode for p in starts] == [0, 0, 0], outputs
        blocks = [{h.address for h in runtime.load_lab(tmp_path / name).hosts} for name in "abc"]
        assert len(set.union(*blocks)) == 12
    finally:
        for name in "abc":
            if (tmp_path / name / runtime.STATE_FILE).exists():
                assert runtime.lab_down(tmp_path / name).clean


def test_cli_up_status_down(tmp_path: Path) -> None:
    where = tmp_path / "cli-lab"
    up = cli("up", "--hosts", "2", "--dir", str(where))
    assert up.returncode == 0, up.stderr
    assert "lab up: 2 hosts (node01..node02" in up.stdout
    assert f"ssh -F {where}/ssh_config node01" in up.stdout
    try:
        if openssh_client_skip_reason() is None:  # the generated ssh_config works with OpenSSH
            ssh = subprocess.run(
                ["ssh", "-F", str(where / "ssh_config"), "node02", "hostname"],
                capture_output=True,
                text=True,
                timeout=60,
                check=False,
            )
            assert (ssh.returncode, ssh.stdout) == (0, "node02\n"), ssh.stderr
        status = cli("status", "--dir", str(where))
        assert status.returncode == 0, status.stderr
        rows = [line for line in status.stdout.splitlines() if "node0" in line]
        assert len(rows) == 2 and all(" up " in row for row in rows)
        assert "KiB per host" in status.stdout
    finally:
        down = cli("down", "--dir", str(where))
    assert down.returncode == 0, down.stderr
    assert "no process, mount or listener left" in down.stdout
    assert not where.exists()
    again = cli("status", "--dir", str(where))
    assert again.returncode == ExitCode.BAD_INPUT
    assert again.stderr.startswith(f"fleet: {where}/lab.json: no lab here")


def test_demo_spec_starts_and_every_host_is_as_planned(tmp_path: Path) -> None:
    lab = RunningLab(runtime.lab_up(tmp_path / "demo", runtime_spec("demo")))
    try:
        status = runtime.lab_status(lab.dir)
        assert status.healthy, status.hosts
        assert len(status.hosts) == 12
        os_release = run(lab, "node04", "cat /etc/os-release").stdout
        assert "Rocky Linux" in os_release
    finally:
        assert stop_lab(lab).clean


def runtime_spec(name: str):
    from fleet.lab.spec import builtin_spec_path, load_spec

    return load_spec(builtin_spec_path(name))


def _as_user(argv: list[str], uid: int = 65534) -> tuple[int, str]:
    """fleet's main(argv) run by a real non-root process: (exit code, what it printed on stderr)."""
    from fleet import cli, demo  # imported here: the interpreter may be unreadable to ``uid``

    assert demo.run_demo
    read_end, write_end = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - runs in the forked child
        sys.stderr = os.fdopen(write_end, "w")  # pytest's capture replaced the real one
        os.setgid(uid)
        os.setuid(uid)
        code = cli.main(argv)
        sys.stderr.flush()
        os._exit(code)
    os.close(write_end)
    with os.fdopen(read_end) as stderr:
        said = stderr.read()
    return os.waitstatus_to_exitcode(os.waitpid(child, 0)[1]), said


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to become another user")
@pytest.mark.parametrize(
    "argv", [["demo", "--plain"], ["lab", "up", "--hosts", "3", "--dir", "/nonexistent/lab"]]
)
def test_not_root_says_what_to_run_instead(argv: list[str]) -> None:
    code, said = _as_user(argv)
    assert code == ExitCode.ENVIRONMENT
    typed = " ".join(["fleet", *argv])
    assert said == (
        f"fleet: the lab needs root for its mount namespaces; run: sudo {typed} "
        "(or run it in a container with CAP_SYS_ADMIN)\n"
    )


def test_missing_sshd_names_the_package(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from fleet.lab import openssh

    monkeypatch.setattr(openssh, "SSHD", str(tmp_path / "no-sshd"))
    with pytest.raises(EnvironmentProblem, match="apt-get install openssh-server"):
        openssh.require_sshd()
