"""What the running containerd says about itself: one read-only script, pure parsers, a check.

The proof reads the running daemon, not the file fleet wrote.  With ``crictl`` on the host
it is ``crictl info``: the CRI plugin answers at all, and runc's cgroup driver is
``.config.containerd.runtimes.runc.options.SystemdCgroup`` (options are a raw TOML map,
so the key keeps its TOML spelling).  The top-level ``.config.systemdCgroup`` is the
deprecated v1 shim's setting and stays false when runc uses systemd (cri-tools #728):
it is never read.  Without ``crictl``: ``ctr plugins ls`` must list the CRI plugin as
``ok``, the daemon must have started after config.toml was last written (``containerd
config dump`` merges the *file*, so it says what the daemon runs only if the daemon read
that file), and the dump must show the setting.  ``crictl`` counts as present when it
runs (``crictl --version``), not merely when a file of that name is on the PATH.  The
parsers never raise; the shapes
they read are in tests/data/containerd/.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from fleet.containerdconfig import CONFIG_TOML, CRI_PLUGINS, LAYOUTS, V2_CRI, V3_IMAGES
from fleet.facts import parse_systemctl_show, split_sections

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

CRI_ENDPOINT = "unix:///run/containerd/containerd.sock"
UNIT = "containerd.service"
# Types under which `ctr plugins ls` lists the CRI plugin: 1.x's one gRPC plugin, 2.x's
# gRPC service plus its runtime and images halves.
_CRI_ROWS = {("io.containerd.grpc.v1", "cri"), ("io.containerd.cri.v1", "runtime")}

VERIFY_SCRIPT = f"""
m() {{ printf '\\n@@fleet:%s\\n' "$1"; }}
c=; command -v crictl >/dev/null 2>&1 && crictl --version >/dev/null 2>&1 && c=1
m version; containerd --version 2>&1
m unit; systemctl show -p Id -p ActiveState -p UnitFileState -p ActiveEnterTimestamp {UNIT} 2>/dev/null
m started; t=$(systemctl show -p ActiveEnterTimestamp {UNIT} 2>/dev/null | cut -d= -f2-)
[ -n "$t" ] && {{ date -d "$t" +%s 2>/dev/null || date -d "${{t% *}}" +%s 2>/dev/null; }}
m written; stat -c %Y {CONFIG_TOML} 2>/dev/null
m crictl; [ -n "$c" ] && crictl --runtime-endpoint {CRI_ENDPOINT} info 2>&1
m plugins; [ -z "$c" ] && ctr plugins ls 2>&1
m dump; containerd config dump 2>/dev/null
m end
"""
VERIFY_DESCRIPTION = "crictl info, or ctr plugins ls and containerd config dump"


@dataclass(frozen=True)
class CriView:
    """What ``crictl info`` showed: whether CRI answered, and runc's settings."""

    answered: bool
    systemd_cgroup: bool | None = None
    snapshotter: str | None = None
    sandbox_image: str | None = None
    error: str | None = None


@dataclass(frozen=True)
class DumpView:
    """What ``containerd config dump`` showed (the file merged with the defaults)."""

    cri_disabled: bool | None = None
    systemd_cgroup: bool | None = None
    snapshotter: str | None = None
    sandbox_image: str | None = None


@dataclass(frozen=True)
class RuntimeInfo:
    """The running containerd, as the verification script saw it."""

    version: str | None = None
    active: str = "unknown"
    enabled: str = "unknown"
    cri: bool | None = None
    cgroup_driver: str | None = None  # systemd | cgroupfs | None (not known)
    snapshotter: str | None = None
    sandbox_image: str | None = None
    source: str = ""  # "crictl info" or "ctr plugins ls + config dump"
    stale: bool | None = None  # started before config.toml was last written
    said: str | None = None  # what a tool printed when it failed


def parse_version(text: str) -> str | None:
    """``containerd containerd.io v2.2.1 dea7…`` / ``… 1.6.33 d2d5…`` / Debian's
    ``containerd github.com/containerd/containerd 1.6.20~ds1 1.6.20~ds1-1+deb12u3`` -> the
    upstream version, without ``v`` and Debian's ``~ds1``."""
    for line in text.splitlines():
        parts = line.split()
        if len(parts) >= 3 and parts[0] == "containerd":
            match = re.match(r"v?(\d+(?:\.\d+)+)", parts[2])
            if match:
                return match.group(1)
    return None


def parse_crictl_info(text: str) -> CriView:
    """``crictl info``: JSON when the CRI answers; else the error it printed."""
    try:
        data = json.loads(text[text.index("{") :]) if "{" in text else None
    except ValueError:
        data = None
    if not isinstance(data, Mapping) or not isinstance(data.get("config"), Mapping):
        lines = [line.strip() for line in text.splitlines() if line.strip()]
        return CriView(False, error=lines[-1] if lines else "crictl printed nothing")
    config = data["config"]
    containerd = _get(config, "containerd")
    runc = _get(containerd, "runtimes", "runc")
    systemd = _get(runc, "options", "SystemdCgroup")
    snapshotter = _get(runc, "snapshotter") or _get(containerd, "snapshotter")
    return CriView(
        True,
        systemd_cgroup=systemd if isinstance(systemd, bool) else None,
        snapshotter=snapshotter if isinstance(snapshotter, str) and snapshotter else None,
        sandbox_image=_str(config.get("sandboxImage")),
    )


