"""containerd's start-up decisions, and ``containerd --version`` / ``config dump|default``.

Starting reads /etc/containerd/config.toml with this package's own TOML reader and
containerd's own rules, by installed release (from containerd's sources:
services/server/config/config.go in 1.6/1.7, cmd/containerd/server/config/config.go in
2.x):

- invalid TOML stops the daemon with go-toml's words (v1 in 1.x, v2 in 2.x);
- 1.x reads a versionless (version 1) file by plugin IDs, so ``disabled_plugins =
  ["cri"]`` (the containerd.io package's stub) disables CRI; a ``version = 2`` file needs
  full URIs (``invalid disabled plugin URI "cri" expect io.containerd.x.vx``); 1.7 refuses
  ``version = 3``, 1.6 reads it as version 2 and ignores the version 3 tables;
- 2.x migrates version 1 names (v1MigratePluginName) and version 2's CRI tables to
  version 3 (``cri.v1.runtime`` and ``cri.v1.images``) and refuses versions above 3;
- a runc table the file names replaces the default one whole (its ``options`` are only
  the file's: recorded from 1.6.20's ``config dump``), and runc without ``SystemdCgroup``
  uses cgroupfs;
- ``systemd_cgroup = true`` in the 1.x CRI table fails the CRI plugin (containerd #4574).

What the daemon started with is kept in containerd.json: ``ctr`` and ``crictl`` answer
from it, never from the file, as the real daemon does until it is restarted.
"""

from __future__ import annotations

import copy
import hashlib
import os
import sys
import time
from typing import Any

from fleet.lab.simtools import packages, tomltext
from fleet.lab.simtools.state import STATE_DIR, Host, is_root, version_key

CONFIG = "/etc/containerd/config.toml"
STATE = f"{STATE_DIR}/containerd.json"
V2_CRI = "io.containerd.grpc.v1.cri"
V3_RUNTIME = "io.containerd.cri.v1.runtime"
V3_IMAGES = "io.containerd.cri.v1.images"
# The containerd.io package's config.toml (docker/packaging pkg/containerd/common).
STUB = """#   Copyright 2018-2022 Docker Inc.

#   Licensed under the Apache License, Version 2.0 (the "License");
#   you may not use this file except in compliance with the License.
#   You may obtain a copy of the License at

#       http://www.apache.org/licenses/LICENSE-2.0

#   Unless required by applicable law or agreed to in writing, software
#   distributed under the License is distributed on an "AS IS" BASIS,
#   WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
#   See the License for the specific language governing permissions and
#   limitations under the License.

disabled_plugins = ["cri"]

#root = "/var/lib/containerd"
#state = "/run/containerd"
#subreaper = true
#oom_score = 0

#[grpc]
#  address = "/run/containerd/containerd.sock"
#  uid = 0
#  gid = 0

#[debug]
#  address = "/run/containerd/debug.sock"
#  uid = 0
#  gid = 0
#  level = "info"
"""
# Commits `containerd --version` prints for releases seen in the field; others get a made-up one.
_COMMITS = {
    "1.2.13": "7ad184331fa3e55e52b890ea95e65ba581ae3429",
    "1.6.33": "d2d58213f83a351ca8f528a95fbd145f5654e957",
    "1.7.28": "b98a3aace656320842a23f4a392a33f46af97866",
    "2.2.1": "dea7da592f5d1d2b7755e3a161be07f43fad8f75",
}
_V1_CORE = {
    "cri": V2_CRI, "cgroups": "io.containerd.monitor.v1.cgroups",
    "linux": "io.containerd.runtime.v1.linux", "scheduler": "io.containerd.gc.v1.scheduler",
    "bolt": "io.containerd.metadata.v1.bolt", "task": "io.containerd.runtime.v2.task",
    "opt": "io.containerd.internal.v1.opt", "restart": "io.containerd.internal.v1.restart",
    "aufs": "io.containerd.snapshotter.v1.aufs", "btrfs": "io.containerd.snapshotter.v1.btrfs",
    "devmapper": "io.containerd.snapshotter.v1.devmapper",
    "native": "io.containerd.snapshotter.v1.native",
    "overlayfs": "io.containerd.snapshotter.v1.overlayfs", "zfs": "io.containerd.snapshotter.v1.zfs",
}  # fmt: skip


