"""Inventory loading: fleet's YAML format and Ansible inventories (YAML and INI).

Every format becomes the same immutable :class:`Inventory` of :class:`Host`
objects, so the rest of fleet never knows where a host came from.  Errors are
:class:`~fleet.errors.InputError` with ``file:line: what is wrong; how to fix``.

The three parsers only translate their syntax into one draft (defaults, groups,
hosts, each variable already validated and remembered with its line); a single
builder then applies the precedence rules, so the formats cannot drift apart.
``--limit`` patterns are resolved against the finished inventory by
:func:`select_hosts`.
"""

from __future__ import annotations

import difflib
import fnmatch
import os
import re
import shlex
import string
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from fleet.errors import InputError
from fleet.settings import SETTING_SPECS


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


# --------------------------------------------------------------------------- public API


def load_inventory(path: str | Path) -> Inventory:
    """Read a fleet YAML, Ansible YAML or Ansible INI inventory (detected from its content)."""
    path = Path(path)
    text = _read(path)
    try:
        return _load(path, text)
    except RecursionError:
        # Only absurdly nested input gets here; it must still be one clear line.
        raise InputError(f"{path}: the inventory is nested too deeply; flatten it") from None


def select_hosts(inventory: Inventory, limit: str | None) -> tuple[Host, ...]:
    """Hosts matching an Ansible-style ``--limit`` pattern, in inventory order.

    ``None`` or an empty pattern selects every host.  A part that matches nothing
    is an error rather than a no-op: a typo in ``!web03`` must not silently
    include the host it was meant to exclude.
    """
    if limit is None or not limit.strip():
        return inventory.hosts
    plain, intersect, exclude = _parse_limit(limit)
    everyone = {host.name for host in inventory.hosts}
    chosen = set().union(*(_match_term(inventory, t) for t in plain)) if plain else everyone
    for term in intersect:
        chosen &= _match_term(inventory, term)
    for term in exclude:
        chosen -= _match_term(inventory, term)
    selected = tuple(host for host in inventory.hosts if host.name in chosen)
    if not selected:
        raise InputError(f"--limit {limit!r} selects no hosts; check its '&' and '!' parts")
    return selected


def expand_range(pattern: str) -> list[str]:
    """Expand ``node[01:50]``, ``rack[a:f]``, ``n[0:20:5]`` (several ranges multiply).

    Zero padding of the start is kept, as in Ansible.  Raises ``ValueError``
    with "problem; fix" naming the bad part; callers add the file and line.
    """
    names = [""]
    position = 0
    for match in _RANGE.finditer(pattern):
        literal = _range_literal(pattern, position, match.start())
        items = _range_items(match.group(1))
        if len(names) * len(items) > _MAX_EXPANDED:
            raise ValueError(f"'{pattern}' expands to more than {_MAX_EXPANDED} names; split it")
        names = [name + literal + item for name in names for item in items]
        position = match.end()
    literal = _range_literal(pattern, position, len(pattern))
    return [name + literal for name in names]


# --------------------------------------------------------------------------- errors


def _error(where: str, problem: str, fix: str) -> InputError:
    return InputError(f"{where}: {problem}; {fix}")


def _show(value: object) -> str:
    """A user value for a message: quoted, and short enough for one line."""
    text = str(value)
    text = text if len(text) <= 60 else text[:57] + "..."
    return repr(text)


def _unknown(
    where: str, what: str, word: str, choices: Iterable[str], context: str = ""
) -> InputError:
    choices = sorted(choices)
    best = difflib.get_close_matches(word, choices, n=1)
    fix = f"did you mean '{best[0]}'?" if best else f"use one of: {', '.join(choices)}"
    return _error(where, f"unknown {what} {_show(word)}{context}", fix)


def _kind(value: object) -> str:
    if value is None:
        return "empty"
    if isinstance(value, _Vault):
        return "a vault-encrypted value"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return f"a {type(value).__name__}"


# --------------------------------------------------------------------------- ranges

_RANGE = re.compile(r"\[([^\[\]]*)\]")
_DIGITS = re.compile(r"[0-9]+")
# A guard against typos like node[1:100000000], not a policy on fleet size.
_MAX_EXPANDED = 100_000


def _range_literal(pattern: str, start: int, end: int) -> str:
    literal = pattern[start:end]
    if "[" in literal or "]" in literal:
        raise ValueError(f"'{pattern}' has an unmatched bracket; write ranges as [start:end]")
    return literal


def _range_items(body: str) -> list[str]:
    parts = body.split(":")
    if len(parts) not in (2, 3):
        raise ValueError(f"'[{body}]' is not a range; write [start:end] or [start:end:step]")
    begin, end = parts[0] or "0", parts[1]
    step = _range_step(parts[2] if len(parts) == 3 else "1", body)
    if not end:
        raise ValueError(f"'[{body}]' has no end; write [start:end]")
    if len(begin) == 1 and len(end) == 1 and begin.isalpha() and end.isalpha():
        return _letter_range(begin, end, step, body)
    if _DIGITS.fullmatch(begin) and _DIGITS.fullmatch(end):
        return _number_range(begin, end, step, body)
    raise ValueError(
        f"'[{body}]' must count numbers or single letters; write e.g. [01:20] or [a:f]"
    )


def _range_step(text: str, body: str) -> int:
    if not _DIGITS.fullmatch(text) or int(text) == 0 or len(text) > 9:
        raise ValueError(f"step of '[{body}]' must be a whole number above 0; write e.g. [0:20:5]")
    return int(text)


def _letter_range(begin: str, end: str, step: int, body: str) -> list[str]:
    if begin not in string.ascii_letters or end not in string.ascii_letters:
        raise ValueError(f"'[{body}]' must use ASCII letters; use a-z or A-Z")
    first, last = string.ascii_letters.index(begin), string.ascii_letters.index(end)
    if first > last:
        raise ValueError(f"'[{body}]' counts backwards; put the smaller bound first")
    return list(string.ascii_letters[first : last + 1 : step])