def parse_ctr_plugins(text: str) -> dict[tuple[str, str], str]:
    """``ctr plugins ls`` -> ``{(type, id): status}`` (``ok``, ``skip``, ``error``).

    A disabled plugin is not listed at all; one that failed to load is ``error``.
    """
    rows: dict[tuple[str, str], str] = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 4 and parts[0].startswith("io.containerd."):
            rows[(parts[0], parts[1])] = parts[3]
    return rows


def cri_status(plugins: Mapping[tuple[str, str], str]) -> str | None:
    """The CRI plugin's status in a ``ctr plugins ls`` listing; None when it is not there."""
    found = [status for row, status in plugins.items() if row in _CRI_ROWS]
    if not found:
        return None
    return "ok" if all(status == "ok" for status in found) else found[0]


def parse_config_dump(text: str) -> DumpView:
    """``containerd config dump``: version 2 (1.x) or 3 (2.x) layout, whichever it printed."""
    try:
        dump = tomllib.loads(text)
    except tomllib.TOMLDecodeError:
        return DumpView()
    disabled = dump.get("disabled_plugins")
    cri_off = any(p in CRI_PLUGINS for p in disabled) if isinstance(disabled, list) else None
    version = dump.get("version") if isinstance(dump.get("version"), int) else 2
    layout = LAYOUTS[3 if version >= 3 else 2]
    systemd = _get(dump, *layout.options, "SystemdCgroup")
    if version >= 3:
        snapshotter = _get(dump, "plugins", V3_IMAGES, "snapshotter")
    else:
        snapshotter = _get(dump, "plugins", V2_CRI, "containerd", "snapshotter")
    return DumpView(
        cri_disabled=cri_off,
        systemd_cgroup=systemd if isinstance(systemd, bool) else None,
        snapshotter=_str(snapshotter),
        sandbox_image=_str(_get(dump, *layout.sandbox)),
    )


def parse_verification(text: str) -> RuntimeInfo:
    """The output of :data:`VERIFY_SCRIPT` -> :class:`RuntimeInfo`."""
    s = split_sections(text)
    unit = parse_systemctl_show(s.get("unit", "")).get(UNIT, {})
    dump = parse_config_dump(s.get("dump", ""))
    common = {
        "version": parse_version(s.get("version", "")),
        "active": unit.get("ActiveState") or "unknown",
        "enabled": unit.get("UnitFileState") or "unknown",
    }
    if s.get("crictl", "").strip():
        view = parse_crictl_info(s["crictl"])
        return RuntimeInfo(
            **common,
            cri=view.answered,
            cgroup_driver=_driver(view.systemd_cgroup) if view.answered else None,
            snapshotter=view.snapshotter or dump.snapshotter,
            sandbox_image=view.sandbox_image or dump.sandbox_image,
            source="crictl info",
            said=view.error,
        )
    status = cri_status(parse_ctr_plugins(s.get("plugins", "")))
    started, written = _int(s.get("started", "")), _int(s.get("written", ""))
    return RuntimeInfo(
        **common,
        cri=status == "ok",
        cgroup_driver=_driver(dump.systemd_cgroup) if dump.cri_disabled is not None else None,
        snapshotter=dump.snapshotter,
        sandbox_image=dump.sandbox_image,
        source="ctr plugins ls + config dump",
        stale=None if started is None or written is None else started < written,
        said=None if status in ("ok", None) else f"ctr plugins ls: CRI plugin {status}",
    )


def check_runtime(info: RuntimeInfo, cgroup_driver: str = "systemd") -> list[str]:
    """Why the running containerd is not a node's runtime yet, as sentences; [] when it is."""
    if info.active != "active":
        return [f"containerd is not running (ActiveState {info.active})"]
    problems = []
    if info.stale:
        problems.append(
            f"containerd started before {CONFIG_TOML} was last written, so it does not run "
            "that file: restart containerd"
        )
    if not info.cri:
        why = f" ({info.said})" if info.said else ""
        problems.append(f"the CRI plugin is not serving{why}: kubeadm and the kubelet need it")
    elif info.cgroup_driver is None:
        problems.append("could not tell runc's cgroup driver from the running containerd")
    elif info.cgroup_driver != cgroup_driver:
        problems.append(
            f"runc uses the {info.cgroup_driver} cgroup driver, not {cgroup_driver} "
            "(SystemdCgroup under the runc runtime's options)"
        )
    return problems


def _driver(systemd_cgroup: bool | None) -> str:
    """No ``SystemdCgroup`` key means cgroupfs (containerd's runtime_config_linux.go)."""
    return "systemd" if systemd_cgroup else "cgroupfs"


def _get(node: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(node, Mapping) or key not in node:
            return None
        node = node[key]
    return node


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _int(text: str) -> int | None:
    text = text.strip()
    return int(text) if text.isdigit() else None
