"""Facts: the gathering script runs in a real shell, and its output parses."""

from __future__ import annotations

import base64
import subprocess

from fleet.facts import (
    facts_script,
    parse_facts,
    parse_os_release,
    parse_rpm_q,
    parse_systemctl_show,
    split_sections,
)

CENTOS7_OS_RELEASE = """NAME="CentOS Linux"
VERSION="7 (Core)"
ID="centos"
ID_LIKE="rhel fedora"
VERSION_ID="7"
PRETTY_NAME="CentOS Linux 7 (Core)"
"""


def test_os_release_values_are_unquoted():
    values = parse_os_release(CENTOS7_OS_RELEASE)
    assert values["ID"] == "centos"
    assert values["VERSION_ID"] == "7"
    assert values["PRETTY_NAME"] == "CentOS Linux 7 (Core)"


def test_rpm_q_reads_nevra_and_missing_packages():
    text = (
        "yum-utils-1.1.31-54.el7_8.noarch\n"
        "package lvm2 is not installed\n"
        "docker-ce-19.03.11-3.el7.x86_64\n"
        "containerd.io-1.2.13-3.2.el7.x86_64\n"
        "device-mapper-persistent-data-0.8.5-3.el7_9.2.x86_64\n"
    )
    assert parse_rpm_q(text) == {
        "yum-utils": "1.1.31-54.el7_8",
        "lvm2": None,
        "docker-ce": "19.03.11-3.el7",
        "containerd.io": "1.2.13-3.2.el7",
        "device-mapper-persistent-data": "0.8.5-3.el7_9.2",
    }


def test_systemctl_show_blocks_are_keyed_by_unit_id_in_any_property_order():
    # systemd prints properties in its own order, not the order of the -p options.
    text = (
        "ActiveState=active\nActiveEnterTimestamp=Tue 2026-12-01 06:39:03 UTC\n"
        "Id=docker.service\nLoadState=loaded\nUnitFileState=enabled\n\n"
        "Id=kubelet.service\nLoadState=not-found\nActiveState=inactive\nUnitFileState=\n"
        "ActiveEnterTimestamp=\n"
    )
    units = parse_systemctl_show(text)
    assert units["docker.service"]["ActiveEnterTimestamp"] == "Tue 2026-12-01 06:39:03 UTC"
    assert units["docker.service"]["UnitFileState"] == "enabled"
    assert units["kubelet.service"]["LoadState"] == "not-found"
    assert parse_systemctl_show("") == {}


def test_sections_keep_inner_lines():
    text = "noise\n@@fleet:a\none\n\ntwo\n@@fleet:b\n@@fleet:end\n"
    assert split_sections(text) == {"a": "one\n\ntwo", "b": "", "end": ""}


def test_parse_facts_from_recorded_centos_output():
    daemon = '{"exec-opts": ["native.cgroupdriver=systemd"]}\n'
    dropin = "[Service]\nExecStart=\nExecStart=/usr/bin/dockerd -H fd://\n"
    text = "\n".join(
        [
            "@@fleet:os_release",
            CENTOS7_OS_RELEASE,
            "@@fleet:kernel",
            "3.10.0-1160.el7.x86_64",
            "@@fleet:uid",
            "0",
            "@@fleet:pm",
            "yum",
            "@@fleet:rpm",
            "package docker-ce is not installed",
            "@@fleet:repo",
            "/etc/yum.repos.d/docker-ce.repo",
            "@@fleet:daemon_json",
            base64.b64encode(daemon.encode()).decode(),
            "@@fleet:dropin_dir",
            "yes",
            "@@fleet:dropins",
            "override.conf " + base64.b64encode(dropin.encode()).decode(),
            "@@fleet:units",
            "Id=docker.service",
            "LoadState=loaded",
            "ActiveState=inactive",
            "UnitFileState=disabled",
            "ActiveEnterTimestamp=",
            "",
            "Id=kubelet.service",
            "LoadState=not-found",
            "ActiveState=inactive",
            "UnitFileState=",
            "ActiveEnterTimestamp=",
            "@@fleet:docker_info",
            "@@fleet:docker_info_err",
            "@@fleet:fs",
            "xfs    /",
            "@@fleet:xfs",
            "ftype=0",
            "@@fleet:df",
            "/dev/sda1 41922560 1638400 40284160 4% /",
            "@@fleet:end",
        ]
    )
    facts = parse_facts(text)
    assert facts.os_id == "centos" and facts.os_major == 7 and facts.is_el
    assert facts.kernel == "3.10.0-1160.el7.x86_64"
    assert facts.uid == 0 and facts.package_manager == "yum"
    assert facts.packages == {"docker-ce": None}
    assert facts.docker_repo
    assert facts.daemon_json == daemon
    assert facts.dropins == {"override.conf": dropin}
    assert facts.docker_active == "inactive" and facts.docker_enabled == "disabled"
    assert facts.kubelet_active == "inactive" and facts.docker_started_at == ""
    assert facts.docker_info is None
    assert facts.var_lib_docker_fs == "xfs" and facts.xfs_ftype == 0
    assert facts.free_mb == 40284160 // 1024