class ContainerdError(Exception):
    """containerd refused to start; ``str()`` is the line it printed after ``containerd: ``."""


def installed_version(host: Host) -> str | None:
    for name in ("containerd.io", "containerd"):
        found = packages.installed_named(host, name)
        if found:
            return found[0].version
    return None


def is_v2(version: str) -> bool:
    return version_key(version) >= version_key("2.0")


def default_sandbox(version: str) -> str:
    """internal/cri/config/config.go (2.x), pkg/cri/config/config_unix.go (1.x) per release."""
    for limit, image in (("1.7", "3.6"), ("2.0", "3.8"), ("2.2", "3.10"), ("2.3", "3.10.1")):
        if version_key(version) < version_key(limit):
            return f"registry.k8s.io/pause:{image}"
    return "registry.k8s.io/pause:3.10.2"


def _read(host: Host, path: str) -> str | None:
    try:
        return host.path(path).read_text(encoding="utf-8")
    except (FileNotFoundError, IsADirectoryError):
        return None


def load(host: Host, version: str, path: str = CONFIG) -> dict[str, Any]:
    """The effective configuration containerd ``version`` builds from ``path``."""
    text = _read(host, path)
    try:
        raw = tomltext.loads(text) if text is not None else {}
    except tomltext.TomlError as exc:
        if not is_v2(version):
            raise ContainerdError(f"failed to load TOML: {path}: {exc.go_toml_v1()}") from None
        positioned, said = exc.go_toml_v2()
        where = f" at row {exc.row} column {exc.col}" if positioned else ""
        raise ContainerdError(f"failed to unmarshal TOML{where}: {said}") from None
    return _load_v2(raw, path) if is_v2(version) else _load_v1(raw, path, version)


def _load_v1(raw: dict[str, Any], path: str, version: str) -> dict[str, Any]:
    file_version = raw.get("version") or 1
    disabled = list(raw.get("disabled_plugins") or [])
    plugins = dict(raw.get("plugins") or {})
    if file_version > 2 and version_key(version) >= version_key("1.7"):
        raise ContainerdError(
            f"failed to load TOML from {path}: unsupported config version `{file_version}`"
        )
    if file_version >= 2:
        for name in disabled:
            if not str(name).startswith("io.containerd.") or len(str(name).split(".", 3)) < 4:
                raise ContainerdError(
                    f'failed to load TOML from {path}: invalid disabled plugin URI "{name}" '
                    "expect io.containerd.x.vx"
                )
        for name in plugins:
            if not name.startswith("io.containerd.") or len(name.split(".", 3)) < 4:
                raise ContainerdError(
                    f'failed to load TOML from {path}: invalid plugin key URI "{name}" '
                    "expect io.containerd.x.vx"
                )
        cri_off = V2_CRI in disabled
        cri = plugins.get(V2_CRI) or {}
    else:  # version 1: plugins by ID
        cri_off = "cri" in disabled
        cri = plugins.get("cri") or {}
    containerd = cri.get("containerd") or {}
    runc = (containerd.get("runtimes") or {}).get("runc")
    options = (runc or {}).get("options") if runc is not None else _DEFAULT_RUNC_V1
    failed = bool(cri.get("systemd_cgroup"))
    return {
        "schema": 2 if file_version >= 2 else 1,
        "raw": raw,
        "cri": None if cri_off else ("error" if failed else "ok"),
        "cri_error": "invalid plugin config: `systemd_cgroup` only works for runtime "
        "io.containerd.runtime.v1.linux"
        if failed and not cri_off
        else None,
        "systemd_cgroup": bool((options or {}).get("SystemdCgroup", False)),
        "runc_options": dict(options or {}),
        "runtime_type": (runc or {}).get("runtime_type", "io.containerd.runc.v2")
        if runc is not None
        else "io.containerd.runc.v2",
        "sandbox": cri.get("sandbox_image") or default_sandbox(version),
        "snapshotter": containerd.get("snapshotter") or "overlayfs",
        "root": raw.get("root") or "/var/lib/containerd",
        "mirrors": ((cri.get("registry") or {}).get("mirrors") or {}),
    }


