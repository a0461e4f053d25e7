"""The draft every format's parser fills: defaults, groups and hosts, before precedence.

A parser only translates its syntax: it declares hosts and groups here and
records each variable, already validated into Host fields by the format's
translate function.  The builder (:mod:`fleet.inventory.build`) then applies
one set of precedence rules to every format.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fleet.inventory.messages import error, show
from fleet.inventory.yamlload import LineMap, kind_of

# Translates one variable (name, raw value, "file:line", inventory directory) into
# Host fields, or None when the variable means nothing to fleet.
Translate = Callable[[str, Any, str, Path], "dict[str, Any] | None"]
# The Host fields one variable sets, already validated.
Fields = dict[str, Any]

RESERVED_GROUPS = ("all", "ungrouped")
# The keys of a group, in fleet's YAML and in Ansible's.
GROUP_KEYS = ("hosts", "vars", "children")
# Names that mean something else in a --limit pattern.
_BAD_NAME_START = "!&@~"


@dataclass
class GroupDraft:
    name: str
    vars: dict[str, Fields] = field(default_factory=dict)
    children: dict[str, int] = field(default_factory=dict)  # child group -> line naming it


@dataclass
class HostDraft:
    name: str
    line: int
    vars: dict[str, Fields] = field(default_factory=dict)
    groups: dict[str, None] = field(default_factory=dict)  # direct groups, in order


@dataclass
class Draft:
    """What a parser found, before precedence is applied."""

    source: str
    base_dir: Path
    translate: Translate
    rank: Callable[[str], int]  # order in which a host's variables are applied
    defaults: dict[str, Fields] = field(default_factory=dict)
    hosts: dict[str, HostDraft] = field(default_factory=dict)
    groups: dict[str, GroupDraft] = field(default_factory=dict)

    def where(self, line: int) -> str:
        return f"{self.source}:{line}"

    def host(self, name: str, line: int) -> HostDraft:
        """The host of that name, declared at ``line`` if it is new."""
        if name not in self.hosts:
            _check_name(name, "host", self.where(line))
            self.hosts[name] = HostDraft(name, line)
        return self.hosts[name]

    def group(self, name: str) -> None:
        """Declare a group; declaring it again changes nothing."""
        if name not in self.groups:
            self.groups[name] = GroupDraft(name)

    def set_var(self, target: dict[str, Fields], key: Any, raw: Any, line: int) -> None:
        """Record one variable in ``target`` unless it means nothing to fleet."""
        where = self.where(line)
        if not isinstance(key, str):
            raise error(where, f"variable name {show(key)} is not text", "quote it")
        fields = self.translate(key, raw, where, self.base_dir)
        if fields is not None:
            target[key] = fields


def group_name(name: Any, where: str) -> str:
    """``name`` if it is usable as a group name in every format and in --limit."""
    if not isinstance(name, str):
        raise error(where, f"group name {show(name)} is not text", "quote it")
    _check_name(name, "group", where)
    if ":" in name:
        raise error(where, f"group name {show(name)} contains ':'", "rename the group")
    return name


def key_text(key: Any, where: str, what: str) -> str:
    """A YAML key as text: numbers are accepted as written, anything else must be text."""
    if isinstance(key, str):
        return key
    if isinstance(key, int) and not isinstance(key, bool):
        return str(key)
    raise error(where, f"{what} {show(key)} is not text", "quote it")


def mapping(value: Any, line: int, where: str, what: str) -> LineMap:
    """A YAML mapping; an empty value is an empty mapping at ``line``."""
    if value is None:
        return LineMap(line)
    if not isinstance(value, LineMap):
        raise error(
            where, f"{what} must be a mapping, not {kind_of(value)}", "write 'key: value' lines"
        )
    return value


def _check_name(name: str, what: str, where: str) -> None:
    if "=" in name:
        # Not echoed: this is a misplaced 'key=value' line, perhaps a password.
        raise error(
            where,
            f"a {what} name contains '=', so this looks like a variable",
            "put variables after a host name or under vars ([group:vars] in INI files)",
        )
    if not name or any(char.isspace() or char == "," for char in name):
        raise error(
            where,
            f"{what} name {show(name)} is empty or has spaces or commas",
            f"rename the {what}",
        )
    if name[0] in _BAD_NAME_START:
        raise error(
            where,
            f"{what} name {show(name)} starts with '{name[0]}', which --limit reads as an operator",
            f"rename the {what}",
        )
