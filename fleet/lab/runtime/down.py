"""``fleet lab down``: stop exactly what ``up`` started, prove nothing is left, remove DIR."""

from __future__ import annotations

import os
import signal
from dataclasses import dataclass
from pathlib import Path

from fleet.errors import EnvironmentProblem
from fleet.lab import procfs
from fleet.lab.procfs import ProcRef
from fleet.lab.runtime.mounts import lab_mounts
from fleet.lab.runtime.namespaces import clear_namespaces, lab_namespaces
from fleet.lab.runtime.requirements import require_root
from fleet.lab.runtime.state import Lab, load_lab, remove_state

STOP_TIMEOUT = 60.0


class LabNotStopped(EnvironmentProblem):
    """``lab down`` found processes, mounts or listeners of the lab still there."""


@dataclass(frozen=True)
class DownReport:
    directory: Path
    hosts: int
    supervisor_was_running: bool
    processes_left: tuple[int, ...]
    listeners_left: tuple[str, ...]
    mounts_left: tuple[str, ...]

    @property
    def clean(self) -> bool:
        return not (self.processes_left or self.listeners_left or self.mounts_left)


def _is_supervisor(proc: ProcRef, directory: Path) -> bool:
    argv = procfs.cmdline(proc.pid)
    if argv is None:
        return False
    return (
        proc.alive()
        and any(b"fleet.lab.runtime" in word for word in argv)
        and str(directory).encode() in argv
    )


def _stop_supervisor(lab: Lab) -> bool:
    """SIGTERM, then wait for it to exit; it cleans up its own children first."""
    proc = lab.supervisor
    if proc is None or not _is_supervisor(proc, lab.directory):
        return False
    procfs.kill([proc.pid], signal.SIGTERM)
    if procfs.wait_gone([proc.pid], STOP_TIMEOUT):
        procfs.kill([proc.pid])
        procfs.wait_gone([proc.pid], 10.0)
    if procfs.parent_of(proc.pid) == os.getpid():
        procfs.reap(proc.pid)
    return True


def _recorded(lab: Lab) -> list[ProcRef]:
    """The holders and sshds lab.json records."""
    return [*(h.proc for h in lab.holders.values()), *lab.sshd_pids.values()]


def _leftover_processes(lab: Lab) -> list[int]:
    recorded = _recorded(lab)
    if lab.supervisor is not None and _is_supervisor(lab.supervisor, lab.directory):
        recorded.append(lab.supervisor)
    left = {p.pid for p in recorded if p.alive()}
    namespaces = lab_namespaces(list(lab.holders.values()), lab.directory)
    return sorted(left | set(procfs.namespace_members(namespaces)))


def lab_down(directory: str | Path, *, keep_log: bool = False) -> DownReport:
    """Stop exactly what ``lab up`` started, verify nothing is left, remove the lab's files.

    Works whether or not the supervisor is still alive: recorded processes are killed
    by pid (after checking their start time) and every process still in a lab namespace
    is killed.  If anything is left, the state is kept so ``down`` can be run again.
    """
    require_root()
    lab = load_lab(directory)
    was_running = _stop_supervisor(lab)
    lab = load_lab(lab.directory)
    procfs.kill(p.pid for p in _recorded(lab) if p.alive())
    clear_namespaces(list(lab.holders.values()), lab.directory)
    for proc in _recorded(lab):
        if procfs.parent_of(proc.pid) == os.getpid():
            procfs.reap(proc.pid)
    report = DownReport(
        directory=lab.directory,
        hosts=len(lab.hosts),
        supervisor_was_running=was_running,
        processes_left=tuple(_leftover_processes(lab)),
        listeners_left=tuple(procfs.listeners_on({h.address for h in lab.hosts})),
        mounts_left=tuple(lab_mounts(lab.directory)),
    )
    if report.clean:
        remove_state(lab, keep_log)
    return report
