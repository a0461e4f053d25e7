"""fleet rollout --runtime containerd end to end: real SSH into lab hosts and their containerd.

The lab's containerd (fleet.lab.simtools.containerd) reads config.toml with its own reader
and containerd's rules; the running state it keeps is what it started with, so the checks
below read the daemon (crictl, ctr, its state file), not the file fleet wrote.
"""

from __future__ import annotations

import json

from fleet.errors import ExitCode
from tests.rollout.helpers import by_name, fleet, on_host

OWNER = """version = 2
root = "/data/containerd"

[plugins."io.containerd.grpc.v1.cri".registry.mirrors."docker.io"]
  endpoint = ["https://mirror.example.com"]
"""
VARS = {"runtime": "containerd", "node_prereqs": "false"}
# kubeadm's node prerequisites (fleet.steps.node_prereqs) need tools the lab hosts do not
# have yet (modprobe, sysctl, ...): these tests cover the runtime itself.
CONTAINERD = ("--runtime", "containerd", "--node-prereqs", "false")


def daemon(lab, name: str) -> dict:
    """What the host's containerd started with (the simulator's own record)."""
    return json.loads(on_host(lab, name, "sudo cat /var/lib/fleetlab/containerd.json"))


def started_at(lab, name: str) -> str:
    return on_host(lab, name, "systemctl show -p ActiveEnterTimestamp containerd")


def test_containerd_rollout_of_a_mixed_lab_then_nothing_to_do(lab, tmp_path):
    lab = lab(
        3,
        host={
            "node01": {"os": "centos7"},
            "node02": {"os": "centos8"},
            "node03": {"os": "rocky9", "crictl": True},
        },
    )
    code, report = fleet(tmp_path, "rollout", "-i", str(lab.inventory), *CONTAINERD)
    assert code == ExitCode.OK, report
    versions = {"node01": "1.6.33", "node02": "1.6.32", "node03": "1.7.28"}
    for name, host in by_name(report).items():
        assert host["status"] == "changed", (name, host["error"])
        assert host["docker"] is None
        runtime = host["runtime"]
        assert runtime["name"] == "containerd" and runtime["version"] == versions[name]
        assert (runtime["cgroup_driver"], runtime["cri"]) == ("systemd", True)
        assert runtime["snapshotter"] == "overlayfs"
        assert [s["name"] for s in host["steps"]][-4:] == [
            "containerd_packages",
            "containerd_config",
            "containerd_service",
            "verify",
        ]
        # The running daemon itself, asked directly, agrees with the report.
        state = daemon(lab, name)
        assert state["running"] and state["config"]["cri"] == "ok"
        assert state["config"]["systemd_cgroup"] is True
        cri = [
            row for row in on_host(lab, name, "sudo ctr plugins ls").splitlines() if " cri " in row
        ]
        assert cri and cri[0].split()[-1] == "ok"
        assert on_host(lab, name, "systemctl is-enabled containerd") == "enabled"
    info = json.loads(on_host(lab, "node03", "sudo crictl info"))
    assert info["config"]["containerd"]["runtimes"]["runc"]["options"]["SystemdCgroup"] is True
    assert "crictl info" in by_name(report)["node03"]["steps"][-1]["message"]
    assert "ctr plugins ls" in by_name(report)["node01"]["steps"][-1]["message"]

    before = {name: started_at(lab, name) for name in lab.hosts}
    code, again = fleet(tmp_path, "rollout", "-i", str(lab.inventory), *CONTAINERD)
    assert code == ExitCode.OK
    for name, host in by_name(again).items():
        assert host["status"] == "ok", (name, host["steps"])
        assert {s["status"] for s in host["steps"]} <= {"ok", "skipped"}
        assert started_at(lab, name) == before[name] != ""


