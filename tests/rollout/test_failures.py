"""Every fault ends in a clear, recoverable state (docs/failures.md lists what each test proves).

Faults are injected into lab hosts (real SSH, both servers); fleet runs its real
command line.  No test sleeps: where a test must act while fleet runs, it waits
for fleet's own output lines.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from fleet.errors import ExitCode
from tests.rollout.helpers import by_name, fleet, on_host

PASSWORD = "s3cret-Pa55"


def fail_line(report: dict, name: str = "node01") -> str:
    host = by_name(report)[name]
    assert host["status"] in {"failed", "unreachable"}, host
    assert "\n" not in host["error"] and "Traceback" not in host["error"]
    return host["error"]


def test_unreachable_hosts_are_marked_and_the_others_carry_on(lab, tmp_path):
    lab = lab(
        3,
        host={
            "node01": {"faults": {"unreachable": "timeout"}},
            "node02": {"faults": {"unreachable": "refused"}},
        },
    )
    code, report = fleet(
        tmp_path, "rollout", "-i", str(lab.inventory), "--keep-going", "--connect-timeout", "2"
    )
    assert code == ExitCode.HOST_FAILURES
    statuses = [h["status"] for h in report["hosts"]]
    assert statuses == ["unreachable", "unreachable", "changed"]
    assert "no SSH banner within 2s" in fail_line(report, "node01")
    assert "connection refused" in fail_line(report, "node02")
    assert report["summary"]["unreachable"] == 2 and report["summary"]["failed"] == 0


def test_unresolvable_host_name_is_unreachable(lab, tmp_path):
    lab = lab(1)
    inventory = lab.dir / "with-ghost.yml"  # beside the lab key and known_hosts
    inventory.write_text(
        _with_extra_host(lab.inventory.read_text(), "ghost", "no-such-host.invalid")
    )
    code, report = fleet(tmp_path, "rollout", "-i", str(inventory), "--keep-going")
    assert code == ExitCode.HOST_FAILURES
    assert by_name(report)["node01"]["status"] == "changed"
    assert "cannot resolve" in fail_line(report, "ghost")
    assert by_name(report)["ghost"]["status"] == "unreachable"


def _with_extra_host(text: str, name: str, address: str) -> str:
    return text.replace("hosts:\n", f"hosts:\n  {name}:\n    address: {address}\n", 1)


def test_authentication_refused_fails_with_one_line(lab, tmp_path):
    lab = lab(1, defaults={"os": "centos7", "faults": {"auth": "refused"}})
    code, report = fleet(tmp_path, "rollout", "-i", str(lab.inventory))
    assert code == ExitCode.HOST_FAILURES
    assert report["hosts"][0]["status"] == "failed"
    assert fail_line(report).startswith("authentication refused for node01")


def test_wrong_sudo_password_fails_and_is_never_shown(lab, tmp_path, monkeypatch, capsys):
    lab = lab(1, defaults={"os": "centos7", "sudo": "password", "sudo_password": PASSWORD})
    for name in lab.become_env():
        monkeypatch.setenv(name, "wrong-" + PASSWORD[::-1])
    code, report = fleet(tmp_path, "rollout", "-i", str(lab.inventory))
    assert code == ExitCode.HOST_FAILURES
    assert "refused the password" in fail_line(report)
    out = capsys.readouterr()
    texts = [out.out, out.err, json.dumps(report)]
    texts += [p.read_text() for p in (tmp_path / "runs").rglob("*") if p.is_file()]
    assert not any(PASSWORD[::-1] in text for text in texts)


def test_unknown_host_key_is_refused_unless_accepted(lab, tmp_path):
    lab = lab(1)
    known = lab.dir / "known_hosts"
    original = known.read_text()
    known.write_text("")
    code, report = fleet(tmp_path, "rollout", "-i", str(lab.inventory))
    assert code == ExitCode.HOST_FAILURES
    error = fail_line(report)
    assert "unknown host key" in error and "SHA256:" in error and "--accept-new-host-keys" in error
    code, report = fleet(tmp_path, "plan", "-i", str(lab.inventory), "--accept-new-host-keys")
    assert code == ExitCode.OK
    assert known.read_text().split()[1:] == original.split()[1:]  # the same key was recorded


def test_changed_host_key_is_always_refused(lab, tmp_path):
    lab = lab(1)
    known = lab.dir / "known_hosts"
    entry = known.read_text().split()[0]
    key = tmp_path / "impostor"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    known.write_text(f"{entry} {' '.join(key.with_suffix('.pub').read_text().split()[:2])}\n")
    code, report = fleet(tmp_path, "rollout", "-i", str(lab.inventory), "--accept-new-host-keys")
    assert code == ExitCode.HOST_FAILURES
    error = fail_line(report)
    assert "CHANGED" in error and "ssh-keygen -R" in error


def test_a_hanging_command_times_out_and_the_rollout_goes_on(lab, tmp_path):
    lab = lab(2, host={"node01": {"faults": {"hang": "yum install"}}})
    code, report = fleet(
        tmp_path, "rollout", "-i", str(lab.inventory), "--keep-going", "--command-timeout", "3"
    )
    assert code == ExitCode.HOST_FAILURES
    assert "command timed out after 3s on node01" in fail_line(report)
    assert by_name(report)["node02"]["status"] == "changed"


def test_a_dropped_connection_fails_the_host_and_a_rerun_converges(lab, tmp_path):
    lab = lab(1, defaults={"os": "centos7", "faults": {"drop": "yum install"}})
    code, report = fleet(tmp_path, "rollout", "-i", str(lab.inventory))
    assert code == ExitCode.HOST_FAILURES
    assert "dropped" in fail_line(report) or "lost" in fail_line(report)
    code, report = fleet(tmp_path, "rollout", "-i", str(lab.inventory))
    assert code == ExitCode.OK
    assert report["hosts"][0]["docker"]["cgroup_driver"] == "systemd"


def test_yum_lock_is_waited_for_and_said(lab, tmp_path, capsys):
    lab = lab(1, defaults={"os": "centos7", "faults": {"yum_lock": 3}})
    code, _report = fleet(tmp_path, "rollout", "-i", str(lab.inventory))
    assert code == ExitCode.OK
    assert "node01: waiting for the yum lock held by another process" in capsys.readouterr().out


def test_yum_lock_wait_is_bounded(lab, tmp_path):
    lab = lab(1, defaults={"os": "centos7", "faults": {"yum_lock": 600}})
    code, report = fleet(tmp_path, "rollout", "-i", str(lab.inventory), "--yum-lock-timeout", "1")
    assert code == ExitCode.HOST_FAILURES
    assert "lock was held by another process for more than 1s" in fail_line(report)


def test_repository_down_fails_with_yums_own_message(lab, tmp_path):
    lab = lab(1, defaults={"os": "centos7", "faults": {"repo_down": True}})
    code, report = fleet(tmp_path, "rollout", "-i", str(lab.inventory))
    assert code == ExitCode.HOST_FAILURES
    error = fail_line(report)
    assert "docker-ce" in error or "repo" in error.lower() or "Cannot" in error, error


BAD_DAEMON_JSON = json.dumps(
    {"exec-opts": ["native.cgroupdriver=systemd"], "storage-driver": "overlay2", "bogus-key": 1}
)


@pytest.mark.parametrize("owner_file", [None, {"log-level": "warn"}])
def test_engine_refusing_the_new_config_is_rolled_back(lab, tmp_path, owner_file):
    lab = lab(
        2,
        defaults={
            "os": "centos7",
            "engine": {"version": "19.03.11", "running": True},
            "daemon_json": owner_file,
        },
    )
    code, report = fleet(
        tmp_path,
        "rollout",
        "-i",
        str(lab.inventory),
        "--batch-size",
        "1",
        "--daemon-json",
        BAD_DAEMON_JSON,
    )
    assert code == ExitCode.HALTED
    error = fail_line(report)
    assert "engine refused to start" in error and "bogus-key" in error
    assert "restored the previous daemon.json and the engine runs again" in error
    assert by_name(report)["node02"]["status"] == "not_run"
    assert on_host(lab, "node01", "systemctl is-active docker") == "active"
    now = on_host(lab, "node01", "cat /etc/docker/daemon.json 2>/dev/null || echo absent")
    assert (now == "absent") if owner_file is None else (json.loads(now) == owner_file)


def test_bad_command_line_values_get_one_line_and_exit_2(tmp_path):
    inventory = tmp_path / "inv.yml"
    inventory.write_text("hosts:\n  node01: {address: 127.0.0.1}\n")
    cases = [
        ["rollout", "-i", str(inventory), "--batch-size", "0"],
        ["rollout", "-i", str(inventory), "--batch-size", "150%"],
        ["rollout", "-i", str(inventory), "--max-failures", "lots"],
        ["rollout", "-i", str(inventory), "--forks", "0"],
        ["rollout", "-i", str(inventory), "--docker-version", ""],
        ["rollout", "-i", str(tmp_path / "missing.yml")],
        ["rollout", "-i", str(inventory), "--limit", "nosuchhost"],
        ["rollout", "--no-such-flag"],
        ["lab", "up", "--hosts", "0", "--dir", str(tmp_path / "lab")],
    ]
    for argv in cases:
        done = subprocess.run(
            [sys.executable, "-m", "fleet", *argv], capture_output=True, text=True, timeout=60
        )
        assert done.returncode == ExitCode.BAD_INPUT, (argv, done.stderr)
        assert done.stderr.startswith("fleet: "), (argv, done.stderr)
        assert len(done.stderr.strip().splitlines()) == 1, (argv, done.stderr)
        assert "Traceback" not in done.stderr + done.stdout
    assert not (tmp_path / "runs").exists()


def _start_fleet(tmp_path: Path, *argv: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "fleet", *argv, "--plain", "--runs-dir", str(tmp_path / "bg-runs")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )


def _wait_for_line(proc: subprocess.Popen, prefix: str) -> list[str]:
    seen = []
    for line in proc.stdout:
        seen.append(line)
        if line.startswith(prefix):
            return seen
    raise AssertionError(f"fleet ended before printing {prefix!r}: {seen}")


def test_two_runs_on_one_host_never_interleave(lab, tmp_path):
    lab = lab(1, defaults={"os": "centos7", "faults": {"slow": 0.1}})
    first = _start_fleet(tmp_path, "rollout", "-i", str(lab.inventory))
    _wait_for_line(first, "STEP node01 step=preflight")  # facts gathered: the host lock is held
    code, report = fleet(tmp_path, "rollout", "-i", str(lab.inventory), "--lock-wait", "1")
    assert code == ExitCode.HOST_FAILURES
    assert "another fleet run is changing this host" in fail_line(report)
    first.communicate(timeout=300)
    assert first.returncode == ExitCode.OK
