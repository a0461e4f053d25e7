"""A small TOML reader and two writers, for the simulated containerd (standard library only).

The lab runs on Python 3.10, which has no ``tomllib``, so the subset containerd configs use
is read here: comments, ``[table]`` and ``[[array]]`` headers with bare, quoted and dotted
keys, strings (basic, literal, multi-line), integers, floats, booleans, arrays over
several lines, inline tables.  Errors carry the row and column containerd's TOML libraries
report, and :meth:`TomlError.go_toml_v1` / :meth:`TomlError.go_toml_v2` word them as
containerd 1.x (pelletier/go-toml v1) and 2.x (go-toml v2) do; the v1 texts were printed
by containerd 1.6.20 (tests/data/containerd/README.md), the v2 ones are go-toml v2's
``unstable/parser.go`` and ``internal/tracker/seen.go``.
"""

from __future__ import annotations

import re
from typing import Any

_BARE = re.compile(r"[A-Za-z0-9_-]+")
_NUMBER = re.compile(
    r"[+-]?(?:0x[0-9A-Fa-f_]+|0o[0-7_]+|0b[01_]+|[0-9_]+(?:\.[0-9_]+)?(?:[eE][+-]?[0-9_]+)?|inf|nan)"
)
_ESCAPES = {"b": "\b", "t": "\t", "n": "\n", "f": "\f", "r": "\r", '"': '"', "\\": "\\"}

# kind -> (go-toml v1 text, go-toml v2 text, whether v2 reports a position)
_TEXTS = {
    "equals": ("was expecting token =, but got keys cannot contain new lines instead",
               "expected character =", True),
    "unclosed_table": ("unexpected token unclosed table key, was expecting a table key",
                       "expected character ]", True),
    "duplicate_key": ("The following key was defined twice: {key}",
                      "key {key} is already defined", False),
    "duplicate_table": ("duplicated tables", "table {key} already exists", False),
    "value": ("no value can start with {char}", "expected value, not {char}", True),
    "string": ("unclosed string", "basic string not terminated by \"", True),
    "array": ("unterminated array", "array is incomplete", True),
    "trailing": ("expected newline but got {char}", "expected newline but got {char}", True),
}  # fmt: skip


class TomlError(Exception):
    def __init__(self, kind: str, row: int, col: int, **detail: str) -> None:
        super().__init__(kind)
        self.kind, self.row, self.col, self.detail = kind, row, col, detail

    def go_toml_v1(self) -> str:
        """``(2, 15): was expecting token =, ...`` as containerd 1.x prints it after the path."""
        return f"({self.row}, {self.col}): {_TEXTS[self.kind][0].format(**self.detail)}"

    def go_toml_v2(self) -> tuple[bool, str]:
        """(has a position, ``toml: ...``) as containerd 2.x's decoder reports it."""
        _, text, positioned = _TEXTS[self.kind]
        return positioned, "toml: " + text.format(**self.detail)