def test_script_runs_in_a_real_shell_on_this_machine():
    # This machine is Debian, not CentOS: the script must still finish and parse.
    out = subprocess.run(["sh", "-c", facts_script()], capture_output=True, text=True, timeout=60)
    assert "@@fleet:end" in out.stdout
    facts = parse_facts(out.stdout)
    assert facts.os_id  # whatever this machine is, os-release was read
    assert facts.kernel and facts.kernel[0].isdigit()
    assert facts.uid is not None
    assert not facts.is_el or facts.os_id in {"centos", "rhel", "rocky", "almalinux"}


def test_package_manager_follows_the_os_release():
    from fleet.facts import _package_manager

    assert _package_manager(["dnf", "yum"], {"VERSION_ID": "7"}) == "yum"
    assert _package_manager(["dnf", "yum"], {"VERSION_ID": "8.5"}) == "dnf"
    assert _package_manager(["yum"], {"VERSION_ID": "9.3"}) == "yum"
    assert _package_manager(["dnf"], {"VERSION_ID": "9.3"}) == "dnf"
    assert _package_manager([], {"VERSION_ID": "7"}) is None
    assert _package_manager(["apt-get"], {"VERSION_ID": "12"}) == "apt"
    assert _package_manager(["yum", "apt-get"], {"VERSION_ID": "7"}) == "yum"


def test_dpkg_query_counts_only_installed_packages():
    from fleet.facts import parse_dpkg_query

    text = (
        "docker.io 20.10.24+dfsg1-1+b3 ii \n"
        "containerd 1.6.20~ds1-1+b1 un \n"
        "dpkg-query: no packages found matching docker-ce\n"
    )
    assert parse_dpkg_query(text) == {
        "docker.io": "20.10.24+dfsg1-1+b3",
        "containerd": None,
        "docker-ce": None,
    }


def test_containerd_facts_config_unit_and_times():
    config = 'version = 2\n[plugins."io.containerd.grpc.v1.cri"]\n'
    text = (
        "\n@@fleet:units\nId=containerd.service\nActiveState=active\nUnitFileState=enabled\n"
        f"\n@@fleet:containerd_config\n{base64.b64encode(config.encode()).decode()}\n"
        "\n@@fleet:containerd_times\n1700000100\n1700000105\n\n@@fleet:end\n"
    )
    facts = parse_facts(text)
    assert facts.containerd_config == config
    assert (facts.containerd_active, facts.containerd_enabled) == ("active", "enabled")
    assert (facts.containerd_config_written, facts.containerd_started) == (1700000100, 1700000105)


def test_containerd_facts_when_there_is_no_file_and_no_daemon():
    facts = parse_facts("\n@@fleet:containerd_config\n\n@@fleet:containerd_times\n-\n@@fleet:end\n")
    assert facts.containerd_config is None
    assert (facts.containerd_config_written, facts.containerd_started) == (None, None)
    assert facts.containerd_active == "unknown"


def test_the_script_times_containerd_in_the_hosts_own_clock():
    script = facts_script()
    assert "stat -c %Y /etc/containerd/config.toml" in script
    assert 'date -d "$t" +%s' in script
    run = subprocess.run(["sh", "-n"], input=script, text=True, capture_output=True, check=False)
    assert run.returncode == 0, run.stderr
