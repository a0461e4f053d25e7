"""Ansible's INI inventory (``[group]``, ``[group:vars]``, ``[group:children]``) into the draft.

Lines are read as Ansible reads them: host lines are shell words (``name
key=value ...``), ``[group:vars]`` values are unquoted when they are one shell
word, and ``;`` or ``#`` start a comment.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field

from fleet.inventory.ansible_hosts import declare_host, group_vars_target, split_port
from fleet.inventory.draft import RESERVED_GROUPS, Draft, group_name
from fleet.inventory.messages import error, show, unknown
from fleet.inventory.ranges import expand_at

_SECTION = re.compile(r"\[([^\s:\[\]]+)(?::(\w+))?\]\s*(?:[#;].*)?")


@dataclass
class _IniState:
    group: str = "ungrouped"
    kind: str = "hosts"
    # Ansible's rule: only [g] and [g:children] define a group; [g:vars] and
    # [parent:children] may refer to it before or after, but not never.
    defined: set[str] = field(default_factory=lambda: set(RESERVED_GROUPS))
    vars_refs: dict[str, int] = field(default_factory=dict)
    child_refs: dict[str, tuple[str, int]] = field(default_factory=dict)


def parse_ini(text: str, draft: Draft) -> None:
    """Declare the groups, hosts and variables of an INI inventory in ``draft``."""
    state = _IniState()
    for number, raw in enumerate(text.split("\n"), start=1):
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("["):
            _ini_section(line, number, state, draft)
        elif state.kind == "hosts":
            _ini_host(line, number, state.group, draft)
        elif state.kind == "vars":
            _ini_var(line, number, state.group, draft)
        else:
            _ini_child(line, number, state, draft)
    _ini_check_refs(state, draft)


def _ini_section(line: str, number: int, state: _IniState, draft: Draft) -> None:
    where = draft.where(number)
    match = _SECTION.fullmatch(line)
    if match is None:
        raise error(
            where,
            f"{show(line)} is not a section header",
            "write [group], [group:vars] or [group:children]",
        )
    name, kind = group_name(match.group(1), where), match.group(2) or "hosts"
    if kind not in ("hosts", "vars", "children"):
        raise error(where, f"section kind ':{kind}' is unknown", "use :vars or :children")
    if name not in RESERVED_GROUPS:
        draft.group(name)
    if kind == "vars":
        state.vars_refs.setdefault(name, number)
    else:
        state.defined.add(name)
    state.group, state.kind = name, kind


def _ini_tokens(line: str, where: str) -> list[str]:
    try:
        return shlex.split(line, comments=True)
    except ValueError:
        raise error(where, "the line has an unclosed quote", "close the quote") from None


def _ini_host(line: str, number: int, group: str, draft: Draft) -> None:
    where = draft.where(number)
    tokens = _ini_tokens(line, where)
    if not tokens:
        return
    base, port = split_port(tokens[0], where)
    assignments = []
    for position, token in enumerate(tokens[1:], start=2):
        key, sep, value = token.partition("=")
        if not sep or not key:
            # The token is not echoed: it may be half of an unquoted password.
            raise error(
                where,
                f"word {position} is not a key=value variable",
                "write key=value and quote values that contain spaces",
            )
        assignments.append((key, value))
    member_of = None if group in RESERVED_GROUPS else group
    for name in expand_at(base, where):
        host = declare_host(draft, name, number, member_of, port)
        for key, value in assignments:
            draft.set_var(host.vars, key, value, number)


def _ini_value(text: str) -> str:
    """A [group:vars] value: unquoted when it is one shell word, else kept as written."""
    try:
        words = shlex.split(text, comments=True)
    except ValueError:
        return text.strip()
    if len(words) <= 1:
        return words[0] if words else ""
    return text.strip()


def _ini_var(line: str, number: int, group: str, draft: Draft) -> None:
    where = draft.where(number)
    key, sep, value = line.partition("=")
    key = key.strip()
    if not sep or not key:
        raise error(where, f"[{group}:vars] lines must be key=value", "write key=value")
    draft.set_var(group_vars_target(draft, group, where), key, _ini_value(value), number)


def _ini_child(line: str, number: int, state: _IniState, draft: Draft) -> None:
    where = draft.where(number)
    tokens = _ini_tokens(line, where)
    if len(tokens) != 1:
        raise error(
            where, f"[{state.group}:children] lines must name one group", "one group per line"
        )
    child = group_name(tokens[0], where)
    if child in RESERVED_GROUPS:
        raise error(where, f"'{child}' cannot be a child group", "remove the line")
    if state.group not in RESERVED_GROUPS:
        draft.groups[state.group].children.setdefault(child, number)
    state.child_refs.setdefault(child, (state.group, number))


def _ini_check_refs(state: _IniState, draft: Draft) -> None:
    for name, number in state.vars_refs.items():
        if name not in state.defined:
            raise error(
                draft.where(number),
                f"[{name}:vars] is for a group that has no [{name}] section",
                "declare the group or fix the name",
            )
    for child, (parent, number) in state.child_refs.items():
        if child not in state.defined:
            raise unknown(
                draft.where(number), "child group", child, state.defined, f" in [{parent}:children]"
            )