def test_owner_config_is_kept_plan_shows_the_diff_and_verify_audits(lab_factory, tmp_path):
    lab = lab_factory(
        {
            "hosts": 2,
            "defaults": {"os": "centos7", "vars": VARS},
            "host": {
                "node01": {"containerd_config": OWNER},
                "node02": {
                    "os": "rocky9",
                    "vars": {**VARS, "containerd_version": "2.2.1"},
                },
            },
        }
    )
    inventory = str(lab.inventory)
    code, audit = fleet(tmp_path, "verify", "-i", inventory)
    assert code == ExitCode.HOST_FAILURES
    assert {h["status"] for h in audit["hosts"]} == {"failed"}
    assert (
        on_host(lab, "node01", "rpm -q containerd.io") == "package containerd.io is not installed"
    )

    code, plan = fleet(tmp_path, "plan", "-i", inventory)
    assert code == ExitCode.OK
    steps = {s["name"]: s for s in by_name(plan)["node01"]["steps"]}
    assert steps["containerd_config"]["status"] == "changed"
    diff = steps["containerd_config"]["diff"]
    assert "+SystemdCgroup = true\n" in diff and ' root = "/data/containerd"\n' in diff
    assert on_host(lab, "node01", "cat /etc/containerd/config.toml") == OWNER.strip()

    code, report = fleet(tmp_path, "rollout", "-i", inventory)
    assert code == ExitCode.OK, report
    state = daemon(lab, "node01")["config"]
    assert state["root"] == "/data/containerd"
    assert state["mirrors"]["docker.io"]["endpoint"] == ["https://mirror.example.com"]
    assert state["systemd_cgroup"] is True
    backup = on_host(lab, "node01", "sudo cat /etc/containerd/config.toml.fleet-backup")
    assert backup == OWNER.strip()

    node02 = by_name(report)["node02"]
    assert node02["runtime"]["version"] == "2.2.1"
    written = on_host(lab, "node02", "cat /etc/containerd/config.toml")
    assert written.startswith("version = 3\n")
    assert '[plugins."io.containerd.cri.v1.runtime".containerd.runtimes.runc.options]' in written
    assert daemon(lab, "node02")["config"]["sandbox"] == "registry.k8s.io/pause:3.10"

    code, audit = fleet(tmp_path, "verify", "-i", inventory)
    assert code == ExitCode.OK
    assert {h["runtime"]["cgroup_driver"] for h in audit["hosts"]} == {"systemd"}


def test_el8_podman_conflict_and_a_broken_owner_file_are_one_line_errors(lab_factory, tmp_path):
    lab = lab_factory(
        {
            "hosts": 2,
            "defaults": {"os": "centos8", "podman": True},
            "host": {
                "node02": {
                    "os": "centos7",
                    "podman": False,
                    "containerd_config": "version = 2\nSystemdCgroup true\n",
                }
            },
        }
    )
    code, report = fleet(tmp_path, "rollout", "-i", str(lab.inventory), *CONTAINERD, "--keep-going")
    assert code == ExitCode.HOST_FAILURES
    hosts = by_name(report)
    el8 = hosts["node01"]
    assert el8["status"] == "failed"
    assert [s["name"] for s in el8["steps"] if s["status"] == "failed"] == ["containerd_packages"]
    assert el8["error"].startswith(
        "containerd.io-1.6.32-3.1.el8.x86_64 conflicts with runc provided by runc-1.0.0-68."
        "rc92.module_el8.3.0+475+c50ce30b.x86_64: remove podman and runc first (dnf remove "
        "podman runc), or set allow_erasing"
    )
    assert "(dnf: Problem: problem with installed package podman-" in el8["error"]
    assert "\n" not in el8["error"]

    broken = hosts["node02"]
    assert broken["status"] == "failed"
    assert broken["error"] == (
        "containerd_config: /etc/containerd/config.toml is not valid TOML (Expected '=' after a "
        "key in a key/value pair (at line 2, column 15)); fix or move it: fleet does not "
        "overwrite it"
    )
    assert (
        on_host(lab, "node02", "cat /etc/containerd/config.toml")
        == "version = 2\nSystemdCgroup true"
    )
