"""fleet's own YAML inventory (``fleet: 1``) into the draft (see docs/inventory.md).

Keys are Host field names and fleet settings, nothing else: an unknown key is an
error with a suggestion.  A host name may be a range, and its ``address`` a
range of the same length, zipped with the names.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fleet.inventory.draft import (
    GROUP_KEYS,
    RESERVED_GROUPS,
    Draft,
    Fields,
    GroupDraft,
    group_name,
    key_text,
    mapping,
)
from fleet.inventory.messages import error, show, unknown
from fleet.inventory.ranges import expand_at, outside_ranges
from fleet.inventory.values import host_field, setting_fields
from fleet.inventory.yamlload import LineList, LineMap, kind_of
from fleet.settings import SETTING_SPECS

_TOP_KEYS = ("fleet", "defaults", "groups", "hosts")
_HOST_FIELDS = (
    "address",
    "port",
    "user",
    "identity_file",
    "known_hosts",
    "jump",
    "become_password_env",
    "become_password",
    "ssh_options",
)
_FORMAT_VERSION = 1


def fleet_var(key: str, raw: Any, where: str, base_dir: Path) -> Fields:
    """The draft's translate function for fleet's keys: a Host field or a setting."""
    if key in SETTING_SPECS:
        return setting_fields(key, raw, where)
    if key not in _HOST_FIELDS:
        raise unknown(where, "key", key, (*_HOST_FIELDS, *SETTING_SPECS))
    return {key: host_field(key, key, raw, where, base_dir)}


def as_written(key: str) -> int:
    """fleet's keys never set the same field twice, so they apply in the order written."""
    return 0


def parse_fleet(data: LineMap, draft: Draft) -> None:
    """Declare the hosts, groups and defaults of a fleet YAML document in ``draft``."""
    for key in data:
        if key not in _TOP_KEYS:
            where = draft.where(data.line_of(key))
            raise unknown(where, "top-level key", key_text(key, where, "key"), _TOP_KEYS)
    _check_version(data, draft)
    defaults = _section(data, "defaults", draft)
    for key, raw in defaults.items():
        draft.set_var(draft.defaults, key, raw, defaults.line_of(key))
    _fleet_hosts(_section(data, "hosts", draft), draft)
    _fleet_groups(_section(data, "groups", draft), draft)


def _section(data: LineMap, key: str, draft: Draft) -> LineMap:
    line = data.line_of(key)
    return mapping(data.get(key), line, draft.where(line), f"'{key}'")


def _check_version(data: LineMap, draft: Draft) -> None:
    if "fleet" not in data:
        return
    version = data["fleet"]
    if isinstance(version, bool) or version != _FORMAT_VERSION:
        raise error(
            draft.where(data.line_of("fleet")),
            f"inventory format {show(version)} is not supported",
            f"write 'fleet: {_FORMAT_VERSION}'",
        )


def _fleet_hosts(hosts: LineMap, draft: Draft) -> None:
    for pattern, body in hosts.items():
        line = hosts.line_of(pattern)
        where = draft.where(line)
        text = _fleet_host_name(pattern, where)
        names = expand_at(text, where)
        body = mapping(body, line, where, f"host {show(text)}")
        addresses = _zipped_addresses(text, names, body, draft)
        for index, name in enumerate(names):
            _declare_fleet_host(draft, name, line, body, addresses[index] if addresses else None)


def _declare_fleet_host(
    draft: Draft, name: str, line: int, body: LineMap, address: str | None
) -> None:
    if name in draft.hosts:
        first = draft.hosts[name].line
        raise error(
            draft.where(line),
            f"host {name} is declared twice (first at line {first})",
            "remove one declaration or make the ranges not overlap",
        )
    host = draft.host(name, line)
    for key, raw in body.items():
        value = address if key == "address" and address is not None else raw
        draft.set_var(host.vars, key, value, body.line_of(key))


def _fleet_host_name(pattern: Any, where: str) -> str:
    text = key_text(pattern, where, "host name")
    if ":" in outside_ranges(text):
        raise error(where, f"host name {show(text)} contains ':'", "set 'port:' instead")
    return text


def _zipped_addresses(pattern: str, names: list[str], body: LineMap, draft: Draft) -> list[str]:
    """Per-host addresses when ``address`` is a range zipped with the name range."""
    raw = body.get("address")
    if not isinstance(raw, str) or ("[" not in raw and len(names) == 1):
        return []
    where = draft.where(body.line_of("address"))
    addresses = expand_at(raw, where)
    if len(addresses) != len(names):
        raise error(
            where,
            f"address {show(raw)} gives {len(addresses)} address(es) "
            f"for the {len(names)} hosts of {show(pattern)}",
            f"give a range of {len(names)} addresses, e.g. 10.0.1.[1:{len(names)}]",
        )
    return addresses


def _fleet_groups(groups: LineMap, draft: Draft) -> None:
    # Declare every group first: children may name groups declared further down.
    for name in groups:
        line = groups.line_of(name)
        name = group_name(name, draft.where(line))
        if name in RESERVED_GROUPS:
            raise error(draft.where(line), f"group name '{name}' is reserved", "rename the group")
        draft.group(name)
    for name, body in groups.items():
        line = groups.line_of(name)
        _fleet_group(draft.groups[name], mapping(body, line, draft.where(line), name), draft)


def _fleet_group(group: GroupDraft, body: LineMap, draft: Draft) -> None:
    for key in body:
        if key not in GROUP_KEYS:
            where = draft.where(body.line_of(key))
            raise unknown(where, "key", str(key), GROUP_KEYS, f" in group '{group.name}'")
    for item, line in _text_items(body, "hosts", draft):
        pattern = _fleet_host_name(item, draft.where(line))
        for name in expand_at(pattern, draft.where(line)):
            draft.host(name, line).groups[group.name] = None
    line = body.line_of("vars")
    variables = mapping(body.get("vars"), line, draft.where(line), f"vars of '{group.name}'")
    for key, raw in variables.items():
        draft.set_var(group.vars, key, raw, variables.line_of(key))
    for child, line in _text_items(body, "children", draft):
        group.children.setdefault(group_name(child, draft.where(line)), line)


def _text_items(body: LineMap, key: str, draft: Draft) -> list[tuple[str, int]]:
    value = body.get(key)
    line = body.line_of(key)
    if value is None:
        return []
    if not isinstance(value, LineList):
        raise error(
            draft.where(line),
            f"'{key}' must be a list, not {kind_of(value)}",
            f"write {key}: [name, ...]",
        )
    items = []
    for index, item in enumerate(value):
        where = draft.where(value.line_of(index))
        items.append((key_text(item, where, f"entry of '{key}'"), value.line_of(index)))
    return items
