"""The hosts' namespaces: made by forked holders, recognised later, emptied at the end.

A lab host is a *holder* process (``fleet-lab-holder``, an exec'd ``sleep``) in its own
mount and UTS namespaces.  The mounts are made with direct system calls in the forked
child: one ``unshare`` plus ``mount`` binary per bind would cost 20 process starts per
host, which at 500 hosts is most of the time budget.  Holders are forked before the
supervisor starts any thread (fork copies only the calling thread).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import shutil
import signal
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

from fleet.errors import EnvironmentProblem
from fleet.lab import procfs
from fleet.lab.files import STATE_DIR
from fleet.lab.procfs import ProcRef
from fleet.lab.runtime.mounts import (
    MS_BIND,
    MS_PRIVATE,
    MS_RDONLY,
    MS_REC,
    MS_REMOUNT,
    Bind,
)

HOLDER_NAME = "fleet-lab-holder"

# Linux constants (sched.h, sys/prctl.h)
CLONE_NEWNS = 0x00020000
CLONE_NEWUTS = 0x04000000
PR_SET_PDEATHSIG = 1
PR_SET_CHILD_SUBREAPER = 36


@dataclass(frozen=True)
class HolderPlan:
    """Everything the forked child needs: no lookups between fork and exec."""

    name: str
    binds: tuple[Bind, ...]
    remounts: tuple[tuple[str, int], ...]  # (mount point, flags to keep) made read-only
    home: str


@dataclass(frozen=True)
class Holder:
    name: str
    proc: ProcRef
    namespace: str


class Syscalls:
    """The few libc calls a holder makes between fork and exec."""

    def __init__(self) -> None:
        self.libc = ctypes.CDLL(None, use_errno=True)

    def _check(self, result: int, what: str) -> None:
        if result != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"{what}: {os.strerror(err)}")

    def unshare(self, flags: int) -> None:
        self._check(self.libc.unshare(flags), "unshare")

    def mount(self, source: str | None, target: str, flags: int) -> None:
        src = source.encode() if source else b"none"
        self._check(self.libc.mount(src, target.encode(), None, flags, None), f"mount {target}")

    def sethostname(self, name: str) -> None:
        self._check(self.libc.sethostname(name.encode(), len(name.encode())), "sethostname")

    def prctl(self, option: int, value: int) -> None:
        self._check(self.libc.prctl(option, value, 0, 0, 0), "prctl")


def become_subreaper() -> None:
    """Orphans of this process's descendants (sessions' detached children) come back to it."""
    Syscalls().prctl(PR_SET_CHILD_SUBREAPER, 1)


def _holder_child(
    calls: Syscalls, plan: HolderPlan, report: int, sleep: str, parent: int
) -> NoReturn:
    """In the forked child: build the host's mount namespace, then become ``sleep infinity``."""
    try:
        calls.unshare(CLONE_NEWNS | CLONE_NEWUTS)
        calls.mount(None, "/", MS_REC | MS_PRIVATE)  # nothing we mount may reach the machine
        for bind in plan.binds:
            calls.mount(bind.source, bind.target, MS_BIND | (MS_REC if bind.recursive else 0))
            if bind.readonly:
                calls.mount(None, bind.target, MS_BIND | MS_REMOUNT | MS_RDONLY)
        for point, keep in plan.remounts:
            calls.mount(None, point, MS_BIND | MS_REMOUNT | MS_RDONLY | keep)
        calls.sethostname(plan.name)
        os.chdir(plan.home)  # sessions enter with nsenter -w: they start in the login user's home
        calls.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() != parent:
            os._exit(1)
        for sig in (signal.SIGPIPE, signal.SIGXFSZ, signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, signal.SIG_DFL)
        null = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(null, fd)
        os.execv(sleep, [HOLDER_NAME, "infinity"])
    except BaseException as exc:  # everything must reach the parent, then exit without cleanup
        with contextlib.suppress(BaseException):
            os.write(report, f"{plan.name}: {exc}".encode())
    os._exit(1)


