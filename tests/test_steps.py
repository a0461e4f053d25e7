"""Each step's check, table-driven from facts: what a host is decides what runs."""

from __future__ import annotations

import json
import subprocess
from dataclasses import replace

import pytest

from fleet.dockerinfo import DockerInfo
from fleet.facts import HostFacts
from fleet.settings import Settings
from fleet.steps.base import StepContext, Verdict
from fleet.steps.docker_ce import (
    DaemonJson,
    DropinDirectory,
    EnginePackages,
    Preflight,
    Prerequisites,
    Repository,
    Service,
    SystemUpdate,
)
from fleet.steps.packages import LockWait

REFERENCE = json.loads(
    '{"exec-opts": ["native.cgroupdriver=systemd"], "log-driver": "json-file",'
    ' "log-opts": {"max-size": "100m"}, "storage-driver": "overlay2",'
    ' "storage-opts": ["overlay2.override_kernel_check=true"]}'
)

FRESH = HostFacts(
    os_id="centos",
    os_version="7",
    os_name="CentOS Linux 7 (Core)",
    kernel="3.10.0-1160.el7.x86_64",
    package_manager="yum",
    uid=0,
    packages={
        "yum-utils": None,
        "device-mapper-persistent-data": None,
        "lvm2": "2.02.187-6.el7",
        "containerd.io": None,
        "docker-ce": None,
        "docker-ce-cli": None,
    },
    var_lib_docker_fs="xfs",
    xfs_ftype=1,
    free_mb=40000,
    docker_active="inactive",
    docker_enabled="disabled",
)

CONVERGED = replace(
    FRESH,
    packages={
        "yum-utils": "1.1.31-54.el7_8",
        "device-mapper-persistent-data": "0.8.5-3.el7",
        "lvm2": "2.02.187-6.el7",
        "containerd.io": "1.2.13-3.2.el7",
        "docker-ce": "19.03.11-3.el7",
        "docker-ce-cli": "19.03.11-3.el7",
    },
    docker_repo=True,
    daemon_json=json.dumps(REFERENCE, indent=2) + "\n",
    dropin_dir=True,
    docker_active="active",
    docker_enabled="enabled",
    docker_info=DockerInfo(
        server_version="19.03.11", cgroup_driver="systemd", storage_driver="overlay2"
    ),
)


def ctx(facts: HostFacts, **kw) -> StepContext:
    return StepContext(facts, kw.pop("settings", Settings()), **kw)


@pytest.mark.parametrize(
    "step",
    [
        Preflight(),
        Prerequisites(),
        Repository(),
        EnginePackages(),
        DaemonJson(),
        DropinDirectory(),
        Service(),
    ],
)
def test_a_converged_host_needs_nothing(step):
    check = step.check(ctx(CONVERGED))
    assert check.verdict is Verdict.OK, check.message
    assert check.actions == ()


def test_fresh_host_installs_only_the_missing_prerequisites():
    check = Prerequisites().check(ctx(FRESH))
    assert check.verdict is Verdict.CHANGE
    assert check.actions[0].command.startswith(
        "yum install -y yum-utils device-mapper-persistent-data && "
    )


def test_engine_versions_are_pinned_from_settings():
    settings = Settings(docker_version="20.10.24", containerd_version="1.6.33")
    check = EnginePackages().check(ctx(FRESH, settings=settings))
    assert check.actions[0].command.startswith(
        "yum install -y containerd.io-1.6.33 docker-ce-20.10.24 docker-ce-cli-20.10.24 && "
    )


def test_engine_install_is_confirmed_with_rpm():
    # yum on EL7 exits 0 after skipping a name it cannot find; rpm tells the truth.
    action = EnginePackages().check(ctx(FRESH)).actions[0]
    skipped = (
        "No package docker-ce-19.03.11 available.\nComplete!\n@@fleet:installed\n"
        "containerd.io-1.2.13-3.2.el7.x86_64\npackage docker-ce is not installed\n"
        "package docker-ce-cli is not installed\n"
    )
    assert action.confirm(skipped, "") == (
        "docker-ce-19.03.11 not available from the enabled repositories "
        "(yum: No package docker-ce-19.03.11 available.)"
    )
    done = (
        "Complete!\n@@fleet:installed\ncontainerd.io-1.2.13-3.2.el7.x86_64\n"
        "docker-ce-19.03.11-3.el7.x86_64\ndocker-ce-cli-19.03.11-3.el7.x86_64\n"
    )
    assert action.confirm(done, "") is None


