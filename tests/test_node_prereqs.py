"""kubeadm's node prerequisites: each step's check and actions, table-driven from facts."""

from __future__ import annotations

import subprocess
from dataclasses import replace
from pathlib import Path

import pytest

from fleet import nodeconf
from fleet.facts import HostFacts
from fleet.nodefacts import NodeFacts
from fleet.settings import Settings
from fleet.steps.base import StepContext, Verdict
from fleet.steps.docker_ce import DOCKER_CE_STEPS
from fleet.steps.node_prereqs import (
    NODE_PREREQ_STEPS,
    SYSCTL_STEPS,
    CgroupVersion,
    KernelModules,
    Selinux,
    Swap,
    kubernetes_minor,
    wanted,
)
from fleet.steps.profiles import CONTAINERD_STEPS, DOCKER_NODE_PREREQ_STEPS, steps_for

FSTAB = (
    "#\n# /etc/fstab\n# Created by anaconda\n#\n"
    "/dev/mapper/centos-root /                       xfs     defaults        0 0\n"
    "UUID=2b1c0e5a-4c1e-4a55-9f0e-3d1f0f8e2a11 /boot xfs     defaults        0 0\n"
    "/dev/mapper/centos-swap swap                    swap    defaults        0 0\n"
)
SELINUX_CONFIG = "# comment\nSELINUX=enforcing\nSELINUXTYPE=targeted\n"
FRESH_NODE = NodeFacts(
    swaps=("/dev/dm-1",),
    fstab=FSTAB,
    sysctl={
        "net.ipv4.ip_forward": "0",
        "net.bridge.bridge-nf-call-iptables": None,
        "net.bridge.bridge-nf-call-ip6tables": None,
    },
    selinux="enforcing",
    selinux_config=SELINUX_CONFIG,
    cgroup_fs="tmpfs",
)
PREPARED_NODE = NodeFacts(
    fstab=nodeconf.comment_out_swap(FSTAB),
    modules=frozenset({"overlay", "br_netfilter"}),
    modules_load={"k8s.conf": "overlay\nbr_netfilter\n"},
    sysctl={key: "1" for key in (s.key for s in SYSCTL_STEPS)},
    sysctl_conf="".join(f"{s.key} = 1\n" for s in SYSCTL_STEPS),
    selinux="permissive",
    selinux_config=nodeconf.selinux_permissive(SELINUX_CONFIG),
    cgroup_fs="tmpfs",
)
CENTOS7 = HostFacts(
    os_id="centos", os_version="7", os_name="CentOS Linux 7 (Core)", uid=0, node=FRESH_NODE
)
ON = Settings().merged({"node_prereqs": "true"})


def ctx(node: NodeFacts, settings: Settings = ON, **kw) -> StepContext:
    return StepContext(replace(CENTOS7, node=node), settings, **kw)


@pytest.mark.parametrize(
    ("values", "on"),
    [
        ({}, False),
        ({"runtime": "containerd"}, True),
        ({"node_prereqs": "true"}, True),
        ({"runtime": "containerd", "node_prereqs": "false"}, False),
        ({"node_prereqs": "auto", "runtime": "containerd"}, True),
    ],
)
def test_auto_is_on_with_containerd_and_off_with_docker(values, on):
    settings = Settings().merged(values)
    assert wanted(settings) is on
    verdicts = {step.check(ctx(FRESH_NODE, settings)).verdict for step in NODE_PREREQ_STEPS}
    assert (verdicts == {Verdict.SKIP}) is not on


def test_docker_keeps_its_sequence_unless_asked_and_containerd_has_them_after_preflight():
    assert steps_for(Settings()) is DOCKER_CE_STEPS
    assert steps_for(ON) is DOCKER_NODE_PREREQ_STEPS
    names = [s.name for s in DOCKER_NODE_PREREQ_STEPS]
    assert names[: len(NODE_PREREQ_STEPS) + 1] == [
        "preflight",
        *(s.name for s in NODE_PREREQ_STEPS),
    ]
    assert [s.name for s in CONTAINERD_STEPS][1] == "SystemVerification"
    assert steps_for(Settings().merged({"runtime": "containerd"})) is CONTAINERD_STEPS


def test_steps_carry_kubeadms_check_names_where_kubeadm_has_one():
    assert [s.name for s in NODE_PREREQ_STEPS] == [
        "SystemVerification",
        "Swap",
        "kernel_modules",
        "FileContent--proc-sys-net-ipv4-ip_forward",
        "FileContent--proc-sys-net-bridge-bridge-nf-call-iptables",
        "FileContent--proc-sys-net-bridge-bridge-nf-call-ip6tables",
        "selinux",
    ]


def test_a_prepared_host_runs_nothing():
    for step in NODE_PREREQ_STEPS:
        check = step.check(ctx(PREPARED_NODE))
        assert check.verdict is Verdict.OK, (step.name, check.message)
        assert check.actions == ()


