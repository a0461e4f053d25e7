"""``fleet lab status``: how each host answers, against what its spec asks, and memory per host."""

from __future__ import annotations

import concurrent.futures
import socket
from dataclasses import dataclass
from pathlib import Path

from fleet.lab import procfs
from fleet.lab.files import LabHost
from fleet.lab.runtime.state import Lab, load_lab


@dataclass(frozen=True)
class HostStatus:
    name: str
    address: str
    port: int
    state: str  # up | refused | silent | down
    expected: bool  # the state is what the host's spec asks for
    sshd_pid: int | None
    faults: str


@dataclass(frozen=True)
class LabStatus:
    lab: Lab
    supervisor_alive: bool
    hosts: tuple[HostStatus, ...]
    memory_kib_per_host: int

    @property
    def healthy(self) -> bool:
        return self.supervisor_alive and all(h.expected for h in self.hosts)


def _probe(host: LabHost, timeout: float = 3.0) -> str:
    """up (an SSH banner), refused, silent (no banner), or down: cheap, no key exchange."""
    try:
        with socket.create_connection((host.address, host.port), timeout) as sock:
            if host.faults.get("unreachable") == "timeout":
                return "silent"  # waiting out the banner would cost the whole timeout
            sock.settimeout(timeout)
            banner = sock.recv(256)
    except ConnectionRefusedError:
        return "refused"
    except OSError:
        return "silent"
    return "up" if banner.startswith(b"SSH-") else "down"


def faults_text(host: LabHost) -> str:
    parts = [f"{k}={v}" for k, v in sorted(host.faults.items())]
    if host.spec.get("delay_ms"):
        parts.append(f"delay_ms={host.spec['delay_ms']}")
    return ", ".join(parts) or "-"


def _expected_state(host: LabHost) -> str:
    return {"refused": "refused", "timeout": "silent"}.get(host.faults.get("unreachable", ""), "up")


def lab_status(directory: str | Path) -> LabStatus:
    lab = load_lab(directory)
    alive = lab.supervisor is not None and lab.supervisor.alive()
    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        states = list(pool.map(_probe, lab.hosts))
    hosts = tuple(
        HostStatus(
            h.name,
            h.address,
            h.port,
            state,
            state == _expected_state(h),
            lab.sshd_pid(h.name),
            faults_text(h),
        )
        for h, state in zip(lab.hosts, states, strict=True)
    )
    pids = [lab.supervisor.pid] if alive and lab.supervisor else []
    pids += [h.proc.pid for h in lab.holders.values() if h.proc.alive()]
    pids += [p.pid for p in lab.sshd_pids.values() if p.alive()]
    memory = sum(procfs.pss_kib(pid) for pid in pids) // max(1, len(lab.hosts))
    return LabStatus(lab, alive, hosts, memory)
