"""A setting fleet cannot see in advance makes the real engine refuse the new daemon.json.

The host's owner keeps dockerd's flags in an environment file, as CentOS hosts
often do (``/etc/sysconfig/docker`` read by a drop-in).  fleet's conflict check
reads ``ExecStart=`` lines, not what ``$OPTIONS`` expands to, so it cannot know
that the flags already set the cgroup driver.  The real dockerd refuses to start
with the flag and the file both setting it; fleet must report the engine's own
error, put the previous configuration back with the engine running, and halt
before the next batch.
"""

from __future__ import annotations

import pytest

from tests.real.realhosts import RealFleet

pytestmark = pytest.mark.real

BROKEN, LATER = "real5", "real6"
DROPIN = """\
[Service]
EnvironmentFile=-/etc/sysconfig/docker
ExecStart=
ExecStart=/usr/sbin/dockerd -H fd:// --containerd=/run/containerd/containerd.sock $OPTIONS
"""
SYSCONFIG = 'OPTIONS="--exec-opt native.cgroupdriver=cgroupfs"\n'
SNAPSHOT = (
    "rpm -q yum-utils docker-ce containerd.io; ls -A /etc/yum.repos.d /etc/docker 2>&1;"
    " systemctl is-active docker"
)


def put(real_fleet: RealFleet, host: str, path: str, text: str) -> None:
    quoted = text.replace("'", "'\\''")
    real_fleet.ssh(
        host,
        f"sudo mkdir -p $(dirname {path}) && printf '%s' '{quoted}' | sudo tee {path} >/dev/null",
    )


def test_engine_refusal_is_reported_restored_and_halts(real_fleet: RealFleet, run_fleet) -> None:
    put(real_fleet, BROKEN, "/etc/systemd/system/docker.service.d/sysconfig.conf", DROPIN)
    put(real_fleet, BROKEN, "/etc/sysconfig/docker", SYSCONFIG)
    later_before = real_fleet.ssh(LATER, SNAPSHOT, check=False).stdout
    assert "package docker-ce is not installed" in later_before

    run = run_fleet("rollout", [BROKEN, LATER], "--batch-size", "1")

    assert run.exit_code == 3, run.explain()  # halted by the failure rule
    assert run.report["halted"] is True
    broken = run.host(BROKEN)
    assert broken["status"] == "failed"
    error = broken["error"]
    # dockerd's own words, then what fleet did about them
    assert error.startswith("engine refused to start: unable to configure the Docker daemon"), error
    assert "specified both as a flag and in the configuration file" in error
    assert "native.cgroupdriver=cgroupfs" in error
    assert error.endswith("restored the previous daemon.json and the engine runs again"), error
    steps = run.steps(BROKEN)
    assert steps["daemon_json"]["status"] == "changed"
    assert steps["service"]["status"] == "failed"

    # the later batch never started: nothing on that host changed
    assert run.host(LATER)["status"] == "not_run"
    assert real_fleet.ssh(LATER, SNAPSHOT, check=False).stdout == later_before

    # the host is left as it was before fleet's daemon.json: engine up, on the owner's flags
    assert real_fleet.ssh(BROKEN, "systemctl is-active docker").stdout.strip() == "active"
    gone = real_fleet.ssh(BROKEN, "test -e /etc/docker/daemon.json", check=False)
    assert gone.returncode == 1  # fleet created it, so restoring means removing it
    driver = real_fleet.ssh(BROKEN, "sudo docker info --format '{{.CgroupDriver}}'").stdout
    assert driver.strip() == "cgroupfs"
