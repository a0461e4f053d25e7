"""The CentOS 7 face of the real hosts: yum, rpm and yum-config-manager as fleet sees them.

fleet's package steps parse these tools' words, so the front-ends must say
what the real tools say (yum 3.4.3's cli.py and yummain, rpm's lib/query.c)
while installing Debian's real packages underneath.
"""

from __future__ import annotations

import pytest

from fleet.facts import parse_os_release, parse_rpm_q
from fleet.settings import DOCKER_CE_REPO
from tests.real.conftest import CONTAINERD_VERSION, DOCKER_VERSION
from tests.real.realhosts import RealFleet

pytestmark = pytest.mark.real

HOST = "real7"


def test_os_release_is_centos_7(real_fleet: RealFleet) -> None:
    release = parse_os_release(real_fleet.ssh(HOST, "cat /etc/os-release").stdout)
    assert (release["ID"], release["VERSION_ID"]) == ("centos", "7")
    assert release["PRETTY_NAME"] == "CentOS Linux 7 (Core)"


def test_a_version_the_repository_lacks_fails_as_yum_does(real_fleet: RealFleet) -> None:
    result = real_fleet.ssh(HOST, "sudo yum install -y docker-ce-19.03.11", check=False)
    assert result.returncode == 1
    assert "No package docker-ce-19.03.11 available." in result.stdout.splitlines()
    assert result.stderr.strip().splitlines()[-1] == "Error: Nothing to do"
    assert real_fleet.ssh(HOST, "rpm -q docker-ce", check=False).returncode == 1


def test_rpm_q_reports_each_name_and_counts_the_missing(real_fleet: RealFleet) -> None:
    result = real_fleet.ssh(HOST, "rpm -q docker-ce device-mapper-persistent-data", check=False)
    assert result.returncode == 2
    assert result.stdout.splitlines() == [
        "package docker-ce is not installed",
        "package device-mapper-persistent-data is not installed",
    ]


def test_add_repo_writes_the_docker_ce_stable_section(real_fleet: RealFleet) -> None:
    result = real_fleet.ssh(HOST, f"sudo yum-config-manager --add-repo {DOCKER_CE_REPO}")
    assert result.stdout.splitlines()[-1] == "repo saved to /etc/yum.repos.d/docker-ce.repo"
    repo = real_fleet.ssh(HOST, "cat /etc/yum.repos.d/docker-ce.repo").stdout
    assert repo.startswith("[docker-ce-stable]\n")
    assert "enabled=1" in repo


def test_install_puts_real_debian_packages_in_place_and_is_idempotent(
    real_fleet: RealFleet,
) -> None:
    first = real_fleet.ssh(HOST, f"sudo yum install -y lvm2 containerd.io-{CONTAINERD_VERSION}")
    assert first.stdout.splitlines()[-1] == "Complete!"
    installed = parse_rpm_q(
        real_fleet.ssh(HOST, "rpm -q lvm2 containerd.io docker-ce", check=False).stdout
    )
    assert installed == {
        "lvm2": "2.02.187-6.el7_9.5",
        "containerd.io": f"{CONTAINERD_VERSION}-3.1.el7",
        "docker-ce": None,  # only what was asked for (and its dependencies)
    }
    debs = real_fleet.ssh(HOST, "dpkg-query -W -f '${Package} ${Status}\\n' containerd runc")
    assert debs.stdout.splitlines() == [
        "containerd install ok installed",
        "runc install ok installed",
    ]
    assert real_fleet.ssh(HOST, "systemctl is-active containerd").stdout.strip() == "active"

    again = real_fleet.ssh(HOST, f"sudo yum install -y containerd.io-{CONTAINERD_VERSION}")
    assert again.stdout.splitlines()[-2:] == [
        f"Package containerd.io-{CONTAINERD_VERSION}-3.1.el7.x86_64 already installed and latest version",
        "Nothing to do",
    ]
    assert (
        real_fleet.ssh(HOST, f"rpm -q docker-ce-cli-{DOCKER_VERSION}", check=False).returncode == 1
    )