@pytest.mark.parametrize(
    ("fs", "version", "force", "verdict", "fragment"),
    [
        ("cgroup2fs", "1.35", False, Verdict.OK, "cgroup v2"),
        ("tmpfs", None, False, Verdict.OK, "refuses it from 1.35"),
        ("tmpfs", "1.34.3", False, Verdict.OK, "cgroup v1"),
        ("tmpfs", "1.35", False, Verdict.REFUSE, "will not start here"),
        ("tmpfs", "v1.36.0", False, Verdict.REFUSE, "failCgroupV1: false"),
        ("tmpfs", "2.0", False, Verdict.REFUSE, "--force"),
        ("tmpfs", "1.35", True, Verdict.OK, "proceeding: --force"),
        (None, "1.35", False, Verdict.OK, "unknown"),
    ],
)
def test_cgroup_v1_is_refused_for_a_kubelet_that_will_not_start_there(
    fs, version, force, verdict, fragment
):
    settings = ON.merged({"kubernetes_version": version}) if version else ON
    check = CgroupVersion().check(ctx(replace(FRESH_NODE, cgroup_fs=fs), settings, force=force))
    assert check.verdict is verdict
    assert fragment in check.message
    assert check.actions == ()


def test_kubernetes_minor_reads_the_usual_spellings():
    assert kubernetes_minor("1.35") == (1, 35)
    assert kubernetes_minor("v1.35.2") == (1, 35)
    assert kubernetes_minor("1.36.0-rc.1") == (1, 36)
    assert kubernetes_minor(None) is None


def test_swap_is_turned_off_now_and_commented_out_of_fstab():
    check = Swap().check(ctx(FRESH_NODE))
    assert check.verdict is Verdict.CHANGE
    assert [a.command.split("\n")[0] for a in check.actions] == ["swapoff -a", "set -e"]
    written = check.actions[1].stdin.decode()
    assert written == FSTAB.replace("/dev/mapper/centos-swap", "#/dev/mapper/centos-swap")
    assert "/etc/fstab.fleet-backup" in check.actions[1].description
    assert "+#/dev/mapper/centos-swap" in check.diff
    assert "/dev/dm-1" in check.message and "1 swap line" in check.message


@pytest.mark.parametrize(
    ("swaps", "fstab", "commands"),
    [
        ((), FSTAB, ["set -e"]),
        (("/swapfile",), nodeconf.comment_out_swap(FSTAB), ["swapoff -a"]),
    ],
)
def test_swap_does_only_what_is_missing(swaps, fstab, commands):
    check = Swap().check(ctx(replace(FRESH_NODE, swaps=swaps, fstab=fstab)))
    assert [a.command.split("\n")[0] for a in check.actions] == commands


def test_swap_is_left_on_for_a_kubelet_that_allows_it():
    settings = ON.merged({"kubelet_fail_swap_on": "false"})
    check = Swap().check(ctx(FRESH_NODE, settings))
    assert check.verdict is Verdict.SKIP and "kubelet_fail_swap_on" in check.message


@pytest.mark.parametrize(
    ("node", "commands", "written"),
    [
        (FRESH_NODE, ["modprobe -a overlay br_netfilter", "set -e"], "overlay\nbr_netfilter\n"),
        (
            replace(FRESH_NODE, builtin_modules=frozenset({"overlay"})),
            ["modprobe -a br_netfilter", "set -e"],
            "br_netfilter\n",
        ),
        (
            replace(FRESH_NODE, modules_load={"containerd.conf": "overlay\nbr_netfilter\n"}),
            ["modprobe -a overlay br_netfilter"],
            None,
        ),
        (
            replace(
                FRESH_NODE,
                modules=frozenset({"overlay", "br_netfilter"}),
                modules_load={"k8s.conf": "# mine\noverlay\n"},
            ),
            ["set -e"],
            "# mine\noverlay\nbr_netfilter\n",
        ),
    ],
)
def test_modules_are_loaded_with_modprobe_a_and_listed_for_boot(node, commands, written):
    check = KernelModules().check(ctx(node))
    assert check.verdict is Verdict.CHANGE
    assert [a.command.split("\n")[0] for a in check.actions] == commands
    writes = [a.stdin.decode() for a in check.actions if a.stdin]
    assert writes == ([written] if written else [])


def test_a_missing_sysctl_is_written_and_applied():
    forward = SYSCTL_STEPS[0]
    check = forward.check(ctx(FRESH_NODE))
    assert check.verdict is Verdict.CHANGE and "(now 0)" in check.message
    write, apply = check.actions
    assert write.stdin.decode() == "net.ipv4.ip_forward = 1\n"
    assert "sysctl --system" in apply.command and "net.ipv4.ip_forward" in apply.command
    bridge = SYSCTL_STEPS[1].check(ctx(FRESH_NODE, changed=frozenset({forward.name})))
    assert "(now missing)" in bridge.message
    assert bridge.actions[0].stdin.decode() == (
        "net.ipv4.ip_forward = 1\nnet.bridge.bridge-nf-call-iptables = 1\n"
    )


