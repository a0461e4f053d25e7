"""Faults from a host's spec, injected into real tool processes (no sleeps as synchronisation)."""

from __future__ import annotations

import fcntl
import json
import os
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.lab.simkit import REPO_URL, SimHost, ok


def engine_state(host: SimHost) -> dict[str, object]:
    return json.loads(host.file("/var/lib/fleetlab/engine.json").read_text())


def test_hang_never_returns_and_changes_nothing(make_host: Callable[..., SimHost]) -> None:
    host = make_host(os="centos7", engine={"version": "19.03.11", "running": True},
                     faults={"hang": "restart docker"})  # fmt: skip
    before = engine_state(host)["started_at"]
    with pytest.raises(subprocess.TimeoutExpired):
        host.run("systemctl restart docker", timeout=3)
    assert ok(host, "systemctl is-active docker").stdout == "active\n"
    assert engine_state(host)["started_at"] == before


def test_slow_delays_every_tool_but_keeps_its_output(make_host: Callable[..., SimHost]) -> None:
    quick = make_host(os="centos7", faults={"slow": 0.2})
    assert ok(quick, "uname -r").stdout == "3.10.0-1160.el7.x86_64\n"
    slow = make_host(os="centos7", faults={"slow": 120})
    with pytest.raises(subprocess.TimeoutExpired):
        slow.run("uname -r", timeout=3)


def _fake_sshd(tmp: Path) -> Path:
    """A program whose process name is ``sshd`` (bash under that name)."""
    link = tmp / "sshd"
    link.symlink_to("/bin/bash")
    return link


def test_drop_kills_the_session_sshd_but_not_the_listener(
    make_host: Callable[..., SimHost], tmp_path: Path
) -> None:
    host = make_host(os="centos7", engine={"version": "19.03.11", "running": True},
                     faults={"drop": "stop docker"})  # fmt: skip
    sshd = _fake_sshd(tmp_path)
    pidfile = host.file("/var/lib/fleetlab/sshd.pid")
    # listener sshd -> session sshd -> the command; the command cuts its own session
    (tmp_path / "session.sh").write_text("systemctl stop docker\necho session-survived\n")
    (tmp_path / "listener.sh").write_text(
        f"echo $$ > {pidfile}\n{sshd} {tmp_path / 'session.sh'}\necho listener-status=$?\n"
    )
    result = host.run(f"{sshd} {tmp_path / 'listener.sh'}")
    assert "session-survived" not in result.stdout
    assert "listener-status=137" in result.stdout  # the session sshd died of SIGKILL
    assert ok(host, "systemctl is-active docker").stdout == "active\n"


def test_drop_without_sshd_runs_the_command(make_host: Callable[..., SimHost]) -> None:
    host = make_host(os="centos7", engine={"version": "19.03.11", "running": True},
                     faults={"drop": "stop docker"})  # fmt: skip
    ok(host, "systemctl stop docker")
    assert host.run("systemctl is-active docker").stdout == "inactive\n"


def test_yum_lock_fault_prints_the_waiting_block_then_proceeds(
    make_host: Callable[..., SimHost],
) -> None:
    host = make_host(os="centos7", faults={"yum_lock": 2.5})
    result = ok(host, "yum install -y yum-utils")
    assert "Existing lock /var/run/yum.pid: another copy is running as pid 2922.\n" in result.stderr
    assert (
        "Another app is currently holding the yum lock; waiting for it to exit...\n"
        in result.stderr
    )
    assert "  The other application is: PackageKit\n" in result.stderr
    assert "    State  : Sleeping, pid: 2922" in result.stderr
    assert result.stdout.rstrip().endswith("Complete!")
    assert ok(host, "rpm -q yum-utils").stdout.startswith("yum-utils-1.1.31")


