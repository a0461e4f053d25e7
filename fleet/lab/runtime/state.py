"""A lab's state: what DIR/lab.json records, and the files a lab keeps in DIR.

``lab up`` writes lab.json before the supervisor starts; the supervisor adds the pids
and namespaces of what it started; ``status`` and ``down`` read it, so ``down`` works
whether or not the supervisor is still alive.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from fleet.errors import InputError
from fleet.lab import files
from fleet.lab.files import LabHost
from fleet.lab.procfs import ProcRef
from fleet.lab.runtime.namespaces import Holder

STATE_FILE = "lab.json"
SUDO_DIR = "sudo"  # DIR/sudo holds the built-in sudo's socket, bound at /run/fleetlab in hosts
LOG_FILE = "supervisor.log"
CLIENT_FILES = (
    "inventory.yml",
    "ansible.yml",
    "id_ed25519",
    "id_ed25519.pub",
    "known_hosts",
    "ssh_config",
    "become.env",
)


@dataclass(frozen=True)
class Lab:
    """A lab as recorded in DIR/lab.json."""

    directory: Path
    sshd: str
    hosts: tuple[LabHost, ...]
    groups: Mapping[str, tuple[str, ...]]
    supervisor: ProcRef | None
    holders: Mapping[str, Holder] = field(default_factory=dict)
    sshd_pids: Mapping[str, ProcRef] = field(default_factory=dict)
    state: str = "starting"
    teardown: Mapping[str, Any] = field(default_factory=dict)
    sudo: str = "system"  # builtin: the lab's own privilege path (fleet.lab.sudo)

    @property
    def inventory(self) -> Path:
        return self.directory / "inventory.yml"

    @property
    def ansible_inventory(self) -> Path:
        return self.directory / "ansible.yml"

    @property
    def ssh_config(self) -> Path:
        return self.directory / "ssh_config"

    @property
    def known_hosts(self) -> Path:
        return self.directory / "known_hosts"

    @property
    def identity_file(self) -> Path:
        return self.directory / "id_ed25519"

    @property
    def become_env(self) -> Path:
        return self.directory / "become.env"

    def host(self, name: str) -> LabHost:
        return next(h for h in self.hosts if h.name == name)

    def sshd_pid(self, name: str) -> int | None:
        if self.host(name).faults.get("unreachable"):
            return None
        if self.sshd == "paramiko":
            return self.supervisor.pid if self.supervisor else None
        proc = self.sshd_pids.get(name)
        return proc.pid if proc else None


def _lab_to_json(lab: Lab, extra: Mapping[str, Any]) -> str:
    document = {
        "version": 1,
        "directory": str(lab.directory),
        "sshd": lab.sshd,
        "sudo": lab.sudo,
        "state": lab.state,
        "supervisor": asdict(lab.supervisor) if lab.supervisor else None,
        "groups": {k: list(v) for k, v in lab.groups.items()},
        "hosts": [{**asdict(h), "spec": dict(h.spec)} for h in lab.hosts],
        "holders": {
            k: {"proc": asdict(v.proc), "namespace": v.namespace} for k, v in lab.holders.items()
        },
        "sshd_pids": {k: asdict(v) for k, v in lab.sshd_pids.items()},
        "teardown": dict(lab.teardown),
        **extra,
    }
    return json.dumps(document, indent=1) + "\n"


def _read_document(directory: Path) -> dict[str, Any]:
    path = directory / STATE_FILE
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(
            f"{path}: no lab here; start one with: fleet lab up --dir {directory}"
        ) from None
    except (OSError, ValueError) as exc:
        raise InputError(
            f"{path}: unreadable lab state ({exc}); remove {directory} by hand"
        ) from None


def load_lab(directory: str | Path) -> Lab:
    """The lab recorded in DIR/lab.json (InputError if there is none)."""
    directory = Path(directory).resolve()
    doc = _read_document(directory)
    supervisor = ProcRef(**doc["supervisor"]) if doc.get("supervisor") else None
    return Lab(
        directory=directory,
        sshd=doc["sshd"],
        hosts=tuple(LabHost(**h) for h in doc["hosts"]),
        groups={k: tuple(v) for k, v in doc.get("groups", {}).items()},
        supervisor=supervisor,
        holders={
            k: Holder(k, ProcRef(**v["proc"]), v["namespace"])
            for k, v in doc.get("holders", {}).items()
        },
        sshd_pids={k: ProcRef(**v) for k, v in doc.get("sshd_pids", {}).items()},
        state=doc.get("state", "starting"),
        teardown=doc.get("teardown", {}),
        sudo=doc.get("sudo", "system"),
    )


def save_lab(lab: Lab, extra: Mapping[str, Any] | None = None) -> None:
    """Write lab.json, keeping the mount points an earlier save recorded as created."""
    doc = _read_document(lab.directory) if (lab.directory / STATE_FILE).exists() else {}
    keep = {k: doc[k] for k in ("mountpoints_created",) if k in doc}
    files.write_text(lab.directory / STATE_FILE, _lab_to_json(lab, {**keep, **(extra or {})}))


def remove_state(lab: Lab, keep_log: bool) -> None:
    """Remove what the lab wrote into its directory, then the directory if that empties it."""
    for name in (
        *CLIENT_FILES,
        "hosts",
        "tools",
        SUDO_DIR,
        STATE_FILE,
        *(() if keep_log else (LOG_FILE,)),
    ):
        files.remove_tree(lab.directory / name)
    with contextlib.suppress(OSError):
        lab.directory.rmdir()
