"""The files ``lab up`` writes before the supervisor starts: host trees, keys, tools, inventories.

Sudo passwords go only into become.env and, hashed, into each host's /etc/shadow.
"""

from __future__ import annotations

import os
import secrets
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from fleet.lab import files
from fleet.lab.files import LabHost
from fleet.lab.openssh import HOST_KEY, write_sshd_files
from fleet.lab.runtime.addresses import INTERNAL_PORT, SSH_PORT, allocate_addresses
from fleet.lab.runtime.mounts import package_parent
from fleet.lab.runtime.state import SUDO_DIR, Lab
from fleet.lab.sudo import protocol as sudo_protocol
from fleet.lab.sudo.broker import install_client


def _simtools_missing(exc: ModuleNotFoundError) -> bool:
    return (exc.name or "").startswith("fleet.lab.simtools")


def install_tools(bin_dir: Path) -> bool:
    """Install the simulated tools into ``bin_dir``; False while they are not part of fleet."""
    try:
        from fleet.lab.simtools import install_tools

        install_tools(bin_dir, os.path.realpath(sys.executable), package_parent())
    except ModuleNotFoundError as exc:
        if not _simtools_missing(exc):
            raise
        return False
    return True


def _seed(host: LabHost) -> None:
    """Let the simulated tools create the host's initial state from its spec."""
    try:
        from fleet.lab.simtools import seed

        seed(Path(host.root), dict(host.spec))
    except ModuleNotFoundError as exc:
        if not _simtools_missing(exc):
            raise


def plan_hosts(
    directory: Path, specs: list[dict[str, Any]]
) -> tuple[list[LabHost], dict[str, str]]:
    """LabHosts with addresses, plus the sudo password of every host that needs one."""
    delayed = {i for i, s in enumerate(specs) if s["delay_ms"]}
    unreachable = {i for i, s in enumerate(specs) if s["faults"].get("unreachable")}
    addresses = allocate_addresses(len(specs), delayed, unreachable)
    generated = secrets.token_urlsafe(12)
    passwords: dict[str, str] = {}
    hosts = []
    for index, spec in enumerate(specs):
        password = spec.pop("sudo_password", None)
        if spec["sudo"] == "password":
            passwords[spec["name"]] = password or generated
        uid = 0 if spec["user"] == "root" else files.LOGIN_UID
        hosts.append(
            LabHost(
                name=spec["name"],
                address=addresses[index],
                port=SSH_PORT,
                internal_port=INTERNAL_PORT if index in delayed else None,
                root=str(directory / "hosts" / spec["name"]),
                spec=spec,
                uid=uid,
                gid=uid,
            )
        )
    return hosts, passwords


def prepare_hosts(
    directory: Path, hosts: list[LabHost], passwords: Mapping[str, str], with_tools: bool
) -> dict[str, str]:
    """Write every host tree, host key and sshd file; seed the tools' state.  Host keys by name."""
    machine = files.MachineAccounts.read()
    hashes = {p: files.password_hash(p) for p in sorted(set(passwords.values()))}
    client_key = files.public_key_of(directory / "id_ed25519")
    host_keys = {}
    for host in hosts:
        files.prepare_host_root(host, machine, hashes.get(passwords.get(host.name, "")))
        key_path = host.path(HOST_KEY)
        key_path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        host_keys[host.name] = files.write_key_pair(key_path, f"root@{host.name}")
        refused = host.faults.get("auth") == "refused"
        write_sshd_files(host, key_path, None if refused else client_key)
        if with_tools:
            _seed(host)
        files.finish_host_root(host)
    return host_keys


def write_client_files(
    directory: Path,
    hosts: list[LabHost],
    groups: Mapping[str, tuple[str, ...]],
    host_keys: Mapping[str, str],
    passwords: Mapping[str, str],
) -> None:
    """known_hosts, ssh_config, both inventories and (when a host needs one) become.env."""
    var_of_host = files.become_vars(hosts, passwords)
    files.write_text(directory / "known_hosts", files.known_hosts_text(hosts, host_keys))
    files.write_text(directory / "ssh_config", files.ssh_config_text(hosts, directory))
    files.write_text(
        directory / "inventory.yml", files.fleet_inventory_text(hosts, groups, var_of_host)
    )
    files.write_text(
        directory / "ansible.yml", files.ansible_inventory_text(hosts, groups, directory)
    )
    if var_of_host:
        files.write_text(
            directory / "become.env", files.become_env_text(var_of_host, passwords), 0o600
        )


def prepare_builtin_sudo(lab: Lab) -> None:
    """The built-in sudo in the tools, its socket folder, and a mount point in every host."""
    install_client(lab.directory / "tools", os.path.realpath(sys.executable), package_parent())
    (lab.directory / SUDO_DIR).mkdir(mode=0o755, exist_ok=True)
    for host in lab.hosts:
        host.path(sudo_protocol.SOCKET_DIR).mkdir(parents=True, exist_ok=True)
