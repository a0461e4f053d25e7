"""Files a lab writes: keys, the per-host trees, and the files users point their tools at.

Everything here is plain file writing, so it can be read (and tested) without
namespaces: the client key and host keys, ``known_hosts``, ``ssh_config``,
fleet's own ``inventory.yml``, an Ansible ``ansible.yml``, ``become.env``, and
each host's private tree (its ``/etc/passwd``, ``/etc/shadow``, sudoers, ...)
that the runtime later bind-mounts over the machine's paths.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from fleet.lab.shacrypt import new_hash

BECOME_ENV = "FLEET_LAB_BECOME_PASS"
LOGIN_UID = 1000
STATE_DIR = "/var/lib/fleetlab"  # inside a host

# Paths each host gets its own copy of; the runtime bind-mounts <host root><path> over <path>.
PRIVATE_DIRS = (
    "/var/lib/fleetlab",
    "/etc/docker",
    "/etc/containerd",
    "/var/lib/containerd",
    "/etc/yum.repos.d",
    "/etc/systemd/system",
    "/var/lib/docker",
    "/etc/sudoers.d",
    "/var/lib/sudo",
    "/var/log",
    "/var/cache",
    "/run",
    # kubeadm's node prerequisites: boot-time modules and sysctls, SELinux's mode at boot.
    "/etc/modules-load.d",
    "/etc/sysctl.d",
    "/etc/selinux",
)
PRIVATE_FILES = (
    "/etc/os-release",
    "/etc/hostname",
    "/etc/hosts",
    "/etc/passwd",
    "/etc/group",
    "/etc/shadow",
    "/etc/fstab",  # its swap line is a node prerequisite
    # fleet keeps the fstab it changed beside it; /etc itself is the machine's, read-only.
    "/etc/fstab.fleet-backup",
    "/etc/sysctl.conf",  # read last by sysctl --system
)
# Private too, but mounted last: they may hide the lab directory or the Python that runs the tools.
HIDING_DIRS = ("/home", "/root", "/tmp", "/var/tmp")

# Fallback /etc/os-release when the simulated tools (which seed the real text) are not installed.
_OS_RELEASE = {
    "centos7": ("CentOS Linux", "7", "centos", "CentOS Linux 7 (Core)"),
    "centos8": ("CentOS Linux", "8", "centos", "CentOS Linux 8"),
    "rocky9": ("Rocky Linux", "9.3", "rocky", "Rocky Linux 9.3 (Blue Onyx)"),
    "rhel7": (
        "Red Hat Enterprise Linux Server",
        "7.9",
        "rhel",
        "Red Hat Enterprise Linux Server 7.9 (Maipo)",
    ),
    "rhel8": ("Red Hat Enterprise Linux", "8.9", "rhel", "Red Hat Enterprise Linux 8.9 (Ootpa)"),
    "alma9": ("AlmaLinux", "9.3", "almalinux", "AlmaLinux 9.3 (Shamrock Pampas Cat)"),
}


@dataclass(frozen=True)
class LabHost:
    """One simulated host as the lab plans it: where it listens and what it is."""

    name: str
    address: str
    port: int  # where clients connect (22)
    internal_port: int | None  # where the SSH server listens when a delay proxy owns `port`
    root: str  # the host's private tree on the machine
    spec: Mapping[str, Any]  # host.json (no secrets)
    uid: int
    gid: int

    @property
    def user(self) -> str:
        return str(self.spec["user"])

    @property
    def home(self) -> str:
        return "/root" if self.uid == 0 else f"/home/{self.user}"

    @property
    def faults(self) -> Mapping[str, Any]:
        return self.spec.get("faults") or {}

    @property
    def server_port(self) -> int:
        return self.internal_port or self.port

    def path(self, inside: str) -> Path:
        """Where a path inside the host lives on the machine."""
        return Path(self.root + inside)


def write_text(path: Path, text: str, mode: int = 0o644) -> None:
    """Write atomically with the given mode, so no reader sees half a file or a wider mode."""
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.chmod(tmp, mode)
    os.replace(tmp, path)


# --- keys -------------------------------------------------------------------------------------


def new_ed25519(comment: str) -> tuple[bytes, str]:
    """(private key in OpenSSH format, public key line).  In-process: no ssh-keygen per host."""
    key = Ed25519PrivateKey.generate()
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.OpenSSH,
        serialization.NoEncryption(),
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
    )
    return private, f"{public.decode()} {comment}"


def write_key_pair(path: Path, comment: str) -> str:
    """Write ``path`` (mode 600) and ``path.pub``; return the public line."""
    private, public = new_ed25519(comment)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(private)
    os.chmod(path, 0o600)
    write_text(path.with_name(path.name + ".pub"), public + "\n")
    return public


def public_key_of(path: Path) -> str:
    return path.with_name(path.name + ".pub").read_text(encoding="utf-8").strip()


# --- client-side files ------------------------------------------------------------------------


def known_hosts_text(hosts: Iterable[LabHost], host_keys: Mapping[str, str]) -> str:
    lines = []
    for host in hosts:
        where = host.address if host.port == 22 else f"[{host.address}]:{host.port}"
        key_type, key_data = host_keys[host.name].split()[:2]
        lines.append(f"{where} {key_type} {key_data}")
    return "\n".join(lines) + "\n"


def _quote(path: Path) -> str:
    return f'"{path}"' if " " in str(path) else str(path)


def ssh_config_text(hosts: Iterable[LabHost], directory: Path) -> str:
    lines = [f"# fleet lab: ssh -F {_quote(directory / 'ssh_config')} HOST", ""]
    for host in hosts:
        lines += [
            f"Host {host.name}",
            f"  HostName {host.address}",
            f"  Port {host.port}",
            f"  User {host.user}",
            "",
        ]
    lines += [
        "Host *",
        f"  IdentityFile {_quote(directory / 'id_ed25519')}",
        "  IdentitiesOnly yes",
        f"  UserKnownHostsFile {_quote(directory / 'known_hosts')}",
        "  GlobalKnownHostsFile /dev/null",
        "  StrictHostKeyChecking yes",
        "  CheckHostIP no",
        "  BatchMode yes",
        "  LogLevel ERROR",
        "",
    ]
    return "\n".join(lines)


def become_vars(hosts: Iterable[LabHost], passwords: Mapping[str, str]) -> dict[str, str]:
    """Environment variable per host that needs a sudo password (shared one when they agree)."""
    hosts = [h for h in hosts if h.name in passwords]
    if not hosts:
        return {}
    common = _most_common([passwords[h.name] for h in hosts])
    return {
        h.name: BECOME_ENV
        if passwords[h.name] == common
        else f"{BECOME_ENV}_{h.name.upper().replace('-', '_')}"
        for h in hosts
    }


def become_env_text(var_of_host: Mapping[str, str], passwords: Mapping[str, str]) -> str:
    values = {var: passwords[name] for name, var in var_of_host.items()}
    body = "".join(f"{var}={_shell_quote(value)}\n" for var, value in sorted(values.items()))
    return "# source this file (set -a; . ./become.env) before fleet uses the inventory\n" + body


def _shell_quote(value: str) -> str:
    return "'" + value.replace("'", "'\"'\"'") + "'"


def _most_common(values: list[str]) -> str:
    return max(sorted(set(values)), key=values.count)


def fleet_inventory_text(
    hosts: list[LabHost], groups: Mapping[str, tuple[str, ...]], var_of_host: Mapping[str, str]
) -> str:
    default_user = _most_common([h.user for h in hosts])
    defaults: dict[str, Any] = {
        "user": default_user,
        "identity_file": "./id_ed25519",
        "known_hosts": "./known_hosts",
    }
    if var_of_host:
        defaults["become_password_env"] = BECOME_ENV
    entries: dict[str, Any] = {}
    for host in hosts:
        entry: dict[str, Any] = {"address": host.address, "port": host.port}
        if host.user != default_user:
            entry["user"] = host.user
        if var_of_host.get(host.name, BECOME_ENV) != BECOME_ENV:
            entry["become_password_env"] = var_of_host[host.name]
        entry.update(host.spec.get("vars") or {})
        entries[host.name] = entry
    document: dict[str, Any] = {"fleet": 1, "defaults": defaults, "hosts": entries}
    if groups:
        document["groups"] = {name: {"hosts": list(members)} for name, members in groups.items()}
    return "# fleet inventory of the lab (fleet lab up)\n" + yaml.safe_dump(
        document, sort_keys=False
    )


def ansible_inventory_text(
    hosts: list[LabHost], groups: Mapping[str, tuple[str, ...]], directory: Path
) -> str:
    key = str(directory / "id_ed25519")
    known = str(directory / "known_hosts")
    entries = {
        h.name: {
            "ansible_host": h.address,
            "ansible_port": h.port,
            "ansible_user": h.user,
            "ansible_ssh_private_key_file": key,
            **(h.spec.get("vars") or {}),
        }
        for h in hosts
    }
    document: dict[str, Any] = {
        "all": {
            "vars": {
                "ansible_ssh_common_args": f"-o UserKnownHostsFile={known} -o StrictHostKeyChecking=yes"
            },
            "hosts": entries,
        }
    }
    if groups:
        document["all"]["children"] = {
            name: {"hosts": {member: None for member in members}}
            for name, members in groups.items()
        }
    return "# Ansible inventory of the lab (fleet lab up)\n" + yaml.safe_dump(
        document, sort_keys=False
    )


# --- the per-host tree ------------------------------------------------------------------------


def password_hash(password: str) -> str:
    """SHA-512 crypt hash for a host's ``/etc/shadow``, computed in Python.

    No ``openssl`` binary is needed, so the lab runs on machines that have only Python, and the
    lab's own sudo can check passwords against the same hash with ``shacrypt.verify``.
    """
    return new_hash(password)


@dataclass(frozen=True)
class MachineAccounts:
    """The machine's account files, read once and copied (adjusted) into every host."""

    passwd: tuple[str, ...]
    group: tuple[str, ...]
    shadow: tuple[str, ...]

    @classmethod
    def read(cls) -> MachineAccounts:
        def lines(path: str) -> tuple[str, ...]:
            return tuple(
                line for line in Path(path).read_text(encoding="utf-8").splitlines() if line.strip()
            )

        return cls(lines("/etc/passwd"), lines("/etc/group"), lines("/etc/shadow"))


