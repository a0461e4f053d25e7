"""The reference Docker CE sequence as a pyinfra deploy (run with ``--sudo``).

Package steps are shell operations guarded by ``rpm -q``, as in the Ansible
playbook beside this file, so both peers do the same work; files and
directories use pyinfra's own idempotent operations.
"""

from __future__ import annotations

import io
import json

from pyinfra.operations import files, server

PREREQUISITES = "yum-utils device-mapper-persistent-data lvm2"
ENGINE = "containerd.io-1.2.13 docker-ce-19.03.11 docker-ce-cli-19.03.11"
REPO_URL = "https://download.docker.com/linux/centos/docker-ce.repo"
DAEMON_JSON = {
    "exec-opts": ["native.cgroupdriver=systemd"],
    "log-driver": "json-file",
    "log-opts": {"max-size": "100m"},
    "storage-driver": "overlay2",
    "storage-opts": ["overlay2.override_kernel_check=true"],
}

server.shell(
    name="Prerequisite packages",
    commands=[f"rpm -q {PREREQUISITES} >/dev/null 2>&1 || yum install -y {PREREQUISITES}"],
)
server.shell(
    name="docker-ce repository",
    commands=[
        f"grep -qs '^\\[docker-ce-stable\\]' /etc/yum.repos.d/*.repo || "
        f"yum-config-manager --add-repo {REPO_URL}"
    ],
)
server.shell(
    name="Engine packages",
    commands=[
        f"rpm -q {ENGINE} >/dev/null 2>&1 || "
        f"{{ yum install -y {ENGINE} && touch /run/docker-needs-restart; }}"
    ],
)
files.directory(name="/etc/docker", path="/etc/docker")
daemon_json = files.put(
    name="daemon.json",
    src=io.StringIO(json.dumps(DAEMON_JSON, indent=4) + "\n"),
    dest="/etc/docker/daemon.json",
    mode="644",
)
files.directory(
    name="docker.service.d drop-in directory", path="/etc/systemd/system/docker.service.d"
)
RESTART = "systemctl daemon-reload && systemctl restart docker && rm -f /run/docker-needs-restart"
server.shell(
    name="Restart docker after a new daemon.json", commands=[RESTART], _if=daemon_json.did_change
)
server.shell(
    name="Restart docker after new packages",
    commands=[f"if [ -e /run/docker-needs-restart ]; then {RESTART}; fi"],
)
server.shell(
    name="Docker running and enabled",
    commands=[
        "systemctl is-active -q docker || systemctl start docker",
        "systemctl is-enabled -q docker || systemctl enable docker",
    ],
)
server.shell(
    name="Verify cgroup and storage drivers",
    commands=[
        "test \"$(docker info --format '{{.CgroupDriver}} {{.Driver}}')\" = 'systemd overlay2'"
    ],
)
