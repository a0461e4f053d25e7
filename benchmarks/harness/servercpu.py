"""CPU the lab hosts spend serving a tool: every process their sshds start, in one cgroup.

The lab's sshds (and so every connection, session, sudo and command they fork)
are moved into a cgroup of their own; its CPU counter keeps the time of processes
that ended, were reparented or were never waited for, which the sshd's
``cutime`` does not (a session whose client leaves early is never reaped by it).
The delay proxies and the lab supervisor are not in it: they are the lab's cost.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from fleet.lab.runtime import Lab

V2_ROOTS = (Path("/sys/fs/cgroup/unified"), Path("/sys/fs/cgroup"))
V1_CPUACCT = Path("/sys/fs/cgroup/cpuacct")


class ServerCpu:
    """A cgroup holding one lab's sshds; :meth:`seconds` is their total CPU so far."""

    def __init__(self, lab: Lab) -> None:
        self.group, self.counter = _create(f"fleet-bench-{os.getpid()}-{lab.directory.name}")
        if self.group is not None:
            for proc in lab.sshd_pids.values():
                with contextlib.suppress(OSError):
                    (self.group / "cgroup.procs").write_text(f"{proc.pid}\n")

    def seconds(self) -> float:
        """CPU seconds so far; -1 when this machine offers no cgroup to count in."""
        if self.group is None:
            return -1.0
        text = (self.group / self.counter).read_text()
        if self.counter == "cpu.stat":
            usage = next(ln for ln in text.splitlines() if ln.startswith("usage_usec"))
            return int(usage.split()[1]) / 1e6
        return int(text) / 1e9

    def close(self) -> None:
        """Remove the cgroup (empty once the lab is down)."""
        if self.group is not None:
            with contextlib.suppress(OSError):
                self.group.rmdir()


def _create(name: str) -> tuple[Path | None, str]:
    for root in V2_ROOTS:
        if (root / "cgroup.procs").exists() and (root / "cgroup.controllers").exists():
            with contextlib.suppress(OSError):
                (root / name).mkdir()
                if (root / name / "cpu.stat").exists():
                    return root / name, "cpu.stat"
                (root / name).rmdir()
    if (V1_CPUACCT / "cpuacct.usage").exists():
        with contextlib.suppress(OSError):
            (V1_CPUACCT / name).mkdir()
            return V1_CPUACCT / name, "cpuacct.usage"
    return None, ""
