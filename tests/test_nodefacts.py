"""The node prerequisites' facts: each parser on what the real programs print, and the script."""

from __future__ import annotations

import base64
import subprocess

from hypothesis import given
from hypothesis import strategies as st

from fleet.facts import facts_script, parse_facts, split_sections
from fleet.nodefacts import (
    NodeFacts,
    parse_getenforce,
    parse_lsmod,
    parse_modules_builtin,
    parse_modules_load,
    parse_node_facts,
    parse_selinux_config,
    parse_swap_summary,
    parse_sysctl_conf,
    parse_sysctl_values,
)

# util-linux 2.23 (CentOS 7) `swapon -s`: the kernel's /proc/swaps table, tabs and all.
SWAPON_EL7 = (
    "Filename\t\t\t\tType\t\tSize\tUsed\tPriority\n"
    "/dev/dm-1                              \tpartition\t2097148\t0\t-2\n"
    "/swapfile                              \tfile\t1048572\t0\t-3\n"
)
# kmod's lsmod: name, size, use count, holders.
LSMOD = (
    "Module                  Size  Used by\n"
    "br_netfilter           22256  0 \n"
    "bridge                151336  1 br_netfilter\n"
    "overlay                71964  0 \n"
)
CENTOS7_SELINUX_CONFIG = """
# This file controls the state of SELinux on the system.
# SELINUX= can take one of these three values:
#     enforcing - SELinux security policy is enforced.
#     permissive - SELinux prints warnings instead of enforcing.
#     disabled - No SELinux policy is loaded.
SELINUX=enforcing
# SELINUXTYPE= can take one of three values:
#     targeted - Targeted processes are protected,
#     minimum - Modification of targeted policy. Only selected processes are protected.
#     mls - Multi Level Security protection.
SELINUXTYPE=targeted
"""


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def test_swap_summary_lists_the_areas_in_use_with_or_without_a_header():
    assert parse_swap_summary(SWAPON_EL7) == ("/dev/dm-1", "/swapfile")
    assert parse_swap_summary(SWAPON_EL7.split("\n", 1)[1]) == ("/dev/dm-1", "/swapfile")
    assert parse_swap_summary("Filename\t\t\t\tType\t\tSize\tUsed\tPriority\n") == ()
    assert parse_swap_summary("") == ()


def test_lsmod_names_modules_and_skips_its_header():
    assert parse_lsmod(LSMOD) == {"br_netfilter", "bridge", "overlay"}
    assert parse_lsmod("Module                  Size  Used by\n") == frozenset()


def test_builtin_modules_come_from_their_paths_in_any_compression():
    text = "kernel/fs/overlayfs/overlay.ko\nkernel/net/bridge/br_netfilter.ko.zst\n"
    assert parse_modules_builtin(text) == {"overlay", "br_netfilter"}
    assert parse_modules_builtin("kernel/fs/ext4/ext4.ko.xz\n") == {"ext4"}


def test_modules_load_files_skip_comments_and_read_dashes_as_underscores():
    text = "# for kubernetes\n; old style\noverlay\n\n  br-netfilter  \n"
    assert parse_modules_load(text) == ["overlay", "br_netfilter"]


def test_sysctl_values_know_a_missing_key_from_a_zero():
    # `sysctl -e KEY...` prints the keys the kernel has and skips the others.
    values = parse_sysctl_values("net.ipv4.ip_forward = 0\n")
    assert values == {"net.ipv4.ip_forward": "0"}
    assert values.get("net.bridge.bridge-nf-call-iptables") is None


def test_sysctl_conf_is_read_as_sysctl_reads_it():
    text = (
        "# comment\n; another\nnet.ipv4.ip_forward = 0\n-net/bridge/bridge-nf-call-iptables=1\n"
        "net.ipv4.ip_forward=1\nnot a setting\n"
    )
    assert parse_sysctl_conf(text) == {
        "net.ipv4.ip_forward": "1",
        "net.bridge.bridge-nf-call-iptables": "1",
    }


