"""Processes and sockets as /proc shows them: the lab's one reader of /proc.

The runtime, ``lab down`` and the built-in sudo's broker all need to know which
processes exist, which mount namespace each is in, whether a recorded pid is still
the process it was, and what listens on an address.  Pids and namespace ids are
recycled by the kernel, so a process is pinned by pid *and* start time (ProcRef).
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import socket
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class ProcRef:
    """A process by pid *and* start time, so a recycled pid is never mistaken for ours."""

    pid: int
    start: int

    @classmethod
    def of(cls, pid: int) -> ProcRef | None:
        stat = stat_fields(pid)
        return cls(pid, int(stat[19])) if stat else None

    def alive(self) -> bool:
        stat = stat_fields(self.pid)
        return bool(stat) and int(stat[19]) == self.start and stat[0] != "Z"


def stat_fields(pid: int) -> list[str] | None:
    """Fields of /proc/PID/stat after the command name (state first)."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text[text.rindex(")") + 2 :].split()


def parent_of(pid: int) -> int | None:
    stat = stat_fields(pid)
    return int(stat[1]) if stat else None


def mount_namespace(pid: int) -> str | None:
    """The process's mount namespace as its /proc/PID/ns/mnt link reads (``mnt:[ID]``)."""
    try:
        return os.readlink(f"/proc/{pid}/ns/mnt")
    except OSError:
        return None


def cmdline(pid: int) -> list[bytes] | None:
    """The process's command line, split at its NULs; None when the process is gone."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return None


def all_pids() -> list[int]:
    return [int(name) for name in os.listdir("/proc") if name.isdigit()]


def mountinfo(pid: int | str = "self") -> str | None:
    """The process's /proc/PID/mountinfo; None when it cannot be read (the process is gone)."""
    try:
        return Path(f"/proc/{pid}/mountinfo").read_text()
    except OSError:
        return None


def sees_same_file(pid: int, inside: str, outside: Path) -> bool:
    """Whether the process, at path ``inside`` of its own root and mounts, finds the very
    file (device and inode) that is at ``outside`` here; False when either is missing."""
    try:
        seen = os.stat(f"/proc/{pid}/root{inside}")
        ours = os.stat(outside)
    except OSError:
        return False
    return (seen.st_dev, seen.st_ino) == (ours.st_dev, ours.st_ino)


def members_by_namespace(namespaces: set[str]) -> dict[str, list[int]]:
    """Processes (other than this one) in each of ``namespaces`` that has any."""
    found: dict[str, list[int]] = {}
    for pid in all_pids():
        namespace = mount_namespace(pid)
        if namespace in namespaces and pid != os.getpid():
            found.setdefault(namespace, []).append(pid)
    return found


def namespace_members(namespaces: set[str]) -> list[int]:
    """Live processes in any of ``namespaces`` (see fleet.lab.runtime.lab_namespaces)."""
    return sorted(pid for pids in members_by_namespace(namespaces).values() for pid in pids)


def pss_kib(pid: int) -> int:
    """The process's proportional set size in KiB (0 when unknown)."""
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return 0


def listeners_on(addresses: set[str]) -> list[str]:
    """Sockets still listening on, or bound to, any of ``addresses`` (from /proc/net/tcp)."""
    found = []
    try:
        lines = Path("/proc/net/tcp").read_text().splitlines()[1:]
    except OSError:
        return []
    for line in lines:
        fields = line.split()
        local, state = fields[1], fields[3]
        if state not in ("0A", "07"):  # LISTEN, or bound and closed
            continue
        raw, port = local.split(":")
        address = socket.inet_ntoa(bytes.fromhex(raw)[::-1])
        if address in addresses:
            found.append(f"{address}:{int(port, 16)}")
    return found


def wait_gone(pids: Iterable[int], timeout: float) -> list[int]:
    """Wait (on pidfds, not by polling) until the processes exit; return those still alive."""
    fds = {}
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            fds[os.pidfd_open(pid)] = pid
    deadline = time.monotonic() + timeout
    try:
        poller = select.poll()
        for fd in fds:
            poller.register(fd, select.POLLIN)
        pending = set(fds)
        while pending and time.monotonic() < deadline:
            for fd, _ in poller.poll(max(1, int((deadline - time.monotonic()) * 1000))):
                pending.discard(fd)
                poller.unregister(fd)
        return [fds[fd] for fd in pending]
    finally:
        for fd in fds:
            os.close(fd)


def kill(pids: Iterable[int], sig: int = signal.SIGKILL) -> None:
    """Signal each process; one already gone (or not ours to signal) is passed over."""
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, sig)


def reap(pid: int) -> None:
    """Collect an exited child so it leaves no zombie (no-op for other processes)."""
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, 0)


def reap_orphans(keep: set[int]) -> None:
    """Collect exited children this process inherited as subreaper, except ``keep``."""
    me = str(os.getpid())
    for pid in all_pids():
        stat = stat_fields(pid)
        if stat and stat[0] == "Z" and stat[1] == me and pid not in keep:
            reap(pid)
