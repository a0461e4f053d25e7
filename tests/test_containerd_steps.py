"""The containerd profile's steps, table-driven from facts, and the profiles themselves."""

from __future__ import annotations

import subprocess
from dataclasses import replace

import pytest

from fleet import containerdconfig
from fleet.facts import HostFacts
from fleet.settings import Settings
from fleet.steps.base import StepContext, Verdict
from fleet.steps.containerd import CONTAINERD as RESTART
from fleet.steps.containerd import (
    ContainerdConfig,
    ContainerdPackages,
    ContainerdPreflight,
    ContainerdPrerequisites,
    ContainerdService,
    _refused,
    _write_config,
    containerd_pin,
    running_version,
)
from fleet.steps.docker_ce import DOCKER_CE_STEPS
from fleet.steps.node_prereqs import NODE_PREREQ_STEPS
from fleet.steps.profiles import CONTAINERD_STEPS, PROFILES, steps_for

STUB = 'disabled_plugins = ["cri"]\n'
CONTAINERD = Settings().merged({"runtime": "containerd"})

EL7 = HostFacts(
    os_id="centos",
    os_version="7",
    os_name="CentOS Linux 7 (Core)",
    kernel="3.10.0-1160.el7.x86_64",
    package_manager="yum",
    uid=0,
    packages={"yum-utils": None, "containerd.io": None},
    var_lib_docker_fs="xfs",
    xfs_ftype=1,
    free_mb=40000,
    containerd_active="inactive",
    containerd_enabled="disabled",
)
EL8 = replace(EL7, os_id="centos", os_version="8", os_name="CentOS Linux 8", package_manager="dnf")
EL9 = replace(
    EL7, os_id="rocky", os_version="9.3", os_name="Rocky Linux 9.3", package_manager="dnf"
)
DEBIAN = replace(
    EL7,
    os_id="debian",
    os_version="12",
    os_name="Debian GNU/Linux 12 (bookworm)",
    os_codename="bookworm",
    package_manager="apt",
    packages={"ca-certificates": "20230311", "curl": "7.88.1-10", "gnupg": "2.2.40-1.1"},
)


def ctx(facts: HostFacts, settings: Settings = CONTAINERD, changed=()) -> StepContext:
    return StepContext(facts, settings, changed=frozenset(changed))


def test_profiles_are_explicit_tuples_picked_by_the_runtime():
    assert PROFILES["docker"] is DOCKER_CE_STEPS
    assert steps_for(Settings()) is DOCKER_CE_STEPS
    assert steps_for(CONTAINERD) is CONTAINERD_STEPS
    assert [s.name for s in CONTAINERD_STEPS] == [
        "preflight",
        *(s.name for s in NODE_PREREQ_STEPS),
        "prerequisites",
        "repository",
        "system_update",
        "containerd_packages",
        "containerd_config",
        "containerd_service",
    ]


@pytest.mark.parametrize(
    ("facts", "pin"), [(EL7, "1.6.33"), (EL8, "1.6.32"), (EL9, "1.7.28"), (DEBIAN, "1.7.28")]
)
def test_the_default_pin_suits_the_os(facts, pin):
    assert containerd_pin(CONTAINERD, facts) == pin
    check = ContainerdPackages().check(ctx(facts))
    assert check.verdict is Verdict.CHANGE
    assert check.message == f"install containerd.io-{pin}"


def test_a_given_version_wins_and_distro_takes_the_distributions_own():
    given = CONTAINERD.merged({"containerd_version": "2.2.1"})
    assert containerd_pin(given, EL9) == "2.2.1"
    distro = CONTAINERD.merged({"package_source": "distro"})
    assert containerd_pin(distro, DEBIAN) is None
    check = ContainerdPackages().check(ctx(DEBIAN, distro))
    assert check.message == "install containerd"
    refused = ContainerdPackages().check(ctx(EL9, distro))
    assert refused.verdict is Verdict.FAIL and "EL ships no containerd" in refused.message


def test_installed_at_the_pin_is_ok_and_newer_is_refused():
    ok = replace(EL9, packages={"yum-utils": "4.3.0-11.el9", "containerd.io": "1.7.28-1.el9"})
    assert ContainerdPackages().check(ctx(ok)).verdict is Verdict.OK
    newer = replace(ok, packages={"containerd.io": "2.2.1-1.el9"})
    check = ContainerdPackages().check(ctx(newer))
    assert check.verdict is Verdict.FAIL and "does not downgrade" in check.message