def test_every_missing_pin_is_named_whether_yum_exits_0_or_1():
    action = EnginePackages().check(ctx(FRESH)).actions[0]
    said = (
        "No package docker-ce-19.03.11 available.\nNo package docker-ce-cli-19.03.11 available.\n"
    )
    expected = (
        "docker-ce-19.03.11, docker-ce-cli-19.03.11 not available from the enabled repositories "
        "(yum: No package docker-ce-19.03.11 available.; No package docker-ce-cli-19.03.11 "
        "available.)"
    )
    # some names resolved: yum installs them and exits 0 (the command then asks rpm)
    partial = (
        f"{said}Complete!\n@@fleet:installed\ncontainerd.io-1.2.13-3.2.el7.x86_64\n"
        "package docker-ce is not installed\npackage docker-ce-cli is not installed\n"
    )
    assert action.confirm(partial, "") == expected
    # none resolved: "Error: Nothing to do", exit 1, and the rpm query never runs
    assert action.confirm(said, "Error: Nothing to do\n") == expected
    assert action.explain(said, "Error: Nothing to do\n") == expected


PODMAN_STDERR = (
    "Error: \n Problem: problem with installed package podman-2.0.5-5.module_el8.3.0+512+"
    "b3b58dca.x86_64\n  - package containerd.io-1.6.28-3.1.el8.x86_64 conflicts with runc "
    "provided by runc-1.0.0-68.rc92.module_el8.3.0+475+c50ce30b.x86_64\n"
)
PODMAN_HINT = (
    "(try to add '--allowerasing' to command line to replace conflicting packages or "
    "'--skip-broken' to skip uninstallable packages)\n"
)


def test_a_dnf_conflict_fails_with_dnfs_words_and_the_way_out():
    el8 = replace(FRESH, os_id="centos", os_version="8", package_manager="dnf")
    settings = Settings(docker_version="20.10.24", containerd_version="1.6.28")
    action = EnginePackages().check(ctx(el8, settings=settings)).actions[0]
    assert "--allowerasing" not in action.command
    error = action.confirm(PODMAN_HINT, PODMAN_STDERR)
    assert error.startswith(
        "containerd.io-1.6.28-3.1.el8.x86_64 conflicts with runc provided by "
        "runc-1.0.0-68.rc92.module_el8.3.0+475+c50ce30b.x86_64: remove podman and runc first "
        "(dnf remove podman runc), or set allow_erasing"
    )
    assert "(dnf: Problem: problem with installed package podman-2.0.5-5" in error
    assert error.endswith("'--skip-broken' to skip uninstallable packages)")


def test_allow_erasing_adds_the_flag_to_dnf_installs_only():
    settings = Settings(allow_erasing=True, docker_version="20.10.24", containerd_version="1.6.28")
    el8 = replace(FRESH, os_id="rocky", os_version="8.9", package_manager="dnf")
    for step in (EnginePackages(), Prerequisites()):
        assert (
            step.check(ctx(el8, settings=settings))
            .actions[0]
            .command.startswith("dnf install -y --allowerasing ")
        )
    el7 = EnginePackages().check(ctx(FRESH, settings=settings)).actions[0]
    assert el7.command.startswith("yum install -y containerd.io-1.6.28 ")
    yum_conflict = (
        "Error: docker-ce conflicts with 2:docker-1.13.1-88.git07f3374.el7.centos.x86_64\n"
    )
    assert el7.confirm("", yum_conflict).endswith(
        ": remove docker first (yum remove docker); allow_erasing does not apply here: yum 3 "
        "(EL7) has no --allowerasing (yum: docker-ce conflicts with "
        "2:docker-1.13.1-88.git07f3374.el7.centos.x86_64)"
    )


def test_dnf_hosts_use_dnf():
    facts = replace(FRESH, os_id="rocky", os_version="9.3", package_manager="dnf")
    assert EnginePackages().check(ctx(facts)).actions[0].command.startswith("dnf install -y ")
    assert Repository().check(ctx(facts)).actions[0].command.startswith("dnf config-manager ")


def test_newer_engine_is_never_downgraded():
    facts = replace(CONVERGED, packages={**CONVERGED.packages, "docker-ce": "20.10.7-3.el7"})
    check = EnginePackages().check(ctx(facts))
    assert check.verdict is Verdict.FAIL
    assert "does not downgrade" in check.message


def test_system_update_only_when_asked():
    assert SystemUpdate().check(ctx(FRESH)).verdict is Verdict.SKIP
    check = SystemUpdate().check(ctx(FRESH, settings=Settings(system_update=True)))
    assert check.actions[0].command == "yum update -y"


