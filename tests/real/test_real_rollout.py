"""A full rollout to three real hosts, and a second one that must change nothing.

The hosts start with no engine at all.  fleet installs Debian's real docker.io
through the CentOS front-ends, writes the reference daemon.json and restarts the
engine; every claim below is read back from the running engines.
"""

from __future__ import annotations

import json

import pytest

from tests.real.conftest import CONTAINERD_VERSION, DOCKER_VERSION, FleetRun
from tests.real.realhosts import RealFleet

pytestmark = pytest.mark.real

HOSTS = ("real1", "real2", "real3")


def engine_facts(real_fleet: RealFleet, name: str) -> dict[str, str]:
    """What the host's own engine and systemd say, read over OpenSSH without fleet."""
    info = real_fleet.ssh(name, "sudo docker info --format '{{json .}}'").stdout
    unit = real_fleet.ssh(
        name, "systemctl show -p MainPID -p ActiveEnterTimestamp -p ActiveState docker"
    ).stdout
    facts = dict(line.split("=", 1) for line in unit.splitlines() if "=" in line)
    data = json.loads(info)
    facts.update(cgroup_driver=data["CgroupDriver"], storage_driver=data["Driver"])
    return facts


@pytest.fixture(scope="module")
def first_rollout(real_fleet: RealFleet, run_fleet) -> FleetRun:
    for name in HOSTS:  # the starting point the test claims: no engine anywhere
        assert real_fleet.ssh(name, "rpm -q docker-ce", check=False).stdout.strip() == (
            "package docker-ce is not installed"
        )
    return run_fleet("rollout", HOSTS, "--batch-size", "2")


def test_rollout_leaves_every_engine_on_systemd_and_overlay2(
    first_rollout: FleetRun, real_fleet: RealFleet
) -> None:
    run = first_rollout
    assert run.exit_code == 0, run.explain()
    assert run.report["summary"]["changed"] == 3
    assert [run.host(n)["batch"] for n in HOSTS] == [1, 1, 2]
    for name in HOSTS:
        host = run.host(name)
        assert host["status"] == "changed", host
        assert host["docker"]["cgroup_driver"] == "systemd"
        assert host["docker"]["storage_driver"] == "overlay2"
        assert host["docker"]["server_version"].startswith(DOCKER_VERSION)
        steps = run.steps(name)
        for step in ("prerequisites", "repository", "engine_packages", "daemon_json", "service"):
            assert steps[step]["status"] == "changed", (name, steps[step])
        assert steps["verify"]["status"] == "ok"

        direct = engine_facts(real_fleet, name)
        assert (direct["cgroup_driver"], direct["storage_driver"]) == ("systemd", "overlay2")
        assert direct["ActiveState"] == "active"
        packages = real_fleet.ssh(name, "rpm -q docker-ce docker-ce-cli containerd.io").stdout
        assert packages.split() == [
            f"docker-ce-{DOCKER_VERSION}-3.el7.x86_64",
            f"docker-ce-cli-{DOCKER_VERSION}-3.el7.x86_64",
            f"containerd.io-{CONTAINERD_VERSION}-3.1.el7.x86_64",
        ]
        # the real Debian package, installed by the real dpkg
        status = real_fleet.ssh(name, "dpkg-query -W -f '${Status}' docker.io").stdout
        assert status == "install ok installed"
        assert real_fleet.ssh(name, "systemctl is-enabled docker").stdout.strip() == "enabled"


def test_second_rollout_changes_nothing_and_keeps_the_engine_running(
    first_rollout: FleetRun, real_fleet: RealFleet, run_fleet
) -> None:
    assert first_rollout.exit_code == 0, first_rollout.explain()
    before = {name: engine_facts(real_fleet, name) for name in HOSTS}
    files_before = {
        name: real_fleet.ssh(name, "sudo md5sum /etc/docker/daemon.json").stdout for name in HOSTS
    }

    run = run_fleet("rollout", HOSTS, "--batch-size", "2")

    assert run.exit_code == 0, run.explain()
    assert run.report["summary"]["ok"] == 3
    for name in HOSTS:
        assert run.host(name)["status"] == "ok"
        statuses = {step: s["status"] for step, s in run.steps(name).items()}
        assert statuses.pop("system_update") == "skipped"  # not asked for: never runs
        assert set(statuses.values()) == {"ok"}, statuses
        assert run.host(name)["docker"]["cgroup_driver"] == "systemd"
        after = engine_facts(real_fleet, name)
        assert after["MainPID"] == before[name]["MainPID"] != "0"
        assert after["ActiveEnterTimestamp"] == before[name]["ActiveEnterTimestamp"]
        assert (
            real_fleet.ssh(name, "sudo md5sum /etc/docker/daemon.json").stdout
            == (files_before[name])
        )
