"""A 50-host lab with sixteen faulty hosts (two frozen mid-command): every host ends as
docs/failures.md promises, and the run ends on its own."""

from __future__ import annotations

import pytest

from fleet.errors import ExitCode
from tests.rollout.helpers import by_name, fleet, on_host

ENGINE = {"version": "19.03.11", "running": True}

# host -> (spec override, expected status, fragment of the error)
CASES = {
    "node01": ({"faults": {"unreachable": "refused"}}, "unreachable", "connection refused"),
    "node02": ({"faults": {"unreachable": "timeout"}}, "unreachable", "no SSH banner"),
    "node03": ({"faults": {"auth": "refused"}}, "failed", "authentication refused"),
    "node04": ({"faults": {"hang": "yum install"}}, "failed", "command timed out after 8s"),
    "node05": ({"faults": {"drop": "yum install"}}, "failed", "dropped"),
    "node06": (
        {"faults": {"missing_packages": ["docker-ce-19.03.11"]}},
        "failed",
        "No package docker-ce-19.03.11 available.",
    ),
    "node07": ({"faults": {"repo_down": True}}, "failed", ""),
    "node08": ({"faults": {"yum_lock": 2}}, "changed", None),
    "node09": (
        {"engine": ENGINE, "faults": {"engine_fails": "failed to start daemon: boom"}},
        "failed",
        "STILL STOPPED",
    ),
    "node10": ({"var_lib_docker": {"fs": "xfs", "ftype": 0}}, "failed", "ftype=0"),
    "node11": ({"engine": ENGINE, "kubelet": "running"}, "skipped", "kubelet is running"),
    "node12": (
        {"engine": ENGINE, "faults": {"restart_noop": True}},
        "failed",
        "cgroup driver is cgroupfs",
    ),
    "node13": ({"sudo": "password", "sudo_password": "pa55-w0rd"}, "changed", None),
    "node14": ({"daemon_json": {"log-level": "warn"}}, "changed", None),
    # Frozen mid-command, the TCP connection still open: found by the keepalives.
    "node15": ({"faults": {"freeze": "yum install"}}, "unreachable", "no answer to 2 keepalives"),
    "node16": ({"faults": {"freeze": "rpm -q"}}, "unreachable", "no answer to 2 keepalives"),
}
# Keepalives as an operator would set them for a quick verdict on frozen hosts.
SSH_CONFIG = "Host *\n  ServerAliveInterval 1\n  ServerAliveCountMax 2\n"


@pytest.fixture(params=["paramiko"])
def sshd(request: pytest.FixtureRequest) -> str:
    return request.param


def test_fifty_hosts_with_a_dozen_faults_end_as_promised(lab, tmp_path, monkeypatch):
    lab = lab(50, host={name: case[0] for name, case in CASES.items()})
    for name, value in lab.become_env().items():
        monkeypatch.setenv(name, value)
    ssh_config = tmp_path / "ssh_config"
    ssh_config.write_text(SSH_CONFIG)
    code, report = fleet(
        tmp_path,
        "rollout",
        "-i",
        str(lab.inventory),
        "--keep-going",
        "--forks",
        "25",
        "--batch-size",
        "10",
        "--command-timeout",
        "8",
        "--connect-timeout",
        "3",
        "--ssh-config",
        str(ssh_config),
    )
    assert code == ExitCode.HOST_FAILURES
    hosts = by_name(report)
    for name, (_, status, fragment) in CASES.items():
        assert hosts[name]["status"] == status, (name, hosts[name]["error"])
        if fragment is not None:
            assert fragment in (hosts[name]["error"] or ""), (name, hosts[name]["error"])
            assert "\n" not in hosts[name]["error"] and "Traceback" not in hosts[name]["error"]
    clean = [h for name, h in hosts.items() if name not in CASES]
    assert len(clean) == 34
    assert all(h["status"] == "changed" for h in clean), [h["error"] for h in clean if h["error"]]
    assert all(h["docker"]["cgroup_driver"] == "systemd" for h in clean)
    assert report["summary"]["unreachable"] == 4 and report["summary"]["skipped"] == 1
    # The live node was left alone: still cgroupfs, still running.
    assert on_host(lab, "node11", "sudo docker info --format '{{.CgroupDriver}}'") == "cgroupfs"
    # The host whose engine cannot start says so loudly, and the engine is indeed down.
    assert on_host(lab, "node09", "systemctl is-active docker") != "active"