def test_selinux_mode_now_and_in_its_config():
    assert parse_getenforce("Enforcing\n") == "enforcing"
    assert parse_getenforce("Disabled") == "disabled"
    assert parse_getenforce("getenforce: command not found") is None
    assert parse_selinux_config(CENTOS7_SELINUX_CONFIG) == "enforcing"
    assert parse_selinux_config('SELINUX="Permissive"\n') == "permissive"
    assert parse_selinux_config("") is None


def test_node_facts_from_a_recorded_centos7_fresh_install():
    fstab = "/dev/mapper/centos-root /  xfs defaults 0 0\n/dev/mapper/centos-swap swap swap defaults 0 0\n"
    sections = split_sections(
        "\n".join(
            [
                "@@fleet:swaps",
                SWAPON_EL7,
                "@@fleet:fstab",
                b64(fstab),
                "@@fleet:lsmod",
                "@@fleet:modules_builtin",
                "@@fleet:modules_load",
                "@@fleet:sysctl",
                "net.ipv4.ip_forward = 0",
                "@@fleet:sysctl_conf",
                "@@fleet:selinux",
                "Enforcing",
                "@@fleet:selinux_config",
                b64(CENTOS7_SELINUX_CONFIG),
                "@@fleet:cgroup_fs",
                "tmpfs",
                "@@fleet:end",
            ]
        )
    )
    node = parse_node_facts(sections)
    assert node.swaps == ("/dev/dm-1", "/swapfile")
    assert node.fstab == fstab
    assert node.modules == frozenset() and node.persisted_modules() == frozenset()
    assert node.sysctl["net.ipv4.ip_forward"] == "0"
    assert node.sysctl.get("net.bridge.bridge-nf-call-iptables") is None
    assert node.sysctl_conf is None
    assert node.selinux == "enforcing" and node.selinux_config == CENTOS7_SELINUX_CONFIG
    assert node.cgroup_fs == "tmpfs" and node.cgroup_version == 1


def test_node_facts_of_a_prepared_rocky9():
    k8s_conf = b64("overlay\nbr_netfilter\n")
    sections = {
        "lsmod": LSMOD,
        "modules_load": f"k8s.conf {k8s_conf}\nother.conf {b64('')}",
        "sysctl_conf": b64("net.ipv4.ip_forward = 1\n"),
        "selinux": "Permissive",
        "cgroup_fs": "cgroup2fs",
    }
    node = parse_node_facts(sections)
    assert node.modules >= {"overlay", "br_netfilter"}
    assert node.modules_load == {"k8s.conf": "overlay\nbr_netfilter\n", "other.conf": ""}
    assert node.persisted_modules() == {"overlay", "br_netfilter"}
    assert node.sysctl_conf == "net.ipv4.ip_forward = 1\n"
    assert node.cgroup_version == 2 and node.selinux == "permissive"


def test_a_host_that_said_nothing_has_empty_node_facts():
    assert parse_node_facts({}) == NodeFacts()
    assert NodeFacts(cgroup_fs="ext4").cgroup_version is None


def test_node_facts_are_gathered_only_when_asked_for():
    assert "m swaps" not in facts_script()
    assert "m swaps" in facts_script(node=True)


def test_the_script_gathers_node_facts_on_this_machine():
    out = subprocess.run(
        ["sh", "-c", facts_script(node=True)], capture_output=True, text=True, timeout=60
    )
    sections = split_sections(out.stdout)
    for name in ("swaps", "fstab", "lsmod", "sysctl", "selinux", "cgroup_fs"):
        assert name in sections, name
    node = parse_facts(out.stdout).node
    # Every machine has some cgroup hierarchy mounted, and ip_forward is a key of every kernel.
    assert node.cgroup_fs
    assert node.sysctl["net.ipv4.ip_forward"] in ("0", "1")


@given(st.text())
def test_parsers_never_raise(text):
    parse_swap_summary(text)
    parse_lsmod(text)
    parse_modules_builtin(text)
    parse_modules_load(text)
    parse_sysctl_values(text)
    parse_sysctl_conf(text)
    parse_getenforce(text)
    parse_selinux_config(text)
    parse_node_facts({"swaps": text, "fstab": text, "modules_load": text, "sysctl": text})
