"""Inventory loading: fleet's YAML format and Ansible inventories (YAML and INI).

Every format becomes the same immutable :class:`Inventory` of :class:`Host`
objects, so the rest of fleet never knows where a host came from.  Errors are
:class:`~fleet.errors.InputError` with ``file:line: what is wrong; how to fix``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Host:
    """One target host, with everything needed to reach it and its per-host settings."""

    name: str
    address: str
    port: int | None = None  # None: ssh_config or 22
    user: str | None = None  # None: ssh_config or the local user
    identity_file: str | None = None  # absolute, or relative to the inventory file (resolved at load)
    known_hosts: str | None = None  # known_hosts file to check host keys against (default ~/.ssh/known_hosts)
    jump: str | None = None  # "[user@]host[:port]" of a jump host (ProxyJump)
    become_password_env: str | None = None  # name of an environment variable holding the sudo password
    become_password: str | None = field(default=None, repr=False, compare=False)  # literal; never printed
    ssh_options: Mapping[str, str] = field(default_factory=dict)  # extra ssh_config-style options
    settings: Mapping[str, Any] = field(default_factory=dict)  # overrides of fleet.settings.Settings
    groups: tuple[str, ...] = ()
    origin: str = ""  # "file:line" where the host was declared, for error messages


@dataclass(frozen=True)
class Inventory:
    """Hosts in declaration order and the groups that name them."""

    source: str
    hosts: tuple[Host, ...]
    groups: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # group -> host names (children flattened)

    def host(self, name: str) -> Host:
        for host in self.hosts:
            if host.name == name:
                return host
        raise KeyError(name)
