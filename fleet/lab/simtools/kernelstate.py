"""A lab host's kernel as the node prerequisites see it: swap, modules, sysctls, SELinux, cgroups.

The machine's kernel is shared by every lab host, so each host keeps a kernel of its
own in ``/var/lib/fleetlab/kernel.json``: the swap areas in use, the loaded modules
(oldest first, as they were loaded), the sysctl values written since boot and the
SELinux mode.  It starts from the host spec (``swap``, ``modules``, ``sysctl``,
``selinux``, ``cgroup``) and changes only through the simulated ``swapon``/``swapoff``,
``modprobe``, ``sysctl`` and ``setenforce``.  The files a boot reads (``/etc/fstab``,
``/etc/selinux/config``, ``/etc/sysctl.conf``) are seeded here too.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from fleet.lab.simtools.state import STATE_DIR, Host, is_root, write_text

KERNEL = f"{STATE_DIR}/kernel.json"
FSTAB = "/etc/fstab"
SELINUX_CONFIG = "/etc/selinux/config"
SYSCTL_CONF = "/etc/sysctl.conf"

# name -> (size in lsmod, modules it needs).  What a stock EL kernel ships, in part.
MODULES: dict[str, tuple[int, tuple[str, ...]]] = {
    "overlay": (71964, ()),
    "br_netfilter": (22256, ("bridge",)),
    "bridge": (151336, ("stp", "llc")),
    "stp": (12976, ("llc",)),
    "llc": (14552, ()),
    "ip_tables": (27126, ()),
    "nf_conntrack": (139264, ("libcrc32c",)),
    "ip_vs": (145497, ("nf_conntrack", "libcrc32c")),
    "veth": (13410, ()),
    "vxlan": (53857, ()),
    "xfs": (997127, ("libcrc32c",)),
    "libcrc32c": (12644, ()),
    "dm_mod": (124407, ()),
    "sd_mod": (46281, ()),
    "virtio_net": (28063, ()),
}
BOOT_MODULES = ("dm_mod", "libcrc32c", "xfs", "sd_mod", "virtio_net", "ip_tables")


SWAP_KERNEL_NAME = "/dev/dm-1"  # how /proc/swaps names the swap logical volume
SWAP_SIZE_KIB = 2097148


def swap_device(host: Host) -> str:
    """The installer's swap volume as fstab names it (``/dev/mapper/centos-swap``)."""
    return host.profile.root_device.replace("-root", "-swap")


def cgroup_version(host: Host) -> int:
    """The spec's ``cgroup: v1|v2``, else the OS's own (EL7/EL8: v1, EL9: v2)."""
    given = str(host.spec.get("cgroup") or "")
    return int(given[1:]) if given in ("v1", "v2") else host.profile.cgroup_version


def load(host: Host) -> dict[str, Any]:
    """The kernel state now (the boot state when no tool changed it yet)."""
    state = host.read(KERNEL, None)
    return state if state is not None else boot_state(host)


def save(host: Host, state: dict[str, Any]) -> None:
    host.write(KERNEL, state)


@contextmanager
def changing(host: Host) -> Iterator[dict[str, Any]]:
    """The state to change, saved after the block, under the host's state lock.

    A caller that is not root may change nothing (the tools refuse first, as the
    system calls would); it gets the state unlocked and nothing is saved.
    """
    if not is_root():
        yield load(host)
        return
    with host.locked():
        state = load(host)
        yield state
        save(host, state)


def boot_state(host: Host) -> dict[str, Any]:
    swap = str(host.spec.get("swap") or "on")
    extra = [str(m) for m in host.spec.get("modules") or () if str(m) in MODULES]
    modules: list[str] = []
    for name in (*BOOT_MODULES, *extra):
        _load_into(modules, name)
    return {
        "swaps": [swap_row(SWAP_KERNEL_NAME)] if swap == "on" else [],
        "modules": modules,
        "sysctl": {str(k): str(v) for k, v in (host.spec.get("sysctl") or {}).items()},
        "selinux": str(host.spec.get("selinux") or "enforcing"),
    }


def swap_row(name: str, kind: str = "partition", size: int = SWAP_SIZE_KIB) -> dict[str, Any]:
    return {"name": name, "type": kind, "size": size, "used": 0, "priority": -2}


def _load_into(modules: list[str], name: str) -> None:
    """Load ``name`` after what it needs, as modprobe resolves modules.dep."""
    if name in modules:
        return
    for dep in MODULES[name][1]:
        _load_into(modules, dep)
    modules.append(name)


def load_module(state: dict[str, Any], name: str) -> None:
    _load_into(state["modules"], name)


def holders(modules: list[str], name: str) -> list[str]:
    """Loaded modules that use ``name`` (lsmod's "Used by"), newest first."""
    return [m for m in reversed(modules) if name in MODULES[m][1]]


def seed_files(host: Host) -> None:
    """The boot files the spec implies: fstab with its swap line, SELinux config, sysctl.conf."""
    device = swap_device(host)
    swap = str(host.spec.get("swap") or "on")
    lines = [
        "",
        "#",
        "# /etc/fstab",
        "# Created by anaconda on Tue Oct 13 10:12:23 2020",
        "#",
        "# Accessible filesystems, by reference, are maintained under '/dev/disk'",
        "# See man pages fstab(5), findfs(8), mount(8) and/or blkid(8) for more info",
        "#",
        f"{host.profile.root_device} /                       xfs     defaults        0 0",
        "UUID=6f5b0d4e-3b1a-4f5e-9a1c-2f0c8d7e6b5a /boot                   xfs     defaults"
        "        0 0",
    ]
    if swap in ("on", "fstab"):
        lines.append(f"{device} swap                    swap    defaults        0 0")
    write_text(host.path(FSTAB), "\n".join(lines) + "\n")
    mode = str(host.spec.get("selinux") or "enforcing")
    write_text(host.path(SELINUX_CONFIG), _SELINUX_CONFIG.format(mode=mode))
    write_text(host.path(SYSCTL_CONF), _SYSCTL_CONF)
    for folder in ("/etc/sysctl.d", "/etc/modules-load.d", "/run/sysctl.d"):
        host.path(folder).mkdir(parents=True, exist_ok=True)
    save(host, boot_state(host))


# The files as the EL installers leave them (selinux-policy's config, systemd's sysctl.conf).
_SELINUX_CONFIG = """
# This file controls the state of SELinux on the system.
# SELINUX= can take one of these three values:
#     enforcing - SELinux security policy is enforced.
#     permissive - SELinux prints warnings instead of enforcing.
#     disabled - No SELinux policy is loaded.
SELINUX={mode}
# SELINUXTYPE= can take one of three values:
#     targeted - Targeted processes are protected,
#     minimum - Modification of targeted policy. Only selected processes are protected.
#     mls - Multi Level Security protection.
SELINUXTYPE=targeted

"""
_SYSCTL_CONF = """# sysctl settings are defined through files in
# /usr/lib/sysctl.d/, /run/sysctl.d/, and /etc/sysctl.d/.
#
# Vendors settings live in /usr/lib/sysctl.d/.
# To override a whole file, create a new file with the same in
# /etc/sysctl.d/ and put new settings there. To override
# only specific settings, add a file with a lexically later
# name in /etc/sysctl.d/ and put new settings there.
#
# For more information, see sysctl.conf(5) and sysctl.d(5).
"""
