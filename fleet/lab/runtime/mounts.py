"""A host's mount plan: which of its private paths is bound where, and what becomes read-only.

The machine's other writable mounts (all but /proc, /sys and /dev) are remounted read-only
inside it, so a write outside the host's private paths fails instead of reaching the machine.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from fleet.lab import procfs
from fleet.lab.files import HIDING_DIRS, PRIVATE_DIRS, PRIVATE_FILES, LabHost
from fleet.lab.sudo import protocol as sudo_protocol

# Linux constants (sys/mount.h)
MS_RDONLY = 1
MS_NOSUID = 2
MS_NODEV = 4
MS_NOEXEC = 8
MS_REMOUNT = 32
MS_NOATIME = 1024
MS_NODIRATIME = 2048
MS_BIND = 4096
MS_REC = 16384
MS_PRIVATE = 1 << 18
MS_RELATIME = 1 << 21
MS_STRICTATIME = 1 << 24
_MOUNT_OPTION_FLAGS = {
    "nosuid": MS_NOSUID,
    "nodev": MS_NODEV,
    "noexec": MS_NOEXEC,
    "noatime": MS_NOATIME,
    "nodiratime": MS_NODIRATIME,
    "relatime": MS_RELATIME,
    "strictatime": MS_STRICTATIME,
}


@dataclass(frozen=True)
class Bind:
    source: str
    target: str
    readonly: bool = False
    recursive: bool = False


def under(path: str, parent: str) -> bool:
    return path == parent or path.startswith(parent.rstrip("/") + "/")


def package_parent() -> Path:
    """The folder holding the ``fleet`` package: the hosts' tools and the supervisor import it."""
    import fleet

    return Path(fleet.__file__).resolve().parent.parent


def keep_visible_paths(package_parent: Path) -> list[str]:
    """Paths the tools need (Python, its libraries, fleet) that a private dir would hide.

    E.g. pyenv's Python lives under /root: every host gets its own /root, so the
    interpreter's prefix is bound back, read-only, inside it.
    """
    import site

    candidates = {
        sys.prefix,
        sys.base_prefix,
        sys.exec_prefix,
        str(Path(os.path.realpath(sys.executable)).parent.parent),
        str(package_parent),
        *site.getsitepackages(),
    }
    with contextlib.suppress(AttributeError):
        candidates.add(site.getusersitepackages())
    real = sorted({os.path.realpath(p) for p in candidates if os.path.isdir(p)})
    hidden = [p for p in real if any(under(p, d) for d in HIDING_DIRS)]
    return [p for p in hidden if not any(q != p and under(p, q) for q in hidden)]


def mount_plan(
    host: LabHost, tools: Path, keep: Sequence[str], lab_dir: Path, broker: Path | None = None
) -> list[Bind]:
    """The binds of one host, in an order where every source is still visible when used.

    ``broker``: the built-in sudo's socket folder, bound read-only over the host's
    own (private) ``/run/fleetlab``.
    """
    binds = [
        Bind(str(tools), target, readonly=True) for target in ("/usr/local/bin", "/usr/local/sbin")
    ]
    binds += [Bind(str(host.path(p)), p) for p in (*PRIVATE_DIRS, *PRIVATE_FILES)]
    if broker is not None:
        binds.append(Bind(str(broker), sudo_protocol.SOCKET_DIR, readonly=True))
    binds += [Bind(path, str(host.path(path)), readonly=True) for path in keep]
    binds.append(Bind("/proc/sys", "/proc/sys", readonly=True))
    # The private dir holding the lab directory hides the sources: it goes last.
    hiding = sorted(HIDING_DIRS, key=lambda d: under(str(lab_dir), d))
    binds += [Bind(str(host.path(d)), d, recursive=True) for d in hiding]
    return binds


def readonly_remounts(targets: Iterable[str]) -> tuple[tuple[str, int], ...]:
    """The machine's writable mounts that stay visible in a host: each becomes read-only there."""
    targets = list(targets)
    remounts = []
    for line in (procfs.mountinfo() or "").splitlines():
        fields = line.split()
        point, options = fields[4].replace("\\040", " "), fields[5].split(",")
        if "ro" in options or any(under(point, p) for p in ("/proc", "/sys", "/dev")):
            continue
        if any(under(point, t) for t in targets):
            continue  # replaced or hidden by a private path
        keep = 0
        for option in options:
            keep |= _MOUNT_OPTION_FLAGS.get(option, 0)
        remounts.append((point, keep))
    return tuple(remounts)


def _inside_private(path: str) -> bool:
    """Under a host's private directory: the mount point is in the host's tree, not here."""
    return any(path != d and under(path, d) for d in (*PRIVATE_DIRS, *HIDING_DIRS))


def ensure_mountpoints(binds: Iterable[Bind]) -> list[str]:
    """Create missing mount points on the machine (empty; e.g. /etc/docker on Debian)."""
    created = []
    for bind in binds:
        target = Path(bind.target)
        if target.exists() or target.is_symlink() or _inside_private(bind.target):
            continue
        if Path(bind.source).is_dir():
            missing = [p for p in (target, *target.parents) if not p.exists()]
            target.mkdir(parents=True, exist_ok=True)
            created += [str(p) for p in reversed(missing)]
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.touch()
            created.append(str(target))
    return created


def lab_mounts(directory: Path) -> list[str]:
    """Mounts in this (the machine's) namespace that involve the lab directory."""
    text = procfs.mountinfo() or ""
    return [line for line in text.splitlines() if str(directory) in line]
