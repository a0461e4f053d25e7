"""The simulated CentOS tools, run as real wrapper executables in a real bash.

Each test seeds a host tree, points FLEETLAB_ROOT at it and runs the tools
the way a lab session would (a command line in bash), asserting their output
and exit codes against the real tools' texts.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from fleet.lab.simtools import TOOLS, find_python, install_tools, tools_for_os
from tests.lab.simkit import NOBODY, REPO_URL, SimHost, ok

REFERENCE_DAEMON_JSON = """{
  "exec-opts": ["native.cgroupdriver=systemd"],
  "log-driver": "json-file",
  "log-opts": {
    "max-size": "100m"
  },
  "storage-driver": "overlay2",
  "storage-opts": [
    "overlay2.override_kernel_check=true"
  ]
}
"""


def journal(host: SimHost) -> str:
    return ok(host, "journalctl -u docker --no-pager").stdout


# -- wrappers and dispatch --------------------------------------------------------------------


def test_every_tool_has_a_fast_start_wrapper(tool_bin: Path) -> None:
    for tool in TOOLS:
        path = tool_bin / tool
        assert os.access(path, os.X_OK), tool
        first = path.read_text().splitlines()[0]
        assert first.startswith("#!/") and first.endswith(" -SE"), first


def test_per_os_tool_sets(tmp_path: Path) -> None:
    assert "dnf" not in tools_for_os("centos7")
    assert "dnf" in tools_for_os("rocky9")
    install_tools(
        tmp_path / "el7", find_python(), Path(__file__).resolve().parents[2], tools_for_os("rhel7")
    )
    assert sorted(p.name for p in (tmp_path / "el7").iterdir()) == sorted(set(TOOLS) - {"dnf"})


def test_python_dash_m_dispatches_on_the_tool_name(make_host: Callable[..., SimHost]) -> None:
    host = make_host(os="centos7", engine={"version": "19.03.11"})
    result = subprocess.run(
        [sys.executable, "-m", "fleet.lab.simtools", "rpm", "-q", "docker-ce"],
        env={**os.environ, "FLEETLAB_ROOT": str(host.root)},
        capture_output=True, text=True, check=False, cwd=Path(__file__).resolve().parents[2],
    )  # fmt: skip
    assert result.returncode == 0
    assert result.stdout == "docker-ce-19.03.11-3.el7.x86_64\n"


# -- seed and the host's identity -----------------------------------------------------------


@pytest.mark.parametrize(
    ("os_key", "ident", "kernel", "manager"),
    [
        ("centos7", ('ID="centos"', 'VERSION_ID="7"', 'ID_LIKE="rhel fedora"', 'PRETTY_NAME="CentOS Linux 7 (Core)"'),
         "3.10.0-1160.el7.x86_64", "yum"),
        ("rhel7", ('ID="rhel"', 'VERSION_ID="7.9"'), "3.10.0-1160.el7.x86_64", "yum"),
        ("centos8", ('ID="centos"', 'VERSION_ID="8"', 'PRETTY_NAME="CentOS Linux 8"'), "4.18.0-348.el8.x86_64", "dnf"),
        ("rhel8", ('ID="rhel"', 'VERSION_ID="8.4"'), "4.18.0-305.el8.x86_64", "dnf"),
        ("rocky9", ('ID="rocky"', 'VERSION_ID="9.3"'), "5.14.0-362.8.1.el9_3.x86_64", "dnf"),
        ("alma9", ('ID="almalinux"', 'VERSION_ID="9.3"'), "5.14.0-362.8.1.el9_3.x86_64", "dnf"),
    ],
)  # fmt: skip
def test_seed_gives_each_os_its_release_kernel_and_package_manager(
    make_host: Callable[..., SimHost],
    os_key: str,
    ident: tuple[str, ...],
    kernel: str,
    manager: str,
) -> None:
    host = make_host(os=os_key)
    release = host.file("/etc/os-release").read_text()
    for line in ident:
        assert line in release.splitlines()
    assert ok(host, "uname -r").stdout == kernel + "\n"
    assert kernel in ok(host, "uname -a").stdout
    assert ok(host, "rpm -q --qf '%{NAME}\\n' systemd kernel").stdout == "systemd\nkernel\n"
    other = "dnf" if manager == "yum" else None
    if other:
        missing = host.run("dnf install -y docker-ce")
        assert missing.returncode == 127
        assert missing.stderr == "bash: dnf: command not found\n"
    else:
        assert ok(host, "rpm -q dnf").stdout.startswith("dnf-4.")


def test_uname_delegates_what_it_does_not_simulate(make_host: Callable[..., SimHost]) -> None:
    host = make_host(os="centos7")
    assert ok(host, "uname --version").stdout.startswith("uname (GNU coreutils)")
    assert ok(host, "uname -m").stdout == "x86_64\n"


def test_seed_with_running_engine_and_owner_files(make_host: Callable[..., SimHost]) -> None:
    host = make_host(
        os="centos7", engine={"version": "20.10.7", "running": True}, kubelet="running",
        daemon_json={"log-level": "warn"}, dropin="[Service]\nEnvironment=HTTP_PROXY=http://proxy:3128\n",
    )  # fmt: skip
    assert json.loads(host.file("/etc/docker/daemon.json").read_text()) == {"log-level": "warn"}
    assert (
        "HTTP_PROXY" in host.file("/etc/systemd/system/docker.service.d/override.conf").read_text()
    )
    assert ok(host, "rpm -q docker-ce docker-ce-cli containerd.io").stdout.splitlines() == [
        "docker-ce-20.10.7-3.el7.x86_64",
        "docker-ce-cli-20.10.7-3.el7.x86_64",
        "containerd.io-1.4.6-3.1.el7.x86_64",
    ]
    assert (
        ok(host, "systemctl is-active docker containerd kubelet").stdout
        == "active\nactive\nactive\n"
    )
    assert ok(host, "systemctl is-enabled docker").stdout == "enabled\n"
    assert ok(host, "docker version --format '{{.Server.Version}}'").stdout == "20.10.7\n"


def test_seed_keeps_an_invalid_owner_daemon_json_verbatim_and_the_engine_failed(
    make_host: Callable[..., SimHost],
) -> None:
    broken = '{\n  "log-level": "warn",\n}\n'
    host = make_host(
        os="centos7", engine={"version": "19.03.11", "running": True}, daemon_json=broken
    )
    assert host.file("/etc/docker/daemon.json").read_text() == broken
    state = host.run("systemctl is-active docker")
    assert (state.returncode, state.stdout) == (3, "failed\n")
    assert "invalid character '}' looking for beginning of object key string" in journal(host)


# -- rpm ------------------------------------------------------------------------------------------


def test_rpm_query_forms(make_host: Callable[..., SimHost]) -> None:
    host = make_host(os="centos7", engine={"version": "19.03.11"})
    assert ok(host, "rpm -q docker-ce").stdout == "docker-ce-19.03.11-3.el7.x86_64\n"
    missing = host.run("rpm -q docker-ce foo bar")
    assert missing.returncode == 2
    assert missing.stdout == (
        "docker-ce-19.03.11-3.el7.x86_64\npackage foo is not installed\npackage bar is not installed\n"
    )
    assert ok(host, "rpm -q --qf '%{VERSION}\\n' docker-ce").stdout == "19.03.11\n"
    assert ok(
        host, "rpm -q --queryformat '%{EPOCH}:%{VERSION}-%{RELEASE}\\n' docker-ce containerd.io"
    ).stdout == ("3:19.03.11-3.el7\n(none):1.2.13-3.2.el7\n")
    assert (
        "docker-ce-cli-19.03.11-3.el7.x86_64" in ok(host, "rpm -qa 'docker*'").stdout.splitlines()
    )


def test_rpm_works_for_the_unprivileged_login_user(make_host: Callable[..., SimHost]) -> None:
    host = make_host(os="centos7", engine={"version": "19.03.11"})
    result = host.run("rpm -q docker-ce", as_user=NOBODY)
    assert (result.returncode, result.stdout) == (0, "docker-ce-19.03.11-3.el7.x86_64\n")


# -- yum on CentOS 7 -----------------------------------------------------------------------------


def test_reference_install_sequence_on_centos7(make_host: Callable[..., SimHost]) -> None:
    host = make_host(os="centos7")
    absent = host.run(f"yum-config-manager --add-repo {REPO_URL}")
    assert (absent.returncode, absent.stderr) == (
        127,
        "bash: yum-config-manager: command not found\n",
    )

    utils = ok(host, "yum install -y yum-utils device-mapper-persistent-data lvm2")
    assert (
        "Package device-mapper-persistent-data-0.8.5-3.el7.x86_64 already installed and latest version"
        in utils.stdout
    )
    assert (
        "Package 7:lvm2-2.02.187-6.el7.x86_64 already installed and latest version" in utils.stdout
    )
    assert utils.stdout.rstrip().endswith("Complete!")

    added = ok(host, f"yum-config-manager --add-repo {REPO_URL}")
    assert added.stdout.splitlines() == [
        "Loaded plugins: fastestmirror",
        f"adding repo from: {REPO_URL}",
        f"grabbing file {REPO_URL} to /etc/yum.repos.d/docker-ce.repo",
        "repo saved to /etc/yum.repos.d/docker-ce.repo",
    ]
    repo_text = host.file("/etc/yum.repos.d/docker-ce.repo").read_text()
    assert repo_text.startswith(
        "[docker-ce-stable]\nname=Docker CE Stable - $basearch\n"
        "baseurl=https://download.docker.com/linux/centos/$releasever/$basearch/stable\n"
        "enabled=1\ngpgcheck=1\ngpgkey=https://download.docker.com/linux/centos/gpg\n"
    )

    install = ok(
        host, "yum install -y containerd.io-1.2.13 docker-ce-19.03.11 docker-ce-cli-19.03.11"
    )
    out = install.stdout
    assert out.startswith("Loaded plugins: fastestmirror\n")
    for marker in ("Resolving Dependencies", "Dependencies Resolved", "Installing:", "Transaction Summary",
                   "Importing GPG key 0x621E9F35:", "Running transaction", "Installed:", "Dependency Installed:"):  # fmt: skip
        assert marker in out, marker
    assert "docker-ce.x86_64 3:19.03.11-3.el7" in out
    assert "containerd.io.x86_64 0:1.2.13-3.2.el7" in out
    assert "container-selinux.noarch 2:2.119.2-1.911c772.el7_8" in out
    assert out.rstrip().endswith("Complete!")
    assert ok(host, "rpm -q docker-ce docker-ce-cli containerd.io").stdout.split() == [
        "docker-ce-19.03.11-3.el7.x86_64", "docker-ce-cli-19.03.11-3.el7.x86_64", "containerd.io-1.2.13-3.2.el7.x86_64",
    ]  # fmt: skip
    # installed, not started, not enabled (CentOS packages do not start services)
    assert host.run("systemctl is-active docker").returncode == 3
    assert host.run("systemctl is-enabled docker").stdout == "disabled\n"

    again = ok(host, "yum install -y docker-ce-19.03.11")
    assert (
        "Package 3:docker-ce-19.03.11-3.el7.x86_64 already installed and latest version\nNothing to do\n"
        in again.stdout
    )
    second_key = ok(host, "yum install -y docker-ce-rootless-extras").stdout
    assert "Importing GPG key" not in second_key


def test_pinning_only_docker_ce_pulls_the_newest_cli(make_host: Callable[..., SimHost]) -> None:
    host = make_host(os="centos7", packages=["yum-utils"])
    ok(host, f"yum-config-manager --add-repo {REPO_URL}")
    ok(host, "yum install -y docker-ce-19.03.11")
    assert ok(host, "rpm -q docker-ce-cli").stdout == "docker-ce-cli-26.1.4-1.el7.x86_64\n"


def test_version_pin_before_the_repo_exists(make_host: Callable[..., SimHost]) -> None:
    host = make_host(os="centos7")
    result = host.run("yum install -y docker-ce-19.03.11")
    assert result.returncode == 1
    assert "No package docker-ce-19.03.11 available.\n" in result.stdout
    assert result.stderr == "Error: Nothing to do\n"
    # yum skips unknown names when others resolve (skip_missing_names_on_install)
    partial = host.run("yum install -y docker-ce-19.03.11 yum-utils")
    assert partial.returncode == 0
    assert "No package docker-ce-19.03.11 available." in partial.stdout
    strict = host.run("yum install -y --setopt=skip_missing_names_on_install=False docker-ce")
    assert strict.returncode == 1
    assert "Error: Not tolerating missing names on install, stopping." in strict.stderr


def test_yum_update_then_nothing_left(make_host: Callable[..., SimHost]) -> None:
    host = make_host(os="centos7")
    update = ok(host, "yum update -y")
    assert "Updated:" in update.stdout
    assert "systemd.x86_64 0:219-78.el7_9.9" in update.stdout
    # a kernel update installs alongside: the running kernel does not change until a reboot
    assert ok(host, "rpm -q kernel").stdout.split() == [
        "kernel-3.10.0-1160.el7.x86_64", "kernel-3.10.0-1160.119.1.el7.x86_64",
    ]  # fmt: skip
    assert ok(host, "uname -r").stdout == "3.10.0-1160.el7.x86_64\n"
    assert ok(host, "yum update -y").stdout.splitlines()[-1] == "No packages marked for update"


def test_yum_update_upgrades_a_running_engine_which_then_rejects_the_k8s_daemon_json(
    make_host: Callable[..., SimHost],
) -> None:
    host = make_host(
        os="centos7",
        engine={"version": "19.03.11", "running": True},
        daemon_json=REFERENCE_DAEMON_JSON,
    )
    assert ok(host, "docker info --format '{{.CgroupDriver}}'").stdout == "systemd\n"
    update = host.run("yum update -y")
    assert update.returncode == 0
    assert "docker-ce.x86_64 3:26.1.4-1.el7" in update.stdout
    assert host.run("systemctl is-active docker").stdout == "failed\n"
    assert (
        "failed to start daemon: error initializing graphdriver: overlay2: unknown option "
        "overlay2.override_kernel_check: overlay2"
    ) in journal(host)


def test_yum_remove_stops_and_removes_the_engine(make_host: Callable[..., SimHost]) -> None:
    host = make_host(os="centos7", engine={"version": "19.03.11", "running": True})
    removed = ok(host, "yum remove -y docker-ce")
    assert "Removed:\n  docker-ce.x86_64 3:19.03.11-3.el7" in removed.stdout
    assert host.run("rpm -q docker-ce").stdout == "package docker-ce is not installed\n"
    assert (
        host.run("systemctl restart docker").stderr
        == "Failed to restart docker.service: Unit not found.\n"
    )
    assert ok(host, "yum remove -y nosuchpkg").stdout.splitlines()[-2:] == [
        "No Match for argument: nosuchpkg", "No Packages marked for removal",
    ]  # fmt: skip


def test_yum_list_installed_and_available(make_host: Callable[..., SimHost]) -> None:
    host = make_host(os="centos7", engine={"version": "19.03.11"})
    listing = ok(host, "yum list installed docker-ce").stdout.splitlines()
    assert listing[1] == "Installed Packages"
    assert listing[2].split() == ["docker-ce.x86_64", "3:19.03.11-3.el7", "@docker-ce-stable"]
    dups = ok(host, "yum list docker-ce --showduplicates").stdout
    assert "3:19.03.12-3.el7" in dups and "Available Packages" in dups
    missing = host.run("yum list installed nosuchpkg")
    assert (missing.returncode, missing.stderr) == (1, "Error: No matching Packages to list\n")


def test_yum_quiet_and_unconfirmed(make_host: Callable[..., SimHost]) -> None:
    host = make_host(os="centos7")
    quiet = ok(host, "yum -q install -y yum-utils")
    assert quiet.stdout == ""
    assert ok(host, "rpm -q yum-utils").stdout.startswith("yum-utils-")
    refused = host.run("yum install python-IPy < /dev/null")
    assert refused.returncode == 1
    assert "Is this ok [y/d/N]: Exiting on user command" in refused.stdout
    assert host.run("rpm -q python-IPy").returncode == 1
    ok(host, "echo y | yum install python-IPy")
    assert host.run("rpm -q python-IPy").returncode == 0
    ok(host, "yum makecache fast")


# -- dnf (CentOS 8, Rocky 9) -------------------------------------------------------------------------


def test_dnf_texts_and_config_manager(make_host: Callable[..., SimHost]) -> None:
    host = make_host(os="centos8")
    result = host.run("yum install -y docker-ce docker-ce-cli containerd.io")
    assert result.returncode == 1
    # dnf install.py:178 logs the per-name lines at INFO (stdout), main.py:59 the Error (stderr)
    assert result.stdout.endswith(
        "No match for argument: docker-ce\nNo match for argument: docker-ce-cli\n"
        "No match for argument: containerd.io\n"
    )
    assert result.stderr == "Error: Unable to find a match: docker-ce docker-ce-cli containerd.io\n"
    assert host.run(f"yum-config-manager --add-repo {REPO_URL}").returncode == 127
    added = ok(host, f"dnf config-manager --add-repo {REPO_URL}")
    assert added.stdout == f"Adding repo from: {REPO_URL}\n"
    installed = ok(host, "dnf install -y docker-ce-20.10.7 docker-ce-cli-20.10.7 containerd.io")
    assert "Dependencies resolved." in installed.stdout
    assert "docker-ce-3:20.10.7-3.el8.x86_64" in installed.stdout
    assert installed.stdout.rstrip().endswith("Complete!")
    again = ok(host, "dnf install -y docker-ce-20.10.7")
    assert "Package docker-ce-3:20.10.7-3.el8.x86_64 is already installed." in again.stdout
    assert "Nothing to do." in again.stdout
    # dnf downgrades on an explicit older pin (yum would not)
    down = ok(host, "dnf install -y docker-ce-20.10.6")
    assert "Downgraded:" in down.stdout
    assert ok(host, "rpm -q docker-ce").stdout == "docker-ce-20.10.6-3.el8.x86_64\n"


def test_centos8_podman_conflicts_with_containerd_io(make_host: Callable[..., SimHost]) -> None:
    host = make_host(os="centos8", podman=True, packages=["yum-utils"])
    ok(host, f"yum-config-manager --add-repo {REPO_URL}")
    result = host.run("dnf install -y docker-ce-20.10.7 docker-ce-cli-20.10.7 containerd.io-1.4.3")
    assert result.returncode == 1
    assert result.stderr.startswith(
        "Error: \n Problem: problem with installed package podman-2.0.5-5.module_el8.3.0+512+b3b58dca.x86_64\n"
        "  - package podman-2.0.5-5.module_el8.3.0+512+b3b58dca.x86_64 requires runc >= 1.0.0-57, "
        "but none of the providers can be installed\n"
        "  - package containerd.io-1.4.3-3.2.el8.x86_64 conflicts with runc provided by "
        "runc-1.0.0-68.rc92.module_el8.3.0+475+c50ce30b.x86_64\n"
    )
    assert result.stderr.endswith(" is filtered out by modular filtering\n")
    # the hint is logged at INFO: stdout (dnf main.py:153)
    assert result.stdout.splitlines()[-1] == (
        "(try to add '--allowerasing' to command line to replace conflicting packages or "
        "'--skip-broken' to skip uninstallable packages or '--nobest' to use not only best "
        "candidate packages)"
    )
    assert host.run("rpm -q docker-ce").returncode == 1
    forced = ok(
        host,
        "dnf install -y --allowerasing docker-ce-20.10.7 docker-ce-cli-20.10.7 containerd.io-1.4.3",
    )
    assert "Removed:" in forced.stdout
    assert host.run("rpm -q podman runc").stdout.split("\n")[:2] == [
        "package podman is not installed", "package runc is not installed",
    ]  # fmt: skip


def test_centos8_runc_alone_is_replaced_by_containerd_io(
    make_host: Callable[..., SimHost],
) -> None:
    """containerd.io obsoletes runc: with nothing needing runc, dnf simply replaces it."""
    host = make_host(os="centos8", packages=["yum-utils", "runc"])
    ok(host, f"yum-config-manager --add-repo {REPO_URL}")
    ok(host, "dnf install -y docker-ce-20.10.7 docker-ce-cli-20.10.7 containerd.io-1.4.3")
    assert host.run("rpm -q runc").stdout == "package runc is not installed\n"
    assert ok(host, "rpm -q containerd.io").stdout == "containerd.io-1.4.3-3.2.el8.x86_64\n"


def test_rhel7_releasever_breaks_the_centos_repo(make_host: Callable[..., SimHost]) -> None:
    host = make_host(os="rhel7", packages=["yum-utils"])
    ok(host, f"yum-config-manager --add-repo {REPO_URL}")
    result = host.run("yum install -y docker-ce")
    assert result.returncode == 1
    url = "https://download.docker.com/linux/centos/7Server/x86_64/stable/repodata/repomd.xml"
    assert result.stderr.startswith(
        f"{url}: [Errno 14] HTTPS Error 404 - Not Found\nTrying other mirror.\n"
    )
    host.write("/etc/yum.repos.d/docker-ce.repo",
               host.file("/etc/yum.repos.d/docker-ce.repo").read_text().replace("$releasever", "7"))  # fmt: skip
    ok(host, "yum install -y docker-ce-19.03.11")


# -- systemctl ----------------------------------------------------------------------------------------


def test_systemctl_enable_is_enabled_and_unknown_units(make_host: Callable[..., SimHost]) -> None:
    host = make_host(os="centos7", engine={"version": "19.03.11", "running": False})
    assert host.run("systemctl is-enabled docker").stdout == "disabled\n"
    enable = ok(host, "systemctl enable docker")
    assert enable.stderr == (
        "Created symlink from /etc/systemd/system/multi-user.target.wants/docker.service to "
        "/usr/lib/systemd/system/docker.service.\n"
    )
    assert ok(host, "systemctl enable docker").stderr == ""
    assert ok(host, "systemctl is-enabled docker").stdout == "enabled\n"
    unknown = host.run("systemctl restart foo")
    assert (unknown.returncode, unknown.stderr) == (
        5,
        "Failed to restart foo.service: Unit not found.\n",
    )
    state = host.run("systemctl is-enabled foo")
    assert (state.returncode, state.stderr) == (
        1, "Failed to get unit file state for foo.service: No such file or directory\n",
    )  # fmt: skip
    assert host.run("systemctl is-active kubelet").returncode == 3
    assert host.run("systemctl restart kubelet").returncode == 5
    assert (
        host.run("systemctl show docker -p MainPID --value").stderr
        == "systemctl: unrecognized option '--value'\n"
    )


def test_systemctl_on_newer_systemd(make_host: Callable[..., SimHost]) -> None:
    host = make_host(os="rocky9", engine={"version": "24.0.7", "running": True, "enabled": False})
    enable = ok(host, "systemctl enable docker")
    assert enable.stderr == (
        "Created symlink /etc/systemd/system/multi-user.target.wants/docker.service \u2192 "
        "/usr/lib/systemd/system/docker.service.\n"
    )
    pid = ok(host, "systemctl show docker -p MainPID --value").stdout.strip()
    assert int(pid) > 0


def test_start_stop_status_and_show(make_host: Callable[..., SimHost]) -> None:
    host = make_host(os="centos7", engine={"version": "19.03.11", "running": False})
    assert ok(host, "systemctl start docker").stderr == ""
    assert ok(host, "systemctl is-active docker containerd").stdout == "active\nactive\n"
    shown = dict(line.split("=", 1) for line in ok(host, "systemctl show docker -p ActiveEnterTimestamp -p MainPID -p ActiveState").stdout.splitlines())  # fmt: skip
    assert shown["ActiveState"] == "active"
    assert int(shown["MainPID"]) > 0
    assert shown["ActiveEnterTimestamp"]
    status = ok(host, "systemctl status docker").stdout
    assert "   Active: active (running) since" in status
    assert "Started Docker Application Container Engine." in status
    ok(host, "systemctl stop docker")
    stopped = host.run("systemctl status docker")
    assert stopped.returncode == 3
    assert "   Active: inactive (dead)" in stopped.stdout
    assert ok(host, "systemctl show docker -p MainPID").stdout == "MainPID=0\n"


def test_restart_without_daemon_reload_keeps_the_loaded_unit(
    make_host: Callable[..., SimHost],
) -> None:
    host = make_host(os="centos7", engine={"version": "19.03.11", "running": True})
    host.write(
        "/etc/systemd/system/docker.service.d/override.conf",
        "[Service]\nExecStart=\nExecStart=/usr/bin/dockerd -H fd:// --exec-opt native.cgroupdriver=systemd\n",
    )
    restart = ok(host, "systemctl restart docker")
    assert restart.stderr == (
        "Warning: docker.service changed on disk. Run 'systemctl daemon-reload' to reload units.\n"
    )
    assert ok(host, "docker info -f '{{.CgroupDriver}}'").stdout == "cgroupfs\n"
    assert ok(host, "systemctl show docker -p NeedDaemonReload").stdout == "NeedDaemonReload=yes\n"
    ok(host, "systemctl daemon-reload")
    assert ok(host, "systemctl restart docker").stderr == ""
    assert ok(host, "docker info -f '{{.CgroupDriver}}'").stdout == "systemd\n"
    assert (
        "Drop-In: /etc/systemd/system/docker.service.d"
        in ok(host, "systemctl status docker").stdout
    )


def test_dropin_without_execstart_reset_fails_to_load(make_host: Callable[..., SimHost]) -> None:
    host = make_host(os="centos7", engine={"version": "19.03.11", "running": True})
    host.write("/etc/systemd/system/docker.service.d/override.conf",
               "[Service]\nExecStart=/usr/bin/dockerd -H fd://\n")  # fmt: skip
    ok(host, "systemctl daemon-reload")
    result = host.run("systemctl restart docker")
    assert result.returncode == 1
    assert result.stderr == (
        "Failed to restart docker.service: Unit is not loaded properly: Invalid argument.\n"
        "See system logs and 'systemctl status docker.service' for details.\n"
    )


def test_non_root_systemctl_job_is_refused(make_host: Callable[..., SimHost]) -> None:
    host = make_host(os="centos7", engine={"version": "19.03.11", "running": True})
    result = host.run("systemctl restart docker", as_user=NOBODY)
    assert result.returncode == 1
    assert result.stderr.startswith(
        "Failed to restart docker.service: Interactive authentication required.\n"
    )
    assert host.run("systemctl is-active docker", as_user=NOBODY).stdout == "active\n"
