"""Lab spec: which simulated hosts a lab has and how each one is broken.

A spec is YAML (see docs/lab.md).  It is validated node by node so that every
problem is reported as ``FILE:LINE: what is wrong; how to fix it`` and unknown
keys get a "did you mean" suggestion: a typo in a fault name must not silently
give a clean host.  The result is plain data: one host spec dict per host, the
same dict that becomes the host's ``/var/lib/fleetlab/host.json``.
"""

from __future__ import annotations

import copy
import difflib
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from fleet.errors import InputError

OS_CHOICES = ("centos7", "centos8", "rocky9", "rhel7", "rhel8", "alma9")
SSHD_CHOICES = ("paramiko", "openssh")
PRIVILEGE_CHOICES = ("builtin", "system")  # the lab's own sudo, or the machine's
SUDO_CHOICES = ("nopasswd", "password", "none")
KUBELET_CHOICES = ("running", "stopped", "absent")
SWAP_CHOICES = ("on", "off", "fstab")
SELINUX_CHOICES = ("enforcing", "permissive", "disabled")
CGROUP_CHOICES = ("v1", "v2")
MAX_HOSTS = 2000

# The host spec after defaults: a fresh host with no container engine, ready for a rollout.
HOST_DEFAULTS: Mapping[str, Any] = {
    "os": "centos7",
    "user": "centos",
    "sudo": "nopasswd",
    "sudo_password": None,
    "engine": None,
    "kubelet": None,
    "daemon_json": None,
    "containerd_config": None,
    "crictl": False,
    "dropin": None,
    "var_lib_docker": {"fs": "xfs", "ftype": 1},
    "delay_ms": 0,
    "faults": {},
    # Passed through to the simulated tools as they are (see fleet.lab.simtools).
    "kernel": None,
    "podman": False,
    "packages": [],
    # kubeadm's node prerequisites as the host boots (fleet.lab.simtools.kernelstate).
    "swap": "on",
    "selinux": "enforcing",
    "cgroup": None,  # the OS's own: v1 on EL7/EL8, v2 on EL9
    "modules": [],
    "sysctl": {},
    # fleet settings for this host, written into the generated inventories.
    "vars": {},
}

# Keys whose values are documents: an override replaces them instead of merging into them.
REPLACED_KEYS = frozenset({"daemon_json", "dropin", "containerd_config"})

TOP_KEYS = ("hosts", "sshd", "sudo", "name_prefix", "defaults", "hosts_override", "host", "groups")

_USER_RE = re.compile(r"^[a-z_][a-z0-9_-]{0,31}$")
_PREFIX_RE = re.compile(r"^[a-z][a-z0-9-]{0,40}$")


@dataclass(frozen=True)
class LabSpec:
    """A parsed, validated spec.  Host specs are partial here; ``resolve_hosts`` completes them."""

    source: str = "<defaults>"
    hosts: int | None = None
    sshd: str | None = None
    sudo: str | None = None
    name_prefix: str = "node"
    defaults: Mapping[str, Any] = field(default_factory=dict)
    overrides: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    override_lines: Mapping[str, int] = field(default_factory=dict)
    groups: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    group_lines: Mapping[str, int] = field(default_factory=dict)


class _Where:
    """Turns a YAML node into the ``file:line`` prefix of an error message."""

    def __init__(self, source: str) -> None:
        self.source = source

    def error(self, node: yaml.Node | None, problem: str) -> InputError:
        line = node.start_mark.line + 1 if node is not None else 1
        return InputError(f"{self.source}:{line}: {problem}")