def _number_range(begin: str, end: str, step: int, body: str) -> list[str]:
    width = len(begin) if begin.startswith("0") and len(begin) > 1 else 0
    if width and len(end) != width:
        raise ValueError(f"'[{body}]' mixes widths; pad both bounds alike, e.g. [01:50]")
    if len(begin) > 9 or len(end) > 9:
        raise ValueError(f"'[{body}]' has bounds that are too large; use at most 9 digits")
    first, last = int(begin), int(end)
    if first > last:
        raise ValueError(f"'[{body}]' counts backwards; put the smaller bound first")
    if (last - first) // step >= _MAX_EXPANDED:
        raise ValueError(f"'[{body}]' expands to more than {_MAX_EXPANDED} names; split it")
    return [str(number).zfill(width) for number in range(first, last + 1, step)]


def _expand(pattern: str, where: str) -> list[str]:
    try:
        return expand_range(pattern)
    except ValueError as exc:
        raise InputError(f"{where}: {exc}") from None


# --------------------------------------------------------------------------- YAML with lines


class _LineMap(dict):
    """A YAML mapping that remembers the line of each key, for error messages."""

    def __init__(self, line: int) -> None:
        super().__init__()
        self.line = line
        self.lines: dict[Any, int] = {}

    def line_of(self, key: Any) -> int:
        return self.lines.get(key, self.line)


class _LineList(list):
    """A YAML sequence that remembers the line of each item."""

    def __init__(self, line: int) -> None:
        super().__init__()
        self.line = line
        self.lines: list[int] = []

    def line_of(self, index: int) -> int:
        return self.lines[index] if index < len(self.lines) else self.line


class _Vault:
    """An Ansible ``!vault`` value: fleet cannot decrypt it, and must not print it."""

    def __repr__(self) -> str:
        return "<vault>"

    __str__ = __repr__


class _ExplainedProblem(yaml.constructor.ConstructorError):
    """A YAML problem whose text already says how to fix it."""


class _LineLoader(yaml.SafeLoader):
    """SafeLoader that keeps line numbers and refuses duplicate keys (PyYAML keeps the last)."""

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        try:
            return super().construct_object(node, deep)
        except (ValueError, TypeError, OverflowError):
            # e.g. a date like 2021-02-30 or '!!int abc': report it at its line.
            # The exception text is left out: it may quote a password.
            raise _ExplainedProblem(
                None,
                None,
                "cannot read this value (an impossible date or a wrong !!tag?); quote it",
                node.start_mark,
            ) from None

    def construct_line_map(self, node: yaml.Node) -> Any:
        data = _LineMap(node.start_mark.line + 1)
        yield data
        if not isinstance(node, yaml.MappingNode):
            raise yaml.constructor.ConstructorError(
                None, None, "expected a mapping here", node.start_mark
            )
        self._reject_duplicates(node)
        self.flatten_mapping(node)
        for key_node, value_node in node.value:
            key = self.construct_object(key_node, deep=True)
            try:
                hash(key)
            except TypeError:
                raise _ExplainedProblem(
                    None, None, "a key is a list or mapping; keys must be text", key_node.start_mark
                ) from None
            data[key] = self.construct_object(value_node, deep=True)
            data.lines[key] = key_node.start_mark.line + 1

    def construct_line_seq(self, node: yaml.Node) -> Any:
        data = _LineList(node.start_mark.line + 1)
        yield data
        if not isinstance(node, yaml.SequenceNode):
            raise yaml.constructor.ConstructorError(
                None, None, "expected a list here", node.start_mark
            )
        data.extend(self.construct_object(child, deep=True) for child in node.value)
        data.lines.extend(child.start_mark.line + 1 for child in node.value)

    def construct_vault(self, node: yaml.Node) -> _Vault:
        return _Vault()

    def _reject_duplicates(self, node: yaml.MappingNode) -> None:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            if not isinstance(key_node, yaml.ScalarNode) or key_node.tag.endswith(":merge"):
                continue
            key = self.construct_object(key_node, deep=True)
            line = key_node.start_mark.line + 1
            if key in seen:
                raise _ExplainedProblem(
                    None,
                    None,
                    f"{_show(key)} is declared twice (first at line {seen[key]}); remove one",
                    key_node.start_mark,
                )
            seen[key] = line


_LineLoader.add_constructor("tag:yaml.org,2002:map", _LineLoader.construct_line_map)
_LineLoader.add_constructor("tag:yaml.org,2002:seq", _LineLoader.construct_line_seq)
_LineLoader.add_constructor("!vault", _LineLoader.construct_vault)
_LineLoader.add_constructor("!unsafe", yaml.SafeLoader.construct_yaml_str)


def _load_yaml(text: str, source: str) -> Any:
    try:
        return yaml.load(text, Loader=_LineLoader)  # a SafeLoader subclass
    except yaml.MarkedYAMLError as exc:
        raise _yaml_error(exc, source) from None
    except yaml.reader.ReaderError as exc:
        line = text[: exc.position].count("\n") + 1
        raise _error(
            f"{source}:{line}", f"character #x{exc.character:04x} is not allowed", "remove it"
        ) from None
    except yaml.YAMLError as exc:
        raise _error(source, f"YAML error ({exc})", "fix the file") from None


def _yaml_error(exc: yaml.MarkedYAMLError, source: str) -> InputError:
    # Only the problem and the line: PyYAML's full message quotes the source
    # line, which may hold a password.
    mark = exc.problem_mark or exc.context_mark
    where = f"{source}:{mark.line + 1}" if mark else source
    parts = [part for part in (exc.context, exc.problem) if part]
    problem = ": ".join(parts) or "not valid YAML"
    if isinstance(exc, _ExplainedProblem):
        return InputError(f"{where}: {problem}")
    return _error(where, f"YAML syntax error: {problem}", "check the indentation and quoting")


# --------------------------------------------------------------------------- the draft

# Translates one variable (name, raw value, "file:line", inventory directory) into
# Host fields, or None when the variable means nothing to fleet.
_Translate = Callable[[str, Any, str, Path], "dict[str, Any] | None"]

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
# Fields merged key by key across levels instead of replaced as a whole.
_MERGED_FIELDS = ("ssh_options", "settings")
# Setting one of these at a more specific level clears the other: a host's own
# environment variable must win over a password inherited from a group.
_EXCLUSIVE_FIELDS = {
    "become_password": "become_password_env",
    "become_password_env": "become_password",
}
# Names that mean something else in a --limit pattern.
_BAD_NAME_START = "!&@~"
_RESERVED_GROUPS = ("all", "ungrouped")


