"""Round trips per host, counted by the servers: the lab's OpenSSH ``sshd`` logs.

Every tool is counted the same way, from the server side, so no tool's own
bookkeeping is trusted.  At ``LogLevel VERBOSE`` sshd writes one ``Accepted
publickey for`` line per authenticated connection and one ``Starting session:``
line per channel that runs something (an exec, a shell, or an sftp/scp
subsystem: Ansible's file transfers count too).  The lab starts its sshds at
``INFO``; :func:`make_verbose` raises the level in each host's config and sends
SIGHUP, on which sshd re-executes itself with the new config and the same pid.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from fleet.errors import EnvironmentProblem
from fleet.lab.runtime import Lab

CONFIG = "var/lib/fleetlab/sshd/sshd_config"
LOG = "var/log/sshd.log"
LISTENING = "Server listening on "
CONNECTION = "Accepted publickey for "
SESSION = "Starting session: "


def _log(lab: Lab, name: str) -> Path:
    return lab.directory / "hosts" / name / LOG


def make_verbose(lab: Lab, timeout_s: float = 60.0) -> None:
    """Restart every host's sshd at LogLevel VERBOSE; return once all listen again."""
    if lab.sshd != "openssh":
        raise EnvironmentProblem("round trips are counted from OpenSSH logs: use --sshd openssh")
    before = {h.name: _count(_log(lab, h.name), LISTENING) for h in lab.hosts}
    for host in lab.hosts:
        config = lab.directory / "hosts" / host.name / CONFIG
        config.write_text(config.read_text().replace("LogLevel INFO", "LogLevel VERBOSE"))
        os.kill(lab.sshd_pids[host.name].pid, signal.SIGHUP)
    deadline = time.monotonic() + timeout_s
    waiting = set(before)
    while waiting:
        waiting = {n for n in waiting if _count(_log(lab, n), LISTENING) <= before[n]}
        if waiting and time.monotonic() > deadline:
            raise EnvironmentProblem(
                f"sshd of {sorted(waiting)[0]} did not come back after SIGHUP; see {_log(lab, sorted(waiting)[0])}"
            )
        if waiting:
            time.sleep(0.1)


def _count(path: Path, marker: str, offset: int = 0) -> int:
    try:
        with path.open("rb") as handle:
            handle.seek(offset)
            data = handle.read()
    except OSError:
        return 0
    return data.count(marker.encode())


@dataclass(frozen=True)
class Counts:
    connections: int
    sessions: int


def mark(lab: Lab) -> dict[str, int]:
    """Where every host's log ends now; :func:`since` counts from here."""
    marks = {}
    for host in lab.hosts:
        try:
            marks[host.name] = _log(lab, host.name).stat().st_size
        except OSError:
            marks[host.name] = 0
    return marks


def since(lab: Lab, marks: Mapping[str, int]) -> Counts:
    """Connections and sessions all hosts' sshds logged after ``marks``."""
    connections = sessions = 0
    for host in lab.hosts:
        path, offset = _log(lab, host.name), marks.get(host.name, 0)
        connections += _count(path, CONNECTION, offset)
        sessions += _count(path, SESSION, offset)
    return Counts(connections, sessions)
