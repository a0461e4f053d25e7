"""fleet rollout / plan / verify end to end: real SSH into lab hosts, with both SSH servers.

Each test starts its own small lab (a few seconds), runs fleet's real command line
in-process, and checks both fleet's JSON report and the hosts themselves over SSH.
"""

from __future__ import annotations

import json
from pathlib import Path

from fleet.errors import ExitCode
from tests.rollout.helpers import EL9, by_name, fleet, on_host, started_at


def test_clean_rollout_of_a_mixed_fleet(lab, tmp_path):
    lab = lab(4, host={"node03": {"os": "centos8", "vars": EL9["vars"]}, "node04": EL9})
    code, report = fleet(tmp_path, "rollout", "-i", str(lab.inventory), "--batch-size", "1,50%")
    assert code == ExitCode.OK
    assert report["halted"] is False
    assert [h["batch"] for h in report["hosts"]] == [1, 2, 2, 3]
    for name, host in by_name(report).items():
        assert host["status"] == "changed", (name, host["error"])
        assert host["docker"]["cgroup_driver"] == "systemd"
        assert host["docker"]["storage_driver"] == "overlay2"
        # The engine itself, asked directly, agrees with the report.
        said = on_host(lab, name, "sudo docker info --format '{{.CgroupDriver}} {{.Driver}}'")
        assert said == "systemd overlay2"
    assert by_name(report)["node04"]["docker"]["server_version"] == "20.10.24"
    assert by_name(report)["node04"]["docker"]["cgroup_version"] == "2"
    assert report["summary"]["changed"] == 4


def test_second_run_changes_nothing_and_restarts_no_engine(lab, tmp_path):
    lab = lab(2)
    code, _ = fleet(tmp_path, "rollout", "-i", str(lab.inventory))
    assert code == ExitCode.OK
    before = {name: started_at(lab, name) for name in lab.hosts}
    code, report = fleet(tmp_path, "rollout", "-i", str(lab.inventory))
    assert code == ExitCode.OK
    for name, host in by_name(report).items():
        assert host["status"] == "ok"
        assert {s["status"] for s in host["steps"]} <= {"ok", "skipped"}
        assert started_at(lab, name) == before[name] != ""


def test_owner_daemon_json_is_merged_not_replaced(lab, tmp_path):
    owner = {"log-level": "warn", "exec-opts": ["native.cgroupdriver=cgroupfs", "foo=bar"]}
    lab = lab(1, defaults={"os": "centos7", "daemon_json": owner})
    code, _ = fleet(tmp_path, "rollout", "-i", str(lab.inventory))
    assert code == ExitCode.OK
    written = json.loads(on_host(lab, "node01", "cat /etc/docker/daemon.json"))
    assert written["log-level"] == "warn"
    assert written["exec-opts"] == ["native.cgroupdriver=systemd", "foo=bar"]
    assert written["storage-driver"] == "overlay2"
    backup = json.loads(on_host(lab, "node01", "sudo cat /etc/docker/daemon.json.fleet-backup"))
    assert backup == owner


def test_a_failed_batch_halts_and_later_hosts_are_untouched(lab, tmp_path):
    lab = lab(5, host={"node02": {"faults": {"missing_packages": ["docker-ce-19.03.11"]}}})
    code, report = fleet(tmp_path, "rollout", "-i", str(lab.inventory), "--batch-size", "2")
    assert code == ExitCode.HALTED
    assert report["halted"] is True
    statuses = {name: h["status"] for name, h in by_name(report).items()}
    assert statuses == {
        "node01": "changed",
        "node02": "failed",
        "node03": "not_run",
        "node04": "not_run",
        "node05": "not_run",
    }
    assert by_name(report)["node02"]["error"] == (
        "docker-ce-19.03.11 not available from the enabled repositories "
        "(yum: No package docker-ce-19.03.11 available.)"
    )
    summary = report["summary"]
    assert (summary["changed"], summary["failed"], summary["not_run"]) == (1, 1, 3)
    for name in ("node03", "node04", "node05"):
        assert on_host(lab, name, "rpm -q docker-ce") == "package docker-ce is not installed"
        assert on_host(lab, name, "test -e /etc/docker/daemon.json && echo yes || echo no") == "no"


def test_max_failures_and_keep_going_let_the_rollout_continue(lab, tmp_path):
    lab = lab(4, host={"node01": {"faults": {"unreachable": "refused"}}})
    code, report = fleet(
        tmp_path, "rollout", "-i", str(lab.inventory), "--batch-size", "1", "--max-failures", "1"
    )
    assert code == ExitCode.HOST_FAILURES  # finished, not halted: 1 does not exceed 1
    assert [h["status"] for h in report["hosts"]] == [
        "unreachable",
        "changed",
        "changed",
        "changed",
    ]
    assert report["summary"]["unreachable"] == 1 and report["summary"]["failed"] == 0


