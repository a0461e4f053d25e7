"""fleet's apt back end on plain Debian hosts, with Debian's own engine packages.

These hosts keep Debian's identity (its os-release, no yum or rpm front-ends), so
fleet's facts find apt-get and no yum/dnf and it takes the apt back end.  Their
one apt source is the tier's package cache as a flat repository, so the real
``apt-get update`` and ``apt-cache madison`` work without a network, and
``--package-source distro`` installs the real ``docker.io`` and ``containerd``
pinned by upstream version (fleet resolves the full Debian versions itself).
"""

from __future__ import annotations

import re

import pytest

from tests.real.conftest import CONTAINERD_VERSION, DOCKER_VERSION, FleetRun
from tests.real.realhosts import DEB_CACHE, LOCAL_REPOSITORY_SOURCE, RealFleet
from tests.real.test_real_rollout import engine_facts

pytestmark = pytest.mark.real

HOSTS = ("deb1", "deb2")
MISSING_PIN_HOST = "deb3"
DISTRO = ("--package-source", "distro")
# apt's own line for a version that no source has (apt-get install NAME=VERSION)
MISSING_PIN_ERROR = "E: Version '99.0.0' for 'docker.io' was not found"
# the host's error: every pin no source has, with apt's words
MISSING_PIN_REASON = (
    f"docker.io=99.0.0 not available from the enabled repositories (apt: {MISSING_PIN_ERROR})"
)
# Everything a failed install could have left behind on a host without an engine.
UNTOUCHED = (
    "md5sum /var/lib/dpkg/status; ls -A /etc/systemd/system; ls -A /etc/docker 2>&1;"
    " systemctl is-active docker; grep -c '^Commandline:' /var/log/apt/history.log"
)


def installed(real_fleet: RealFleet, host: str, package: str) -> str:
    """The package's version as dpkg records it, "" when it is not installed."""
    result = real_fleet.ssh(
        host, f"dpkg-query -W -f '${{Version}} ${{Status}}' {package}", check=False
    )
    version, _, status = result.stdout.partition(" ")
    return version if status == "install ok installed" else ""


def madison(real_fleet: RealFleet, host: str, package: str) -> list[list[str]]:
    """``apt-cache madison`` rows (name, version, source) as the host's own apt sees them."""
    text = real_fleet.ssh(host, f"apt-cache madison {package}").stdout
    return [[cell.strip() for cell in line.split("|")] for line in text.splitlines()]


def apt_installs(real_fleet: RealFleet, host: str) -> list[str]:
    """Every apt command line that installed or removed packages, from apt's own history."""
    text = real_fleet.ssh(host, "cat /var/log/apt/history.log", check=False).stdout
    return re.findall(r"^Commandline: (.*)$", text, flags=re.MULTILINE)


def test_native_hosts_are_plain_debian_and_apt_reads_only_the_local_repository(
    real_fleet: RealFleet,
) -> None:
    host = MISSING_PIN_HOST  # an update of apt's lists changes no package: the later test holds
    release = real_fleet.ssh(host, "cat /etc/os-release").stdout
    assert 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"' in release
    assert "VERSION_CODENAME=bookworm" in release
    tools = real_fleet.ssh(host, "command -v yum dnf rpm yum-config-manager apt-get", check=False)
    assert tools.stdout.split() == ["/usr/bin/apt-get"]
    sources = real_fleet.ssh(
        host, "grep -rhv '^#' /etc/apt/sources.list /etc/apt/sources.list.d", check=False
    )
    assert sources.stdout == LOCAL_REPOSITORY_SOURCE

    update = real_fleet.ssh(host, "sudo apt-get update")

    assert f"file:/{DEB_CACHE} ./ Release" in update.stdout
    assert "Err:" not in update.stdout and "W:" not in update.stderr, update
    repository = f"file:/{DEB_CACHE} ./ Packages"
    [[name, version, source]] = madison(real_fleet, host, "docker.io")
    assert (name, source) == ("docker.io", repository)
    assert version.startswith(f"{DOCKER_VERSION}+dfsg")
    [[_, version, _]] = madison(real_fleet, host, "containerd")
    assert version.startswith(f"{CONTAINERD_VERSION}~ds")
    assert installed(real_fleet, host, "docker.io") == ""


@pytest.fixture(scope="module")
def first_rollout(real_fleet: RealFleet, run_fleet) -> FleetRun:
    for name in HOSTS:  # the starting point the tests claim: no engine anywhere
        assert installed(real_fleet, name, "docker.io") == "", name
        assert installed(real_fleet, name, "containerd") == "", name
    return run_fleet("rollout", HOSTS, *DISTRO)


