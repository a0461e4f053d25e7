"""What an inventory becomes, whatever its format: an immutable Inventory of Hosts."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Host:
    """One target host, with everything needed to reach it and its per-host settings."""

    name: str
    address: str
    # None: ssh_config or 22
    port: int | None = None
    # None: ssh_config or the local user
    user: str | None = None
    # absolute (relative paths are resolved against the inventory file at load)
    identity_file: str | None = None
    # known_hosts file to check host keys against (default ~/.ssh/known_hosts)
    known_hosts: str | None = None
    # "[user@]host[:port]" of a jump host (ProxyJump)
    jump: str | None = None
    # name of an environment variable holding the sudo password
    become_password_env: str | None = None
    # literal sudo password; never printed, never compared
    become_password: str | None = field(default=None, repr=False, compare=False)
    # extra ssh_config-style options
    ssh_options: Mapping[str, str] = field(default_factory=dict)
    # overrides of fleet.settings.Settings, already converted
    settings: Mapping[str, Any] = field(default_factory=dict)
    # every group the host is in, parents of its groups included; sorted
    groups: tuple[str, ...] = ()
    # "file:line" where the host was declared.  Provenance, not identity: the same
    # host read from a YAML and an INI inventory is the same host.
    origin: str = field(default="", compare=False)


@dataclass(frozen=True)
class Inventory:
    """Hosts in declaration order and the groups that name them."""

    source: str
    hosts: tuple[Host, ...]
    # group -> host names in inventory order (children flattened)
    groups: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def host(self, name: str) -> Host:
        for host in self.hosts:
            if host.name == name:
                return host
        raise KeyError(name)