def test_an_engine_still_on_cgroupfs_after_the_steps_fails_the_host(lab, tmp_path):
    lab = lab(
        1,
        defaults={
            "os": "centos7",
            "engine": {"version": "19.03.11", "running": True},
            "faults": {"restart_noop": True},
        },
    )
    code, report = fleet(tmp_path, "rollout", "-i", str(lab.inventory))
    assert code == ExitCode.HOST_FAILURES
    host = report["hosts"][0]
    assert host["status"] == "failed"
    assert host["docker"]["cgroup_driver"] == "cgroupfs"
    assert "cgroup driver is cgroupfs, expected systemd" in host["error"]
    # The file says systemd; only the running engine tells the truth.
    assert "native.cgroupdriver=systemd" in on_host(lab, "node01", "cat /etc/docker/daemon.json")


def test_ansible_and_fleet_inventories_give_the_same_plan(lab, tmp_path):
    lab = lab(3, host={"node02": {"daemon_json": {"log-level": "warn"}}})
    plans = []
    for inventory in (lab.inventory, lab.lab.ansible_inventory):
        code, report = fleet(tmp_path, "plan", "-i", str(inventory))
        assert code == ExitCode.OK
        plans.append(
            [
                (h["name"], [(s["name"], s["status"], s["message"]) for s in h["steps"]])
                for h in report["hosts"]
            ]
        )
    assert plans[0] == plans[1]
    assert any(s[1] == "changed" for s in plans[0][0][1])


def test_plan_and_verify_touch_nothing(lab, tmp_path):
    lab = lab(1)
    code, report = fleet(tmp_path, "plan", "-i", str(lab.inventory))
    assert code == ExitCode.OK
    steps = {s["name"]: s for s in report["hosts"][0]["steps"]}
    assert steps["daemon_json"]["status"] == "changed"
    assert steps["daemon_json"]["message"].startswith("would write /etc/docker/daemon.json")
    code, report = fleet(tmp_path, "verify", "-i", str(lab.inventory))
    assert code == ExitCode.HOST_FAILURES
    assert report["hosts"][0]["status"] == "failed"
    assert (
        "docker is not installed" in report["hosts"][0]["error"]
        or "would" in report["hosts"][0]["error"]
    )
    assert on_host(lab, "node01", "rpm -q docker-ce") == "package docker-ce is not installed"
    assert on_host(lab, "node01", "ls /etc/docker") == ""


def test_limit_at_failed_file_reruns_only_those_hosts(lab, tmp_path):
    lab = lab(3, host={"node02": {"faults": {"missing_packages": ["docker-ce-19.03.11"]}}})
    code, report = fleet(tmp_path, "rollout", "-i", str(lab.inventory), "--keep-going")
    assert code == ExitCode.HOST_FAILURES
    failed_file = Path(report["run_dir"]) / "failed-hosts.txt"
    assert failed_file.read_text().split() == ["node02"]
    code, report = fleet(
        tmp_path,
        "rollout",
        "-i",
        str(lab.inventory),
        "--limit",
        f"@{failed_file}",
        "--containerd-version",
        "1.2.13",
        "--docker-version",
        "19.03.12",
    )
    assert [h["name"] for h in report["hosts"]] == ["node02"]
    assert report["hosts"][0]["status"] == "changed"
    assert report["hosts"][0]["docker"]["server_version"] == "19.03.12"


def test_sudo_password_from_the_environment_is_used_and_never_shown(
    lab, tmp_path, monkeypatch, capsys
):
    lab = lab(1, defaults={"os": "centos7", "sudo": "password", "sudo_password": "s3cret-Pa55"})
    for name, value in lab.become_env().items():
        monkeypatch.setenv(name, value)
    code, report = fleet(tmp_path, "rollout", "-i", str(lab.inventory))
    assert code == ExitCode.OK, report["hosts"][0]["error"]
    out = capsys.readouterr()
    texts = [out.out, out.err, json.dumps(report)]
    texts += [p.read_text() for p in (tmp_path / "runs").rglob("*") if p.is_file()]
    assert not any("s3cret-Pa55" in text for text in texts)


def test_sudo_password_missing_fails_with_one_line(lab, tmp_path, monkeypatch):
    lab = lab(1, defaults={"os": "centos7", "sudo": "password", "sudo_password": "s3cret-Pa55"})
    for name in lab.become_env():
        monkeypatch.delenv(name, raising=False)
    code, report = fleet(tmp_path, "rollout", "-i", str(lab.inventory))
    assert code == ExitCode.HOST_FAILURES
    assert report["hosts"][0]["status"] == "failed"
    assert "needs a password" in report["hosts"][0]["error"]
