"""Merge what a Kubernetes node needs into the owner's ``/etc/containerd/config.toml``.

The file is read and written as TOML (``tomllib``/``tomli`` in, ``tomli-w`` out), never
edited line by line: containerd 2.0/2.1's ``config default`` prints no ``SystemdCgroup``
line at all, so a text substitution silently does nothing there.  What is merged:

- the CRI plugin enabled: the containerd.io package ships ``disabled_plugins = ["cri"]``,
  and with it kubeadm fails with ``unknown service runtime.v1.RuntimeService``;
- ``SystemdCgroup = true`` under the runc runtime's options and the sandbox (pause) image,
  at the table paths of the schema the installed containerd reads: ``version = 2`` for
  containerd 1.x, ``version = 3`` for 2.x (:data:`LAYOUTS`).

Everything else of the owner's (registry mirrors, ``root``, other plugins) is kept.  A
versionless (version 1) file has its plugin names migrated to version 2 by containerd's
own rule (``v1MigratePluginName``, cmd/containerd/server/config/config.go in 2.x), since
1.x refuses short names in a version 2 file (``invalid disabled plugin URI "cri"``).  A
version 2 file that already configures the CRI plugin is kept at version 2 on containerd
2.x, which converts it at start (docs/cri/config.md), rather than half-translated here.
"""

from __future__ import annotations

import copy
import sys
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass
from typing import Any

import tomli_w

from fleet.daemonjson import engine_version_tuple, unified_diff

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

CONFIG_TOML = "/etc/containerd/config.toml"
RUNC_TYPE = "io.containerd.runc.v2"
V2_CRI = "io.containerd.grpc.v1.cri"
V3_RUNTIME = "io.containerd.cri.v1.runtime"
V3_IMAGES = "io.containerd.cri.v1.images"
# Every name under which the CRI plugin (or, on 2.x, one of its halves) can be disabled.
CRI_PLUGINS = ("cri", V2_CRI, V3_RUNTIME, V3_IMAGES)


@dataclass(frozen=True)
class Layout:
    """Where one config schema keeps the two settings fleet writes."""

    version: int
    runc: tuple[str, ...]  # the runc runtime's table
    sandbox: tuple[str, ...]  # the sandbox image key

    @property
    def options(self) -> tuple[str, ...]:
        return (*self.runc, "options")

    def dotted(self, path: tuple[str, ...]) -> str:
        return ".".join(f'"{p}"' if "." in p else p for p in path)


LAYOUTS: Mapping[int, Layout] = {
    2: Layout(
        2,
        ("plugins", V2_CRI, "containerd", "runtimes", "runc"),
        ("plugins", V2_CRI, "sandbox_image"),
    ),
    3: Layout(
        3,
        ("plugins", V3_RUNTIME, "containerd", "runtimes", "runc"),
        ("plugins", V3_IMAGES, "pinned_images", "sandbox"),
    ),
}

# containerd 2.x's v1MigratePluginName: "the list of used plugins before v1 was deprecated".
_V1_CORE = {
    "cri": V2_CRI,
    "cgroups": "io.containerd.monitor.v1.cgroups",
    "linux": "io.containerd.runtime.v1.linux",
    "scheduler": "io.containerd.gc.v1.scheduler",
    "bolt": "io.containerd.metadata.v1.bolt",
    "task": "io.containerd.runtime.v2.task",
    "opt": "io.containerd.internal.v1.opt",
    "restart": "io.containerd.internal.v1.restart",
    "tracing": "io.containerd.internal.v1.tracing",
    "otlp": "io.containerd.tracing.processor.v1.otlp",
    "aufs": "io.containerd.snapshotter.v1.aufs",
    "btrfs": "io.containerd.snapshotter.v1.btrfs",
    "devmapper": "io.containerd.snapshotter.v1.devmapper",
    "native": "io.containerd.snapshotter.v1.native",
    "overlayfs": "io.containerd.snapshotter.v1.overlayfs",
    "zfs": "io.containerd.snapshotter.v1.zfs",
}


