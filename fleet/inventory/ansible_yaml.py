"""Ansible's YAML inventory (``all:``, ``hosts:``, ``vars:``, ``children:``) into the draft."""

from __future__ import annotations

from typing import Any

from fleet.inventory.ansible_hosts import declare_host, group_vars_target, split_port
from fleet.inventory.draft import GROUP_KEYS, RESERVED_GROUPS, Draft, group_name, key_text, mapping
from fleet.inventory.messages import error, show, unknown
from fleet.inventory.ranges import expand_at
from fleet.inventory.yamlload import LineList, LineMap


def parse_ansible_yaml(data: LineMap, draft: Draft) -> None:
    """Declare the groups, hosts and variables of an Ansible YAML document in ``draft``."""
    for name, body in data.items():
        _ansible_group(draft, name, body, data.line_of(name), None)


def _ansible_group(draft: Draft, name: Any, body: Any, line: int, parent: str | None) -> None:
    where = draft.where(line)
    name = group_name(name, where)
    if name not in RESERVED_GROUPS:
        draft.group(name)
        if parent is not None:
            draft.groups[parent].children.setdefault(name, line)
    member_of = None if name in RESERVED_GROUPS else name
    body = mapping(body, line, where, f"group '{name}'")
    for key, value in body.items():
        key_line = body.line_of(key)
        if key == "hosts":
            _ansible_hosts(draft, member_of, value, key_line)
        elif key == "vars":
            _ansible_group_vars(draft, name, value, key_line)
        elif key == "children":
            children = mapping(value, key_line, draft.where(key_line), f"children of '{name}'")
            for child, child_body in children.items():
                _ansible_group(draft, child, child_body, children.line_of(child), member_of)
        else:
            raise unknown(draft.where(key_line), "key", str(key), GROUP_KEYS, f" in group '{name}'")


def _ansible_group_vars(draft: Draft, group: str, value: Any, line: int) -> None:
    where = draft.where(line)
    target = group_vars_target(draft, group, where)
    variables = mapping(value, line, where, f"vars of '{group}'")
    for key, raw in variables.items():
        draft.set_var(target, key, raw, variables.line_of(key))


def _ansible_hosts(draft: Draft, group: str | None, value: Any, line: int) -> None:
    where = draft.where(line)
    if isinstance(value, LineList):
        raise error(
            where, "'hosts' is a list", "write each host as a key: 'web01:' on its own line"
        )
    hosts = mapping(value, line, where, "'hosts'")
    for pattern, body in hosts.items():
        host_line = hosts.line_of(pattern)
        host_where = draft.where(host_line)
        base, port = split_port(key_text(pattern, host_where, "host name"), host_where)
        body = mapping(body, host_line, host_where, f"host {show(pattern)}")
        for name in expand_at(base, host_where):
            host = declare_host(draft, name, host_line, group, port)
            for key, raw in body.items():
                draft.set_var(host.vars, key, raw, body.line_of(key))