def test_repository_url_is_a_setting():
    check = Repository().check(
        ctx(FRESH, settings=Settings(repo_url="https://mirror.internal/d.repo"))
    )
    assert (
        check.actions[0].command == "yum-config-manager --add-repo https://mirror.internal/d.repo"
    )


def test_daemon_json_keeps_the_owner_settings_and_shows_a_diff():
    facts = replace(
        CONVERGED,
        daemon_json='{"log-level": "warn", "exec-opts": ["native.cgroupdriver=cgroupfs"]}',
    )
    check = DaemonJson().check(ctx(facts))
    assert check.verdict is Verdict.CHANGE
    written = json.loads(check.actions[0].stdin)
    assert written["log-level"] == "warn"
    assert written["exec-opts"] == ["native.cgroupdriver=systemd"]
    assert '-    "native.cgroupdriver=cgroupfs"' in check.diff or "cgroupfs" in check.diff


def test_daemon_json_broken_file_is_not_overwritten():
    facts = replace(CONVERGED, daemon_json='{"log-level": "warn",}')
    check = DaemonJson().check(ctx(facts))
    assert check.verdict is Verdict.FAIL
    assert "does not overwrite" in check.message


def test_daemon_json_for_engine_24_drops_override_kernel_check_and_validates():
    check = DaemonJson().check(ctx(FRESH, settings=Settings(docker_version="24.0.9")))
    written = json.loads(check.actions[0].stdin)
    assert "storage-opts" not in written
    assert "dockerd --validate" in check.actions[0].command


def test_daemon_json_refuses_a_conflict_with_a_dropin_flag():
    dropin = "[Service]\nExecStart=\nExecStart=/usr/bin/dockerd -H fd:// --exec-opt native.cgroupdriver=cgroupfs\n"
    facts = replace(FRESH, dropins={"override.conf": dropin})
    check = DaemonJson().check(ctx(facts))
    assert check.verdict is Verdict.FAIL
    assert "exec-opts" in check.message


def test_restart_only_after_a_change_or_when_down():
    assert Service().check(ctx(CONVERGED)).verdict is Verdict.OK
    check = Service().check(ctx(CONVERGED, changed=frozenset({"daemon_json"})))
    assert [a.description for a in check.actions] == ["restart docker"]
    assert "fleet-backup" in check.actions[0].command  # rollback wired in
    check = Service().check(ctx(replace(CONVERGED, docker_enabled="disabled")))
    assert [a.description for a in check.actions] == ["enable docker"]


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        ({"os_id": "sles", "os_version": "15", "os_name": "SLES 15"}, "unsupported OS"),
        ({"os_id": "debian", "os_version": "9", "os_name": "Debian 9"}, "unsupported OS"),
        ({"uid": 1000}, "sudo"),
        ({"kernel": "3.10.0-327.el7.x86_64"}, "too old for overlay2"),
        ({"xfs_ftype": 0}, "ftype=0"),
        ({"free_mb": 100}, "MiB free"),
    ],
)
def test_preflight_fails_unfit_hosts(change, fragment):
    check = Preflight().check(ctx(replace(FRESH, **change)))
    assert check.verdict is Verdict.FAIL
    assert fragment in check.message


def test_preflight_refuses_a_live_node_unless_forced():
    live = replace(
        CONVERGED,
        kubelet_active="active",
        docker_info=DockerInfo(
            server_version="19.03.11", cgroup_driver="cgroupfs", storage_driver="overlay2"
        ),
    )
    assert Preflight().check(ctx(live)).verdict is Verdict.REFUSE
    assert Preflight().check(ctx(live, force=True)).verdict is Verdict.OK


DEBIAN = replace(
    FRESH,
    os_id="debian",
    os_version="12",
    os_name="Debian GNU/Linux 12 (bookworm)",
    os_codename="bookworm",
    kernel="6.1.0-18-amd64",
    package_manager="apt",
    packages={"ca-certificates": "20230311", "curl": None, "gnupg": None},
    var_lib_docker_fs="ext4",
    xfs_ftype=None,
)


def test_debian_with_dockers_repository():
    assert Preflight().check(ctx(DEBIAN)).verdict is Verdict.OK
    prerequisites = Prerequisites().check(ctx(DEBIAN)).actions[0].command
    assert "apt-get install -y -q $p" in prerequisites and 'p="$p curl"' in prerequisites
    repo = Repository().check(ctx(DEBIAN)).actions[0].command
    assert "https://download.docker.com/linux/debian bookworm stable" in repo
    assert "/etc/apt/sources.list.d/docker.list" in repo
    engine = (
        EnginePackages().check(ctx(DEBIAN, settings=Settings(docker_version="20.10.24"))).actions[0]
    )
    assert "apt-cache madison docker-ce " in engine.command
    assert "E: Version '20.10.24' for 'docker-ce' was not found" in engine.command


