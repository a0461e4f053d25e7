"""systemd units of a lab host: which exist, what is on disk, what systemd has loaded.

systemd keeps the unit it loaded until ``daemon-reload``: editing a drop-in
and restarting without a reload runs the *old* ExecStart and prints a warning.
To reproduce that, ``units.json`` keeps a snapshot of the unit as loaded (its
source text and ExecStart), and every job compares it with the files on disk.
Vendor unit files live under /usr/lib (shared by all hosts), so their text
comes from here; overrides and drop-ins are real files under the host's
private /etc/systemd/system.
"""

from __future__ import annotations

import os
import shlex
from typing import Any

from fleet.lab.simtools import packages
from fleet.lab.simtools.state import UNITS, Host

SYSTEM_DIR = "/etc/systemd/system"
VENDOR_DIR = "/usr/lib/systemd/system"
WANTS_DIR = f"{SYSTEM_DIR}/multi-user.target.wants"

DOCKER_UNIT = """[Unit]
Description=Docker Application Container Engine
Documentation=https://docs.docker.com
BindsTo=containerd.service
After=network-online.target firewalld.service containerd.service
Wants=network-online.target
Requires=docker.socket

[Service]
Type=notify
# the default is not to use systemd for cgroups because the delegate issues still
# exists and systemd currently does not support the cgroup feature set required
# for containers run by docker
ExecStart=/usr/bin/dockerd -H fd:// --containerd=/run/containerd/containerd.sock
ExecReload=/bin/kill -s HUP $MAINPID
TimeoutSec=0
RestartSec=2
Restart=always
StartLimitBurst=3
StartLimitInterval=60s
LimitNOFILE=infinity
LimitNPROC=infinity
LimitCORE=infinity
TasksMax=infinity
Delegate=yes
KillMode=process

[Install]
WantedBy=multi-user.target
"""

CONTAINERD_UNIT = """[Unit]
Description=containerd container runtime
Documentation=https://containerd.io
After=network.target local-fs.target

[Service]
ExecStartPre=-/sbin/modprobe overlay
ExecStart=/usr/bin/containerd
Type=notify
Delegate=yes
KillMode=process
Restart=always
RestartSec=5
LimitNPROC=infinity
LimitCORE=infinity
LimitNOFILE=1048576
TasksMax=infinity
OOMScoreAdjust=-999

[Install]
WantedBy=multi-user.target
"""

KUBELET_UNIT = """[Unit]
Description=kubelet: The Kubernetes Node Agent
Documentation=https://kubernetes.io/docs/
Wants=network-online.target
After=network-online.target

[Service]
ExecStart=/usr/bin/kubelet
Restart=always
StartLimitInterval=0
RestartSec=10

[Install]
WantedBy=multi-user.target
"""


def _simple_unit(description: str, exec_start: str) -> str:
    return (
        f"[Unit]\nDescription={description}\n\n[Service]\nExecStart={exec_start}\n\n"
        "[Install]\nWantedBy=multi-user.target\n"
    )


# name -> (description, vendor text, package that ships it or None for the base system)
UNIT_TABLE: dict[str, tuple[str, str, str | None]] = {
    "docker": ("Docker Application Container Engine", DOCKER_UNIT, "docker-ce"),
    "containerd": ("containerd container runtime", CONTAINERD_UNIT, "containerd.io"),
    "kubelet": ("kubelet: The Kubernetes Node Agent", KUBELET_UNIT, "kubelet"),
    "sshd": (
        "OpenSSH server daemon",
        _simple_unit("OpenSSH server daemon", "/usr/sbin/sshd -D"),
        None,
    ),
    "crond": ("Command Scheduler", _simple_unit("Command Scheduler", "/usr/sbin/crond -n"), None),
    "firewalld": (
        "firewalld - dynamic firewall daemon",
        _simple_unit("firewalld - dynamic firewall daemon", "/usr/sbin/firewalld --nofork --nopid"),
        None,
    ),
    "chronyd": ("NTP client/server", _simple_unit("NTP client/server", "/usr/sbin/chronyd"), None),
}

BASE_ACTIVE = ("sshd", "crond", "firewalld", "chronyd")


def unit_name(arg: str) -> str:
    """``docker``, ``docker.service`` -> ``docker``."""
    return arg[: -len(".service")] if arg.endswith(".service") else arg


def exists(host: Host, name: str) -> bool:
    if host.path(f"{SYSTEM_DIR}/{name}.service").is_file():
        return True
    if name not in UNIT_TABLE:
        return False
    pkg = UNIT_TABLE[name][2]
    return pkg is None or bool(packages.installed_named(host, pkg))


def description(name: str) -> str:
    return UNIT_TABLE[name][0] if name in UNIT_TABLE else name


def fragment_path(host: Host, name: str) -> str:
    override = f"{SYSTEM_DIR}/{name}.service"
    return override if host.path(override).is_file() else f"{VENDOR_DIR}/{name}.service"


