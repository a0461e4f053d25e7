"""What kubeadm's node prerequisites look at on a host, as facts: gathered, then parsed purely.

:data:`NODE_SCRIPT` is a fragment of the one facts script (:func:`fleet.facts.facts_script`):
it prints the sections below between the script's own markers, and
:func:`parse_node_facts` reads them into :class:`NodeFacts`.  Every value is asked of a
program (``swapon``, ``lsmod``, ``sysctl``, ``getenforce``, ``stat``) or read from a file
under ``/etc``, never from ``/proc`` directly, so a host answers the same way whether it
is a server or one of the lab's simulated hosts, whose tools are the programs on ``PATH``.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import dataclass, field

MODULES = ("overlay", "br_netfilter")
SYSCTLS = (
    "net.ipv4.ip_forward",
    "net.bridge.bridge-nf-call-iptables",
    "net.bridge.bridge-nf-call-ip6tables",
)
FSTAB = "/etc/fstab"
MODULES_LOAD_DIR = "/etc/modules-load.d"
MODULES_CONF = MODULES_LOAD_DIR + "/k8s.conf"
SYSCTL_CONF = "/etc/sysctl.d/k8s.conf"
SELINUX_CONFIG = "/etc/selinux/config"
CGROUP_ROOT = "/sys/fs/cgroup"

_MODULE_RE = "|".join(MODULES)
# Sections: m NAME starts one (``m`` is the facts script's marker function).  ``swapon -s``
# is util-linux's summary (the /proc/swaps table), known to every release from EL7's 2.23
# on, where ``--show`` is not.  Built-in modules never appear in lsmod; modules.builtin
# names them.  ``sysctl -e`` prints ``key = value`` for the keys the kernel has and
# skips the others (the bridge keys exist only once br_netfilter is loaded).
NODE_SCRIPT = f"""
m swaps; swapon -s 2>/dev/null
m fstab; [ -f {FSTAB} ] && base64 < {FSTAB} | tr -d '\\n'
m lsmod; lsmod 2>/dev/null | grep -E '^({_MODULE_RE})[[:space:]]'
m modules_builtin; grep -hE '/({_MODULE_RE})\\.ko' "/lib/modules/$(uname -r)/modules.builtin" \\
  2>/dev/null