def test_apt_names_every_pin_no_source_has_and_installs_nothing(tmp_path):
    """The apt command itself, run by sh against an apt-cache listing only 1.6.20-1."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    programs = {
        "apt-cache": "echo ' containerd.io | 1.6.20-1 | https://download.docker.com/linux/debian'",
        "apt-get": f'echo "apt-get $*" >> {tmp_path}/ran',
        "dpkg-query": "exit 1",
    }
    for name, body in programs.items():
        (bin_dir / name).write_text(f"#!/bin/sh\n{body}\n")
        (bin_dir / name).chmod(0o755)
    settings = Settings(docker_version="20.10.24", containerd_version="1.6.20")
    action = EnginePackages().check(ctx(DEBIAN, settings=settings)).actions[0]
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin"}
    run = subprocess.run(["sh", "-c", action.command], capture_output=True, text=True, env=env)
    assert run.returncode == 100
    assert run.stderr.splitlines() == [
        "E: Version '20.10.24' for 'docker-ce' was not found",
        "E: Version '20.10.24' for 'docker-ce-cli' was not found",
    ]
    assert (tmp_path / "ran").read_text() == "apt-get update -q\n"  # never "install"
    assert action.explain(run.stdout, run.stderr) == (
        "docker-ce=20.10.24, docker-ce-cli=20.10.24 not available from the enabled repositories "
        "(apt: E: Version '20.10.24' for 'docker-ce' was not found; E: Version '20.10.24' for "
        "'docker-ce-cli' was not found)"
    )


def test_debian_with_the_distributions_engine():
    settings = Settings(
        package_source="distro", docker_version="20.10.24", containerd_version="1.6.20"
    )
    assert Repository().check(ctx(DEBIAN, settings=settings)).verdict is Verdict.SKIP
    assert Prerequisites().check(ctx(DEBIAN, settings=settings)).verdict is Verdict.SKIP
    engine = EnginePackages().check(ctx(DEBIAN, settings=settings)).actions[0]
    assert engine.description == "install containerd-1.6.20 docker.io-20.10.24"
    done = "@@fleet:installed\ncontainerd 1.6.20~ds1-1+b1 ii \ndocker.io 20.10.24+dfsg1-1+b3 ii \n"
    assert engine.confirm(done, "") is None
    gone = "E: Version '20.10.24' for 'docker.io' was not found\n@@fleet:installed\ndocker.io 20.10.24+dfsg1-1+b3 un \n"
    assert engine.confirm(gone, "") is not None
    installed = replace(
        DEBIAN, packages={"containerd": "1.6.20~ds1-1+b1", "docker.io": "20.10.24+dfsg1-1+b3"}
    )
    assert EnginePackages().check(ctx(installed, settings=settings)).verdict is Verdict.OK


def test_distro_packages_are_refused_on_el():
    settings = Settings(package_source="distro")
    assert EnginePackages().check(ctx(FRESH, settings=settings)).verdict is Verdict.FAIL


def test_an_engine_running_another_driver_is_restarted_even_if_the_file_is_right():
    stale = replace(
        CONVERGED,
        docker_info=DockerInfo(
            server_version="19.03.11", cgroup_driver="cgroupfs", storage_driver="overlay2"
        ),
    )
    check = Service().check(ctx(stale))
    assert [a.description for a in check.actions] == ["restart docker"]


def test_the_lock_wait_is_found_however_the_output_is_cut():
    # A watcher gets each piece of output once: a text cut between two pieces still counts.
    lock = "Another app is currently holding the yum lock"
    text = lock + "; waiting for it to exit..."
    for cut in range(1, len(lock)):
        said: list[str] = []
        watcher = LockWait("yum", 300, said.append)
        assert watcher("Loaded plugins: fastestmirror\n", "") is None
        assert watcher("", "x" * 5000 + text[:cut]) is None and said == []
        assert watcher("", text[cut:] + "\n") is None
        assert said == [
            "waiting for the yum lock held by another process (up to 300s, setting yum_lock_timeout)"
        ]
    near = LockWait("yum", 300, said.append)
    near("Another app is currently", "")
    near("", " holding the yum lock")  # the two halves on different streams: no lock wait
    assert len(said) == 1