@dataclass
class _Var:
    """One variable after validation: the Host fields it sets, and where it was written."""

    fields: dict[str, Any]
    line: int


@dataclass
class _GroupDraft:
    name: str
    line: int
    vars: dict[str, _Var] = field(default_factory=dict)
    children: dict[str, int] = field(default_factory=dict)  # child group -> line naming it


@dataclass
class _HostDraft:
    name: str
    line: int
    vars: dict[str, _Var] = field(default_factory=dict)
    groups: dict[str, None] = field(default_factory=dict)  # direct groups, in order


@dataclass
class _Draft:
    """What a parser found, before precedence is applied."""

    source: str
    base_dir: Path
    translate: _Translate
    rank: Callable[[str], int]  # order in which a host's variables are applied
    defaults: dict[str, _Var] = field(default_factory=dict)
    hosts: dict[str, _HostDraft] = field(default_factory=dict)
    groups: dict[str, _GroupDraft] = field(default_factory=dict)

    def where(self, line: int) -> str:
        return f"{self.source}:{line}"

    def host(self, name: str, line: int) -> _HostDraft:
        if name not in self.hosts:
            _check_name(name, "host", self.where(line))
            self.hosts[name] = _HostDraft(name, line)
        return self.hosts[name]

    def group(self, name: str, line: int) -> _GroupDraft:
        if name not in self.groups:
            self.groups[name] = _GroupDraft(name, line)
        return self.groups[name]

    def set_var(self, target: dict[str, _Var], key: Any, raw: Any, line: int) -> None:
        where = self.where(line)
        if not isinstance(key, str):
            raise _error(where, f"variable name {_show(key)} is not text", "quote it")
        fields = self.translate(key, raw, where, self.base_dir)
        if fields is not None:
            target[key] = _Var(fields, line)


def _check_name(name: str, what: str, where: str) -> str:
    if "=" in name:
        # Not echoed: this is a misplaced 'key=value' line, perhaps a password.
        raise _error(
            where,
            f"a {what} name contains '=', so this looks like a variable",
            "put variables after a host name or under vars ([group:vars] in INI files)",
        )
    if not name or any(char.isspace() or char == "," for char in name):
        raise _error(
            where,
            f"{what} name {_show(name)} is empty or has spaces or commas",
            f"rename the {what}",
        )
    if name[0] in _BAD_NAME_START:
        raise _error(
            where,
            f"{what} name {_show(name)} starts with '{name[0]}', which --limit reads as an operator",
            f"rename the {what}",
        )
    return name


def _group_name(name: Any, where: str) -> str:
    if not isinstance(name, str):
        raise _error(where, f"group name {_show(name)} is not text", "quote it")
    _check_name(name, "group", where)
    if ":" in name:
        raise _error(where, f"group name {_show(name)} contains ':'", "rename the group")
    return name


def _key_text(key: Any, where: str, what: str) -> str:
    if isinstance(key, str):
        return key
    if isinstance(key, int) and not isinstance(key, bool):
        return str(key)
    raise _error(where, f"{what} {_show(key)} is not text", "quote it")


def _mapping(value: Any, line: int, where: str, what: str) -> _LineMap:
    if value is None:
        return _LineMap(line)
    if not isinstance(value, _LineMap):
        raise _error(
            where, f"{what} must be a mapping, not {_kind(value)}", "write 'key: value' lines"
        )
    return value


# --------------------------------------------------------------------------- value converters

_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_JUMP = re.compile(r"(?:[^@\s,]+@)?([^@:\s,/]+)(?::([0-9]{1,5}))?")


def _text(key: str, raw: Any, where: str) -> str:
    """A scalar as text.  Never echoes the value: ``key`` may be a password."""
    if isinstance(raw, (str, int, float)) and not isinstance(raw, bool):
        text = str(raw).strip()
        if text:
            return text
    if raw is None or isinstance(raw, str):
        raise _error(where, f"{key} is empty", f"give {key} a value")
    fix = "quote the value" if isinstance(raw, bool) else f"give {key} a text value"
    raise _error(where, f"{key} must be text, not {_kind(raw)}", fix)


def _word(key: str, raw: Any, where: str) -> str:
    text = _text(key, raw, where)
    if any(char.isspace() for char in text):
        raise _error(where, f"{key} {_show(text)} contains spaces", "remove them")
    return text


def _port(key: str, raw: Any, where: str) -> int:
    text = str(raw).strip() if isinstance(raw, (int, str)) and not isinstance(raw, bool) else ""
    if _DIGITS.fullmatch(text) and len(text) <= 5 and 1 <= int(text) <= 65535:
        return int(text)
    raise _error(where, f"{key} {_show(raw)} is not a TCP port", "use a number from 1 to 65535")


def _path(key: str, raw: Any, where: str, base_dir: Path) -> str:
    path = Path(os.path.expanduser(_text(key, raw, where)))
    if not path.is_absolute():
        path = base_dir / path
    return os.path.normpath(path)


def _env_name(key: str, raw: Any, where: str) -> str:
    text = _text(key, raw, where)
    if not _ENV_NAME.fullmatch(text):
        # Not echoed: a password typed here by mistake must not reach a log.
        raise _error(
            where,
            f"{key} is not an environment variable name (letters, digits, '_')",
            "use a name like FLEET_BECOME_PASS",
        )
    return text


def _jump(key: str, raw: Any, where: str) -> str:
    text = _text(key, raw, where)
    match = _JUMP.fullmatch(text)
    if not match or (match.group(2) and not 1 <= int(match.group(2)) <= 65535):
        raise _error(
            where,
            f"{key} {_show(text)} is not one jump host",
            "write [user@]host[:port]; chains of jump hosts are not supported",
        )
    return text