_DEFAULT_RUNC_V1 = {
    "BinaryName": "", "CriuImagePath": "", "CriuPath": "", "CriuWorkPath": "", "IoGid": 0,
    "IoUid": 0, "NoNewKeyring": False, "NoPivotRoot": False, "Root": "", "ShimCgroup": "",
    "SystemdCgroup": False,
}  # fmt: skip


def _migrate_name(name: str) -> str:
    if "." in name:
        return name
    if name in _V1_CORE:
        return _V1_CORE[name]
    if name.endswith("-service"):
        return "io.containerd.service.v1." + name
    return "io.containerd.grpc.v1." + name


def _load_v2(raw: dict[str, Any], path: str) -> dict[str, Any]:
    raw = copy.deepcopy(raw)
    file_version = raw.get("version") or 1
    if file_version > 3:
        raise ContainerdError(
            f"failed to load TOML from {path}: expected containerd config version equal to "
            f"or less than `3`, got `{file_version}`"
        )
    plugins = dict(raw.get("plugins") or {})
    disabled = [str(p) for p in raw.get("disabled_plugins") or []]
    if file_version < 2:
        plugins = {_migrate_name(k): v for k, v in plugins.items()}
        disabled = [_migrate_name(p) for p in disabled]
    for name in disabled:
        if "." not in name:
            raise ContainerdError(
                f'failed to load TOML from {path}: invalid disabled plugin URI "{name}" '
                "expect io.containerd.x.vx"
            )
    runtime = dict(plugins.get(V3_RUNTIME) or {})
    images = dict(plugins.get(V3_IMAGES) or {})
    if file_version < 3 and V2_CRI in plugins:  # the CRI plugin's own v2 -> v3 migration
        old = plugins[V2_CRI]
        containerd = dict(old.get("containerd") or {})
        if "snapshotter" in containerd:
            images.setdefault("snapshotter", containerd.pop("snapshotter"))
        if old.get("sandbox_image"):
            images.setdefault("pinned_images", {}).setdefault("sandbox", old["sandbox_image"])
        if old.get("registry"):
            images.setdefault("registry", old["registry"])
        runtime.setdefault("containerd", containerd)
    cri_off = any(p in disabled for p in (V2_CRI, V3_RUNTIME, V3_IMAGES))
    runc = ((runtime.get("containerd") or {}).get("runtimes") or {}).get("runc")
    options = dict((runc or {}).get("options") or {})
    return {
        "schema": 3,
        "raw": raw,
        "cri": None if cri_off else "ok",
        "cri_error": None,
        "systemd_cgroup": bool(options.get("SystemdCgroup", False)),
        "runc_options": options,
        "runtime_type": (runc or {}).get("runtime_type", "io.containerd.runc.v2"),
        "sandbox": (images.get("pinned_images") or {}).get("sandbox"),
        "snapshotter": images.get("snapshotter") or "overlayfs",
        "root": raw.get("root") or "/var/lib/containerd",
        "mirrors": ((images.get("registry") or {}).get("mirrors") or {}),
        "disabled": disabled,
    }


def read_state(host: Host) -> dict[str, Any]:
    return host.read(STATE, {})


def start(host: Host, pid: int) -> dict[str, Any]:
    """Start the daemon (call under the state lock): its effective config, or ContainerdError."""
    version = installed_version(host)
    if version is None:
        raise ContainerdError("exec: /usr/bin/containerd: no such file or directory")
    config = load(host, version)
    if config["sandbox"] is None:
        config["sandbox"] = default_sandbox(version)
    try:
        written = os.stat(host.path(CONFIG)).st_mtime
    except FileNotFoundError:
        written = None
    state = {"running": True, "version": version, "pid": pid, "started": time.time(),
             "config_written": written, "config": config}  # fmt: skip
    host.write(STATE, state)
    return state


def stop(host: Host) -> None:
    state = read_state(host)
    if state:
        state["running"] = False
        host.write(STATE, state)


def journal_lines(state: dict[str, Any]) -> list[str]:
    """What containerd logs on a start that the lab's journal keeps."""
    version, config = state["version"], state["config"]
    lines = [f"starting containerd revision={commit(version)} version={version_label(version)}"]
    if config["schema"] == 1 and not is_v2(version):
        lines.append(
            "containerd config version `1` has been deprecated and will be removed in "
            "containerd v2.0, please switch to version `2`"
        )
    if config.get("cri_error"):
        lines.append(f'failed to load plugin {V2_CRI} error="{config["cri_error"]}"')
    lines.append(f"containerd successfully booted in 0.0{3 + len(lines)}s")
    return lines


