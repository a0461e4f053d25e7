"""When the package manager refuses, the host's error carries its reason, whole.

Lab hosts behind real SSH (both servers); the simulated yum and dnf print what the
real ones print.  The assertions read the JSON report, as a user would.
"""

from __future__ import annotations

from fleet.errors import ExitCode
from tests.rollout.helpers import by_name, fleet, on_host

MISSING = ["docker-ce-19.03.11", "docker-ce-cli-19.03.11"]
PODMAN = "podman-2.0.5-5.module_el8.3.0+512+b3b58dca.x86_64"
RUNC = "runc-1.0.0-68.rc92.module_el8.3.0+475+c50ce30b.x86_64"
EL8_PINS = {"docker_version": "20.10.24", "containerd_version": "1.6.28"}


def failed_step(host: dict) -> dict:
    (step,) = [s for s in host["steps"] if s["status"] == "failed"]
    return step


def test_missing_pins_a_dnf_conflict_and_a_refused_repository_are_reported_whole(lab, tmp_path):
    lab = lab(
        3,
        host={
            "node01": {"os": "centos7", "faults": {"missing_packages": MISSING}},
            "node02": {"os": "centos8", "podman": True, "vars": EL8_PINS},
            "node03": {"os": "centos8", "faults": {"repo_down": "refused"}, "vars": EL8_PINS},
        },
    )
    code, report = fleet(tmp_path, "rollout", "-i", str(lab.inventory), "--keep-going")
    assert code == ExitCode.HOST_FAILURES
    hosts = by_name(report)

    # EL7: yum names both missing pins, installs containerd.io and exits 0
    el7 = hosts["node01"]
    assert el7["status"] == "failed"
    assert el7["error"] == (
        "docker-ce-19.03.11, docker-ce-cli-19.03.11 not available from the enabled repositories "
        "(yum: No package docker-ce-19.03.11 available.; No package docker-ce-cli-19.03.11 "
        "available.)"
    )
    assert failed_step(el7)["name"] == "engine_packages"

    # EL8: dnf refuses because podman needs the runc containerd.io conflicts with
    el8 = hosts["node02"]
    assert el8["status"] == "failed" and failed_step(el8)["name"] == "engine_packages"
    error = el8["error"]
    assert "\n" not in error
    assert error.startswith(
        f"containerd.io-1.6.28-3.1.el8.x86_64 conflicts with runc provided by {RUNC}: "
        "remove podman and runc first (dnf remove podman runc), or set allow_erasing "
        "(allow_erasing: true in the inventory, or --allow-erasing true) to let dnf erase them "
        f"(dnf: Problem: problem with installed package {PODMAN}; package {PODMAN} requires runc "
        ">= 1.0.0-57, but none of the providers can be installed; "
    )
    assert error.endswith(
        "try to add '--allowerasing' to command line to replace conflicting packages or "
        "'--skip-broken' to skip uninstallable packages or '--nobest' to use not only best "
        "candidate packages)"
    )
    assert on_host(lab, "node02", "rpm -q podman docker-ce") == (
        f"{PODMAN}\npackage docker-ce is not installed"
    )

    # EL8, every server refusing connections: the repository and curl's reason, once each
    mirrorlist = "http://mirrorlist.centos.org/?release=8&arch=x86_64&repo=BaseOS&infra=stock"
    assert hosts["node03"]["error"] == (
        "repository baseos unavailable (dnf: Error: Failed to download metadata for repo "
        "'baseos': Cannot prepare internal mirrorlist: Curl error (7): Couldn't connect to server "
        f"for {mirrorlist} [Failed to connect to mirrorlist.centos.org port 80: Connection "
        "refused])"
    )
    assert failed_step(hosts["node03"])["name"] == "prerequisites"

    # the way out the error names: let dnf erase podman and runc
    code, report = fleet(
        tmp_path,
        "rollout",
        "-i",
        str(lab.inventory),
        "--limit",
        "node02",
        "--allow-erasing",
        "true",
    )
    assert code == ExitCode.OK
    el8 = by_name(report)["node02"]
    assert el8["status"] == "changed" and el8["error"] is None
    assert (el8["docker"]["server_version"], el8["docker"]["cgroup_driver"]) == (
        "20.10.24",
        "systemd",
    )
    assert on_host(lab, "node02", "rpm -q podman runc") == (
        "package podman is not installed\npackage runc is not installed"
    )