def test_apt_rollout_installs_debian_engine_on_systemd_and_overlay2(
    first_rollout: FleetRun, real_fleet: RealFleet
) -> None:
    run = first_rollout
    assert run.exit_code == 0, run.explain()
    assert run.report["summary"]["changed"] == len(HOSTS)
    for name in HOSTS:
        host = run.host(name)
        assert host["status"] == "changed", host
        assert host["docker"]["cgroup_driver"] == "systemd"
        assert host["docker"]["storage_driver"] == "overlay2"
        assert host["docker"]["server_version"].startswith(f"{DOCKER_VERSION}+dfsg")
        steps = run.steps(name)
        for step in ("prerequisites", "repository", "system_update"):
            assert steps[step]["status"] == "skipped", (name, steps[step])
        for step in ("engine_packages", "daemon_json", "dropin_dir", "service"):
            assert steps[step]["status"] == "changed", (name, steps[step])
        assert steps["verify"]["status"] == "ok"

        direct = engine_facts(real_fleet, name)
        assert (direct["cgroup_driver"], direct["storage_driver"]) == ("systemd", "overlay2")
        assert direct["ActiveState"] == "active"
        # the versions the host's apt offers, installed by apt-get with the full Debian pins
        docker_io = madison(real_fleet, name, "docker.io")[0][1]
        containerd = madison(real_fleet, name, "containerd")[0][1]
        assert installed(real_fleet, name, "docker.io") == docker_io
        assert installed(real_fleet, name, "containerd") == containerd
        assert apt_installs(real_fleet, name) == [
            f"apt-get install -y -q containerd={containerd} docker.io={docker_io}"
        ]
        assert real_fleet.ssh(name, "systemctl is-enabled docker").stdout.strip() == "enabled"


def test_second_apt_rollout_changes_nothing_and_keeps_the_engine_running(
    first_rollout: FleetRun, real_fleet: RealFleet, run_fleet
) -> None:
    assert first_rollout.exit_code == 0, first_rollout.explain()
    before = {name: engine_facts(real_fleet, name) for name in HOSTS}
    installs_before = {name: apt_installs(real_fleet, name) for name in HOSTS}

    run = run_fleet("rollout", HOSTS, *DISTRO)

    assert run.exit_code == 0, run.explain()
    assert run.report["summary"]["ok"] == len(HOSTS)
    for name in HOSTS:
        assert run.host(name)["status"] == "ok"
        statuses = {step: s["status"] for step, s in run.steps(name).items()}
        skipped = {s for s, status in statuses.items() if status == "skipped"}
        assert skipped == {"prerequisites", "repository", "system_update"}, statuses
        assert {statuses[s] for s in statuses.keys() - skipped} == {"ok"}, statuses
        after = engine_facts(real_fleet, name)
        assert after["MainPID"] == before[name]["MainPID"] != "0"
        assert after["ActiveEnterTimestamp"] == before[name]["ActiveEnterTimestamp"]
        assert (after["cgroup_driver"], after["storage_driver"]) == ("systemd", "overlay2")
        assert apt_installs(real_fleet, name) == installs_before[name]  # apt installed nothing


def test_a_pin_the_repository_lacks_fails_with_apts_words_and_touches_nothing(
    real_fleet: RealFleet, run_fleet
) -> None:
    host = MISSING_PIN_HOST
    before = real_fleet.ssh(host, UNTOUCHED, check=False).stdout
    assert installed(real_fleet, host, "docker.io") == ""
    # what apt itself says when asked for that version (a simulation: it changes nothing)
    asked = real_fleet.ssh(host, "sudo apt-get install -s docker.io=99.0.0", check=False)
    assert asked.returncode == 100
    assert MISSING_PIN_ERROR in asked.stderr.splitlines()

    run = run_fleet("rollout", [host], *DISTRO, "--docker-version", "99.0.0")

    assert run.exit_code == 1, run.explain()  # a failed host; one batch, so nothing to halt
    result = run.host(host)
    assert result["status"] == "failed"
    assert result["error"] == MISSING_PIN_REASON
    # the host stops at the failed step: no daemon.json, drop-in directory or restart
    assert [(s["name"], s["status"]) for s in result["steps"]] == [
        ("preflight", "ok"),
        ("prerequisites", "skipped"),
        ("repository", "skipped"),
        ("system_update", "skipped"),
        ("engine_packages", "failed"),
    ]
    assert run.steps(host)["engine_packages"]["message"] == (
        f"install containerd-{CONTAINERD_VERSION} docker.io-99.0.0: {MISSING_PIN_REASON}"
    )
    assert real_fleet.ssh(host, UNTOUCHED, check=False).stdout == before
    assert installed(real_fleet, host, "containerd") == ""  # the good pin was not installed
