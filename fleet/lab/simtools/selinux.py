"""``getenforce`` and ``setenforce`` (libselinux-utils) over the host's own SELinux mode.

getenforce prints ``Enforcing``, ``Permissive`` or ``Disabled``.  setenforce takes
``1``/``Enforcing`` or ``0``/``Permissive`` (any case); on a system booted with SELinux
disabled it can change nothing (``setenforce: SELinux is disabled``), and it needs root.
The mode at boot comes from /etc/selinux/config, which neither tool reads or writes.
"""

from __future__ import annotations

import sys

from fleet.lab.simtools import kernelstate
from fleet.lab.simtools.state import Host, is_root

_MODES = {"1": "enforcing", "enforcing": "enforcing", "0": "permissive", "permissive": "permissive"}


def run(tool: str, args: list[str], host: Host) -> int:
    if tool == "getenforce":
        print(kernelstate.load(host)["selinux"].capitalize())
        return 0
    return setenforce(host, args)


def setenforce(host: Host, args: list[str]) -> int:
    wanted = _MODES.get(args[0].lower()) if len(args) == 1 else None
    if wanted is None:
        print("usage:  setenforce [ Enforcing | Permissive | 1 | 0 ]", file=sys.stderr)
        return 1
    with kernelstate.changing(host) as state:
        if state["selinux"] == "disabled":
            print("setenforce: SELinux is disabled", file=sys.stderr)
            return 1
        if not is_root():
            print("setenforce:  setenforce() failed", file=sys.stderr)
            return 1
        state["selinux"] = wanted
    return 0