def commit(version: str) -> str:
    return _COMMITS.get(version) or hashlib.sha1(f"containerd {version}".encode()).hexdigest()


def version_label(version: str) -> str:
    return f"v{version}" if is_v2(version) else version


# -- the containerd command ---------------------------------------------------------------


def run(tool: str, args: list[str], host: Host) -> int:
    version = installed_version(host)
    if version is None:
        from fleet.lab.simtools.faults import command_not_found

        return command_not_found(tool)
    path, words = CONFIG, []
    i = 0
    while i < len(args):
        if args[i] in ("-c", "--config") and i + 1 < len(args):
            path, i = args[i + 1], i + 2
            continue
        if args[i].startswith("--config="):
            path = args[i].split("=", 1)[1]
        elif args[i] in ("-v", "--version"):
            print(f"containerd containerd.io {version_label(version)} {commit(version)}")
            return 0
        else:
            words.append(args[i])
        i += 1
    if words[:2] == ["config", "default"]:
        sys.stdout.write(_dump({}, version))
        return 0
    if words[:2] == ["config", "dump"]:
        return _config_dump(host, version, path)
    print(f"containerd: unsupported command {' '.join(words)!r} in the lab", file=sys.stderr)
    return 1


def _config_dump(host: Host, version: str, path: str) -> int:
    if not is_root() and path == CONFIG:
        print(f"containerd: failed to load TOML: {path}: open {path}: permission denied",
              file=sys.stderr)  # fmt: skip
        return 1
    try:
        config = load(host, version, _abs(path))
    except ContainerdError as exc:
        print(f"containerd: {exc}", file=sys.stderr)
        return 1
    sys.stdout.write(_dump(config, version, imports=[path]))
    return 0


def _abs(path: str) -> str:
    return path if path.startswith("/") else os.path.join(os.getcwd(), path)


def _dump(config: dict[str, Any], version: str, imports: list[str] | None = None) -> str:
    """The merged configuration as ``config dump`` prints it (the CRI part in detail)."""
    raw = config.get("raw", {})
    base: dict[str, Any] = {
        "version": 3 if is_v2(version) else 2,
        "root": config.get("root", "/var/lib/containerd"),
        "state": raw.get("state", "/run/containerd"),
        "disabled_plugins": list(config.get("disabled", raw.get("disabled_plugins") or [])),
        "required_plugins": [],
        "oom_score": raw.get("oom_score", 0),
        "imports": imports or [],
        "grpc": {"address": "/run/containerd/containerd.sock", "uid": 0, "gid": 0},
    }
    sandbox = config.get("sandbox") or default_sandbox(version)
    runc = {"runtime_type": config.get("runtime_type", "io.containerd.runc.v2"),
            "options": config.get("runc_options", dict(_DEFAULT_RUNC_V1))}  # fmt: skip
    plugins: dict[str, Any] = {}
    if config.get("cri", "ok") is not None:
        if is_v2(version):
            plugins[V3_IMAGES] = {"snapshotter": config.get("snapshotter", "overlayfs"),
                                  "pinned_images": {"sandbox": sandbox},
                                  "registry": {"config_path": "", "mirrors": config.get("mirrors", {})}}  # fmt: skip
            plugins[V3_RUNTIME] = {"containerd": {"default_runtime_name": "runc",
                                                  "runtimes": {"runc": runc}}}  # fmt: skip
            plugins[V2_CRI] = {"disable_tcp_service": True, "stream_server_address": "127.0.0.1"}
        else:
            plugins[V2_CRI] = {
                "sandbox_image": sandbox,
                "systemd_cgroup": bool((raw.get("plugins") or {}).get(V2_CRI, {}).get("systemd_cgroup")),
                "containerd": {"default_runtime_name": "runc",
                               "snapshotter": config.get("snapshotter", "overlayfs"),
                               "runtimes": {"runc": runc}},
                "registry": {"config_path": "", "mirrors": config.get("mirrors", {})},
            }  # fmt: skip
    plugins["io.containerd.snapshotter.v1.overlayfs"] = {"root_path": ""}
    base["plugins"] = plugins
    return tomltext.dumps(base, 2 if is_v2(version) else 1)