def _ssh_options(key: str, raw: Any, where: str) -> dict[str, str]:
    options = _mapping(raw, 0, where, key)
    result = {}
    for name, value in options.items():
        if not isinstance(name, str) or not name or any(c.isspace() or c == "=" for c in name):
            raise _error(
                where, f"{key} has a bad option name {_show(name)}", "use ssh_config names"
            )
        if isinstance(value, bool):
            # YAML reads 'StrictHostKeyChecking: no' as false; ssh_config wants yes/no.
            result[name] = "yes" if value else "no"
        else:
            result[name] = _text(f"{key}.{name}", value, where)
    return result


def _host_field(field_name: str, key: str, raw: Any, where: str, base_dir: Path) -> Any:
    """Validate one value for one Host field; ``key`` is the name the user wrote."""
    if field_name == "port":
        return _port(key, raw, where)
    if field_name in ("identity_file", "known_hosts"):
        return _path(key, raw, where, base_dir)
    if field_name == "ssh_options":
        return _ssh_options(key, raw, where)
    if field_name == "become_password_env":
        return _env_name(key, raw, where)
    if field_name == "become_password":
        return _text(key, raw, where)
    if field_name == "jump":
        return _jump(key, raw, where)
    return _word(key, raw, where)


def _setting(key: str, raw: Any, where: str) -> dict[str, Any]:
    if isinstance(raw, _Vault):
        raise _error(where, f"{key} is vault-encrypted", "write the value in clear")
    return {"settings": {key: SETTING_SPECS[key].convert(raw, where)}}


# --------------------------------------------------------------------------- fleet YAML

_TOP_KEYS = ("fleet", "defaults", "groups", "hosts")
_GROUP_KEYS = ("hosts", "vars", "children")
_FORMAT_VERSION = 1


def _fleet_var(key: str, raw: Any, where: str, base_dir: Path) -> dict[str, Any]:
    if key in SETTING_SPECS:
        return _setting(key, raw, where)
    if key not in _HOST_FIELDS:
        raise _unknown(where, "key", key, (*_HOST_FIELDS, *SETTING_SPECS))
    return {key: _host_field(key, key, raw, where, base_dir)}


def _parse_fleet(data: _LineMap, draft: _Draft) -> None:
    for key in data:
        if key not in _TOP_KEYS:
            where = draft.where(data.line_of(key))
            raise _unknown(where, "top-level key", _key_text(key, where, "key"), _TOP_KEYS)
    _check_version(data, draft)
    defaults = _section(data, "defaults", draft)
    for key, raw in defaults.items():
        draft.set_var(draft.defaults, key, raw, defaults.line_of(key))
    _fleet_hosts(_section(data, "hosts", draft), draft)
    _fleet_groups(_section(data, "groups", draft), draft)


def _section(data: _LineMap, key: str, draft: _Draft) -> _LineMap:
    line = data.line_of(key)
    return _mapping(data.get(key), line, draft.where(line), f"'{key}'")


def _check_version(data: _LineMap, draft: _Draft) -> None:
    if "fleet" not in data:
        return
    version = data["fleet"]
    if isinstance(version, bool) or version != _FORMAT_VERSION:
        raise _error(
            draft.where(data.line_of("fleet")),
            f"inventory format {_show(version)} is not supported",
            f"write 'fleet: {_FORMAT_VERSION}'",
        )


def _fleet_hosts(hosts: _LineMap, draft: _Draft) -> None:
    for pattern, body in hosts.items():
        line = hosts.line_of(pattern)
        where = draft.where(line)
        text = _fleet_host_name(pattern, where)
        names = _expand(text, where)
        body = _mapping(body, line, where, f"host {_show(text)}")
        addresses = _zipped_addresses(text, names, body, draft)
        for index, name in enumerate(names):
            _declare_fleet_host(draft, name, line, body, addresses[index] if addresses else None)


def _declare_fleet_host(
    draft: _Draft, name: str, line: int, body: _LineMap, address: str | None
) -> None:
    if name in draft.hosts:
        first = draft.hosts[name].line
        raise _error(
            draft.where(line),
            f"host {name} is declared twice (first at line {first})",
            "remove one declaration or make the ranges not overlap",
        )
    host = draft.host(name, line)
    for key, raw in body.items():
        value = address if key == "address" and address is not None else raw
        draft.set_var(host.vars, key, value, body.line_of(key))


def _fleet_host_name(pattern: Any, where: str) -> str:
    text = _key_text(pattern, where, "host name")
    if ":" in _outside_ranges(text):
        raise _error(where, f"host name {_show(text)} contains ':'", "set 'port:' instead")
    return text


def _zipped_addresses(pattern: str, names: list[str], body: _LineMap, draft: _Draft) -> list[str]:
    """Per-host addresses when ``address`` is a range zipped with the name range."""
    raw = body.get("address")
    if not isinstance(raw, str) or ("[" not in raw and len(names) == 1):
        return []
    where = draft.where(body.line_of("address"))
    addresses = _expand(raw, where)
    if len(addresses) != len(names):
        raise _error(
            where,
            f"address {_show(raw)} gives {len(addresses)} address(es) "
            f"for the {len(names)} hosts of {_show(pattern)}",
            f"give a range of {len(names)} addresses, e.g. 10.0.1.[1:{len(names)}]",
        )
    return addresses


def _fleet_groups(groups: _LineMap, draft: _Draft) -> None:
    # Declare every group first: children may name groups declared further down.
    for name in groups:
        line = groups.line_of(name)
        name = _group_name(name, draft.where(line))
        if name in _RESERVED_GROUPS:
            raise _error(draft.where(line), f"group name '{name}' is reserved", "rename the group")
        draft.group(name, line)
    for name, body in groups.items():
        line = groups.line_of(name)
        _fleet_group(draft.groups[name], _mapping(body, line, draft.where(line), name), draft)


def _fleet_group(group: _GroupDraft, body: _LineMap, draft: _Draft) -> None:
    for key in body:
        if key not in _GROUP_KEYS:
            where = draft.where(body.line_of(key))
            raise _unknown(where, "key", str(key), _GROUP_KEYS, f" in group '{group.name}'")
    for item, line in _text_items(body, "hosts", draft):
        pattern = _fleet_host_name(item, draft.where(line))
        for name in _expand(pattern, draft.where(line)):
            draft.host(name, line).groups[group.name] = None
    line = body.line_of("vars")
    variables = _mapping(body.get("vars"), line, draft.where(line), f"vars of '{group.name}'")
    for key, raw in variables.items():
        draft.set_var(group.vars, key, raw, variables.line_of(key))
    for child, line in _text_items(body, "children", draft):
        group.children.setdefault(_group_name(child, draft.where(line)), line)


