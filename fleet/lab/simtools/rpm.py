"""``rpm -q``: query the host's rpm database (read-only; works for any user, like rpm)."""

from __future__ import annotations

import fnmatch
import sys
import time

from fleet.lab.simtools import packages
from fleet.lab.simtools.packages import Pkg
from fleet.lab.simtools.state import Host

_USAGE = "rpm: no arguments given for query"


def run(tool: str, args: list[str], host: Host) -> int:
    query_format = None
    query_all = False
    names: list[str] = []
    query = False
    i = 0
    while i < len(args):
        arg = args[i]
        i += 1
        if arg in ("-q", "--query"):
            query = True
        elif arg in ("-qa", "-aq"):
            query = query_all = True
        elif arg in ("-a", "--all"):
            query_all = True
        elif arg in ("--qf", "--queryformat") and i < len(args):
            query_format = args[i]
            i += 1
        elif arg.startswith(("--qf=", "--queryformat=")):
            query_format = arg.split("=", 1)[1]
        elif arg.startswith("-"):
            print(f"rpm: {arg}: unknown option", file=sys.stderr)
            return 1
        else:
            names.append(arg)
    if not query:
        print("rpm: only the query mode (-q) is simulated in the lab", file=sys.stderr)
        return 1
    pkgs = packages.installed(host)
    if query_all:
        chosen = [p for p in pkgs if not names or any(fnmatch.fnmatch(p.name, n) for n in names)]
        for pkg in sorted(chosen, key=lambda p: p.name):
            _emit(pkg, query_format)
        return 0
    if not names:
        print(_USAGE, file=sys.stderr)
        return 1
    failed = 0
    for name in names:
        found = packages.match(name, pkgs)
        if not found:
            # rpm logs this at NOTICE level, which goes to stdout
            print(f"package {name} is not installed")
            failed += 1
        for pkg in found:
            _emit(pkg, query_format)
    return failed


def _emit(pkg: Pkg, query_format: str | None) -> None:
    if query_format is None:
        print(pkg.nvra)
        return
    sys.stdout.write(render(query_format, pkg))


def render(fmt: str, pkg: Pkg) -> str:
    """rpm's ``--queryformat``: %{TAG} (optionally %-20{TAG}) and backslash escapes."""
    tags = {
        "NAME": pkg.name,
        "VERSION": pkg.version,
        "RELEASE": pkg.release,
        "ARCH": pkg.arch,
        "EPOCH": pkg.epoch if pkg.epoch != "0" else "(none)",
        "EPOCHNUM": pkg.epoch,
        "NVRA": pkg.nvra,
        "NEVRA": f"{pkg.name}-{pkg.evr}.{pkg.arch}",
        "INSTALLTIME": str(int(time.time())),
    }
    out = []
    i = 0
    while i < len(fmt):
        ch = fmt[i]
        if ch == "\\" and i + 1 < len(fmt):
            out.append({"n": "\n", "t": "\t", "\\": "\\"}.get(fmt[i + 1], fmt[i + 1]))
            i += 2
        elif ch == "%" and "{" in fmt[i:]:
            start = fmt.index("{", i)
            end = fmt.index("}", start)
            width = fmt[i + 1 : start]
            tag = fmt[start + 1 : end].split(":")[0].upper()
            value = tags.get(tag, "(none)")
            out.append(f"{value:{'<' if width.startswith('-') else '>'}{width.lstrip('-') or 0}}")
            i = end + 1
        else:
            out.append(ch)
            i += 1
    return "".join(out)
