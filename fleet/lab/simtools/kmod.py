"""``modprobe`` and ``lsmod`` (kmod) over the host's own loaded modules.

modprobe's first name is the module; further words are its parameters unless ``-a``
(``--all``) makes every word a module, so ``modprobe overlay br_netfilter`` hands
``br_netfilter`` to overlay as a parameter and the kernel refuses it (init_module fails
with ENOENT, which kmod reports as "Unknown symbol in module, or unknown parameter").
A module the kernel lacks is ``FATAL: Module X not found.`` (kmod 20, EL7) or ``...
not found in directory /lib/modules/RELEASE`` (later kmod).  Loading needs root
(init_module: EPERM).  lsmod prints kmod's ``%-19s %8ld  %d`` rows with the holders,
newest module first, as /proc/modules lists them.
"""

from __future__ import annotations

import sys

from fleet.lab.simtools import kernelstate
from fleet.lab.simtools.state import Host, is_root


def run(tool: str, args: list[str], host: Host) -> int:
    if tool == "lsmod":
        return lsmod(host)
    return modprobe(host, args)


def lsmod(host: Host) -> int:
    modules = kernelstate.load(host)["modules"]
    print("Module                  Size  Used by")
    for name in reversed(modules):
        users = kernelstate.holders(modules, name)
        size = kernelstate.MODULES[name][0]
        line = f"{name:<19} {size:>8}  {len(users)}"
        print(line + (" " + ",".join(users) if users else " "))
    return 0


def modprobe(host: Host, args: list[str]) -> int:
    every, quiet, words = False, False, []
    for arg in args:
        if arg in ("-a", "--all"):
            every = True
        elif arg in ("-q", "--quiet"):
            quiet = True
        elif arg in ("-v", "--verbose", "-b", "--use-blacklist"):
            continue
        elif arg.startswith("-"):
            print(f"modprobe: ERROR: fleetlab simulates no modprobe option {arg}", file=sys.stderr)
            return 1
        else:
            words.append(arg)
    if not words:
        print("modprobe: ERROR: missing parameters. See -h.", file=sys.stderr)
        return 1
    names, parameters = (words, []) if every else (words[:1], words[1:])
    with kernelstate.changing(host) as state:
        for name in (n.replace("-", "_") for n in names):
            status = _insert(host, state, name, parameters, quiet)
            if status:
                return status
    return 0


def _insert(host: Host, state: dict, name: str, parameters: list[str], quiet: bool) -> int:
    if name not in kernelstate.MODULES:
        if not quiet:
            found = (
                "not found." if host.profile.family == "el7"
                else f"not found in directory /lib/modules/{host.kernel}"
            )  # fmt: skip
            print(f"modprobe: FATAL: Module {name} {found}", file=sys.stderr)
        return 1
    if name in state["modules"]:
        return 0
    if not is_root():
        print(
            f"modprobe: ERROR: could not insert '{name}': Operation not permitted", file=sys.stderr
        )
        return 1
    if parameters:
        print(
            f"modprobe: ERROR: could not insert '{name}': Unknown symbol in module, "
            "or unknown parameter (see dmesg)",
            file=sys.stderr,
        )
        return 1
    kernelstate.load_module(state, name)
    return 0