def _text_items(body: _LineMap, key: str, draft: _Draft) -> list[tuple[str, int]]:
    value = body.get(key)
    line = body.line_of(key)
    if value is None:
        return []
    if not isinstance(value, _LineList):
        raise _error(
            draft.where(line),
            f"'{key}' must be a list, not {_kind(value)}",
            f"write {key}: [name, ...]",
        )
    items = []
    for index, item in enumerate(value):
        where = draft.where(value.line_of(index))
        items.append((_key_text(item, where, f"entry of '{key}'"), value.line_of(index)))
    return items


# --------------------------------------------------------------------------- Ansible variables

# Later entries win when several spellings of one field are set (the modern names
# come last).  ssh argument strings are applied before the plain fields.
_ANSIBLE_VARS: Mapping[str, str] = {
    "ansible_ssh_args": "ssh_args",
    "ansible_ssh_common_args": "ssh_args",
    "ansible_ssh_extra_args": "ssh_args",
    "ansible_ssh_host": "address",
    "ansible_host": "address",
    "ansible_ssh_port": "port",
    "ansible_port": "port",
    "ansible_ssh_user": "user",
    "ansible_user": "user",
    "ansible_private_key_file": "identity_file",
    "ansible_ssh_private_key_file": "identity_file",
    "ansible_sudo_pass": "become",
    "ansible_become_pass": "become",
    "ansible_become_password": "become",
}
_ANSIBLE_RANK = {name: index for index, name in enumerate(_ANSIBLE_VARS)}
_ENV_LOOKUP = re.compile(
    r"\{\{\s*lookup\(\s*(['\"])(?:ansible\.builtin\.)?env\1\s*,\s*"
    r"(['\"])([A-Za-z_][A-Za-z0-9_]*)\2\s*\)\s*\}\}"
)
# ssh(1) options that take an argument; their argument is skipped, not misread.
_SSH_FLAGS_WITH_ARGUMENT = frozenset("BbcDEeFIiLlmOpQRSWw")
# "Key=Value" or "Key Value", as ssh -o accepts both.
_OPTION = re.compile(r"\s*([^=\s]+)\s*(?:=|\s)\s*(\S.*?)\s*", re.DOTALL)


def _ansible_rank(key: str) -> int:
    return _ANSIBLE_RANK.get(key, len(_ANSIBLE_RANK))


def _ansible_var(key: str, raw: Any, where: str, base_dir: Path) -> dict[str, Any] | None:
    if key in SETTING_SPECS:
        _reject_template(key, raw, where)
        return _setting(key, raw, where)
    field_name = _ANSIBLE_VARS.get(key)
    if field_name is None:
        return None  # one of Ansible's many variables that mean nothing to fleet
    if isinstance(raw, _Vault):
        raise _error(
            where,
            f"{key} is vault-encrypted and fleet cannot decrypt it",
            "use \"{{ lookup('env', 'NAME') }}\" or a fleet inventory with become_password_env",
        )
    if field_name == "become":
        return _ansible_become(key, raw, where)
    _reject_template(key, raw, where)
    if field_name == "ssh_args":
        return _ssh_args(key, raw, where, base_dir)
    return {field_name: _host_field(field_name, key, raw, where, base_dir)}


def _reject_template(key: str, raw: Any, where: str) -> None:
    if isinstance(raw, str) and ("{{" in raw or "{%" in raw):
        raise _error(
            where,
            f"{key} is a Jinja template, which fleet does not evaluate",
            "write the value itself",
        )


def _ansible_become(key: str, raw: Any, where: str) -> dict[str, Any]:
    if isinstance(raw, str) and ("{{" in raw or "{%" in raw):
        match = _ENV_LOOKUP.fullmatch(raw.strip())
        if match is None:
            raise _error(
                where,
                f"{key} is a template fleet cannot evaluate",
                "use \"{{ lookup('env', 'NAME') }}\" to read the password from NAME",
            )
        return {"become_password_env": match.group(3)}
    return {"become_password": _text(key, raw, where)}


def _ssh_args(key: str, raw: Any, where: str, base_dir: Path) -> dict[str, Any]:
    """Read ``-o Key=Value`` and ``-J host`` out of an ssh argument string."""
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return {"ssh_options": {}}
    try:
        tokens = shlex.split(_text(key, raw, where))
    except ValueError:
        raise _error(where, f"{key} has an unclosed quote", "close the quote") from None
    fields: dict[str, Any] = {"ssh_options": {}}
    words = iter(tokens)
    for token in words:
        if token.startswith("-o") or token.startswith("-J"):
            value = token[2:] or next(words, "")
            _ssh_arg(key, token[1], value, fields, where, base_dir)
        elif len(token) == 2 and token[0] == "-" and token[1] in _SSH_FLAGS_WITH_ARGUMENT:
            next(words, None)
    return fields


def _ssh_arg(
    key: str, flag: str, value: str, fields: dict[str, Any], where: str, base_dir: Path
) -> None:
    if flag == "J":
        fields["jump"] = _jump(f"{key} -J", value, where)
        return
    match = _OPTION.fullmatch(value)
    if match is None:
        raise _error(where, f"{key} has '-o' without Key=Value", "write -o Key=Value")
    name, option = match.groups()
    if name.lower() == "proxyjump":
        none = option.lower() == "none"
        fields["jump"] = None if none else _jump(f"{key} ProxyJump", option, where)
    elif name.lower() == "userknownhostsfile":
        first = option.split()[0]
        fields["known_hosts"] = _path(f"{key} UserKnownHostsFile", first, where, base_dir)
    else:
        fields["ssh_options"][name] = option


def _outside_ranges(pattern: str) -> str:
    return _RANGE.sub("", pattern)


