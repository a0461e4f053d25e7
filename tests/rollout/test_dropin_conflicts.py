"""A docker.service drop-in that sets dockerd flags meets the daemon.json fleet writes.

The lab's dockerd decides flag/file conflicts with its own rules (written from
moby's sources, fleet/lab/simtools/dockerd_*), not with fleet.daemonjson, so
these runs check fleet's foresight against an independent judge: where fleet
refuses to write, the engine would have refused too, with the same words; where
fleet does not foresee a conflict, the engine's refusal reaches the report.
"""

from __future__ import annotations

import json

from fleet.errors import ExitCode
from tests.rollout.helpers import by_name, fleet, on_host

UNIT_FLAGS = "-H fd:// --containerd=/run/containerd/containerd.sock"
CGROUP_DROPIN = (
    "[Service]\nExecStart=\n"
    f"ExecStart=/usr/bin/dockerd {UNIT_FLAGS} --exec-opt native.cgroupdriver=systemd\n"
)
EXEC_OPTS_CONFLICT = "exec-opts: (from flag: [native.cgroupdriver=systemd], from file: [native.cgroupdriver=systemd])"


def test_fleet_refuses_a_conflict_the_engine_would_refuse_in_the_same_words(lab, tmp_path):
    lab = lab(
        1,
        defaults={
            "os": "rocky9",
            "engine": {"version": "24.0.7", "running": True},
            "dropin": CGROUP_DROPIN,
            # the pins of the installed engine: the package step has nothing to change
            "vars": {"docker_version": "24.0.7", "containerd_version": "1.6.21"},
        },
    )
    code, report = fleet(tmp_path, "rollout", "-i", str(lab.inventory))
    assert code != ExitCode.OK
    host = by_name(report)["node01"]
    assert host["status"] == "failed"
    assert EXEC_OPTS_CONFLICT in host["error"]
    assert "remove the flags from the drop-in" in host["error"]
    # nothing was written and the engine was not touched
    steps = {step["name"]: step["status"] for step in host["steps"]}
    assert (steps["engine_packages"], steps["daemon_json"]) == ("ok", "failed")
    assert steps.get("service", "not_run") == "not_run"
    assert on_host(lab, "node01", "test -e /etc/docker/daemon.json && echo yes || echo no") == "no"
    assert on_host(lab, "node01", "systemctl is-active docker") == "active"
    # the engine's own judgement of the file fleet meant to write, with the drop-in's flags
    wanted = json.dumps({"exec-opts": ["native.cgroupdriver=systemd"]})
    validate = on_host(
        lab,
        "node01",
        f"echo '{wanted}' > /tmp/wanted.json; sudo dockerd --validate --config-file "
        f"/tmp/wanted.json {UNIT_FLAGS} --exec-opt native.cgroupdriver=systemd 2>&1; echo rc=$?",
    )
    assert validate == (
        "unable to configure the Docker daemon with file /tmp/wanted.json: the following "
        f"directives are specified both as a flag and in the configuration file: "
        f"{EXEC_OPTS_CONFLICT}\nrc=1"
    )


MTU_DROPIN = f"[Service]\nExecStart=\nExecStart=/usr/bin/dockerd {UNIT_FLAGS} --mtu 1450\n"
WITH_MTU = json.dumps(
    {"exec-opts": ["native.cgroupdriver=systemd"], "storage-driver": "overlay2", "mtu": 1450}
)


def test_a_conflict_fleet_does_not_foresee_is_the_engines_refusal_in_the_report(lab, tmp_path):
    lab = lab(
        1,
        defaults={
            "os": "centos7",
            "engine": {"version": "19.03.11", "running": True},
            "dropin": MTU_DROPIN,
        },
    )
    code, report = fleet(tmp_path, "rollout", "-i", str(lab.inventory), "--daemon-json", WITH_MTU)
    assert code != ExitCode.OK
    error = by_name(report)["node01"]["error"]
    # fleet.daemonjson's flag table has no --mtu; the engine's refusal is the report's line
    assert "engine refused to start" in error and "restored the previous daemon.json" in error
    assert "mtu: (from flag: 1450, from file: 1450)" in error, error
    assert on_host(lab, "node01", "systemctl is-active docker") == "active"
