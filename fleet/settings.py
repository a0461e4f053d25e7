"""Rollout settings, each declared once.

A setting has one declaration (name, type, default, help).  The CLI builds its
``--flags`` from it, the inventory loader accepts it as a variable at any level
(so a group can pin another engine version), and the docs list it.  Defaults
are the reference sequence: Docker CE 19.03.11 with containerd.io 1.2.13, the
systemd cgroup driver and overlay2.  ``runtime: containerd`` picks the other profile
(containerd alone, CRI on); there the default containerd version depends on the OS
(:func:`fleet.steps.containerd.containerd_pin`), which is why :class:`Settings`
remembers which settings were given.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from fleet.errors import InputError

DOCKER_CE_REPO = "https://download.docker.com/linux/centos/docker-ce.repo"
RUNTIMES = ("docker", "containerd")
# The pause image kubeadm 1.31-1.33 pulls (`kubeadm config images list`); containerd's own
# default is older on 1.x (pause:3.8), and kubeadm warns when the two differ.
DEFAULT_SANDBOX_IMAGE = "registry.k8s.io/pause:3.10"
# containerd.io pins of the containerd runtime when containerd_version is not given, by OS
# family: what Docker's repository carries there (README, "Which runtime?", has the sources).
# el7: the last el7 build (CentOS 7's end, June 2024); el8: the last build of the centos/8
# path (CentOS Stream 8's end, May 2024); el9, Debian, Ubuntu: the 1.7 release that
# Kubernetes 1.34 and 1.35 support.
CONTAINERD_DEFAULTS: Mapping[str, str] = {
    "el7": "1.6.33",
    "el8": "1.6.32",
    "el9": "1.7.28",
    "debian": "1.7.28",
}

# The reference daemon.json (Kubernetes "container runtimes" guide, CentOS tab).
REFERENCE_DAEMON_JSON: Mapping[str, Any] = {
    "exec-opts": ["native.cgroupdriver=systemd"],
    "log-driver": "json-file",
    "log-opts": {"max-size": "100m"},
    "storage-driver": "overlay2",
    "storage-opts": ["overlay2.override_kernel_check=true"],
}


@dataclass(frozen=True)
class Settings:
    """What a rollout installs and what it expects to find.  Immutable; per host via ``merged``."""

    runtime: str = "docker"  # the profile: "docker" (reference sequence) or "containerd"
    docker_version: str = "19.03.11"
    containerd_version: str = "1.2.13"
    repo_url: str = DOCKER_CE_REPO
    package_source: str = "docker"  # "docker": Docker's docker-ce packages; "distro": docker.io
    system_update: bool = False
    allow_erasing: bool = False  # dnf --allowerasing: replace conflicting packages (EL8+)
    cgroup_driver: str = "systemd"
    storage_driver: str = "overlay2"
    daemon_json: Mapping[str, Any] = field(default_factory=lambda: dict(REFERENCE_DAEMON_JSON))
    sandbox_image: str = DEFAULT_SANDBOX_IMAGE
    # kubeadm's node prerequisites (fleet.steps.node_prereqs): "auto" is on with the
    # containerd runtime, off with docker; "true"/"false" as asked.
    node_prereqs: str = "auto"
    kubelet_fail_swap_on: bool = True  # the kubelet's failSwapOn: false keeps swap on
    kubernetes_version: str | None = None  # the kubelet the nodes will run, e.g. "1.35"
    min_kernel: str = "3.10.0-514"
    min_free_disk_mb: int = 2048
    connect_timeout: float = 10.0
    command_timeout: float = 600.0
    yum_lock_timeout: float = 300.0
    lock_wait: float = 60.0
    # Not a setting: the names given on the command line or in the inventory, so a
    # default that depends on another setting (containerd_version under the containerd
    # runtime) is told apart from a value the user chose.
    given: frozenset[str] = field(default=frozenset(), repr=False)

    def merged(self, overrides: Mapping[str, Any], origin: str = "") -> Settings:
        """Return a copy with ``overrides`` (already validated names) applied."""
        if not overrides:
            return self
        values = {}
        for name, raw in overrides.items():
            spec = SETTING_SPECS[name]
            values[name] = spec.convert(raw, origin)
        return replace(self, **values, given=self.given | frozenset(values))


@dataclass(frozen=True)
class SettingSpec:
    """One setting: how to parse it from text or YAML, and how to explain it."""

    name: str
    help: str
    parse: Callable[[Any], Any]

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")

    def convert(self, raw: Any, origin: str = "") -> Any:
        try:
            return self.parse(raw)
        except (TypeError, ValueError) as exc:
            where = f"{origin}: " if origin else ""
            raise InputError(f"{where}setting {self.name}: {exc}; fix the value") from None


def _text(raw: Any) -> str:
    if isinstance(raw, (dict, list)) or raw is None:
        raise ValueError(f"expected text, got {type(raw).__name__}")
    text = str(raw).strip()
    if not text:
        raise ValueError("must not be empty")
    return text


def _version(raw: Any) -> str:
    if isinstance(raw, (int, float)) and not isinstance(raw, bool):
        # YAML reads 20.10 as the number 20.1; a version must be quoted to survive.
        raise ValueError(f'{raw!r} is a number; quote versions, e.g. "20.10.24"')
    return _text(raw)


def _package_source(raw: Any) -> str:
    text = _text(raw)
    if text not in ("docker", "distro"):
        raise ValueError(f"expected docker or distro, got {text!r}")
    return text


def _runtime(raw: Any) -> str:
    text = _text(raw).lower()
    if text not in RUNTIMES:
        raise ValueError(f"expected {' or '.join(RUNTIMES)}, got {text!r}")
    return text


def _node_prereqs(raw: Any) -> str:
    if isinstance(raw, bool):
        return "true" if raw else "false"
    text = _text(raw).lower()
    if text == "auto":
        return text
    try:
        return "true" if _boolean(text) else "false"
    except ValueError:
        raise ValueError(f"expected auto, true or false, got {raw!r}") from None


def _kubernetes_version(raw: Any) -> str:
    """``1.35``, ``v1.35.2`` or ``1.35.0-rc.1``: at least major.minor, kept as given."""
    text = _version(raw)
    if not re.fullmatch(r"v?\d+\.\d+(\.\d+)?([-+][0-9A-Za-z.-]+)?", text):
        raise ValueError(f"expected a Kubernetes version such as 1.35 or v1.35.2, got {text!r}")
    return text


def _boolean(raw: Any) -> bool:
    if isinstance(raw, bool):
        return raw
    text = str(raw).strip().lower()
    if text in {"1", "true", "yes", "on"}:
        return True
    if text in {"0", "false", "no", "off"}:
        return False
    raise ValueError(f"expected true or false, got {raw!r}")


def _positive_number(raw: Any) -> float:
    try:
        value = float(raw)
    except (TypeError, ValueError):
        raise ValueError(f"expected a number of seconds, got {raw!r}") from None
    if value <= 0:
        raise ValueError(f"must be greater than 0, got {raw!r}")
    return value


def _positive_int(raw: Any) -> int:
    if isinstance(raw, bool):
        raise ValueError(f"expected a whole number, got {raw!r}")
    try:
        value = int(str(raw))
    except ValueError:
        raise ValueError(f"expected a whole number, got {raw!r}") from None
    if value < 0:
        raise ValueError(f"must not be negative, got {raw!r}")
    return value


def _json_object(raw: Any) -> Mapping[str, Any]:
    if isinstance(raw, str):
        raw = json.loads(raw)
    if not isinstance(raw, dict):
        raise ValueError("expected a JSON object")
    return raw


SETTING_SPECS: Mapping[str, SettingSpec] = {
    spec.name: spec
    for spec in (
        SettingSpec(
            "runtime",
            "docker: the reference Docker CE sequence (default); containerd: containerd alone, "
            "its CRI plugin on and runc on the systemd cgroup driver",
            _runtime,
        ),
        SettingSpec("docker_version", "docker-ce and docker-ce-cli version to pin", _version),
        SettingSpec(
            "containerd_version",
            "containerd.io version to pin (docker runtime: 1.2.13; containerd runtime: by OS, "
            + ", ".join(f"{os} {v}" for os, v in CONTAINERD_DEFAULTS.items())
            + ")",
            _version,
        ),
        SettingSpec(
            "repo_url", "URL of the docker-ce .repo file (a mirror for air-gapped fleets)", _text
        ),
        SettingSpec(
            "package_source",
            "docker: Docker's docker-ce packages and repository; distro: the distribution's own "
            "engine (docker.io on Debian/Ubuntu)",
            _package_source,
        ),
        SettingSpec(
            "system_update",
            "run a whole-system 'yum update -y' before the engine install",
            _boolean,
        ),
        SettingSpec(
            "allow_erasing",
            "let dnf erase packages that conflict with the engine (podman, runc): "
            "'dnf install --allowerasing' (EL8+; yum 3 on EL7 has no such flag)",
            _boolean,
        ),
        SettingSpec("cgroup_driver", "cgroup driver the running engine must report", _text),
        SettingSpec("storage_driver", "storage driver the running engine must report", _text),
        SettingSpec(
            "daemon_json",
            "settings required in /etc/docker/daemon.json (JSON object)",
            _json_object,
        ),
        SettingSpec(
            "sandbox_image",
            "pause image containerd's CRI plugin uses (containerd runtime); match "
            "'kubeadm config images list'",
            _text,
        ),
        SettingSpec(
            "node_prereqs",
            "kubeadm's node prerequisites (swap off, overlay and br_netfilter, forwarding "
            "sysctls, SELinux permissive, cgroup check): auto (on with the containerd runtime), "
            "true or false",
            _node_prereqs,
        ),
        SettingSpec(
            "kubelet_fail_swap_on",
            "false when the nodes' kubelet runs with failSwapOn: false: swap is then left on",
            _boolean,
        ),
        SettingSpec(
            "kubernetes_version",
            "the kubelet version the nodes will run (e.g. 1.35): from 1.35 a cgroup v1 host is "
            "refused unless --force",
            _kubernetes_version,
        ),
        SettingSpec("min_kernel", "oldest kernel release accepted for overlay2", _version),
        SettingSpec("min_free_disk_mb", "free MiB required under /var/lib", _positive_int),
        SettingSpec("connect_timeout", "seconds to wait for an SSH connection", _positive_number),
        SettingSpec("command_timeout", "seconds a single remote command may run", _positive_number),
        SettingSpec(
            "lock_wait", "seconds to wait while another fleet run holds a host", _positive_number
        ),
        SettingSpec(
            "yum_lock_timeout", "seconds to wait for another process's yum lock", _positive_number
        ),
    )
}