def _split_port(pattern: str, where: str) -> tuple[str, str | None]:
    """Ansible's ``host:port``; several colons (an IPv6 address) mean no port."""
    if _outside_ranges(pattern).count(":") != 1:
        return pattern, None
    name, _, port = pattern.rpartition(":")
    if not name:
        raise _error(where, f"host {_show(pattern)} has no name before ':'", "write name:port")
    return name, port


# --------------------------------------------------------------------------- Ansible YAML


def _parse_ansible_yaml(data: _LineMap, draft: _Draft) -> None:
    for name, body in data.items():
        _ansible_group(draft, name, body, data.line_of(name), None)


def _ansible_group(draft: _Draft, name: Any, body: Any, line: int, parent: str | None) -> None:
    where = draft.where(line)
    name = _group_name(name, where)
    if name not in _RESERVED_GROUPS:
        draft.group(name, line)
        if parent is not None:
            draft.groups[parent].children.setdefault(name, line)
    member_of = None if name in _RESERVED_GROUPS else name
    body = _mapping(body, line, where, f"group '{name}'")
    for key, value in body.items():
        key_line = body.line_of(key)
        if key == "hosts":
            _ansible_hosts(draft, member_of, value, key_line)
        elif key == "vars":
            _ansible_group_vars(draft, name, value, key_line)
        elif key == "children":
            children = _mapping(value, key_line, draft.where(key_line), f"children of '{name}'")
            for child, child_body in children.items():
                _ansible_group(draft, child, child_body, children.line_of(child), member_of)
        else:
            raise _unknown(
                draft.where(key_line), "key", str(key), _GROUP_KEYS, f" in group '{name}'"
            )


def _group_vars_target(draft: _Draft, group: str, where: str) -> dict[str, _Var]:
    if group == "all":
        return draft.defaults
    if group == "ungrouped":
        raise _error(where, "vars on 'ungrouped' are not supported", "set them on the hosts")
    return draft.groups[group].vars


def _ansible_group_vars(draft: _Draft, group: str, value: Any, line: int) -> None:
    where = draft.where(line)
    target = _group_vars_target(draft, group, where)
    variables = _mapping(value, line, where, f"vars of '{group}'")
    for key, raw in variables.items():
        draft.set_var(target, key, raw, variables.line_of(key))


def _ansible_hosts(draft: _Draft, group: str | None, value: Any, line: int) -> None:
    where = draft.where(line)
    if isinstance(value, _LineList):
        raise _error(
            where, "'hosts' is a list", "write each host as a key: 'web01:' on its own line"
        )
    hosts = _mapping(value, line, where, "'hosts'")
    for pattern, body in hosts.items():
        host_line = hosts.line_of(pattern)
        host_where = draft.where(host_line)
        base, port = _split_port(_key_text(pattern, host_where, "host name"), host_where)
        body = _mapping(body, host_line, host_where, f"host {_show(pattern)}")
        for name in _expand(base, host_where):
            host = _ansible_host(draft, name, host_line, group, port)
            for key, raw in body.items():
                draft.set_var(host.vars, key, raw, body.line_of(key))


def _ansible_host(
    draft: _Draft, name: str, line: int, group: str | None, port: str | None
) -> _HostDraft:
    host = draft.host(name, line)
    if group is not None:
        host.groups[group] = None
    if port is not None:
        draft.set_var(host.vars, "ansible_port", port, line)
    return host


# --------------------------------------------------------------------------- Ansible INI

_SECTION = re.compile(r"\[([^\s:\[\]]+)(?::(\w+))?\]\s*(?:[#;].*)?")


@dataclass
class _IniState:
    group: str = "ungrouped"
    kind: str = "hosts"
    # Ansible's rule: only [g] and [g:children] define a group; [g:vars] and
    # [parent:children] may refer to it before or after, but not never.
    defined: set[str] = field(default_factory=lambda: set(_RESERVED_GROUPS))
    vars_refs: dict[str, int] = field(default_factory=dict)
    child_refs: dict[str, tuple[str, int]] = field(default_factory=dict)


def _parse_ini(text: str, draft: _Draft) -> None:
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


def _ini_section(line: str, number: int, state: _IniState, draft: _Draft) -> None:
    where = draft.where(number)
    match = _SECTION.fullmatch(line)
    if match is None:
        raise _error(
            where,
            f"{_show(line)} is not a section header",
            "write [group], [group:vars] or [group:children]",
        )
    name, kind = _group_name(match.group(1), where), match.group(2) or "hosts"
    if kind not in ("hosts", "vars", "children"):
        raise _error(where, f"section kind ':{kind}' is unknown", "use :vars or :children")
    if name not in _RESERVED_GROUPS:
        draft.group(name, number)
    if kind == "vars":
        state.vars_refs.setdefault(name, number)
    else:
        state.defined.add(name)
    state.group, state.kind = name, kind


def _ini_tokens(line: str, where: str) -> list[str]:
    try:
        return shlex.split(line, comments=True)
    except ValueError:
        raise _error(where, "the line has an unclosed quote", "close the quote") from None


def _ini_host(line: str, number: int, group: str, draft: _Draft) -> None:
    where = draft.where(number)
    tokens = _ini_tokens(line, where)
    if not tokens:
        return
    base, port = _split_port(tokens[0], where)
    assignments = []
    for position, token in enumerate(tokens[1:], start=2):
        key, sep, value = token.partition("=")
        if not sep or not key:
            # The token is not echoed: it may be half of an unquoted password.
            raise _error(
                where,
                f"word {position} is not a key=value variable",
                "write key=value and quote values that contain spaces",
            )
        assignments.append((key, value))
    member_of = None if group in _RESERVED_GROUPS else group
    for name in _expand(base, where):
        host = _ansible_host(draft, name, number, member_of, port)
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


def _ini_var(line: str, number: int, group: str, draft: _Draft) -> None:
    where = draft.where(number)
    key, sep, value = line.partition("=")
    key = key.strip()
    if not sep or not key:
        raise _error(where, f"[{group}:vars] lines must be key=value", "write key=value")
    draft.set_var(_group_vars_target(draft, group, where), key, _ini_value(value), number)


