"""The order in which dockerd loads its configuration, and the first error that stops it.

``cmd/dockerd/daemon.go`` ``loadDaemonCliConfig`` -> ``daemon/config/config.go``
``MergeDaemonConfigurations`` -> ``getConflictFreeConfiguration``, per release:

1. (19.03, 20.10) ``-g``/``--graph`` together with ``--data-root`` is refused;
2. a missing file is an error only when ``--config-file`` named it;
3. the file is decoded (:func:`dockerd_config.decode`): syntax errors;
4. unknown directives, then flag/file conflicts (:func:`dockerd_config.find_conflicts`);
5. the file is decoded into the Config struct: ``json: cannot unmarshal ...``;
6. (19.03, 20.10) ``graph`` and ``data-root`` both in the file are refused;
7. ``Validate`` on the merged settings (wrapped "merged configuration validation
   ..." when a file was read): the deprecated ``graph`` on 23.x, exec-opts from 28.0.

Errors from steps 2-7 carry ``unable to configure the Docker daemon with file PATH: ``.
What dockerd checks later, while starting (cgroup and storage drivers), is not here.
"""

from __future__ import annotations

from typing import Any

from fleet.lab.simtools import gojson
from fleet.lab.simtools.dockerd_config import (
    MERGED,
    PREFIX,
    ConfigError,
    decode,
    find_conflicts,
    values_set,
)
from fleet.lab.simtools.dockerd_flags import Parsed
from fleet.lab.simtools.versions import at_least

# Go types of the Config fields the lab's engine reads (for "cannot unmarshal" errors).
_GO_TYPES = {
    "storage-driver": "string", "log-driver": "string", "log-level": "string",
    "data-root": "string", "graph": "string", "containerd": "string", "cgroup-parent": "string",
    "bip": "string", "exec-opts": "[]string", "storage-opts": "[]string", "hosts": "[]string",
    "dns": "[]string", "insecure-registries": "[]string", "registry-mirrors": "[]string",
    "labels": "[]string", "log-opts": "map[string]string", "debug": "bool",
    "live-restore": "bool", "iptables": "bool", "ipv6": "bool", "selinux-enabled": "bool",
    "experimental": "bool", "icc": "bool", "mtu": "int",
}  # fmt: skip
_JSON_KINDS = {"[]string": "array", "map[string]string": "object", "string": "string",
               "bool": "bool", "int": "number"}  # fmt: skip


def load(parsed: Parsed, data: bytes | None, path: str, version: str) -> dict[str, Any]:
    """The daemon.json settings dockerd ``version`` accepts with these flags.

    ``data`` is the file's bytes, None when it does not exist.  Raises
    :class:`ConfigError` with dockerd's complete message.
    """
    if not at_least(version, "23.0") and {"graph", "data-root"} <= parsed.values.keys():
        raise ConfigError('cannot specify both "--graph" and "--data-root" option')
    prefix = PREFIX.format(path=path)
    if data is None and "config-file" in parsed.values:
        raise ConfigError(prefix + f"open {path}: no such file or directory")
    config = None if data is None else _read(parsed, data, version, prefix)
    problem = _validate(parsed, config or {}, version)
    if problem:
        raise ConfigError((prefix + MERGED if config is not None else "") + problem)
    return config or {}


def _read(parsed: Parsed, data: bytes, version: str, prefix: str) -> dict[str, Any]:
    """``getConflictFreeConfiguration``: steps 3 to 6."""
    try:
        config = decode(data, version)
    except gojson.GoJSONError as exc:
        raise ConfigError(prefix + str(exc)) from None
    problem = find_conflicts(values_set(config, version), parsed, version) or struct_error(config)
    if problem:
        raise ConfigError(prefix + problem)
    if not at_least(version, "23.0") and config.get("graph") and config.get("data-root"):
        raise ConfigError(
            prefix + 'cannot specify both "graph" and "data-root" config file options'
        )
    return config


def struct_error(config: dict[str, Any]) -> str | None:
    """The first ``json: cannot unmarshal`` error in document order, as Go reports it."""
    for key, value in config.items():
        want = _GO_TYPES.get(key)
        if want is None or value is None:
            continue
        kind = gojson.go_kind(value)
        if kind != _JSON_KINDS[want]:
            return f"json: cannot unmarshal {kind} into Go struct field Config.{key} of type {want}"
        items = value if kind == "array" else list(value.values()) if kind == "object" else []
        for item in items:
            if gojson.go_kind(item) != "string":
                return (
                    f"json: cannot unmarshal {gojson.go_kind(item)} into Go struct field "
                    f"Config.{key} of type string"
                )
    return None


def _validate(parsed: Parsed, config: dict[str, Any], version: str) -> str | None:
    """``config.Validate`` on the merged settings, for the checks the lab's hosts meet."""
    graph = config.get("graph") or parsed.values.get("graph")
    if graph and at_least(version, "23.0") and not at_least(version, "24.0"):
        return 'the "graph" config file option is deprecated; use "data-root" instead'
    if at_least(version, "28.0"):
        # mergo keeps the file's value when it has one; a conflict stopped both earlier
        return exec_opts_error(config.get("exec-opts") or parsed.values.get("exec-opt") or [])
    return None


def exec_opts_error(options: list[str]) -> str | None:
    """``parseExecOptions`` / ``validatePlatformExecOpt`` (config.go, config_linux.go, 28.0+)."""
    for option in options:
        key, eq, value = option.partition("=")
        key, value = key.strip().lower(), value.strip()
        if not eq or not key or not value:
            return f"invalid exec-opt ({option}): must be formatted 'opt=value'"
        if key == "isolation":
            return f"invalid exec-opt ({option}): option 'isolation' is only supported on windows"
        if key != "native.cgroupdriver":
            return f"invalid exec-opt ({option}): unknown option: '{key}'"
    return None