def load_spec(path: str | Path) -> LabSpec:
    """Read and validate a spec file; every problem is an InputError naming file:line."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InputError(
            f"{path}: cannot read lab spec ({exc.strerror}); check the --spec path"
        ) from None
    return parse_spec(text, str(path))


def parse_spec(text: str, source: str = "<spec>") -> LabSpec:
    """Validate spec text.  ``source`` names the file in error messages."""
    where = _Where(source)
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else 1
        problem = getattr(exc, "problem", None) or "not valid YAML"
        raise InputError(f"{source}:{line}: {problem}; fix the YAML syntax") from None
    if root is None:
        return LabSpec(source=source)
    items = _mapping(where, root, "the spec", TOP_KEYS)
    return _build_spec(where, items)


def builtin_spec_path(name: str) -> Path:
    """Path of a spec shipped with fleet (``demo`` -> fleet/lab/specs/demo.yml)."""
    return Path(__file__).parent / "specs" / f"{name}.yml"


def _build_spec(where: _Where, items: dict[str, tuple[yaml.Node, yaml.Node]]) -> LabSpec:
    hosts = _opt(items, "hosts", lambda n: _count(where, n))
    sshd = _opt(items, "sshd", lambda n: _choice(where, n, "sshd", SSHD_CHOICES))
    sudo = _opt(items, "sudo", lambda n: _choice(where, n, "sudo", PRIVILEGE_CHOICES))
    prefix = _opt(items, "name_prefix", lambda n: _name_prefix(where, n)) or "node"
    defaults = _opt(items, "defaults", lambda n: _host_spec(where, n, "defaults")) or {}
    if "host" in items and "hosts_override" in items:
        raise where.error(
            items["host"][0], "both 'host' and 'hosts_override' given; keep one of them"
        )
    key = "host" if "host" in items else "hosts_override"
    overrides, override_lines = _overrides(where, items.get(key))
    groups, group_lines = _groups(where, items.get("groups"))
    return LabSpec(
        source=where.source,
        hosts=hosts,
        sshd=sshd,
        sudo=sudo,
        name_prefix=prefix,
        defaults=defaults,
        overrides=overrides,
        override_lines=override_lines,
        groups=groups,
        group_lines=group_lines,
    )


def _opt(
    items: dict[str, tuple[yaml.Node, yaml.Node]], key: str, convert: Callable[[yaml.Node], Any]
) -> Any:
    if key not in items:
        return None
    return convert(items[key][1])


def _mapping(
    where: _Where, node: yaml.Node, what: str, allowed: tuple[str, ...] | None
) -> dict[str, tuple[yaml.Node, yaml.Node]]:
    """Keys of a mapping node with their key and value nodes; unknown keys rejected with a hint."""
    if not isinstance(node, yaml.MappingNode):
        raise where.error(node, f"{what} must be a mapping (key: value lines)")
    items: dict[str, tuple[yaml.Node, yaml.Node]] = {}
    for key_node, value_node in node.value:
        if not isinstance(key_node, yaml.ScalarNode):
            raise where.error(key_node, f"a key in {what} must be plain text")
        key = str(key_node.value)
        if key in items:
            raise where.error(key_node, f"duplicate key '{key}' in {what}; keep one")
        if allowed is not None and key not in allowed:
            raise where.error(key_node, f"unknown key '{key}' in {what}{_suggest(key, allowed)}")
        items[key] = (key_node, value_node)
    return items


def _suggest(word: str, choices: tuple[str, ...] | list[str]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    if close:
        return f"; did you mean '{close[0]}'?"
    return f"; expected one of: {', '.join(choices)}"


def _value(node: yaml.Node) -> Any:
    return yaml.SafeLoader("").construct_document(node)


def _count(where: _Where, node: yaml.Node) -> int:
    value = _value(node)
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_HOSTS:
        raise where.error(
            node, f"hosts must be a whole number from 1 to {MAX_HOSTS}, got {value!r}"
        )
    return value


def _choice(where: _Where, node: yaml.Node, what: str, choices: tuple[str, ...]) -> str:
    value = _value(node)
    if not isinstance(value, str) or value not in choices:
        raise where.error(
            node,
            f"{what} must be one of {', '.join(choices)}, got {value!r}{_hint(value, choices)}",
        )
    return value


def _hint(value: Any, choices: tuple[str, ...]) -> str:
    if not isinstance(value, str):
        return ""
    close = difflib.get_close_matches(value, list(choices), n=1, cutoff=0.6)
    return f"; did you mean '{close[0]}'?" if close else ""


def _text(where: _Where, node: yaml.Node, what: str) -> str:
    value = _value(node)
    if not isinstance(value, (str, int, float)) or isinstance(value, bool):
        raise where.error(node, f"{what} must be text, got {type(value).__name__}")
    return str(value)


def _name_prefix(where: _Where, node: yaml.Node) -> str:
    value = _text(where, node, "name_prefix")
    if not _PREFIX_RE.match(value):
        raise where.error(node, f"name_prefix {value!r} must be lower-case letters, digits or '-'")
    return value


def _overrides(
    where: _Where, entry: tuple[yaml.Node, yaml.Node] | None
) -> tuple[dict[str, dict[str, Any]], dict[str, int]]:
    if entry is None:
        return {}, {}
    items = _mapping(where, entry[1], "the per-host overrides", None)
    overrides = {
        name: _host_spec(where, value, f"host {name}") for name, (_, value) in items.items()
    }
    lines = {name: key.start_mark.line + 1 for name, (key, _) in items.items()}
    return overrides, lines


def _groups(
    where: _Where, entry: tuple[yaml.Node, yaml.Node] | None
) -> tuple[dict[str, tuple[str, ...]], dict[str, int]]:
    if entry is None:
        return {}, {}
    items = _mapping(where, entry[1], "groups", None)
    groups: dict[str, tuple[str, ...]] = {}
    for name, (_, value) in items.items():
        members = _value(value)
        if not isinstance(members, list) or not all(isinstance(m, str) for m in members):
            raise where.error(
                value, f"group {name} must be a list of host names, e.g. [node01, node02]"
            )
        groups[name] = tuple(members)
    lines = {name: key.start_mark.line + 1 for name, (key, _) in items.items()}
    return groups, lines


# --- host specs -------------------------------------------------------------------------------


def _host_spec(where: _Where, node: yaml.Node, what: str) -> dict[str, Any]:
    if isinstance(node, yaml.ScalarNode) and _value(node) is None:
        return {}
    items = _mapping(where, node, what, tuple(HOST_DEFAULTS))
    return {
        key: _HOST_CHECKS[key](where, value, f"{what}: {key}") for key, (_, value) in items.items()
    }


def _check_os(where: _Where, node: yaml.Node, what: str) -> str:
    return _choice(where, node, what, OS_CHOICES)


def _check_user(where: _Where, node: yaml.Node, what: str) -> str:
    value = _text(where, node, what)
    if not _USER_RE.match(value):
        raise where.error(node, f"{what} {value!r} is not a valid login name (e.g. centos)")
    return value


def _check_sudo(where: _Where, node: yaml.Node, what: str) -> str:
    return _choice(where, node, what, SUDO_CHOICES)


def _check_password(where: _Where, node: yaml.Node, what: str) -> str | None:
    if _value(node) is None:
        return None
    value = _text(where, node, what)
    if not value or "\n" in value:
        # The message never quotes the value: it is a secret.
        raise where.error(node, f"{what} must be a non-empty single line")
    return value


def _check_engine(where: _Where, node: yaml.Node, what: str) -> dict[str, Any] | None:
    if _value(node) is None:
        return None
    items = _mapping(where, node, what, ("version", "running"))
    if "version" not in items:
        raise where.error(node, f"{what} needs a version, e.g. {{version: 20.10.7, running: true}}")
    engine = {"version": _text(where, items["version"][1], f"{what}.version"), "running": True}
    if "running" in items:
        engine["running"] = _boolean(where, items["running"][1], f"{what}.running")
    return engine


def _check_kubelet(where: _Where, node: yaml.Node, what: str) -> str | None:
    if _value(node) is None:
        return None
    return _choice(where, node, what, KUBELET_CHOICES)


def _check_daemon_json(where: _Where, node: yaml.Node, what: str) -> Any:
    value = _value(node)
    if value is not None and not isinstance(value, (dict, str)):
        raise where.error(node, f"{what} must be a mapping (the JSON object) or raw text")
    return value


def _check_containerd_config(where: _Where, node: yaml.Node, what: str) -> str | None:
    value = _value(node)
    if value is not None and not isinstance(value, str):
        raise where.error(node, f"{what} must be text (the config.toml file)")
    return value


def _check_dropin(where: _Where, node: yaml.Node, what: str) -> Any:
    value = _value(node)
    if value is not None and not isinstance(value, (dict, str)):
        raise where.error(node, f"{what} must be text (the drop-in file) or a mapping")
    return value


def _check_var_lib_docker(where: _Where, node: yaml.Node, what: str) -> dict[str, Any]:
    items = _mapping(where, node, what, ("fs", "ftype"))
    result: dict[str, Any] = {}
    if "fs" in items:
        result["fs"] = _text(where, items["fs"][1], f"{what}.fs")
    if "ftype" in items:
        ftype = _value(items["ftype"][1])
        if ftype not in (0, 1) or isinstance(ftype, bool):
            raise where.error(items["ftype"][1], f"{what}.ftype must be 0 or 1, got {ftype!r}")
        result["ftype"] = ftype
    return result


def _check_kernel(where: _Where, node: yaml.Node, what: str) -> str | None:
    return None if _value(node) is None else _text(where, node, what)


def _check_packages(where: _Where, node: yaml.Node, what: str) -> list[str]:
    value = _value(node)
    if value is None:
        return []
    return _fault_packages(where, node, what)


def _check_swap(where: _Where, node: yaml.Node, what: str) -> str:
    value = _value(node)
    if isinstance(value, bool):  # YAML reads a bare on/off as true/false
        return "on" if value else "off"
    return _choice(where, node, what, SWAP_CHOICES)


def _check_selinux(where: _Where, node: yaml.Node, what: str) -> str:
    return _choice(where, node, what, SELINUX_CHOICES)


def _check_cgroup(where: _Where, node: yaml.Node, what: str) -> str | None:
    value = _value(node)
    if value is None:
        return None
    if value in (1, 2) and not isinstance(value, bool):
        return f"v{value}"
    return _choice(where, node, what, CGROUP_CHOICES)


def _check_modules(where: _Where, node: yaml.Node, what: str) -> list[str]:
    from fleet.lab.simtools.kernelstate import MODULES

    value = _value(node)
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise where.error(node, f"{what} must be a list of module names, e.g. [overlay]")
    for name in value:
        if name not in MODULES:
            raise where.error(
                node,
                f"{what}: the lab's kernel has no module {name!r}{_suggest(name, list(MODULES))}",
            )
    return value


def _check_sysctl(where: _Where, node: yaml.Node, what: str) -> dict[str, str]:
    from fleet.lab.simtools.sysctl import BRIDGE_KEYS, KEYS

    if _value(node) is None:
        return {}
    known = [*KEYS, *BRIDGE_KEYS]
    result = {}
    for key, (key_node, value_node) in _mapping(where, node, what, None).items():
        if key not in known:
            raise where.error(
                key_node, f"{what}: the lab's kernel has no key {key!r}{_suggest(key, known)}"
            )
        value = _value(value_node)
        if isinstance(value, bool) or not isinstance(value, int):
            raise where.error(value_node, f"{what}.{key} must be a whole number, got {value!r}")
        result[key] = str(value)
    return result


def _check_vars(where: _Where, node: yaml.Node, what: str) -> dict[str, Any]:
    """Host variables for the lab's inventories: fleet settings only, checked like fleet does."""
    from fleet.errors import InputError
    from fleet.settings import SETTING_SPECS

    if _value(node) is None:
        return {}
    result = {}
    for key, (_, value_node) in _mapping(where, node, what, tuple(SETTING_SPECS)).items():
        value = _value(value_node)
        try:
            SETTING_SPECS[key].convert(value)
        except InputError as exc:
            raise where.error(value_node, f"{what}.{key}: {exc.message}") from None
        result[key] = value
    return result


