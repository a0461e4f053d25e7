"""A host whose engine runs cgroupfs: the file alone changes nothing, the restart does.

The host already has the engine (installed by hand through yum, as an owner
would have) running with an empty daemon.json, so the real engine reports
cgroupfs.  fleet's verification must read the running engine, not the file,
and fleet's rollout must restart the engine for the systemd driver to apply.
"""

from __future__ import annotations

import json

import pytest

from fleet.settings import REFERENCE_DAEMON_JSON
from tests.real.conftest import CONTAINERD_VERSION, DOCKER_VERSION
from tests.real.realhosts import RealFleet

pytestmark = pytest.mark.real

HOST = "real4"


def running_driver(real_fleet: RealFleet) -> str:
    return real_fleet.ssh(HOST, "sudo docker info --format '{{.CgroupDriver}}'").stdout.strip()


def main_pid(real_fleet: RealFleet) -> str:
    return real_fleet.ssh(HOST, "systemctl show -p MainPID --value docker").stdout.strip()


def write_daemon_json(real_fleet: RealFleet, text: str) -> None:
    quoted = text.replace("'", "'\\''")
    real_fleet.ssh(HOST, f"printf '%s\\n' '{quoted}' | sudo tee /etc/docker/daemon.json >/dev/null")


@pytest.fixture(scope="module")
def cgroupfs_host(real_fleet: RealFleet) -> RealFleet:
    packages = f"containerd.io-{CONTAINERD_VERSION} docker-ce-{DOCKER_VERSION} docker-ce-cli-{DOCKER_VERSION}"
    real_fleet.ssh(HOST, f"sudo yum install -y {packages}")
    write_daemon_json(real_fleet, "{}")
    real_fleet.ssh(HOST, "sudo systemctl restart docker")
    assert running_driver(real_fleet) == "cgroupfs"
    return real_fleet


def test_verify_reads_the_running_engine_not_the_file(cgroupfs_host: RealFleet, run_fleet) -> None:
    real_fleet = cgroupfs_host
    pid = main_pid(real_fleet)
    # The complete reference file, written without a restart: compliant on disk only.
    write_daemon_json(real_fleet, json.dumps(dict(REFERENCE_DAEMON_JSON)))
    on_disk = real_fleet.ssh(HOST, "cat /etc/docker/daemon.json").stdout
    assert "native.cgroupdriver=systemd" in on_disk

    run = run_fleet("verify", [HOST])

    assert run.exit_code == 1, run.explain()
    host = run.host(HOST)
    assert host["status"] == "failed"
    assert host["docker"]["cgroup_driver"] == "cgroupfs"
    assert "cgroupfs" in host["error"], host["error"]
    assert run.steps(HOST)["daemon_json"]["status"] == "ok"  # the file itself is fine
    assert running_driver(real_fleet) == "cgroupfs"  # verify restarted nothing
    assert main_pid(real_fleet) == pid


def test_rollout_flips_the_engine_to_systemd_by_restarting_it(
    cgroupfs_host: RealFleet, run_fleet
) -> None:
    real_fleet = cgroupfs_host
    write_daemon_json(real_fleet, "{}")  # the owner's file, without the required settings
    assert running_driver(real_fleet) == "cgroupfs"
    pid = main_pid(real_fleet)

    run = run_fleet("rollout", [HOST])

    assert run.exit_code == 0, run.explain()
    host = run.host(HOST)
    assert host["status"] == "changed"
    steps = run.steps(HOST)
    assert steps["engine_packages"]["status"] == "ok"  # already the pinned versions
    assert steps["daemon_json"]["status"] == "changed"
    assert steps["service"]["status"] == "changed"
    assert host["docker"]["cgroup_driver"] == "systemd"
    assert running_driver(real_fleet) == "systemd"
    assert main_pid(real_fleet) not in (pid, "0")  # a new engine process: it was restarted
    written = json.loads(real_fleet.ssh(HOST, "cat /etc/docker/daemon.json").stdout)
    assert written["exec-opts"] == ["native.cgroupdriver=systemd"]
    assert written["storage-driver"] == "overlay2"