def dropin_paths(host: Host, name: str) -> list[str]:
    directory = f"{SYSTEM_DIR}/{name}.service.d"
    try:
        names = sorted(n for n in os.listdir(host.path(directory)) if n.endswith(".conf"))
    except (FileNotFoundError, NotADirectoryError):
        return []
    return [f"{directory}/{n}" for n in names]


def _read(host: Host, path: str) -> str:
    try:
        return host.path(path).read_text(encoding="utf-8", errors="replace")
    except (FileNotFoundError, IsADirectoryError):
        return ""


def sources(host: Host, name: str) -> list[tuple[str, str]]:
    """(path, text) of the unit file and its drop-ins, in the order systemd applies them."""
    frag = fragment_path(host, name)
    text = _read(host, frag) if frag.startswith(SYSTEM_DIR) else UNIT_TABLE[name][1]
    return [(frag, text)] + [(p, _read(host, p)) for p in dropin_paths(host, name)]


def _logical_lines(text: str) -> list[str]:
    """Join backslash continuations, drop comments, as systemd's parser does."""
    lines: list[str] = []
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not pending and (not line or line[0] in "#;"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        lines.append(pending + line)
        pending = ""
    if pending:
        lines.append(pending)
    return lines


def parse_exec_start(srcs: list[tuple[str, str]]) -> tuple[list[list[str]], str | None]:
    """The ExecStart command lines after all files are applied, and a load error if any.

    An empty ``ExecStart=`` resets the list; a second non-empty one in a
    ``Type=notify`` service makes the unit fail to load (the classic drop-in
    mistake of forgetting the reset line).
    """
    commands: list[list[str]] = []
    service_type = "simple"
    for _path, text in srcs:
        section = ""
        for line in _logical_lines(text):
            if line.startswith("["):
                section = line.strip("[]")
                continue
            key, _, value = line.partition("=")
            if section != "Service":
                continue
            key, value = key.strip(), value.strip()
            if key == "Type":
                service_type = value
            elif key == "ExecStart":
                if not value:
                    commands = []
                    continue
                try:
                    argv = shlex.split(value.lstrip("-@+!:"))
                except ValueError:
                    return commands, "Invalid argument"
                commands.append(argv)
    if len(commands) > 1 and service_type != "oneshot":
        return commands, "Invalid argument"
    return commands, None


def load_from_disk(host: Host, name: str) -> dict[str, Any]:
    """What ``daemon-reload`` would load now."""
    srcs = sources(host, name)
    commands, error = parse_exec_start(srcs)
    return {
        "source": "\0".join(f"{p}\n{t}" for p, t in srcs),
        "fragment": srcs[0][0],
        "dropins": [p for p, _ in srcs[1:]],
        "exec_start": commands[0] if commands and not error else [],
        "commands": commands,
        "error": error,
    }


def read_units(host: Host) -> dict[str, dict[str, Any]]:
    return host.read(UNITS, {})


def write_units(host: Host, units: dict[str, dict[str, Any]]) -> None:
    host.write(UNITS, units)


def record(units: dict[str, dict[str, Any]], name: str) -> dict[str, Any]:
    return units.setdefault(name, {"active": "inactive"})


def loaded(host: Host, units: dict[str, dict[str, Any]], name: str) -> tuple[dict[str, Any], bool]:
    """The unit systemd runs (loading it now if it never was) and whether disk has changed since."""
    rec = record(units, name)
    current = load_from_disk(host, name)
    snapshot = rec.get("loaded")
    if snapshot is None:
        rec["loaded"] = current
        return current, False
    return snapshot, snapshot["source"] != current["source"]


def reload_all(host: Host, units: dict[str, dict[str, Any]]) -> None:
    for name in list(units) + [n for n in UNIT_TABLE if n not in units]:
        if exists(host, name):
            record(units, name)["loaded"] = load_from_disk(host, name)


def is_enabled(host: Host, name: str) -> bool:
    return os.path.lexists(host.path(f"{WANTS_DIR}/{name}.service"))


def enable(host: Host, name: str) -> str | None:
    """Create the wants symlink; the message systemctl prints, or None if already enabled."""
    link = host.path(f"{WANTS_DIR}/{name}.service")
    if os.path.lexists(link):
        return None
    link.parent.mkdir(parents=True, exist_ok=True)
    target = fragment_path(host, name)
    os.symlink(target, link)
    wants = f"{WANTS_DIR}/{name}.service"
    if host.profile.systemd_version < 230:
        return f"Created symlink from {wants} to {target}."
    return f"Created symlink {wants} \u2192 {target}."


def disable(host: Host, name: str) -> str | None:
    link = host.path(f"{WANTS_DIR}/{name}.service")
    if not os.path.lexists(link):
        return None
    link.unlink()
    wants = f"{WANTS_DIR}/{name}.service"
    if host.profile.systemd_version < 230:
        return f"Removed symlink {wants}."
    return f"Removed {wants}."