def test_a_persisted_sysctl_that_is_not_applied_is_only_applied():
    node = replace(PREPARED_NODE, sysctl={**PREPARED_NODE.sysctl, "net.ipv4.ip_forward": "0"})
    check = SYSCTL_STEPS[0].check(ctx(node))
    assert [a.description for a in check.actions] == ["apply with sysctl --system"]


def test_an_owners_sysctl_file_keeps_its_other_lines():
    node = replace(FRESH_NODE, sysctl_conf="# owner\nnet.ipv4.ip_forward=0\nvm.swappiness = 0\n")
    check = SYSCTL_STEPS[0].check(ctx(node))
    assert check.actions[0].stdin.decode() == (
        "# owner\nnet.ipv4.ip_forward = 1\nvm.swappiness = 0\n"
    )


@pytest.mark.parametrize(
    ("stdout", "stderr", "fragment"),
    [
        ("@@sysctl=0\n", "", "a file applied after /etc/sysctl.d/k8s.conf sets it"),
        (
            "@@sysctl=sysctl: cannot stat /proc/sys/net/bridge/bridge-nf-call-iptables: "
            "No such file or directory\n",
            "",
            "does not exist in this kernel",
        ),
    ],
)
def test_a_sysctl_that_does_not_stick_says_why(stdout, stderr, fragment):
    apply = SYSCTL_STEPS[1].check(ctx(FRESH_NODE)).actions[-1]
    assert fragment in apply.explain(stdout, stderr)


@pytest.mark.parametrize(
    ("now", "config", "descriptions"),
    [
        ("enforcing", SELINUX_CONFIG, ["setenforce 0 (permissive now)", "SELINUX=permissive"]),
        ("permissive", SELINUX_CONFIG, ["SELINUX=permissive"]),
        ("enforcing", "SELINUX=permissive\n", ["setenforce 0 (permissive now)"]),
    ],
)
def test_selinux_is_made_permissive_now_and_at_boot(now, config, descriptions):
    check = Selinux().check(ctx(replace(FRESH_NODE, selinux=now, selinux_config=config)))
    assert check.verdict is Verdict.CHANGE
    assert [a.description.split(" in ")[0] for a in check.actions] == descriptions
    for action in check.actions:
        if action.stdin:
            assert "SELINUX=permissive\nSELINUXTYPE=targeted" in action.stdin.decode()


@pytest.mark.parametrize(
    ("now", "config"), [("disabled", "SELINUX=disabled\n"), (None, None), ("permissive", None)]
)
def test_selinux_disabled_or_absent_is_left_alone(now, config):
    check = Selinux().check(ctx(replace(FRESH_NODE, selinux=now, selinux_config=config)))
    assert check.verdict is Verdict.OK and check.actions == ()


def test_selinux_is_not_an_issue_off_el():
    debian = StepContext(
        HostFacts(os_id="debian", os_version="12", os_name="Debian 12", node=FRESH_NODE), ON
    )
    assert Selinux().check(debian).verdict is Verdict.SKIP


def test_fstab_edits_touch_only_active_swap_lines_and_converge():
    text = FSTAB + "#/dev/old-swap swap swap defaults 0 0\n/swapfile none swap sw 0 0\n"
    once = nodeconf.comment_out_swap(text)
    assert nodeconf.fstab_swap_lines(once) == []
    assert nodeconf.comment_out_swap(once) == once
    assert once.count("\n") == text.count("\n")
    assert "\n#/swapfile none swap sw 0 0\n" in once and "\n#/dev/old-swap" in once
    assert "\n/dev/mapper/centos-root /" in once


def test_selinux_config_leaves_disabled_alone():
    assert nodeconf.selinux_permissive("SELINUX=disabled\n") == "SELINUX=disabled\n"
    assert nodeconf.selinux_permissive('SELINUX="enforcing"') == "SELINUX=permissive\n"


def test_write_file_command_writes_stdin_and_keeps_a_backup(tmp_path: Path):
    target = tmp_path / "etc" / "fstab"
    command = nodeconf.write_file_command(str(target))
    subprocess.run(["sh", "-c", command], input=b"first\n", check=True)
    assert target.read_text() == "first\n"
    assert not Path(str(target) + ".fleet-backup").exists()
    subprocess.run(["sh", "-c", command], input=b"second\n", check=True)
    assert target.read_text() == "second\n"
    assert Path(str(target) + ".fleet-backup").read_text() == "first\n"
    assert oct(target.stat().st_mode & 0o777) == "0o644"
    assert sorted(p.name for p in target.parent.iterdir()) == ["fstab", "fstab.fleet-backup"]