def _check_delay(where: _Where, node: yaml.Node, what: str) -> int:
    value = _value(node)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 60000:
        raise where.error(node, f"{what} must be whole milliseconds from 0 to 60000, got {value!r}")
    return value


def _boolean(where: _Where, node: yaml.Node, what: str) -> bool:
    value = _value(node)
    if not isinstance(value, bool):
        raise where.error(node, f"{what} must be true or false, got {value!r}")
    return value


# --- faults -----------------------------------------------------------------------------------


def _fault_choice(choices: tuple[str, ...]) -> Callable[[_Where, yaml.Node, str], Any]:
    return lambda where, node, what: _choice(where, node, what, choices)


def _fault_text(where: _Where, node: yaml.Node, what: str) -> str:
    value = _text(where, node, what)
    if not value:
        raise where.error(node, f"{what} must not be empty")
    return value


def _fault_number(where: _Where, node: yaml.Node, what: str) -> float | int:
    value = _value(node)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise where.error(node, f"{what} must be a number of seconds (0 or more), got {value!r}")
    return value


def _fault_flag_or_text(where: _Where, node: yaml.Node, what: str) -> bool | str:
    value = _value(node)
    if isinstance(value, bool) or (isinstance(value, str) and value):
        return value
    raise where.error(node, f"{what} must be true/false or a text, got {value!r}")


