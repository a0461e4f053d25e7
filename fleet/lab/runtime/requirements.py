"""What the machine must have for a lab: root, a few programs, and which sudo the hosts get."""

from __future__ import annotations

import os
import shutil

from fleet.errors import EnvironmentProblem
from fleet.lab.openssh import require_sshd


def require_root(command: str = "fleet lab up") -> None:
    """Refuse early, naming the command to run instead: lab hosts are mount namespaces."""
    if os.geteuid() != 0:
        raise EnvironmentProblem(
            f"the lab needs root for its mount namespaces; run: sudo {command} "
            "(or run it in a container with CAP_SYS_ADMIN)"
        )


def require_programs(sshd: str, sudo: str) -> None:
    """Refuse, naming the package to install, when a program the lab runs is missing."""
    needed = [("nsenter", "util-linux"), ("bash", "bash")]
    needed += [("setpriv", "util-linux")] if sudo == "builtin" else []
    for program, package in needed:
        if shutil.which(program) is None:
            raise EnvironmentProblem(f"fleet lab needs {program}: apt-get install {package}")
    if sudo == "system" and not machine_has_sudo():
        raise EnvironmentProblem(
            "fleet lab --sudo system needs this machine's sudo: apt-get install sudo "
            "(or use --sudo builtin, the lab's own)"
        )
    if sshd == "openssh":
        require_sshd()


def machine_has_sudo() -> bool:
    """A real sudo: the setuid binary, not a file of that name without its powers."""
    path = shutil.which("sudo")
    return path is not None and bool(os.stat(path).st_mode & 0o4000)


def default_sudo() -> str:
    """``system`` where the machine has sudo, else the lab's ``builtin`` one."""
    return "system" if machine_has_sudo() else "builtin"
