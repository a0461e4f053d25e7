"""How Ansible declares hosts and group variables, shared by its YAML and INI syntaxes.

A host may be written ``name:port``; variables on ``all`` are the inventory's
defaults, and ``ungrouped`` takes none.
"""

from __future__ import annotations

from fleet.inventory.draft import Draft, Fields, HostDraft
from fleet.inventory.messages import error, show
from fleet.inventory.ranges import outside_ranges


def split_port(pattern: str, where: str) -> tuple[str, str | None]:
    """Ansible's ``host:port``; several colons (an IPv6 address) mean no port."""
    if outside_ranges(pattern).count(":") != 1:
        return pattern, None
    name, _, port = pattern.rpartition(":")
    if not name:
        raise error(where, f"host {show(pattern)} has no name before ':'", "write name:port")
    return name, port


def declare_host(
    draft: Draft, name: str, line: int, group: str | None, port: str | None
) -> HostDraft:
    """The host, now a member of ``group`` (None: no group), its ``:port`` as ansible_port."""
    host = draft.host(name, line)
    if group is not None:
        host.groups[group] = None
    if port is not None:
        draft.set_var(host.vars, "ansible_port", port, line)
    return host


def group_vars_target(draft: Draft, group: str, where: str) -> dict[str, Fields]:
    """Where a group's variables are recorded: ``all`` means the defaults."""
    if group == "all":
        return draft.defaults
    if group == "ungrouped":
        raise error(where, "vars on 'ungrouped' are not supported", "set them on the hosts")
    return draft.groups[group].vars