def _ini_child(line: str, number: int, state: _IniState, draft: _Draft) -> None:
    where = draft.where(number)
    tokens = _ini_tokens(line, where)
    if len(tokens) != 1:
        raise _error(
            where, f"[{state.group}:children] lines must name one group", "one group per line"
        )
    child = _group_name(tokens[0], where)
    if child in _RESERVED_GROUPS:
        raise _error(where, f"'{child}' cannot be a child group", "remove the line")
    if state.group not in _RESERVED_GROUPS:
        draft.groups[state.group].children.setdefault(child, number)
    state.child_refs.setdefault(child, (state.group, number))


def _ini_check_refs(state: _IniState, draft: _Draft) -> None:
    for name, number in state.vars_refs.items():
        if name not in state.defined:
            raise _error(
                draft.where(number),
                f"[{name}:vars] is for a group that has no [{name}] section",
                "declare the group or fix the name",
            )
    for child, (parent, number) in state.child_refs.items():
        if child not in state.defined:
            raise _unknown(
                draft.where(number), "child group", child, state.defined, f" in [{parent}:children]"
            )


# --------------------------------------------------------------------------- format detection

_YAML_SUFFIXES = (".yml", ".yaml", ".json")
_INI_SUFFIXES = (".ini", ".cfg")
_YAML_START = re.compile(r"(---|[\w.-]+:(\s|$))")


def _read(path: Path) -> str:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(
            f"{path}: cannot read the inventory ({exc.strerror or exc}); check the path"
        ) from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise _error(f"{path}:{line}", "the file is not UTF-8 text", "save it as UTF-8") from None


def _load(path: Path, text: str) -> Inventory:
    kind, data = _detect(path, text)
    base_dir = path.absolute().parent
    if kind == "fleet":
        draft = _Draft(str(path), base_dir, _fleet_var, _as_written)
        _parse_fleet(data, draft)
    elif kind == "ini":
        draft = _Draft(str(path), base_dir, _ansible_var, _ansible_rank)
        _parse_ini(text, draft)
    else:
        draft = _Draft(str(path), base_dir, _ansible_var, _ansible_rank)
        _parse_ansible_yaml(data, draft)
    return _build(draft)


def _as_written(key: str) -> int:
    """fleet's keys never set the same field twice, so they apply in the order written."""
    return 0


def _detect(path: Path, text: str) -> tuple[str, Any]:
    suffix = path.suffix.lower()
    source = str(path)
    if suffix in _INI_SUFFIXES:
        return "ini", None
    if suffix in _YAML_SUFFIXES or _looks_like_yaml(text):
        data = _load_yaml(text, source)
    else:
        try:
            data = _load_yaml(text, source)
        except InputError:
            return "ini", None
        if not isinstance(data, _LineMap):
            return "ini", None
    return _yaml_kind(data, source), data


def _looks_like_yaml(text: str) -> bool:
    for line in text.split("\n"):
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            return bool(_YAML_START.match(stripped))
    return False


def _yaml_kind(data: Any, source: str) -> str:
    if data is None:
        raise _error(source, "the inventory is empty", "declare hosts (see docs/inventory.md)")
    if not isinstance(data, _LineMap):
        raise _error(
            f"{source}:1",
            f"the inventory must be a mapping, not {_kind(data)}",
            "start with 'fleet: 1' or Ansible's 'all:'",
        )
    if "fleet" in data or (data and set(data) <= {"defaults", "groups", "hosts"}):
        return "fleet"
    return "ansible"


# --------------------------------------------------------------------------- building hosts


def _build(draft: _Draft) -> Inventory:
    parents = _parents(draft)
    if not draft.hosts:
        raise _error(draft.source, "no hosts are declared", "add hosts (see docs/inventory.md)")
    depth = _depths(draft, parents)
    hosts = tuple(_make_host(draft, host, parents, depth) for host in draft.hosts.values())
    groups = {name: tuple(h.name for h in hosts if name in h.groups) for name in draft.groups}
    return Inventory(source=draft.source, hosts=hosts, groups=groups)


def _parents(draft: _Draft) -> dict[str, set[str]]:
    parents: dict[str, set[str]] = {name: set() for name in draft.groups}
    for group in draft.groups.values():
        for child, line in group.children.items():
            if child not in draft.groups:
                raise _unknown(
                    draft.where(line), "child group", child, draft.groups, f" of '{group.name}'"
                )
            parents[child].add(group.name)
    _reject_cycles(draft)
    return parents


def _reject_cycles(draft: _Draft) -> None:
    """Depth-first walk without recursion: inventories can nest groups deeply."""
    done: set[str] = set()
    for root in draft.groups:
        if root in done:
            continue
        path = [root]
        stack = [iter(draft.groups[root].children)]
        while stack:
            child = next(stack[-1], None)
            if child is None:
                done.add(path.pop())
                stack.pop()
            elif child in path:
                _raise_cycle(draft, path, child)
            elif child not in done:
                path.append(child)
                stack.append(iter(draft.groups[child].children))


def _raise_cycle(draft: _Draft, path: list[str], child: str) -> None:
    loop = [*path[path.index(child) :], child]
    line = draft.groups[path[-1]].children[child]
    raise _error(
        draft.where(line),
        f"groups contain each other: {' -> '.join(loop)}",
        f"remove '{child}' from the children of '{path[-1]}'",
    )


def _depths(draft: _Draft, parents: Mapping[str, set[str]]) -> dict[str, int]:
    """Ansible's depth: a group is one deeper than its deepest parent (top level: 1)."""
    depth: dict[str, int] = {}
    pending = list(draft.groups)
    while pending:
        name = pending[-1]
        if name in depth:
            pending.pop()
            continue
        missing = [p for p in parents[name] if p not in depth]
        if missing:
            pending.extend(missing)
            continue
        pending.pop()
        depth[name] = 1 + max((depth[p] for p in parents[name]), default=0)
    return depth


def _ancestors(direct: Iterable[str], parents: Mapping[str, set[str]]) -> set[str]:
    found: set[str] = set()
    todo = list(direct)
    while todo:
        name = todo.pop()
        if name not in found:
            found.add(name)
            todo.extend(parents[name])
    return found