m modules_load; for f in {MODULES_LOAD_DIR}/*.conf; do [ -f "$f" ] && printf '%s %s\\n' \\
  "$(basename "$f")" "$(base64 < "$f" | tr -d '\\n')"; done
m sysctl; sysctl -e {" ".join(SYSCTLS)} 2>/dev/null
m sysctl_conf; [ -f {SYSCTL_CONF} ] && base64 < {SYSCTL_CONF} | tr -d '\\n'
m selinux; command -v getenforce >/dev/null 2>&1 && getenforce 2>/dev/null
m selinux_config; [ -f {SELINUX_CONFIG} ] && base64 < {SELINUX_CONFIG} | tr -d '\\n'
m cgroup_fs; stat -fc %T {CGROUP_ROOT} 2>/dev/null
"""


@dataclass(frozen=True)
class NodeFacts:
    """The node prerequisites' state on one host.  ``None`` where the host did not say."""

    swaps: tuple[str, ...] = ()  # active swap areas (devices or files)
    fstab: str | None = None
    modules: frozenset[str] = frozenset()  # of MODULES: loaded now
    builtin_modules: frozenset[str] = frozenset()  # of MODULES: built into the kernel
    modules_load: Mapping[str, str] = field(default_factory=dict)  # modules-load.d file -> text
    sysctl: Mapping[str, str | None] = field(default_factory=dict)  # absent/None: no such key
    sysctl_conf: str | None = None  # fleet's /etc/sysctl.d/k8s.conf
    selinux: str | None = None  # enforcing, permissive, disabled; None: no getenforce
    selinux_config: str | None = None
    cgroup_fs: str | None = None  # what stat -f reports for /sys/fs/cgroup

    @property
    def cgroup_version(self) -> int | None:
        """2 on the unified hierarchy (cgroup2fs), 1 on the legacy tmpfs of controllers."""
        return {"cgroup2fs": 2, "tmpfs": 1}.get(self.cgroup_fs or "")

    def persisted_modules(self) -> frozenset[str]:
        """Modules some ``/etc/modules-load.d/*.conf`` loads at boot."""
        listed: set[str] = set()
        for text in self.modules_load.values():
            listed.update(parse_modules_load(text))
        return frozenset(listed)


def parse_node_facts(sections: Mapping[str, str]) -> NodeFacts:
    """:class:`NodeFacts` from the sections :data:`NODE_SCRIPT` printed."""
    return NodeFacts(
        swaps=parse_swap_summary(sections.get("swaps", "")),
        fstab=_b64_or_none(sections.get("fstab", "")),
        modules=parse_lsmod(sections.get("lsmod", "")),
        builtin_modules=parse_modules_builtin(sections.get("modules_builtin", "")),
        modules_load=_named_files(sections.get("modules_load", "")),
        sysctl=parse_sysctl_values(sections.get("sysctl", "")),
        sysctl_conf=_b64_or_none(sections.get("sysctl_conf", "")),
        selinux=parse_getenforce(sections.get("selinux", "")),
        selinux_config=_b64_or_none(sections.get("selinux_config", "")),
        cgroup_fs=sections.get("cgroup_fs", "").strip() or None,
    )


def parse_swap_summary(text: str) -> tuple[str, ...]:
    """``swapon -s`` (or /proc/swaps): the swap areas in use, header or not.

    ``Filename  Type  Size  Used  Priority`` then one row per area; a file name with
    spaces is escaped by the kernel (``\\040``), so the first field is the whole name.
    """
    areas = []
    for line in text.splitlines():
        fields = line.split()
        if len(fields) >= 3 and fields[0] != "Filename" and fields[1] in ("partition", "file"):
            areas.append(fields[0])
    return tuple(areas)


def parse_lsmod(text: str) -> frozenset[str]:
    """Module names from ``lsmod`` (``Module Size Used by`` header optional)."""
    names = set()
    for line in text.splitlines():
        fields = line.split()
        if len(fields) >= 3 and fields[0] != "Module" and fields[1].isdigit():
            names.add(fields[0])
    return frozenset(names)


def parse_modules_builtin(text: str) -> frozenset[str]:
    """Module names from ``modules.builtin`` lines (``kernel/fs/overlayfs/overlay.ko``)."""
    names = set()
    for line in text.splitlines():
        leaf = line.strip().rsplit("/", 1)[-1]
        for suffix in (".ko", ".ko.xz", ".ko.gz", ".ko.zst"):
            if leaf.endswith(suffix):
                names.add(leaf[: -len(suffix)].replace("-", "_"))
    return frozenset(names)


def parse_modules_load(text: str) -> list[str]:
    """Module names of a modules-load.d file: one a line, ``#`` and ``;`` start comments."""
    names = []
    for line in text.splitlines():
        name = line.strip()
        if name and name[0] not in "#;":
            names.append(name.split()[0].replace("-", "_"))
    return names


def parse_sysctl_values(text: str) -> dict[str, str | None]:
    """``sysctl`` output (``key = value`` lines); a key not printed is one the kernel lacks."""
    values: dict[str, str | None] = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep and key.strip():
            values[key.strip()] = value.strip() or None
    return values


def parse_sysctl_conf(text: str) -> dict[str, str]:
    """The settings of a sysctl.d file as sysctl reads it: ``key = value``, last one wins.

    ``#`` and ``;`` start comment lines; a leading ``-`` (ignore failure) is not part of
    the key; ``/`` separators read as ``.``.
    """
    settings: dict[str, str] = {}
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped or stripped[0] in "#;":
            continue
        key, sep, value = stripped.partition("=")
        if sep:
            name = key.strip().removeprefix("-").replace("/", ".")
            settings[name] = value.strip()
    return settings


def parse_getenforce(text: str) -> str | None:
    word = text.strip().lower()
    return word if word in ("enforcing", "permissive", "disabled") else None


def parse_selinux_config(text: str) -> str | None:
    """The ``SELINUX=`` mode of /etc/selinux/config (the last assignment), lower case."""
    mode = None
    for line in text.splitlines():
        key, sep, value = line.strip().partition("=")
        if sep and key.strip() == "SELINUX":
            mode = value.strip().strip("\"'").lower()
    return mode


def _named_files(text: str) -> dict[str, str]:
    files = {}
    for line in text.splitlines():
        name, _, encoded = line.partition(" ")
        if name:
            files[name] = _b64_or_none(encoded) or ""
    return files


def _b64_or_none(text: str) -> str | None:
    if not text.strip():
        return None
    try:
        return base64.b64decode(text.strip()).decode("utf-8", "replace")
    except ValueError:
        return None