def start_holders(plans: Sequence[HolderPlan], batch: int = 64) -> list[Holder]:
    """Fork one holder per host, ``batch`` at a time; each reports failure or closes its pipe on exec.

    Must run before this process starts any thread (fork copies only the calling thread).
    """
    calls = Syscalls()
    sleep = shutil.which("sleep") or "/bin/sleep"
    holders: list[Holder] = []
    try:
        for start in range(0, len(plans), batch):
            holders += _start_batch(calls, plans[start : start + batch], sleep)
    except BaseException:
        _kill_holders(holders)
        raise
    return holders


def _kill_holders(holders: Sequence[Holder]) -> None:
    procfs.kill(h.proc.pid for h in holders)
    for holder in holders:
        procfs.reap(holder.proc.pid)


def _start_batch(calls: Syscalls, plans: Sequence[HolderPlan], sleep: str) -> list[Holder]:
    started: list[tuple[HolderPlan, int, int]] = []
    me = os.getpid()
    for plan in plans:
        read_end, write_end = os.pipe2(os.O_CLOEXEC)
        pid = os.fork()
        if pid == 0:
            os.close(read_end)
            _holder_child(calls, plan, write_end, sleep, me)
        os.close(write_end)
        started.append((plan, pid, read_end))
    holders, errors = [], []
    for plan, pid, read_end in started:
        with os.fdopen(read_end, "rb") as pipe:
            message = pipe.read().decode(errors="replace")
        if message:
            errors.append(message)
            procfs.reap(pid)
            continue
        proc, namespace = ProcRef.of(pid), procfs.mount_namespace(pid)
        if proc is None or namespace is None:
            errors.append(f"{plan.name}: holder exited at start")
            continue
        holders.append(Holder(plan.name, proc, namespace))
    if errors:
        _kill_holders(holders)
        raise EnvironmentProblem(
            f"lab host {errors[0]} (and {len(errors) - 1} more)"
            if len(errors) > 1
            else f"lab host {errors[0]}"
        )
    return holders


def lab_namespaces(holders: Sequence[Holder], directory: Path) -> set[str]:
    """The recorded namespaces that are provably still those of the lab in ``directory``.

    Namespace ids are recycled by the kernel (another lab's next host may get a dead one),
    so one counts only while its recorded holder (pid and start time) is alive in it, or
    while one of its processes finds at /var/lib/fleetlab this lab's own state directory of
    that host: the same inode, not the same name (every lab has a node01).  Once confirmed,
    an id stays valid as long as any process is in it.
    """
    wanted = {h.namespace: h for h in holders}
    by_namespace = procfs.members_by_namespace(set(wanted))
    confirmed = set()
    for namespace, pids in by_namespace.items():
        holder = wanted[namespace]
        held = holder.proc.alive() and procfs.mount_namespace(holder.proc.pid) == namespace
        state = directory / "hosts" / holder.name / STATE_DIR.lstrip("/")
        # A chrooted process (sshd's privilege-separated child) sees no /var/lib/fleetlab.
        if held or any(procfs.sees_same_file(pid, STATE_DIR, state) for pid in pids):
            confirmed.add(namespace)
    return confirmed


def clear_namespaces(holders: Sequence[Holder], directory: Path, rounds: int = 20) -> list[int]:
    """Kill every process in the lab's namespaces (stopped first, so none forks away)."""
    namespaces = lab_namespaces(holders, directory)
    left: list[int] = []
    for _ in range(rounds):
        left = procfs.namespace_members(namespaces)
        if not left:
            return []
        procfs.kill(left, signal.SIGSTOP)
        procfs.kill(left)
        procfs.wait_gone(left, 10.0)
        for pid in left:
            with contextlib.suppress(ChildProcessError, OSError):
                os.waitpid(pid, os.WNOHANG)
    return procfs.namespace_members(namespaces)
