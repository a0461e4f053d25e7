"""Run one tool as a child process and measure what the controller paid for it.

Wall time is the child's life.  CPU is the child's rusage from ``wait4``, which
already includes every descendant the child waited for (xargs' ``ssh``
processes, Ansible's forks); descendants that detach and outlive it (OpenSSH
``ControlPersist`` masters) are reparented to us while we are a child
subreaper, ended, and their rusage added.  Memory is the peak of the summed
proportional set size (PSS) of the whole process tree, sampled: ``ru_maxrss``
would report only the largest single process, which undercounts a tool that
fans out into fifty processes, and RSS would count the pages forked workers
share fifty times.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

PR_SET_CHILD_SUBREAPER = 36
SAMPLE_EVERY_S = 0.25
ORPHAN_GRACE_S = 10.0


@dataclass(frozen=True)
class Usage:
    """What one run of a tool cost on the controller."""

    wall_s: float
    cpu_s: float
    peak_mib: float
    exit_code: int
    timed_out: bool = False


def children(pid: int | str) -> set[int]:
    """Direct children of ``pid`` (every thread's list: threads fork too)."""
    found: set[int] = set()
    with contextlib.suppress(OSError):
        for tid in os.listdir(f"/proc/{pid}/task"):
            with contextlib.suppress(OSError):
                text = Path(f"/proc/{pid}/task/{tid}/children").read_text()
                found.update(int(p) for p in text.split())
    return found


def descendants(roots: set[int]) -> set[int]:
    seen: set[int] = set()
    todo = list(roots)
    while todo:
        pid = todo.pop()
        if pid not in seen:
            seen.add(pid)
            todo.extend(children(pid) - seen)
    return seen


def pss_kib(pid: int) -> int:
    with contextlib.suppress(OSError, ValueError):
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1])
    return 0


class _PeakSampler(threading.Thread):
    """Samples the summed PSS of the tool's process tree until stopped; enforces the timeout."""

    def __init__(self, root: int, ignore: set[int], deadline: float) -> None:
        super().__init__(name="bench-sampler", daemon=True)
        self.root = root
        self.ignore = ignore
        self.deadline = deadline
        self.peak_kib = 0
        self.timed_out = False
        self.stopped = threading.Event()

    def run(self) -> None:
        # Ctrl-C must reach the main thread, which waits in wait4: a signal taken
        # by this thread would leave it blocked until the tool ends by itself.
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
        while True:
            self.sample()
            if time.monotonic() > self.deadline and not self.timed_out:
                self.timed_out = True
                _kill_group(self.root)
            if self.stopped.wait(SAMPLE_EVERY_S):
                return

    def sample(self) -> None:
        orphans = children("self") - self.ignore
        tree = descendants({self.root} | orphans)
        self.peak_kib = max(self.peak_kib, sum(pss_kib(p) for p in tree))


def _subreaper(on: bool) -> None:
    """Orphans of the tool come to us (not to PID 1), so their CPU can be counted."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_CHILD_SUBREAPER, int(on), 0, 0, 0)


def _cpu(rusage: os.struct_rusage | None) -> float:  # type: ignore[name-defined]
    return (rusage.ru_utime + rusage.ru_stime) if rusage is not None else 0.0


def _reap_orphans(ignore: set[int]) -> float:
    """End detached descendants (idle SSH masters) and return the CPU they used."""
    total = 0.0
    deadline = time.monotonic() + ORPHAN_GRACE_S
    for pid in children("self") - ignore:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    for pid in children("self") - ignore:
        total += _wait_bounded(pid, deadline)
    return total


def _wait_bounded(pid: int, deadline: float) -> float:
    """wait4 one orphan; SIGKILL it if it ignores SIGTERM past the deadline."""
    while True:
        try:
            done, _, rusage = os.wait4(pid, os.WNOHANG)
        except ChildProcessError:
            return 0.0
        if done:
            return _cpu(rusage)
        if time.monotonic() > deadline:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            _, _, rusage = os.wait4(pid, 0)
            return _cpu(rusage)
        time.sleep(0.05)


def measure(
    argv: Sequence[str],
    *,
    log: Path,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    timeout_s: float = 1800.0,
) -> Usage:
    """Run ``argv`` to its end (killed after ``timeout_s``); its output goes to ``log``."""
    ignore = children("self")
    _subreaper(True)
    try:
        started = time.monotonic()
        with log.open("wb") as out:
            proc = subprocess.Popen(
                list(argv),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=dict(env) if env is not None else None,
                cwd=cwd,
                start_new_session=True,
            )
        sampler = _PeakSampler(proc.pid, ignore | {proc.pid}, started + timeout_s)
        sampler.start()
        try:
            _, status, rusage = os.wait4(proc.pid, 0)
        except BaseException:  # Ctrl-C: the tool must not outlive the harness
            _kill_group(proc.pid)
            os.waitpid(proc.pid, 0)
            _reap_orphans(ignore)
            raise
        finally:
            sampler.stopped.set()
        wall = time.monotonic() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
        sampler.join()
        cpu = _cpu(rusage) + _reap_orphans(ignore)
    finally:
        _subreaper(False)
    return Usage(
        wall_s=wall,
        cpu_s=cpu,
        peak_mib=sampler.peak_kib / 1024,
        exit_code=proc.returncode,
        timed_out=sampler.timed_out,
    )


def _kill_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)