class _Reader:
    def __init__(self, text: str) -> None:
        self.text, self.pos = text, 0
        self.root: dict[str, Any] = {}
        self.explicit: set[tuple[str, ...]] = set()

    # -- position ---------------------------------------------------------------------------
    def where(self, pos: int | None = None) -> tuple[int, int]:
        pos = self.pos if pos is None else pos
        row = self.text.count("\n", 0, pos) + 1
        return row, pos - (self.text.rfind("\n", 0, pos) + 1) + 1

    def fail(self, kind: str, pos: int | None = None, **detail: str) -> TomlError:
        row, col = self.where(pos)
        return TomlError(kind, row, col, **detail)

    def peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def spaces(self) -> None:
        while self.peek() in (" ", "\t"):
            self.pos += 1

    def blank(self) -> None:
        """Whitespace, newlines and comments (inside arrays and between statements)."""
        while True:
            self.spaces()
            if self.peek() == "#":
                end = self.text.find("\n", self.pos)
                self.pos = len(self.text) if end < 0 else end
            elif self.peek() in ("\n", "\r"):
                self.pos += 1
            else:
                return

    # -- document ---------------------------------------------------------------------------
    def document(self) -> dict[str, Any]:
        table = self.root
        while True:
            self.blank()
            if not self.peek():
                return self.root
            if self.peek() == "[":
                table = self.header()
            else:
                self.keyval(table)
            self.end_of_line()

    def end_of_line(self) -> None:
        self.spaces()
        if self.peek() == "#":
            self.blank()
        elif self.peek() not in ("", "\n", "\r"):
            raise self.fail("trailing", char=repr(self.peek()))

    def header(self) -> dict[str, Any]:
        array = self.text.startswith("[[", self.pos)
        self.pos += 2 if array else 1
        start = self.pos
        self.spaces()
        path = self.key()
        self.spaces()
        closing = "]]" if array else "]"
        if not self.text.startswith(closing, self.pos):
            raise self.fail("unclosed_table", start if not array else self.pos)
        self.pos += len(closing)
        parent = self.descend(self.root, path[:-1])
        if array:
            items = parent.setdefault(path[-1], [])
            items.append({})
            return items[-1]
        if tuple(path) in self.explicit:
            raise self.fail("duplicate_table", start, key=".".join(path))
        self.explicit.add(tuple(path))
        return self.descend(self.root, path)

    def descend(self, table: dict[str, Any], path: list[str]) -> dict[str, Any]:
        for name in path:
            child = table.setdefault(name, {})
            if isinstance(child, list) and child and isinstance(child[-1], dict):
                child = child[-1]
            if not isinstance(child, dict):
                raise self.fail("duplicate_key", key=name)
            table = child
        return table

    def key(self) -> list[str]:
        parts = [self.key_part()]
        while True:
            mark = self.pos
            self.spaces()
            if self.peek() != ".":
                self.pos = mark
                return parts
            self.pos += 1
            self.spaces()
            parts.append(self.key_part())

    def key_part(self) -> str:
        char = self.peek()
        if char in ('"', "'"):
            return self.string()
        match = _BARE.match(self.text, self.pos)
        if not match:
            raise self.fail("equals")
        self.pos = match.end()
        return match.group()

    def keyval(self, table: dict[str, Any]) -> None:
        start = self.pos
        path = self.key()
        self.spaces()
        if self.peek() != "=":
            raise self.fail("equals")
        self.pos += 1
        self.spaces()
        value = self.value()
        target = self.descend(table, path[:-1])
        if path[-1] in target:
            raise self.fail("duplicate_key", start, key=".".join(path))
        target[path[-1]] = value

    # -- values -----------------------------------------------------------------------------
    def value(self) -> Any:
        char = self.peek()
        if char in ('"', "'"):
            return self.string()
        if char == "[":
            return self.array()
        if char == "{":
            return self.inline_table()
        for word, value in (("true", True), ("false", False)):
            if self.text.startswith(word, self.pos):
                self.pos += len(word)
                return value
        match = _NUMBER.match(self.text, self.pos)
        if match and match.group():
            self.pos = match.end()
            return _number(match.group())
        raise self.fail("value", char=char or "EOF")

    def string(self) -> str:
        quote = self.peek()
        start = self.pos
        if self.text.startswith(quote * 3, self.pos):
            end = self.text.find(quote * 3, self.pos + 3)
            if end < 0:
                raise self.fail("string", start)
            body = self.text[self.pos + 3 : end].removeprefix("\n")
            self.pos = end + 3
            return _unescape(body) if quote == '"' else body
        end = self.pos + 1
        while end < len(self.text) and self.text[end] not in (quote, "\n"):
            end += 2 if quote == '"' and self.text[end] == "\\" else 1
        if end >= len(self.text) or self.text[end] != quote:
            raise self.fail("string", start)
        body = self.text[self.pos + 1 : end]
        self.pos = end + 1
        return _unescape(body) if quote == '"' else body

    def array(self) -> list[Any]:
        start = self.pos
        self.pos += 1
        items: list[Any] = []
        while True:
            self.blank()
            if self.peek() == "]":
                self.pos += 1
                return items
            if not self.peek():
                raise self.fail("array", start)
            items.append(self.value())
            self.blank()
            if self.peek() == ",":
                self.pos += 1
            elif self.peek() != "]":
                raise self.fail("array", start)

    def inline_table(self) -> dict[str, Any]:
        self.pos += 1
        table: dict[str, Any] = {}
        self.spaces()
        if self.peek() == "}":
            self.pos += 1
            return table
        while True:
            self.spaces()
            self.keyval(table)
            self.spaces()
            if self.peek() == ",":
                self.pos += 1
            elif self.peek() == "}":
                self.pos += 1
                return table
            else:
                raise self.fail("value", char=self.peek() or "EOF")


def _number(text: str) -> int | float:
    clean = text.replace("_", "")
    if clean.lower().lstrip("+-") in ("inf", "nan"):
        return float(clean)
    if clean[:2] in ("0x", "0o", "0b"):
        return int(clean, 0)
    if any(c in clean for c in ".eE"):
        return float(clean)
    return int(clean)


def _unescape(body: str) -> str:
    out, i = [], 0
    while i < len(body):
        char = body[i]
        if char != "\\":
            out.append(char)
            i += 1
            continue
        code = body[i + 1 : i + 2]
        if code in ("u", "U"):
            width = 4 if code == "u" else 8
            out.append(chr(int(body[i + 2 : i + 2 + width], 16)))
            i += 2 + width
        else:
            out.append(_ESCAPES.get(code, code))
            i += 2
    return "".join(out)


def loads(text: str) -> dict[str, Any]:
    """The document; :class:`TomlError` where containerd's reader would stop."""
    return _Reader(text).document()


# -- writers: what `containerd config dump` prints ------------------------------------------


def _key(name: str, quote: str) -> str:
    return name if _BARE.fullmatch(name) else f"{quote}{name}{quote}"


def _scalar(value: Any, quote: str) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, list):
        return "[" + ", ".join(_scalar(v, quote) for v in value) + "]"
    if isinstance(value, dict):
        return (
            "{"
            + ", ".join(f"{_key(k, quote)} = {_scalar(v, quote)}" for k, v in value.items())
            + "}"
        )
    text = str(value)
    if quote == "'" and "'" not in text and "\n" not in text:
        return f"'{text}'"
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def dumps(doc: dict[str, Any], go_toml: int) -> str:
    """go-toml v1 (containerd 1.x: keys sorted, double quotes) or v2 (2.x: given order,
    single quotes); tables indented two spaces per level, as ``config dump`` prints them."""
    quote = '"' if go_toml == 1 else "'"
    lines: list[str] = []

    def table(node: dict[str, Any], path: list[str]) -> None:
        keys = sorted(node) if go_toml == 1 else list(node)
        indent = "  " * len(path)
        for key in keys:
            if not isinstance(node[key], dict):
                lines.append(f"{indent}{_key(key, quote)} = {_scalar(node[key], quote)}")
        for key in keys:
            if isinstance(node[key], dict):
                sub = [*path, key]
                lines.append("")
                lines.append(
                    "  " * (len(sub) - 1) + "[" + ".".join(_key(p, quote) for p in sub) + "]"
                )
                table(node[key], sub)

    table(doc, [])
    return "\n".join(lines).lstrip("\n") + "\n"