def _fault_number_or_text(where: _Where, node: yaml.Node, what: str) -> Any:
    value = _value(node)
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise where.error(node, f"{what} must be a number or a text, got {value!r}")
    return value


def _fault_packages(where: _Where, node: yaml.Node, what: str) -> list[str]:
    value = _value(node)
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        raise where.error(
            node, f"{what} must be a list of package names, e.g. [docker-ce-19.03.11]"
        )
    return value


_FAULT_CHECKS: Mapping[str, Callable[[_Where, yaml.Node, str], Any]] = {
    "unreachable": _fault_choice(("refused", "timeout")),
    "auth": _fault_choice(("refused",)),
    "slow": _fault_number_or_text,
    "hang": _fault_flag_or_text,
    "drop": _fault_text,
    "freeze": _fault_text,
    "missing_packages": _fault_packages,
    "repo_down": _fault_flag_or_text,
    "yum_lock": _fault_number,
    "restart_noop": _fault_flag_or_text,
    "engine_fails": _fault_flag_or_text,
}


def _check_faults(where: _Where, node: yaml.Node, what: str) -> dict[str, Any] | None:
    if _value(node) is None:
        return None  # `faults: null` in an override clears the defaults' faults
    items = _mapping(where, node, what, tuple(_FAULT_CHECKS))
    return {
        key: _FAULT_CHECKS[key](where, value, f"{what}.{key}") for key, (_, value) in items.items()
    }


