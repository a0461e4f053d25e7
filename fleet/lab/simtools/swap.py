"""``swapon`` and ``swapoff`` (util-linux) over the host's own swap areas.

``swapon -s`` prints the kernel's /proc/swaps table (header, then ``%-39s\\t%s\\t%d\\t%d\\t%d``
rows of name, type, size and use in KiB, priority); ``--show`` exists from util-linux
2.26, so EL7's 2.23 refuses it as an unrecognised option.  ``swapon -a`` activates the
swap entries of /etc/fstab (type ``swap``, without ``noauto``) that are not active yet,
which is what a reboot would do.  ``swapoff -a`` deactivates every area.  Changing swap
needs root: swapon(2) and swapoff(2) fail with EPERM otherwise.
"""

from __future__ import annotations

import sys
from typing import Any

from fleet.lab.simtools import kernelstate
from fleet.lab.simtools.state import Host, is_root

_HEADER = "Filename\t\t\t\tType\t\tSize\tUsed\tPriority"


def run(tool: str, args: list[str], host: Host) -> int:
    option = args[0] if args else ""
    el7 = host.profile.family == "el7"
    if tool == "swapon" and not args and not el7:
        return show(kernelstate.load(host))  # no arguments: --show, from 2.26
    if option.startswith("-") and (option not in _OPTIONS[tool] or (el7 and option == "--show")):
        print(f"{tool}: unrecognized option '{option}'", file=sys.stderr)
        print(f"Try '{tool} --help' for more information.", file=sys.stderr)
        return 1
    if not args:
        print(f"\nUsage:\n {tool} [options] [<spec>]", file=sys.stderr)
        return 1
    if tool == "swapoff":
        return swapoff(host, args)
    if option in ("-s", "--summary"):
        return summary(kernelstate.load(host))
    if option == "--show":
        return show(kernelstate.load(host))
    return activate(host, _fstab_swaps(host) if option in ("-a", "--all") else args)


_OPTIONS: dict[str, tuple[str, ...]] = {
    "swapon": ("-a", "--all", "-s", "--summary", "--show"),
    "swapoff": ("-a", "--all"),
}


def summary(state: dict[str, Any]) -> int:
    print(_HEADER)
    for row in state["swaps"]:
        print(f"{row['name']:<39}\t{row['type']}\t{row['size']}\t{row['used']}\t{row['priority']}")
    return 0


def show(state: dict[str, Any]) -> int:
    if state["swaps"]:
        print("NAME      TYPE      SIZE USED PRIO")
    for row in state["swaps"]:
        size = f"{round(row['size'] / 1048576)}G"
        print(f"{row['name']:<9} {row['type']:<9} {size:>4}   0B {row['priority']:>4}")
    return 0


def _fstab_swaps(host: Host) -> list[str]:
    """Swap entries of the host's fstab: type ``swap``, not commented, not ``noauto``."""
    try:
        text = host.path(kernelstate.FSTAB).read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    entries = []
    for line in text.splitlines():
        fields = line.split()
        if len(fields) < 3 or fields[0].startswith("#") or fields[2] != "swap":
            continue
        if "noauto" not in (fields[3].split(",") if len(fields) > 3 else []):
            entries.append(fields[0])
    return entries


def activate(host: Host, specs: list[str]) -> int:
    """Turn on each swap area not active yet; only the installer's swap volume exists."""
    status = 0
    with kernelstate.changing(host) as state:
        active = {row["name"] for row in state["swaps"]}
        for spec in specs:
            known = spec in (kernelstate.swap_device(host), kernelstate.SWAP_KERNEL_NAME)
            if not known:
                print(f"swapon: {spec}: stat failed: No such file or directory", file=sys.stderr)
                status = 255
            elif kernelstate.SWAP_KERNEL_NAME in active:
                continue
            elif not is_root():
                print(f"swapon: {spec}: swapon failed: Operation not permitted", file=sys.stderr)
                status = 255
            else:
                state["swaps"].append(kernelstate.swap_row(kernelstate.SWAP_KERNEL_NAME))
                active.add(kernelstate.SWAP_KERNEL_NAME)
    return status


def swapoff(host: Host, args: list[str]) -> int:
    with kernelstate.changing(host) as state:
        every = args[0] in ("-a", "--all")
        names = {
            kernelstate.SWAP_KERNEL_NAME if a == kernelstate.swap_device(host) else a for a in args
        }
        chosen = [row for row in state["swaps"] if every or row["name"] in names]
        if chosen and not is_root():
            print(
                f"swapoff: {chosen[0]['name']}: swapoff failed: Operation not permitted",
                file=sys.stderr,
            )
            return 255
        state["swaps"] = [row for row in state["swaps"] if row not in chosen]
    return 0