def test_prerequisites_are_only_what_the_repository_needs():
    check = ContainerdPrerequisites().check(ctx(EL7))
    assert check.message == "install yum-utils"
    assert "lvm2" not in check.actions[0].command


@pytest.mark.parametrize("facts", [EL7, EL8, EL9, DEBIAN])
def test_the_package_stub_becomes_version_2_for_containerd_1(facts):
    check = ContainerdConfig().check(ctx(replace(facts, containerd_config=STUB)))
    assert check.verdict is Verdict.CHANGE
    assert check.message.startswith("write /etc/containerd/config.toml (version 2: ")
    assert "CRI plugin enabled" in check.message
    assert "+SystemdCgroup = true" in check.diff and '-disabled_plugins = ["cri"]' in check.diff


def test_containerd_2_gets_version_3():
    settings = CONTAINERD.merged({"containerd_version": "2.2.1"})
    facts = replace(EL9, containerd_config=STUB)
    assert running_version(settings, facts) == "2.2.1"
    check = ContainerdConfig().check(ctx(facts, settings))
    assert "(version 3:" in check.message
    assert '+[plugins."io.containerd.cri.v1.runtime".containerd.runtimes.runc.options]' in (
        check.diff
    )


def test_a_converged_file_is_left_alone_and_a_broken_one_refused():
    text = containerdconfig.render(
        containerdconfig.merge({}, "1.7.28", CONTAINERD.sandbox_image).config
    )
    assert ContainerdConfig().check(ctx(replace(EL9, containerd_config=text))).verdict is (
        Verdict.OK
    )
    broken = ContainerdConfig().check(ctx(replace(EL9, containerd_config="[plugins\n")))
    assert broken.verdict is Verdict.FAIL
    assert broken.message.startswith("/etc/containerd/config.toml is not valid TOML (")
    assert "fleet does not overwrite it" in broken.message


def test_service_restarts_only_after_a_change_or_a_stale_daemon():
    running = replace(EL9, containerd_active="active", containerd_enabled="enabled")
    assert ContainerdService().check(ctx(running)).verdict is Verdict.OK
    changed = ContainerdService().check(ctx(running, changed={"containerd_config"}))
    assert [a.description for a in changed.actions] == ["restart containerd"]
    stale = replace(running, containerd_started=100, containerd_config_written=101)
    assert ContainerdService().check(ctx(stale)).message == "restart containerd"
    fresh = replace(running, containerd_started=101, containerd_config_written=101)
    assert ContainerdService().check(ctx(fresh)).verdict is Verdict.OK
    down = ContainerdService().check(ctx(EL9))
    assert [a.description for a in down.actions] == ["restart containerd", "enable containerd"]


def test_a_live_node_on_cgroupfs_is_refused_unless_forced():
    live = replace(
        EL9, kubelet_active="active", containerd_active="active", containerd_config="version = 2\n"
    )
    check = ContainerdPreflight().check(ctx(live))
    assert check.verdict is Verdict.REFUSE
    assert "containerd's runc uses the cgroupfs cgroup driver" in check.message
    forced = ContainerdPreflight().check(StepContext(live, CONTAINERD, force=True))
    assert forced.verdict is Verdict.OK
    text = containerdconfig.render(containerdconfig.merge({}, "1.7.28", "p").config)
    on_systemd = replace(live, containerd_config=text)
    assert ContainerdPreflight().check(ctx(on_systemd)).verdict is Verdict.OK


def test_restart_and_write_scripts_are_valid_shell():
    for script in (_write_config(), RESTART.script(True), RESTART.script(False)):
        run = subprocess.run(["sh", "-n"], input=script, text=True, capture_output=True)
        assert run.returncode == 0, run.stderr


def test_refusals_are_containerds_own_words():
    said = (
        "@@containerd-refused\ncontainerd: failed to load TOML from /etc/containerd/config.toml:"
        ' invalid disabled plugin URI "cri" expect io.containerd.x.vx\n'
    )
    assert _refused(said, "") == (
        "containerd refused the new config.toml, left unchanged: containerd: failed to load "
        'TOML from /etc/containerd/config.toml: invalid disabled plugin URI "cri" expect '
        "io.containerd.x.vx"
    )
    journal = (
        "@@containerd-error\nDec 02 18:25 node01 containerd[1042]: containerd: failed to load "
        "TOML: /etc/containerd/config.toml: (2, 15): was expecting token =\n@@rollback=ok\n"
    )
    assert RESTART.error(journal, "") == (
        "containerd refused to start: containerd: failed to load TOML: /etc/containerd/"
        "config.toml: (2, 15): was expecting token =; restored the previous config.toml and "
        "containerd runs again"
    )