def account_files(
    machine: MachineAccounts, host: LabHost, hashed: str | None
) -> tuple[str, str, str]:
    """(passwd, group, shadow) for a host: the machine's system accounts plus the login user.

    Machine entries that collide with the login user (same name or id) are dropped, and every
    copied password hash becomes ``*``: a host must not carry the machine's secrets.
    """
    user, uid, gid = host.user, host.uid, host.gid

    def keep(line: str, id_field: int, login_id: int) -> bool:
        fields = line.split(":")
        if uid == 0:
            return True
        return len(fields) > id_field and fields[0] != user and fields[id_field] != str(login_id)

    passwd = [line for line in machine.passwd if keep(line, 2, uid)]
    group = [line for line in machine.group if keep(line, 2, gid)]
    names = {line.split(":")[0] for line in passwd}
    shadow = [_blank_hash(line) for line in machine.shadow if line.split(":")[0] in names]
    if uid != 0:
        passwd.append(f"{user}:x:{uid}:{gid}:{user}:{host.home}:/bin/bash")
        group.append(f"{user}:x:{gid}:")
        shadow.append(f"{user}:{hashed or '*'}:19000:0:99999:7:::")
    elif hashed:
        shadow = [
            f"root:{hashed}:" + ":".join(line.split(":")[2:]) if line.startswith("root:") else line
            for line in shadow
        ]
    return "\n".join(passwd) + "\n", "\n".join(group) + "\n", "\n".join(shadow) + "\n"