class ContainerdConfigError(ValueError):
    """The owner's file cannot be merged; ``str()`` is one line naming the file and the fix."""


@dataclass(frozen=True)
class Merged:
    """The merge's outcome: the new document, the schema it is written in, what changed."""

    config: dict[str, Any]
    version: int
    notes: tuple[str, ...] = ()


def schema_for(containerd_version: str) -> int:
    """The config version the installed containerd reads natively: 3 from 2.0, else 2."""
    return 3 if (engine_version_tuple(containerd_version) or (0,)) >= (2,) else 2


def parse(text: str, path: str = CONFIG_TOML) -> dict[str, Any]:
    """The file's document; invalid TOML raises :class:`ContainerdConfigError` (one line)."""
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ContainerdConfigError(
            f"{path} is not valid TOML ({exc}); fix or move it: fleet does not overwrite it"
        ) from None


def file_version(config: Mapping[str, Any], path: str = CONFIG_TOML) -> int:
    """The schema a document declares: containerd reads a missing (or 0) ``version`` as 1."""
    version = config.get("version", 1)
    if isinstance(version, bool) or not isinstance(version, int) or version < 0:
        raise ContainerdConfigError(f"{path}: version = {version!r} is not a config version")
    return version or 1


def merge(
    existing: Mapping[str, Any],
    containerd_version: str,
    sandbox_image: str,
    path: str = CONFIG_TOML,
) -> Merged:
    """``existing`` with the CRI plugin on, runc on systemd cgroups and the sandbox image.

    Pure: ``existing`` is not modified.  Raises :class:`ContainerdConfigError` when the
    file declares a schema the installed containerd cannot read, or holds a value where
    fleet needs a table.
    """
    target = schema_for(containerd_version)
    config = copy.deepcopy(dict(existing))
    notes: list[str] = []
    version = file_version(config, path)
    if version > target:
        raise ContainerdConfigError(
            f"{path} declares version = {version}, which containerd {containerd_version} "
            f"does not read (it reads up to version {target}); rewrite it for version "
            f"{target} or set containerd_version to a release that reads it"
        )
    if version == 1 and _has_own_settings(config):
        config = _migrate_v1(config)
        notes.append("version 1 plugin names migrated to version 2")
    layout = LAYOUTS[2] if target == 3 and _configures_v2_cri(config) else LAYOUTS[target]
    if layout.version != target:
        notes.append("version 2 kept: containerd 2.x converts it at start")
    config = {"version": layout.version, **{k: v for k, v in config.items() if k != "version"}}
    notes += _enable_cri(config)
    notes += _set_runc(config, layout, path)
    notes += _set(config, layout.sandbox, sandbox_image, path, "sandbox image")
    notes += _drop_v1_shim(config)
    return Merged(config, layout.version, tuple(notes))


def _has_own_settings(config: Mapping[str, Any]) -> bool:
    """More than the package's stub: plugin tables, or other plugins disabled than CRI."""
    others = [p for p in config.get("disabled_plugins") or () if p not in CRI_PLUGINS]
    return bool(config.get("plugins") or others or config.get("required_plugins"))


def _configures_v2_cri(config: Mapping[str, Any]) -> bool:
    plugins = config.get("plugins")
    return isinstance(plugins, Mapping) and V2_CRI in plugins


def migrate_plugin_name(name: str) -> str:
    """A version 1 plugin name as version 2 spells it (containerd 2.x's own rule)."""
    if "." in name:
        return name
    if name in _V1_CORE:
        return _V1_CORE[name]
    if name.endswith("-service"):
        return "io.containerd.service.v1." + name
    if name in ("windows", "windows-lcow"):
        return "io.containerd.snapshotter.v1." + name
    return "io.containerd.grpc.v1." + name