_HOST_CHECKS: Mapping[str, Callable[[_Where, yaml.Node, str], Any]] = {
    "os": _check_os,
    "user": _check_user,
    "sudo": _check_sudo,
    "sudo_password": _check_password,
    "engine": _check_engine,
    "kubelet": _check_kubelet,
    "daemon_json": _check_daemon_json,
    "containerd_config": _check_containerd_config,
    "crictl": _boolean,
    "dropin": _check_dropin,
    "var_lib_docker": _check_var_lib_docker,
    "delay_ms": _check_delay,
    "faults": _check_faults,
    "kernel": _check_kernel,
    "podman": _boolean,
    "packages": _check_packages,
    "swap": _check_swap,
    "selinux": _check_selinux,
    "cgroup": _check_cgroup,
    "modules": _check_modules,
    "sysctl": _check_sysctl,
    "vars": _check_vars,
}


# --- resolution -------------------------------------------------------------------------------


def host_names(prefix: str, count: int) -> list[str]:
    """node01..node12; wider numbers when the lab is larger, so names sort in order."""
    width = max(2, len(str(count)))
    return [f"{prefix}{i:0{width}d}" for i in range(1, count + 1)]


def resolve_hosts(spec: LabSpec, count: int) -> list[dict[str, Any]]:
    """Complete host specs (defaults <- spec defaults <- per-host override), in name order."""
    names = host_names(spec.name_prefix, count)
    _check_names(spec, names)
    base = _merge(copy.deepcopy(dict(HOST_DEFAULTS)), spec.defaults)
    hosts = []
    for name in names:
        host = _merge(copy.deepcopy(base), spec.overrides.get(name, {}))
        host["faults"] = host["faults"] or {}
        _check_host(spec, name, host)
        hosts.append({"name": name, **host})
    return hosts


def _merge(base: dict[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict) and key not in REPLACED_KEYS:
            base[key] = {**base[key], **value}
        else:
            base[key] = copy.deepcopy(value)
    return base


def _check_names(spec: LabSpec, names: list[str]) -> None:
    known = set(names)
    for name, line in spec.override_lines.items():
        if name not in known:
            raise InputError(
                f"{spec.source}:{line}: host {name} is not in this lab of {len(names)} hosts "
                f"({names[0]}..{names[-1]}){_suggest(name, names) if len(names) < 200 else ''}"
            )
    for group, members in spec.groups.items():
        for member in members:
            if member not in known:
                raise InputError(
                    f"{spec.source}:{spec.group_lines[group]}: group {group} names unknown host "
                    f"{member}; hosts are {names[0]}..{names[-1]}"
                )


def _check_host(spec: LabSpec, name: str, host: Mapping[str, Any]) -> None:
    line = spec.override_lines.get(name)
    where = f"{spec.source}:{line}" if line else spec.source
    if host["user"] == "root" and host["sudo"] == "password":
        raise InputError(
            f"{where}: host {name}: user root needs no sudo password; set sudo: nopasswd"
        )