def _make_host(
    draft: _Draft, host: _HostDraft, parents: Mapping[str, set[str]], depth: Mapping[str, int]
) -> Host:
    groups = _ancestors(host.groups, parents)
    # Ansible's precedence: parents before children, same depth by name, host last.
    ordered = sorted(groups, key=lambda name: (depth[name], name))
    layers = [draft.defaults, *(draft.groups[name].vars for name in ordered), host.vars]
    fields = _fields(_merge(layers), draft.rank)
    fields.setdefault("address", host.name)
    return Host(
        name=host.name,
        groups=tuple(sorted(groups)),
        origin=draft.where(host.line),
        **fields,
    )


def _merge(layers: Iterable[Mapping[str, _Var]]) -> dict[str, _Var]:
    merged: dict[str, _Var] = {}
    for layer in layers:
        for key, var in layer.items():
            _drop_exclusive(merged, var)
            previous = merged.get(key)
            if previous is not None and key == "ssh_options":
                combined = {**previous.fields["ssh_options"], **var.fields["ssh_options"]}
                var = _Var({"ssh_options": combined}, var.line)
            merged[key] = var
    return merged


def _drop_exclusive(merged: dict[str, _Var], var: _Var) -> None:
    rivals = {_EXCLUSIVE_FIELDS[name] for name in var.fields if name in _EXCLUSIVE_FIELDS}
    for key in [key for key, old in merged.items() if rivals & old.fields.keys()]:
        del merged[key]


def _fields(merged: Mapping[str, _Var], rank: Callable[[str], int]) -> dict[str, Any]:
    fields: dict[str, Any] = {name: {} for name in _MERGED_FIELDS}
    for key in sorted(merged, key=rank):
        for name, value in merged[key].fields.items():
            if name in _MERGED_FIELDS:
                fields[name].update(value)
            else:
                fields[name] = value
    return fields


# --------------------------------------------------------------------------- --limit

_MAX_GROUPS_SHOWN = 20


def _parse_limit(limit: str) -> tuple[list[str], list[str], list[str]]:
    plain: list[str] = []
    intersect: list[str] = []
    exclude: list[str] = []
    for term in _split_limit(limit):
        target = {"!": exclude, "&": intersect}.get(term[0], plain)
        pattern = term[1:].strip() if target is not plain else term
        if not pattern:
            raise InputError(f"--limit: '{term[0]}' must be followed by a host, group or pattern")
        target.append(pattern)
    return plain, intersect, exclude


def _split_limit(limit: str) -> list[str]:
    """Split on ',' and ':' outside ``[a:b]`` ranges; ``@FILE`` runs to the next ','."""
    terms: list[str] = []
    current: list[str] = []
    depth = 0
    for char in limit:
        at_file = char == ":" and "".join(current).strip().lstrip("!&").lstrip().startswith("@")
        if char == "," or (char == ":" and depth == 0 and not at_file):
            terms.append("".join(current))
            current = []
            continue
        depth = max(0, depth + (char == "[") - (char == "]"))
        current.append(char)
    terms.append("".join(current))
    return [term.strip() for term in terms if term.strip()]


def _match_term(inventory: Inventory, pattern: str) -> set[str]:
    if pattern.startswith("@"):
        return _match_file(inventory, pattern[1:].strip())
    found = _match_pattern(inventory, pattern, "--limit")
    if not found:
        raise _no_match(inventory, pattern, "--limit")
    return found


def _match_pattern(inventory: Inventory, pattern: str, where: str) -> set[str]:
    if pattern in ("all", "*"):
        return {host.name for host in inventory.hosts}
    if pattern == "ungrouped" and pattern not in inventory.groups:
        return {host.name for host in inventory.hosts if not host.groups}
    if pattern.startswith("~"):
        return _match_regex(inventory, pattern[1:], where)
    if re.search(r"\[[^\]]*:[^\]]*\]", pattern):
        try:
            names = expand_range(pattern)
        except ValueError as exc:
            raise InputError(f"{where}: {exc}") from None
        return set().union(*(_match_glob(inventory, name) for name in names))
    return _match_glob(inventory, pattern)


def _match_glob(inventory: Inventory, pattern: str) -> set[str]:
    # As in Ansible, a group name wins over a host of the same name.
    if pattern in inventory.groups:
        return set(inventory.groups[pattern])
    if not any(char in pattern for char in "*?["):
        return {host.name for host in inventory.hosts if host.name == pattern}
    found = {host.name for host in inventory.hosts if fnmatch.fnmatchcase(host.name, pattern)}
    for group, members in inventory.groups.items():
        if fnmatch.fnmatchcase(group, pattern):
            found.update(members)
    return found


def _match_regex(inventory: Inventory, expression: str, where: str) -> set[str]:
    try:
        regex = re.compile(expression)
    except re.error as exc:
        raise InputError(
            f"{where}: '~{expression}' is not a regular expression ({exc}); fix it"
        ) from None
    found = {host.name for host in inventory.hosts if regex.match(host.name)}
    for group, members in inventory.groups.items():
        if regex.match(group):
            found.update(members)
    return found


def _match_file(inventory: Inventory, name: str) -> set[str]:
    """Hosts named in a file, one per line (e.g. the failed hosts of the last run)."""
    path = Path(os.path.expanduser(name))
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or "not UTF-8 text"
        raise InputError(f"--limit: cannot read @{name} ({reason}); check the path") from None
    found: set[str] = set()
    for number, line in enumerate(text.split("\n"), start=1):
        pattern = line.split("#", 1)[0].strip()
        if not pattern:
            continue
        where = f"--limit: {path}:{number}"
        matched = _match_pattern(inventory, pattern, where)
        if not matched:
            raise _no_match(inventory, pattern, where)
        found |= matched
    return found


def _no_match(inventory: Inventory, pattern: str, where: str) -> InputError:
    candidates = [*inventory.groups, *(host.name for host in inventory.hosts)]
    best = difflib.get_close_matches(pattern, candidates, n=1)
    hint = f" (did you mean '{best[0]}'?)" if best else ""
    groups = sorted(inventory.groups)
    shown = ", ".join(groups[:_MAX_GROUPS_SHOWN]) or "none"
    if len(groups) > _MAX_GROUPS_SHOWN:
        shown += ", ..."
    return InputError(f"{where}: no host or group matches {pattern!r}{hint}; known groups: {shown}")
