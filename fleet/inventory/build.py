"""The draft into an Inventory: group nesting checked, precedence applied, Hosts made.

One set of rules for every format, as Ansible applies them: the defaults, then
a host's groups from the least to the most deeply nested (same depth: by name),
then the host's own variables.  ``ssh_options`` and settings merge key by key;
every other field is replaced.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from fleet.inventory.draft import Draft, Fields, HostDraft
from fleet.inventory.messages import error, unknown
from fleet.inventory.model import Host, Inventory

# Fields merged key by key across levels instead of replaced as a whole.
_MERGED_FIELDS = ("ssh_options", "settings")
# Setting one of these at a more specific level clears the other: a host's own
# environment variable must win over a password inherited from a group.
_EXCLUSIVE_FIELDS = {
    "become_password": "become_password_env",
    "become_password_env": "become_password",
}


def build(draft: Draft) -> Inventory:
    """The finished inventory; raises InputError for unknown or cyclic groups and no hosts."""
    parents = _parents(draft)
    if not draft.hosts:
        raise error(draft.source, "no hosts are declared", "add hosts (see docs/inventory.md)")
    depth = _depths(draft, parents)
    hosts = tuple(_make_host(draft, host, parents, depth) for host in draft.hosts.values())
    groups = {name: tuple(h.name for h in hosts if name in h.groups) for name in draft.groups}
    return Inventory(source=draft.source, hosts=hosts, groups=groups)


def _parents(draft: Draft) -> dict[str, set[str]]:
    parents: dict[str, set[str]] = {name: set() for name in draft.groups}
    for group in draft.groups.values():
        for child, line in group.children.items():
            if child not in draft.groups:
                raise unknown(
                    draft.where(line), "child group", child, draft.groups, f" of '{group.name}'"
                )
            parents[child].add(group.name)
    _reject_cycles(draft)
    return parents


def _reject_cycles(draft: Draft) -> None:
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


def _raise_cycle(draft: Draft, path: list[str], child: str) -> None:
    loop = [*path[path.index(child) :], child]
    line = draft.groups[path[-1]].children[child]
    raise error(
        draft.where(line),
        f"groups contain each other: {' -> '.join(loop)}",
        f"remove '{child}' from the children of '{path[-1]}'",
    )


def _depths(draft: Draft, parents: Mapping[str, set[str]]) -> dict[str, int]:
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
    draft: Draft, host: HostDraft, parents: Mapping[str, set[str]], depth: Mapping[str, int]
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


def _merge(layers: Iterable[Mapping[str, Fields]]) -> dict[str, Fields]:
    """Each variable's fields from the most specific layer that sets it."""
    merged: dict[str, Fields] = {}
    for layer in layers:
        for key, var in layer.items():
            _drop_exclusive(merged, var)
            previous = merged.get(key)
            if previous is not None and key == "ssh_options":
                var = {"ssh_options": {**previous["ssh_options"], **var["ssh_options"]}}
            merged[key] = var
    return merged


def _drop_exclusive(merged: dict[str, Fields], var: Fields) -> None:
    rivals = {_EXCLUSIVE_FIELDS[name] for name in var if name in _EXCLUSIVE_FIELDS}
    for key in [key for key, old in merged.items() if rivals & old.keys()]:
        del merged[key]


def _fields(merged: Mapping[str, Fields], rank: Callable[[str], int]) -> dict[str, Any]:
    fields: dict[str, Any] = {name: {} for name in _MERGED_FIELDS}
    for key in sorted(merged, key=rank):
        for name, value in merged[key].items():
            if name in _MERGED_FIELDS:
                fields[name].update(value)
            else:
                fields[name] = value
    return fields
