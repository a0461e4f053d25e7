"""Plain helpers for tests that drive a real lab (fleet.lab): start, SSH in, scan, stop.

tests/lab/conftest.py builds its ``lab_factory`` fixture from these; tests elsewhere
(rollout tests) import them directly: ``from tests.labkit import start_lab, run``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import paramiko
import pytest
import yaml

from fleet.lab import procfs, runtime
from fleet.lab.spec import parse_spec

SUDO_MODE_VARIABLE = "FLEET_TEST_LAB_SUDO"  # builtin | system: CI runs the lab tests both ways


def lab_sudo_mode() -> str:
    """The hosts' sudo for this test run: as asked in the environment, else the lab's default."""
    return os.environ.get(SUDO_MODE_VARIABLE) or runtime.default_sudo()


def lab_skip_reason() -> str | None:
    """Why lab tests cannot run on this machine, or None."""
    if os.geteuid() != 0:
        return "lab tests need root (mount namespaces); run pytest as root"
    for program in ("nsenter", "setpriv", "bash"):
        if shutil.which(program) is None:
            return f"lab tests need {program} (apt-get install util-linux bash)"
    if lab_sudo_mode() == "system" and not runtime.machine_has_sudo():
        return f"{SUDO_MODE_VARIABLE}=system but this machine has no sudo: apt-get install sudo"
    return None


def openssh_skip_reason() -> str | None:
    if not os.access("/usr/sbin/sshd", os.X_OK):
        return "--sshd openssh needs /usr/sbin/sshd: apt-get install openssh-server"
    return openssh_client_skip_reason()


def openssh_client_skip_reason() -> str | None:
    if shutil.which("ssh") is None:
        return "the OpenSSH client (ssh) is not installed: apt-get install openssh-client"
    return None


@dataclass(frozen=True)
class RunningLab:
    """A started lab as tests see it."""

    lab: runtime.Lab

    @property
    def dir(self) -> Path:
        return self.lab.directory

    @property
    def inventory(self) -> Path:
        return self.lab.inventory

    @property
    def sshd(self) -> str:
        return self.lab.sshd

    @property
    def hosts(self) -> dict[str, runtime.LabHost]:
        return {h.name: h for h in self.lab.hosts}

    def host(self, name: str) -> runtime.LabHost:
        return self.lab.host(name)

    def become_env(self) -> dict[str, str]:
        """Variables of become.env (the sudo passwords), as a shell would read them."""
        if not self.lab.become_env.exists():
            return {}
        values = {}
        for line in self.lab.become_env.read_text().splitlines():
            if "=" in line and not line.startswith("#"):
                name, value = line.split("=", 1)
                values[name] = value.strip("'")
        return values

    def password(self, name: str) -> str | None:
        """The sudo password of host ``name`` (None if it needs none)."""
        document = yaml.safe_load(self.inventory.read_text())
        var = document["hosts"][name].get(
            "become_password_env", document["defaults"].get("become_password_env")
        )
        return self.become_env().get(var) if var else None


def start_lab(directory: Path, spec: Mapping[str, Any], sshd: str = "paramiko") -> RunningLab:
    """Start a lab from a spec dict (validated exactly as a spec file would be)."""
    text = yaml.safe_dump(dict(spec), sort_keys=False)
    sudo = None if "sudo" in spec else lab_sudo_mode()
    lab = runtime.lab_up(directory, parse_spec(text, "<test spec>"), sshd=sshd, sudo=sudo)
    return RunningLab(lab)


def stop_lab(lab: RunningLab) -> runtime.DownReport:
    return runtime.lab_down(lab.dir)


@contextmanager
def running_lab(
    directory: Path, spec: Mapping[str, Any], sshd: str = "paramiko"
) -> Iterator[RunningLab]:
    """``with running_lab(tmp_path / "lab", {"hosts": 3}) as lab:`` - stopped (cleanly) after."""
    lab = start_lab(directory, spec, sshd)
    try:
        yield lab
    finally:
        report = stop_lab(lab)
        assert report.clean, f"lab not cleanly stopped: {report}"


def connect(lab: RunningLab, name: str, timeout: float = 15.0) -> paramiko.SSHClient:
    """A paramiko client that trusts only the lab's known_hosts and uses the lab's key."""
    host = lab.host(name)
    client = paramiko.SSHClient()
    client.load_host_keys(str(lab.lab.known_hosts))
    client.set_missing_host_key_policy(paramiko.RejectPolicy())
    client.connect(
        host.address,
        port=host.port,
        username=host.user,
        key_filename=str(lab.lab.identity_file),
        look_for_keys=False,
        allow_agent=False,
        timeout=timeout,
        banner_timeout=timeout,
        auth_timeout=timeout,
    )
    return client


@dataclass(frozen=True)
class Result:
    status: int
    stdout: str
    stderr: str


def run(
    lab: RunningLab, name: str, command: str, stdin: str | None = None, timeout: float = 30.0
) -> Result:
    """Run ``command`` on a lab host over a fresh paramiko connection."""
    client = connect(lab, name)
    try:
        channel = client.get_transport().open_session(timeout=timeout)
        channel.settimeout(timeout)
        channel.exec_command(command)
        if stdin is not None:
            channel.sendall(stdin.encode())
        channel.shutdown_write()
        out, err = _drain(channel)
        return Result(channel.recv_exit_status(), out, err)
    finally:
        client.close()


def _drain(channel: paramiko.Channel) -> tuple[str, str]:
    out, err = b"", b""
    with channel.makefile("rb") as stdout, channel.makefile_stderr("rb") as stderr:
        out = stdout.read()
        err = stderr.read()
    return out.decode(errors="replace"), err.decode(errors="replace")


def run_openssh(
    lab: RunningLab, name: str, command: str, stdin: str | None = None, timeout: float = 30.0
) -> Result:
    """Run ``command`` with the OpenSSH client and the lab's generated ssh_config."""
    if reason := openssh_client_skip_reason():
        pytest.skip(reason)
    done = subprocess.run(
        ["ssh", "-F", str(lab.lab.ssh_config), name, command],
        input=stdin or "",
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    return Result(done.returncode, done.stdout, done.stderr)


def ssh_run(lab: RunningLab, client: str, name: str, command: str, **kwargs: Any) -> Result:
    """``client`` is "paramiko" or "openssh"."""
    return (run if client == "paramiko" else run_openssh)(lab, name, command, **kwargs)


# --- what a lab leaves behind -------------------------------------------------------------------


def lab_processes(lab: RunningLab) -> list[int]:
    """Live processes in any of the lab's host namespaces, or recorded by the lab."""
    namespaces = {h.namespace: h.name for h in lab.lab.holders.values()}
    recorded = [h.proc for h in lab.lab.holders.values()] + list(lab.lab.sshd_pids.values())
    if lab.lab.supervisor is not None:
        recorded.append(lab.lab.supervisor)
    alive = {p.pid for p in recorded if p.alive()}
    members = {
        pid
        for pid in procfs.all_pids()
        if procfs.mount_namespace(pid) in namespaces and _live(pid) and _sees_lab(pid, lab)
    }
    return sorted(alive | members)


def _live(pid: int) -> bool:
    stat = procfs.stat_fields(pid)
    return stat is not None and stat[0] != "Z"


def _sees_lab(pid: int, lab: RunningLab) -> bool:
    """Its mounts come from this lab's folder: the kernel reuses a dead namespace's id, and
    another lab on the machine may get it.  (A chrooted sshd child shows no mounts: kept.)"""
    text = procfs.mountinfo(pid)
    if text is None:
        return False
    return not text or any(_from_folder(line, lab.dir) for line in text.splitlines())


def _from_folder(mountinfo_line: str, directory: Path) -> bool:
    """A mount of a host's tree in ``directory``.  Its root (4th field) is the path inside
    its file system, which may be mounted anywhere: the end of our path must be that root
    up to ``/hosts/``, so a lab in another test session, of the same test name, is not ours."""
    root = mountinfo_line.split()[3]
    if "/hosts/" not in root:
        return False
    folder = root[: root.index("/hosts/")]
    return folder.endswith(f"/{directory.parent.name}/{directory.name}") and str(
        directory
    ).endswith(folder)


def lab_listeners(lab: RunningLab) -> list[str]:
    """Sockets listening on (or bound to) a lab address, read from /proc/net/tcp."""
    return procfs.listeners_on({h.address for h in lab.lab.hosts})


def lab_mounts(lab: RunningLab) -> list[str]:
    """Mounts of the lab directory visible anywhere: the machine's table and every process's."""
    found = []
    for pid in ["self", *map(str, procfs.all_pids())]:
        text = procfs.mountinfo(pid)
        found += [f"{pid}: {line}" for line in (text or "").splitlines() if str(lab.dir) in line]
    return found
