"""Faults a lab host's spec can inject into every tool invocation.

``slow`` delays every tool, ``hang`` never returns, ``drop`` cuts the SSH
connection the command arrived on.  They act before the tool does anything,
so a hung or dropped command has changed nothing on the host.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from fleet.lab.simtools.state import CUT_REQUEST, DROPPED_MARK, SSHD_PID, SUDO_CALLERS, Host

SSHD_NAMES = ("sshd", "sshd-session")


def apply(host: Host, argv: list[str]) -> None:
    faults: dict[str, Any] = host.faults
    if faults.get("slow"):
        time.sleep(float(faults["slow"]))
    command_line = " ".join([os.path.basename(argv[0]), *argv[1:]])
    hang = faults.get("hang")
    if hang and str(hang) in command_line:
        _hang_forever()
    drop = faults.get("drop")
    if drop and str(drop) in command_line and _first_drop(host, str(drop)):
        drop_connection(host)


def _first_drop(host: Host, drop: str) -> bool:
    """A drop happens once per host, so a re-run of the rollout can converge."""
    try:
        with host.path(DROPPED_MARK).open("x", encoding="utf-8") as fh:
            fh.write(drop + "\n")
    except FileExistsError:
        return False
    except OSError:
        return True  # cannot record it (not root): drop anyway
    return True


def _hang_forever() -> None:
    """Block until killed, like a command stuck on a dead NFS mount or a wedged daemon."""
    while True:
        signal.pause()


def _parent_and_name(pid: int) -> tuple[int, str] | None:
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8", errors="replace") as fh:
            stat = fh.read()
    except OSError:
        return None
    # comm is in parentheses and may contain spaces; the ppid follows the state letter
    name = stat[stat.index("(") + 1 : stat.rindex(")")]
    ppid = int(stat[stat.rindex(")") + 2 :].split()[1])
    return ppid, name


def _sudo_caller(pid: int) -> int | None:
    """The sudo that asked for ``pid``, when the lab's built-in sudo started it."""
    try:
        return int(Path(SUDO_CALLERS, str(pid)).read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def _ancestors() -> Iterator[tuple[int, str]]:
    """``(pid, name)`` of every process above this one, innermost first.

    A command of the built-in sudo continues with the sudo that asked for it
    (and that sudo's ancestors), as it would under the machine's sudo.
    """
    pid = _sudo_caller(os.getpid()) or os.getppid()
    while pid > 1:
        info = _parent_and_name(pid)
        if info is None:
            return
        yield pid, info[1]
        pid = _sudo_caller(pid) or info[0]


def sshd_ancestors(listener: int | None) -> list[int]:
    """PIDs of the per-connection sshd processes above this one, innermost first.

    The listener (the pid in sshd.pid) is excluded so other connections survive;
    without a pid file the outermost sshd is taken to be the listener.
    """
    found: list[int] = []
    for pid, name in _ancestors():
        if pid == listener:
            break
        if name in SSHD_NAMES:
            found.append(pid)
    if listener is None and found:
        found.pop()
    return found


def drop_connection(host: Host) -> None:
    """SIGKILL this command's sshd session processes; under the lab's own server, which
    is not an sshd, ask it to cut the connection (:data:`CUT_REQUEST`)."""
    try:
        listener: int | None = int(host.path(SSHD_PID).read_text().split()[0])
    except (OSError, ValueError, IndexError):
        listener = None
    victims = sshd_ancestors(listener)
    for pid in victims:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
    if victims:
        sys.exit(255)
    if _under_lab_server():
        sys.stderr.buffer.write(CUT_REQUEST + b"\n")
        sys.stderr.flush()
        sys.exit(255)


def _under_lab_server() -> bool:
    """Whether the lab's own SSH server (in its supervisor process) is above us."""
    for pid, _ in _ancestors():
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            return False
        if b"fleet.lab.runtime" in cmdline and b"serve" in cmdline:
            return True
    return False


def invoked_by_sudo() -> bool:
    if _sudo_caller(os.getpid()) is not None:
        return True
    info = _parent_and_name(os.getppid())
    return info is not None and info[1] == "sudo"


def command_not_found(tool: str) -> int:
    """What the caller sees when the program is not installed on this host."""
    if invoked_by_sudo():
        print(f"sudo: {tool}: command not found", file=sys.stderr)
        return 1
    print(f"bash: {tool}: command not found", file=sys.stderr)
    return 127
