"""Simulated CentOS/RHEL tools of a lab host (yum, rpm, systemctl, docker, containerd, ...).

One multicall program: ``main(argv)`` dispatches on the basename of ``argv[0]``.
Each tool's module is imported only when that tool runs, so a wrapper starts
in a few tens of milliseconds; this module itself imports nothing heavy.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

# tool name -> module implementing it (each module has run(tool, args, host) -> int)
TOOLS: dict[str, str] = {
    "yum": "yum",
    "dnf": "yum",
    "yum-config-manager": "repo",
    "rpm": "rpm",
    "systemctl": "systemctl",
    "journalctl": "systemctl",
    "docker": "docker",
    "dockerd": "engine",
    "containerd": "containerd",
    "ctr": "ctr",
    "crictl": "ctr",
    "uname": "sysinfo",
    "findmnt": "sysinfo",
    "xfs_info": "sysinfo",
    "stat": "sysinfo",
    "swapon": "swap",
    "swapoff": "swap",
    "modprobe": "kmod",
    "lsmod": "kmod",
    "sysctl": "sysctl",
    "getenforce": "selinux",
    "setenforce": "selinux",
}


def main(argv: list[str] | None = None) -> int:
    """Run the tool named by ``argv[0]`` with ``argv[1:]``; returns its exit status."""
    import importlib

    from fleet.lab.simtools import faults
    from fleet.lab.simtools.state import Host

    argv = list(sys.argv if argv is None else argv)
    if not argv:
        print(f"usage: python -m fleet.lab.simtools TOOL [ARGS...]; tools: {' '.join(TOOLS)}")
        return 2
    tool = os.path.basename(argv[0])
    if tool not in TOOLS:
        print(
            f"fleetlab: no simulated tool named {tool!r}; tools: {' '.join(TOOLS)}", file=sys.stderr
        )
        return 127
    host = Host.load()
    faults.apply(host, argv)
    module = importlib.import_module(f"fleet.lab.simtools.{TOOLS[tool]}")
    try:
        status = module.run(tool, argv[1:], host)
        sys.stdout.flush()
    except BrokenPipeError:
        # like coreutils under `| head`: stop quietly, no traceback
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    return status


def tools_for_os(os_key: str) -> tuple[str, ...]:
    """The tools a host of ``os_key`` has on disk: CentOS/RHEL 7 have no ``dnf``.

    ``command -v dnf`` finds any wrapper in the tools directory, so a directory
    shared by el7 and el8+ hosts makes el7 look like a dnf system to scripts.
    """
    from fleet.lab.simtools.profiles import profile_for

    el7 = profile_for(os_key).family == "el7"
    return tuple(t for t in TOOLS if not (el7 and t == "dnf"))


def install_tools(
    bin_dir: Path, python: str, package_parent: Path, tools: tuple[str, ...] | None = None
) -> None:
    """Write one executable wrapper per tool (all of :data:`TOOLS` by default) into ``bin_dir``.

    ``python`` should be a real interpreter binary (not a shell shim: the
    shebang's ``-SE`` skips site-packages and PYTHON* variables, which is what
    makes start-up cheap).  ``package_parent`` is the directory holding the
    ``fleet`` package.  The package's bytecode is compiled here, because inside
    a lab host the unprivileged login user cannot write ``__pycache__``.
    """
    from fleet.lab.simtools.install import install

    install(Path(bin_dir), python, Path(package_parent), tuple(TOOLS) if tools is None else tools)


def find_python() -> str:
    """An interpreter for :func:`install_tools` that a lab host's login user can execute."""
    from fleet.lab.simtools.install import find_python as _find

    return _find()


def seed(root: Path, spec: dict[str, Any]) -> None:
    """Create a host's initial state (os-release, packages, units, engine) under ``root``."""
    from fleet.lab.simtools.seeding import seed_host

    seed_host(Path(root), spec)
