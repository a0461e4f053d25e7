"""``--limit``: Ansible-style host patterns resolved against a finished Inventory.

Parts are separated by ``,`` or ``:``; ``&part`` intersects, ``!part`` excludes.
A part is ``all``/``*``, a group or host name, a glob, a name range, ``~regex``
or ``@FILE`` (one pattern a line, e.g. the failed hosts of the last run).
"""

from __future__ import annotations

import difflib
import fnmatch
import os
import re
from pathlib import Path

from fleet.errors import InputError
from fleet.inventory.model import Host, Inventory
from fleet.inventory.ranges import expand_at

_MAX_GROUPS_SHOWN = 20


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
        names = expand_at(pattern, where)
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
