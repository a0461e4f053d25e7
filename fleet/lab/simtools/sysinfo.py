"""``uname``, ``findmnt``, ``xfs_info`` and ``stat -f``: the kernel and file systems of the spec.

/var/lib/docker sits on the root file system unless the spec gives it its own
mount (``var_lib_docker.mount``); its type and xfs ``ftype`` come from the spec.
``stat -f -c %T /sys/fs/cgroup`` names the cgroup file system the way coreutils does:
``cgroup2fs`` on the unified hierarchy (cgroup v2), ``tmpfs`` where v1 mounts its
controllers under a tmpfs.  Options these tools do not simulate, and ``stat`` of
anything else, are handed to the machine's real program.
"""

from __future__ import annotations

import os
import sys

from fleet.lab.simtools import kernelstate
from fleet.lab.simtools.state import Host

_REAL = {"uname": "/usr/bin/uname", "findmnt": "/usr/bin/findmnt", "stat": "/usr/bin/stat"}
_CGROUP_ROOT = "/sys/fs/cgroup"
_UNAME_FIELDS = "snrvmpio"


def run(tool: str, args: list[str], host: Host) -> int:
    if tool == "uname":
        return uname(host, args)
    if tool == "findmnt":
        return findmnt(host, args)
    if tool == "stat":
        return stat(host, args)
    return xfs_info(host, args)


def _delegate(tool: str, args: list[str]) -> int:
    os.execv(_REAL[tool], [tool, *args])
    return 127  # not reached


def uname(host: Host, args: list[str]) -> int:
    flags = ""
    for arg in args or ["-s"]:
        long_names = {"--all": "a", "--kernel-name": "s", "--nodename": "n", "--kernel-release": "r",
                      "--kernel-version": "v", "--machine": "m", "--processor": "p",
                      "--hardware-platform": "i", "--operating-system": "o"}  # fmt: skip
        if arg in long_names:
            flags += long_names[arg]
        elif (
            arg.startswith("-")
            and not arg.startswith("--")
            and set(arg[1:]) <= set("a" + _UNAME_FIELDS)
        ):
            flags += arg[1:]
        else:
            return _delegate("uname", args)
    el7 = host.profile.family == "el7"
    values = {
        "s": "Linux",
        "n": os.uname().nodename,
        "r": host.kernel,
        "v": "#1 SMP Wed Sep 30 15:26:31 UTC 2020"
        if el7
        else "#1 SMP PREEMPT_DYNAMIC Tue Nov 7 2023",
        "m": "x86_64",
        "p": "x86_64",
        "i": "x86_64",
        "o": "GNU/Linux",
    }
    chosen = _UNAME_FIELDS if "a" in flags else "".join(f for f in _UNAME_FIELDS if f in flags)
    print(" ".join(values[f] for f in chosen))
    return 0


def _mounts(host: Host) -> list[dict[str, str]]:
    """The host's mount table, most specific first: (target, fstype, source)."""
    vld = host.spec["var_lib_docker"]
    fs = str(vld.get("fs", "xfs"))
    mount = str(vld.get("mount") or "/")
    root_fs = fs if mount == "/" else "xfs"
    device = host.profile.root_device
    table = [{"TARGET": "/", "FSTYPE": root_fs, "SOURCE": device}]
    if mount != "/":
        table.insert(
            0, {"TARGET": mount, "FSTYPE": fs, "SOURCE": device.replace("-root", "-docker")}
        )
    for row in table:
        row["OPTIONS"] = (
            "rw,relatime,attr2,inode64,noquota" if row["FSTYPE"] == "xfs" else "rw,relatime"
        )
        row["SIZE"], row["AVAIL"], row["USED"], row["USE%"] = "50G", "38.2G", "11.8G", "24%"
    return table


def _mount_for(host: Host, path: str) -> dict[str, str]:
    path = "/" + path.strip("/")
    for row in _mounts(host):
        target = row["TARGET"]
        if path == target or path.startswith(target.rstrip("/") + "/"):
            return row
    return _mounts(host)[-1]