def _blank_hash(line: str) -> str:
    fields = line.split(":")
    if len(fields) > 1:
        fields[1] = "*"
    return ":".join(fields)


def sudoers_text(host: LabHost) -> str | None:
    rule = {"nopasswd": "ALL=(ALL) NOPASSWD: ALL", "password": "ALL=(ALL) ALL"}.get(
        str(host.spec["sudo"])
    )
    if rule is None or host.uid == 0:
        return None
    return f"# fleet lab: sudo for the login user of {host.name}\n{host.user} {rule}\n"


def os_release_text(os_name: str) -> str:
    name, version, ident, pretty = _OS_RELEASE[os_name]
    return f'NAME="{name}"\nVERSION_ID="{version}"\nID="{ident}"\nPRETTY_NAME="{pretty}"\n'


def prepare_host_root(host: LabHost, machine: MachineAccounts, hashed: str | None) -> None:
    """Create the host's private tree: every private path exists, owned as on a real host."""
    for inside in (*PRIVATE_DIRS, *HIDING_DIRS, "/run/sshd", "/run/sudo", "/run/lock"):
        host.path(inside).mkdir(parents=True, exist_ok=True)
    for sticky in ("/tmp", "/var/tmp", "/run/lock"):
        os.chmod(host.path(sticky), 0o1777)
    os.chmod(host.path("/root"), 0o700)
    os.chmod(host.path("/run/sudo"), 0o711)
    os.chmod(host.path("/etc/sudoers.d"), 0o750)
    if host.uid != 0:
        home = host.path(host.home)
        home.mkdir(parents=True, exist_ok=True)
        os.chown(home, host.uid, host.gid)
        os.chmod(home, 0o700)
    passwd, group, shadow = account_files(machine, host, hashed)
    write_text(host.path("/etc/passwd"), passwd)
    write_text(host.path("/etc/group"), group)
    write_text(host.path("/etc/shadow"), shadow, 0o640)
    write_text(host.path("/etc/hostname"), host.name + "\n")
    write_text(host.path("/etc/hosts"), f"127.0.0.1 localhost\n{host.address} {host.name}\n")
    sudoers = sudoers_text(host)
    if sudoers:
        write_text(host.path("/etc/sudoers.d/fleetlab"), sudoers, 0o440)
    write_text(host.path(STATE_DIR + "/host.json"), json.dumps(dict(host.spec), indent=1) + "\n")


def finish_host_root(host: LabHost) -> None:
    """After the tools seeded the host: make sure every bind source exists."""
    os_release = host.path("/etc/os-release")
    if not os_release.exists():
        write_text(os_release, os_release_text(str(host.spec["os"])))
    for inside in PRIVATE_FILES:
        if not host.path(inside).exists():
            write_text(host.path(inside), "")


def remove_tree(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    elif path.exists() or path.is_symlink():
        path.unlink()
