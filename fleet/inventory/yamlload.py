"""YAML loading that keeps line numbers, refuses duplicate keys and never echoes a secret.

Mappings and lists load as :class:`LineMap` and :class:`LineList`, which remember
the line of each key or item so the parsers can say ``FILE:LINE``.  Ansible's
``!vault`` values load as :class:`Vault` (fleet cannot decrypt them) and
``!unsafe`` as plain text.  Every problem becomes an InputError, naming the line
where PyYAML gives one and never quoting the source line, which may hold a password.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import yaml

from fleet.errors import InputError
from fleet.inventory.messages import error, show


class LineMap(dict):
    """A YAML mapping that remembers the line of each key, for error messages."""

    def __init__(self, line: int) -> None:
        super().__init__()
        self.line = line
        self.lines: dict[Any, int] = {}

    def line_of(self, key: Any) -> int:
        """The key's line, or the mapping's own line for a key it does not have."""
        return self.lines.get(key, self.line)


class LineList(list):
    """A YAML sequence that remembers the line of each item."""

    def __init__(self) -> None:
        super().__init__()
        self.lines: list[int] = []

    def line_of(self, index: int) -> int:
        return self.lines[index]


class Vault:
    """An Ansible ``!vault`` value: fleet cannot decrypt it, and must not print it."""

    def __repr__(self) -> str:
        return "<vault>"

    __str__ = __repr__


def load_yaml(text: str, source: str) -> Any:
    """The document in ``text``; ``source`` names the file in error messages."""
    try:
        return yaml.load(text, Loader=_LineLoader)  # a SafeLoader subclass
    except yaml.MarkedYAMLError as exc:
        raise _yaml_error(exc, source) from None
    except yaml.reader.ReaderError as exc:
        line = text[: exc.position].count("\n") + 1
        raise error(
            f"{source}:{line}", f"character #x{exc.character:04x} is not allowed", "remove it"
        ) from None
    except yaml.YAMLError as exc:
        raise error(source, f"YAML error ({exc})", "fix the file") from None


def kind_of(value: object) -> str:
    """What a loaded value is, for a message ("a mapping", "empty"); never the value itself."""
    if value is None:
        return "empty"
    if isinstance(value, Vault):
        return "a vault-encrypted value"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return f"a {type(value).__name__}"


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
        data = LineMap(node.start_mark.line + 1)
        yield data
        _expect(node, yaml.MappingNode, "a mapping")
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
        data = LineList()
        yield data
        _expect(node, yaml.SequenceNode, "a list")
        data.extend(self.construct_object(child, deep=True) for child in node.value)
        data.lines.extend(child.start_mark.line + 1 for child in node.value)

    def construct_vault(self, node: yaml.Node) -> Vault:
        return Vault()

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
                    f"{show(key)} is declared twice (first at line {seen[key]}); remove one",
                    key_node.start_mark,
                )
            seen[key] = line


_LineLoader.add_constructor("tag:yaml.org,2002:map", _LineLoader.construct_line_map)
_LineLoader.add_constructor("tag:yaml.org,2002:seq", _LineLoader.construct_line_seq)
_LineLoader.add_constructor("!vault", _LineLoader.construct_vault)
_LineLoader.add_constructor("!unsafe", yaml.SafeLoader.construct_yaml_str)


def _expect(node: yaml.Node, node_type: type[yaml.Node], what: str) -> None:
    """A ``!!map`` or ``!!seq`` tag on the wrong kind of node is a YAML error at its line."""
    if not isinstance(node, node_type):
        raise yaml.constructor.ConstructorError(
            None, None, f"expected {what} here", node.start_mark
        )


def _yaml_error(exc: yaml.MarkedYAMLError, source: str) -> InputError:
    # Only the problem and the line: PyYAML's full message quotes the source
    # line, which may hold a password.
    mark = exc.problem_mark or exc.context_mark
    where = f"{source}:{mark.line + 1}" if mark else source
    parts = [part for part in (exc.context, exc.problem) if part]
    problem = ": ".join(parts) or "not valid YAML"
    if isinstance(exc, _ExplainedProblem):
        return InputError(f"{where}: {problem}")
    return error(where, f"YAML syntax error: {problem}", "check the indentation and quoting")