def findmnt(host: Host, args: list[str]) -> int:
    columns = ["TARGET", "SOURCE", "FSTYPE", "OPTIONS"]
    headings = True
    target = None
    exact = False
    i = 0
    while i < len(args):
        arg = args[i]
        if arg in ("-n", "--noheadings"):
            headings = False
        elif arg in ("-o", "--output") and i + 1 < len(args):
            columns = [c.strip().upper() for c in args[i + 1].split(",")]
            i += 1
        elif arg.startswith("--output="):
            columns = [c.strip().upper() for c in arg.split("=", 1)[1].split(",")]
        elif arg in ("-T", "--target") and i + 1 < len(args):
            target = args[i + 1]
            i += 1
        elif arg in ("-M", "--mountpoint") and i + 1 < len(args):
            target, exact = args[i + 1], True
            i += 1
        elif not arg.startswith("-"):
            target, exact = arg, True
        elif arg not in ("-f", "--first-only", "-v", "--nofsroot"):
            return _delegate("findmnt", args)
        i += 1
    if target is None:
        return _delegate("findmnt", args)
    row = _mount_for(host, target)
    if exact and row["TARGET"] != "/" + target.strip("/"):
        return 1  # findmnt prints nothing for a path that is not a mount point
    if any(c not in row for c in columns):
        bad = next(c for c in columns if c not in row)
        print(f"findmnt: unknown column: {bad}", file=sys.stderr)
        return 1
    values = [row[c] for c in columns]
    if headings:
        widths = [max(len(c), len(v)) for c, v in zip(columns, values, strict=True)]
        print(" ".join(f"{c:<{w}}" for c, w in zip(columns, widths, strict=True)).rstrip())
        print(" ".join(f"{v:<{w}}" for v, w in zip(values, widths, strict=True)).rstrip())
    else:
        print(" ".join(values))
    return 0


def xfs_info(host: Host, args: list[str]) -> int:
    paths = [a for a in args if not a.startswith("-")]
    if not paths:
        print("Usage: xfs_info [-V] [-t mtab] [mountpoint|device|file]", file=sys.stderr)
        return 1
    path = "/" + paths[0].strip("/")
    row = _mount_for(host, path)
    el7 = host.profile.family == "el7"
    if row["FSTYPE"] != "xfs" or (el7 and row["TARGET"] != path):
        print(f"xfs_info: {paths[0]} is not a mounted XFS filesystem", file=sys.stderr)
        return 1
    ftype = int(host.spec["var_lib_docker"].get("ftype", 1)) if _holds_docker(host, row) else 1
    meta = f"meta-data={row['SOURCE']}"
    meta = f"{meta:<32} " if len(meta) < 33 else f"{meta} "
    lines = [
        f"{meta}isize={512 if ftype else 256:<6} agcount=4, agsize=3276800 blks",
        "         =                       sectsz=512   attr=2, projid32bit=1",
    ]
    if el7:
        lines.append(f"         =                       crc={ftype}        finobt=0 spinodes=0")
    else:
        lines.append(
            f"         =                       crc={ftype}        finobt=1, sparse=1, rmapbt=0"
        )
        lines.append(f"         =                       reflink={ftype}")
    lines += [
        "data     =                       bsize=4096   blocks=13107200, imaxpct=25",
        "         =                       sunit=0      swidth=0 blks",
        f"naming   =version 2              bsize=4096   ascii-ci=0 ftype={ftype}",
        "log      =internal               bsize=4096   blocks=6400, version=2",
        "         =                       sectsz=512   sunit=0 blks, lazy-count=1",
        "realtime =none                   extsz=4096   blocks=0, rtextents=0",
    ]
    print("\n".join(lines))
    return 0


def _holds_docker(host: Host, row: dict[str, str]) -> bool:
    return _mount_for(host, "/var/lib/docker")["TARGET"] == row["TARGET"]


def stat(host: Host, args: list[str]) -> int:
    """``stat -f -c %T /sys/fs/cgroup`` (in any spelling); any other stat is the real one."""
    file_system, fmt, paths = False, None, []
    words = iter(args)
    for arg in words:
        if arg in ("-f", "--file-system"):
            file_system = True
        elif arg.startswith("--format="):
            fmt = arg.split("=", 1)[1]
        elif arg in ("-c", "--format"):
            fmt = next(words, None)
        elif arg.startswith("-") and not arg.startswith("--") and len(arg) > 1:
            cluster = arg[1:]
            for i, flag in enumerate(cluster):
                if flag == "c":  # -c takes the rest of the word, or the next word
                    fmt = cluster[i + 1 :] or next(words, None)
                    break
                if flag not in "fL":
                    return _delegate("stat", args)
                file_system |= flag == "f"
        elif arg.startswith("-"):
            return _delegate("stat", args)
        else:
            paths.append(arg)
    if not (file_system and fmt == "%T" and paths):
        return _delegate("stat", args)
    if any("/" + p.strip("/") != _CGROUP_ROOT for p in paths):
        return _delegate("stat", args)
    name = "cgroup2fs" if kernelstate.cgroup_version(host) == 2 else "tmpfs"
    print("\n".join(name for _ in paths))
    return 0