def test_concurrent_yum_waits_for_the_real_lock(make_host: Callable[..., SimHost]) -> None:
    host = make_host(os="centos7")
    lock = host.file("/var/lib/fleetlab/yum.lock")
    host.file("/var/lib/fleetlab/yum.pid").write_text("4242\n")
    fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
    fcntl.flock(fd, fcntl.LOCK_EX)
    proc = host.popen("yum install -y yum-utils")
    try:
        assert proc.stderr is not None
        seen = [proc.stderr.readline() for _ in range(4)]  # blocks until yum reports the holder
        assert seen[0] == "Existing lock /var/run/yum.pid: another copy is running as pid 4242.\n"
        assert (
            seen[1] == "Another app is currently holding the yum lock; waiting for it to exit...\n"
        )
        assert seen[2] == "  The other application is: yum\n"
        assert host.run("rpm -q yum-utils").returncode == 1  # nothing installed while waiting
    finally:
        os.close(fd)  # releases the lock
    out, _err = proc.communicate(timeout=60)
    assert proc.returncode == 0
    assert out.rstrip().endswith("Complete!")


def test_two_yum_commands_at_once_both_land(make_host: Callable[..., SimHost]) -> None:
    host = make_host(os="centos7")
    first = host.popen("yum install -y yum-utils")
    second = host.popen("yum install -y python-IPy")
    assert first.wait(timeout=60) == 0
    assert second.wait(timeout=60) == 0
    first.communicate()
    second.communicate()
    assert (
        ok(host, "rpm -q --qf '%{NAME}\\n' yum-utils python-IPy").stdout
        == "yum-utils\npython-IPy\n"
    )


def test_missing_packages(make_host: Callable[..., SimHost]) -> None:
    host = make_host(
        os="centos7", packages=["yum-utils"], faults={"missing_packages": ["docker-ce-19.03.11"]}
    )
    ok(host, f"yum-config-manager --add-repo {REPO_URL}")
    result = host.run("yum install -y docker-ce-19.03.11")
    assert result.returncode == 1
    assert "No package docker-ce-19.03.11 available.\n" in result.stdout
    assert result.stderr == "Error: Nothing to do\n"
    ok(host, "yum install -y docker-ce-19.03.12")


def test_yum_skips_every_missing_pin_and_installs_the_rest(
    make_host: Callable[..., SimHost],
) -> None:
    """yum 3 exits 0 when some names resolve (docker-centos-facts.md §4.2), 1 when none does."""
    missing = ["docker-ce-19.03.11", "docker-ce-cli-19.03.11"]
    host = make_host(os="centos7", packages=["yum-utils"], faults={"missing_packages": missing})
    ok(host, f"yum-config-manager --add-repo {REPO_URL}")
    pins = "containerd.io-1.2.13 docker-ce-19.03.11 docker-ce-cli-19.03.11"
    first = ok(host, f"yum install -y {pins}")
    assert (
        "No package docker-ce-19.03.11 available.\nNo package docker-ce-cli-19.03.11 available.\n"
        in first.stdout
    )
    assert first.stdout.rstrip().endswith("Complete!") and first.stderr == ""
    assert ok(host, "rpm -q containerd.io").stdout.startswith("containerd.io-1.2.13-")
    # containerd.io is there now: "already installed" still counts as resolved (cli.py:1068)
    again = ok(host, f"yum install -y {pins}")
    assert again.stdout.rstrip().endswith("Nothing to do") and again.stderr == ""
    none = host.run("yum install -y docker-ce-19.03.11 docker-ce-cli-19.03.11")
    assert none.returncode == 1 and none.stderr == "Error: Nothing to do\n"


