"""What the supervisor runs for a lab: holders, sudo broker, SSH servers, proxies; and teardown.

``start_all`` forks the holders first, before anything here starts a thread, and records
each part in a ``Running`` as it starts, so ``teardown`` stops what started, whether the
start finished or failed half-way.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from fleet.lab import files, procfs
from fleet.lab.files import LabHost
from fleet.lab.openssh import HOST_KEY, OpenSSHServers
from fleet.lab.procfs import ProcRef
from fleet.lab.proxy import DelayProxy, Route
from fleet.lab.runtime.mounts import (
    ensure_mountpoints,
    keep_visible_paths,
    mount_plan,
    package_parent,
    readonly_remounts,
    under,
)
from fleet.lab.runtime.namespaces import Holder, HolderPlan, clear_namespaces, start_holders
from fleet.lab.runtime.state import SUDO_DIR, Lab, save_lab
from fleet.lab.server import LabSSHServer, ServedHost, bind_host
from fleet.lab.simtools.state import DROPPED_MARK
from fleet.lab.sudo.broker import BrokerHost, SudoBroker

START_TIMEOUT = 120.0


@dataclass
class Running:
    """What the supervisor started, so teardown can stop exactly that."""

    holders: list[Holder] = field(default_factory=list)
    placeholders: list[socket.socket] = field(default_factory=list)
    server: LabSSHServer | None = None
    sshds: OpenSSHServers | None = None
    proxy: DelayProxy | None = None
    broker: SudoBroker | None = None


def _holder_plans(lab: Lab) -> list[HolderPlan]:
    keep = keep_visible_paths(package_parent())
    tools = lab.directory / "tools"
    broker = lab.directory / SUDO_DIR if lab.sudo == "builtin" else None
    binds = {h.name: mount_plan(h, tools, keep, lab.directory, broker) for h in lab.hosts}
    targets = {b.target for b in next(iter(binds.values()), [])}
    remounts = readonly_remounts(targets)  # the same for every host
    for host in lab.hosts:
        for path in keep:
            host.path(path).mkdir(parents=True, exist_ok=True)
            if under(path, "/root"):
                # The login user runs the tools too: it must pass through /root (not list it).
                os.chmod(host.path("/root"), 0o711)
    return [HolderPlan(h.name, tuple(binds[h.name]), remounts, h.home) for h in lab.hosts]


def _placeholder(host: LabHost) -> socket.socket:
    """A socket that makes the host's address refuse (bound, not listening) or stay silent."""
    # No SO_REUSEADDR: another lab cannot take the address.
    sock = bind_host(host.name, host.address, host.port, reuse=False)
    if host.faults.get("unreachable") == "timeout":
        sock.listen(128)  # the kernel completes handshakes; nobody ever sends a banner
    return sock


def _routes(lab: Lab) -> list[Route]:
    routes = []
    for host in lab.hosts:
        if host.internal_port is None or host.faults.get("unreachable"):
            continue
        listener = bind_host(host.name, host.address, host.port)
        listener.listen(128)
        target = (host.address, host.internal_port)
        routes.append(Route(host.name, listener, target, int(host.spec["delay_ms"])))
    return routes


def _served(lab: Lab, holders: Mapping[str, Holder]) -> list[ServedHost]:
    client_key = files.public_key_of(lab.directory / "id_ed25519")
    return [
        ServedHost(
            name=h.name,
            address=h.address,
            port=h.server_port,
            holder_pid=holders[h.name].proc.pid,
            user=h.user,
            uid=h.uid,
            gid=h.gid,
            home=h.home,
            host_key_path=str(h.path(HOST_KEY)),
            authorized_key=client_key,
            auth_refused=h.faults.get("auth") == "refused",
            drop=h.faults.get("drop"),
            drop_marker=str(h.path(DROPPED_MARK)),
            freeze=h.faults.get("freeze"),
        )
        for h in lab.hosts
        if not h.faults.get("unreachable")
    ]


def _broker_hosts(lab: Lab) -> list[BrokerHost]:
    return [
        BrokerHost(
            h.name, lab.holders[h.name].proc.pid, lab.holders[h.name].namespace, Path(h.root)
        )
        for h in lab.hosts
    ]


def start_all(lab: Lab, running: Running, log: Callable[[str], None]) -> Lab:
    """Start the lab's parts in order, holders first; record their pids in lab.json."""
    plans = _holder_plans(lab)
    created = ensure_mountpoints(plans[0].binds) if plans else []
    save_lab(lab, {"mountpoints_created": created})
    running.holders = start_holders(plans)
    holders = {h.name: h for h in running.holders}
    lab = replace(lab, holders=holders)
    save_lab(lab)
    log(f"{len(holders)} holders started")
    if lab.sudo == "builtin":
        running.broker = SudoBroker(lab.directory / SUDO_DIR, _broker_hosts(lab), log)
        running.broker.start()
    running.placeholders = [_placeholder(h) for h in lab.hosts if h.faults.get("unreachable")]
    routes = _routes(lab)
    reachable = [h for h in lab.hosts if not h.faults.get("unreachable")]
    if lab.sshd == "paramiko":
        running.server = LabSSHServer(_served(lab, holders), log)
        running.server.bind()
        running.server.start()
    else:
        running.sshds = OpenSSHServers([(h, holders[h.name].proc.pid) for h in reachable], log)
        running.sshds.start()
        running.sshds.wait_listening(START_TIMEOUT)
        pids = {name: ProcRef.of(pid) for name, pid in running.sshds.pids().items()}
        lab = replace(lab, sshd_pids={k: v for k, v in pids.items() if v is not None})
    running.proxy = DelayProxy(routes, log)
    running.proxy.start()
    lab = replace(lab, state="running")
    save_lab(lab)
    return lab


def teardown(lab: Lab, running: Running, log: Callable[[str], None]) -> dict[str, Any]:
    """Stop servers and proxies, kill every process of every host, check what is left."""
    if running.proxy is not None:
        running.proxy.stop()
    if running.server is not None:
        running.server.stop()
    if running.broker is not None:
        running.broker.stop()
    for sock in running.placeholders:
        sock.close()
    left = clear_namespaces(running.holders, lab.directory)  # sshds, sessions, holders
    if running.sshds is not None:
        running.sshds.close()
    for holder in running.holders:
        procfs.reap(holder.proc.pid)
    procfs.reap_orphans(set())
    result = {
        "processes_left": left,
        "listeners_left": procfs.listeners_on({h.address for h in lab.hosts}),
    }
    log(f"teardown: {result}")
    return result