def _migrate_v1(config: dict[str, Any]) -> dict[str, Any]:
    plugins = config.get("plugins")
    if isinstance(plugins, Mapping):
        config["plugins"] = {migrate_plugin_name(k): v for k, v in plugins.items()}
    for key in ("disabled_plugins", "required_plugins"):
        if isinstance(config.get(key), list):
            config[key] = [migrate_plugin_name(p) if isinstance(p, str) else p for p in config[key]]
    return config


def _enable_cri(config: dict[str, Any]) -> list[str]:
    disabled = config.get("disabled_plugins")
    if not isinstance(disabled, list):
        return []
    kept = [p for p in disabled if p not in CRI_PLUGINS]
    if len(kept) == len(disabled):
        return []
    if kept:
        config["disabled_plugins"] = kept
    else:
        del config["disabled_plugins"]
    return ["CRI plugin enabled"]


def _set_runc(config: dict[str, Any], layout: Layout, path: str) -> list[str]:
    """runc on systemd cgroups; its ``runtime_type`` added only where the owner set none
    (a table naming ``options`` alone leaves the runtime without a type)."""
    _table(config, layout.runc, path).setdefault("runtime_type", RUNC_TYPE)
    return _set(config, (*layout.options, "SystemdCgroup"), True, path, "SystemdCgroup")


def _set(
    config: dict[str, Any], path: tuple[str, ...], value: Any, file: str, what: str
) -> list[str]:
    """Set ``path`` to ``value``; a note saying what changed, none when it was so already."""
    table = _table(config, path[:-1], file)
    old = table.get(path[-1])
    if old == value:
        return []
    table[path[-1]] = value
    if old is None:
        return [f"{what} set"]
    return [f"{what} {_toml_value(old)} -> {_toml_value(value)}"]


def _table(config: dict[str, Any], path: tuple[str, ...], file: str) -> MutableMapping[str, Any]:
    table: MutableMapping[str, Any] = config
    for depth, key in enumerate(path):
        child = table.setdefault(key, {})
        if not isinstance(child, MutableMapping):
            where = LAYOUTS[2].dotted(path[: depth + 1])
            raise ContainerdConfigError(
                f"{file}: {where} is a {type(child).__name__}, not a table; fix or move "
                "the file: fleet does not overwrite it"
            )
        table = child
    return table


def _drop_v1_shim(config: dict[str, Any]) -> list[str]:
    """The deprecated ``systemd_cgroup`` key of the v1 shim: with runc v2 it stops CRI
    loading (``systemd_cgroup only works for runtime io.containerd.runtime.v1.linux``)."""
    plugins = config.get("plugins")
    cri = plugins.get(V2_CRI) if isinstance(plugins, Mapping) else None
    if isinstance(cri, MutableMapping) and cri.get("systemd_cgroup"):
        del cri["systemd_cgroup"]
        return ["deprecated systemd_cgroup removed (only the v1 shim read it)"]
    return []


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value) if isinstance(value, str) else str(value)


def render(config: Mapping[str, Any]) -> str:
    """The document as TOML text: ``version`` first, tables with quoted dotted names."""
    return tomli_w.dumps(dict(config))


def diff(old_text: str | None, new_text: str, path: str = CONFIG_TOML) -> str:
    """``diff -u`` of the file, as ``fleet plan`` shows it."""
    return unified_diff(old_text, new_text, path)


def runc_systemd_cgroup(config: Mapping[str, Any]) -> bool | None:
    """The ``SystemdCgroup`` value the file gives runc, or None when it sets none.

    For a kubelet already on this host: the driver its running containerd most likely
    uses, read from the file before fleet changes anything (unset means cgroupfs).
    """
    try:
        version = file_version(config)
    except ContainerdConfigError:
        return None
    layout = LAYOUTS[3 if version >= 3 else 2]
    if version == 1:
        config = _migrate_v1(copy.deepcopy(dict(config)))
    node: Any = config
    for key in (*layout.options, "SystemdCgroup"):
        if not isinstance(node, Mapping) or key not in node:
            return None
        node = node[key]
    return node if isinstance(node, bool) else None