def test_repo_down_with_and_without_the_docker_repo(make_host: Callable[..., SimHost]) -> None:
    host = make_host(os="centos7", packages=["yum-utils"], faults={"repo_down": True})
    base = host.run("yum install -y lvm2")
    assert base.returncode == 1
    assert base.stderr.startswith(
        "Could not retrieve mirrorlist http://mirrorlist.centos.org/?release=7"
    )
    assert base.stderr.rstrip().endswith("Cannot find a valid baseurl for repo: base/7/x86_64")
    host.write("/etc/yum.repos.d/docker-ce.repo",
               "[docker-ce-stable]\nname=Docker CE Stable - $basearch\n"
               "baseurl=https://download.docker.com/linux/centos/$releasever/$basearch/stable\nenabled=1\n")  # fmt: skip
    result = host.run("yum install -y docker-ce-19.03.11")
    assert result.returncode == 1
    url = "https://download.docker.com/linux/centos/7/x86_64/stable/repodata/repomd.xml"
    err = result.stderr
    assert err.startswith(
        f'{url}: [Errno 14] curl#6 - "Could not resolve host: download.docker.com; Unknown error"\n'
        "Trying other mirror.\n"
    )
    assert " One of the configured repositories failed (Docker CE Stable - x86_64),\n" in err
    assert "            yum --disablerepo=docker-ce-stable ...\n" in err
    assert (
        "failure: repodata/repomd.xml from docker-ce-stable: [Errno 256] No more mirrors to try.\n"
        in err
    )
    dnf = make_host(os="rocky9", faults={"repo_down": True})
    added = dnf.run(f"dnf config-manager --add-repo {REPO_URL}")
    assert added.returncode == 1
    assert "Error: Configuration of repo failed: Curl error (6)" in added.stderr
    dnf.write(
        "/etc/yum.repos.d/docker-ce.repo", host.file("/etc/yum.repos.d/docker-ce.repo").read_text()
    )
    failed = dnf.run("dnf install -y docker-ce")
    assert failed.returncode == 1
    assert "Error: Failed to download metadata for repo 'docker-ce-stable'" in failed.stderr


def test_repo_down_refused_gives_curl_error_7(make_host: Callable[..., SimHost]) -> None:
    repo_file = (
        "[docker-ce-stable]\nname=Docker CE Stable - $basearch\n"
        "baseurl=https://download.docker.com/linux/centos/$releasever/$basearch/stable\nenabled=1\n"
    )
    el7 = make_host(os="centos7", faults={"repo_down": "refused"})
    el7.write("/etc/yum.repos.d/docker-ce.repo", repo_file)
    url = "https://download.docker.com/linux/centos/7/x86_64/stable/repodata/repomd.xml"
    err = el7.run("yum install -y docker-ce").stderr
    assert err.startswith(
        f'{url}: [Errno 14] curl#7 - "Failed connect to download.docker.com:443; Connection '
        'refused"\nTrying other mirror.\n'
    )
    el8 = make_host(os="centos8", faults={"repo_down": "refused"})
    el8.write("/etc/yum.repos.d/docker-ce.repo", repo_file)
    url = url.replace("/7/", "/8/")
    assert el8.run("dnf install -y docker-ce").stderr == (
        "Errors during downloading metadata for repository 'docker-ce-stable':\n"
        f"  - Curl error (7): Couldn't connect to server for {url} [Failed to connect to "
        "download.docker.com port 443: Connection refused]\n"
        "Error: Failed to download metadata for repo 'docker-ce-stable': Cannot download "
        "repomd.xml: Cannot download repodata/repomd.xml: All mirrors were tried\n"
    )
    base = make_host(os="centos8", faults={"repo_down": "refused"}).run("dnf install -y lvm2")
    assert base.returncode == 1
    assert "Curl error (7): Couldn't connect to server for http://mirrorlist.centos.org/" in (
        base.stderr
    )


def test_restart_noop_keeps_the_old_engine(make_host: Callable[..., SimHost]) -> None:
    host = make_host(
        os="centos7", engine={"version": "19.03.11", "running": True}, faults={"restart_noop": True}
    )
    before = ok(host, "systemctl show docker -p ActiveEnterTimestamp -p MainPID").stdout
    host.write("/etc/docker/daemon.json", '{"exec-opts": ["native.cgroupdriver=systemd"]}')
    restart = host.run("systemctl restart docker")
    assert (restart.returncode, restart.stderr) == (0, "")
    assert ok(host, "docker info --format '{{.CgroupDriver}}'").stdout == "cgroupfs\n"
    assert ok(host, "systemctl show docker -p ActiveEnterTimestamp -p MainPID").stdout == before
    # a real stop and start does apply the new configuration
    ok(host, "systemctl stop docker && systemctl start docker")
    assert ok(host, "docker info --format '{{.CgroupDriver}}'").stdout == "systemd\n"
