"""Go's ``encoding/json`` syntax errors, so a broken daemon.json fails with dockerd's words.

dockerd 23.0 and later read daemon.json with ``json.Unmarshal``, which first
runs Go's scanner over the whole input (19.03 and 20.10 used a ``json.Decoder``:
:func:`decode_first_object`).  This is that scanner's state machine, reduced
to what decides the error text: the offending byte, quoted the way Go quotes
it, and the context ("looking for beginning of object key string" for a
trailing comma, "after object key:value pair" for a missing one, ...).
"""

from __future__ import annotations

import json
from typing import Any

_WS = b" \t\r\n"
_ESCAPES = {7: "\\a", 8: "\\b", 12: "\\f", 10: "\\n", 13: "\\r", 9: "\\t", 11: "\\v"}


class GoJSONError(ValueError):
    """The text of the error ``json.Unmarshal`` would return."""


def quote_char(c: int) -> str:
    """Go's ``quoteChar``: ``'x'``, with strconv.Quote escapes for the unprintable."""
    if c == ord("'"):
        return "'\\''"
    if c == ord('"'):
        return "'\"'"
    if c == ord("\\"):
        return "'\\\\'"
    if c in _ESCAPES:
        return f"'{_ESCAPES[c]}'"
    ch = chr(c)
    if ch.isprintable():
        return f"'{ch}'"
    return f"'\\x{c:02x}'" if c < 0x80 else f"'\\u{c:04x}'"


def _err(c: int, context: str) -> GoJSONError:
    return GoJSONError(f"invalid character {quote_char(c)} {context}")


class _Scanner:
    """Walks bytes once; raises at the first byte Go's scanner would reject."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.i = 0

    def peek(self) -> int | None:
        return self.data[self.i] if self.i < len(self.data) else None

    def next_nonspace(self) -> int | None:
        while self.i < len(self.data) and self.data[self.i] in _WS:
            self.i += 1
        return self.peek()

    def need(self) -> int:
        c = self.next_nonspace()
        if c is None:
            raise GoJSONError("unexpected end of JSON input")
        return c

    def value(self, context: str = "looking for beginning of value") -> None:
        c = self.need()
        if c == ord("{"):
            self.i += 1
            self.obj()
        elif c == ord("["):
            self.i += 1
            self.array()
        elif c == ord('"'):
            self.string()
        elif c == ord("-") or ord("0") <= c <= ord("9"):
            self.number()
        elif c in b"tfn":
            self.literal()
        else:
            raise _err(c, context)

    def obj(self) -> None:
        c = self.need()
        if c == ord("}"):
            self.i += 1
            return
        while True:
            c = self.need()
            if c != ord('"'):
                raise _err(c, "looking for beginning of object key string")
            self.string()
            c = self.need()
            if c != ord(":"):
                raise _err(c, "after object key")
            self.i += 1
            self.value()
            c = self.need()
            self.i += 1
            if c == ord("}"):
                return
            if c != ord(","):
                raise _err(c, "after object key:value pair")

    def array(self) -> None:
        c = self.need()
        if c == ord("]"):
            self.i += 1
            return
        while True:
            self.value()
            c = self.need()
            self.i += 1
            if c == ord("]"):
                return
            if c != ord(","):
                raise _err(c, "after array element")

    def string(self) -> None:
        self.i += 1  # opening quote
        while True:
            c = self.peek()
            if c is None:
                raise GoJSONError("unexpected end of JSON input")
            self.i += 1
            if c == ord('"'):
                return
            if c == ord("\\"):
                self.escape()
            elif c < 0x20:
                raise _err(c, "in string literal")

    def escape(self) -> None:
        c = self.peek()
        if c is None:
            raise GoJSONError("unexpected end of JSON input")
        self.i += 1
        if c in b'"\\/bfnrt':
            return
        if c != ord("u"):
            raise _err(c, "in string escape code")
        for _ in range(4):
            h = self.peek()
            if h is None:
                raise GoJSONError("unexpected end of JSON input")
            if h not in b"0123456789abcdefABCDEF":
                raise _err(h, "in \\u hexadecimal character escape")
            self.i += 1

    def digits(self) -> None:
        while (c := self.peek()) is not None and ord("0") <= c <= ord("9"):
            self.i += 1

    def number(self) -> None:
        if self.peek() == ord("-"):
            self.i += 1
            c = self.peek()
            if c is None:
                raise GoJSONError("unexpected end of JSON input")
            if not ord("0") <= c <= ord("9"):
                raise _err(c, "in numeric literal")
        if self.peek() == ord("0"):
            self.i += 1
        else:
            self.digits()
        if self.peek() == ord("."):
            self.i += 1
            c = self.peek()
            if c is None:
                raise GoJSONError("unexpected end of JSON input")
            if not ord("0") <= c <= ord("9"):
                raise _err(c, "after decimal point in numeric literal")
            self.digits()
        if self.peek() in (ord("e"), ord("E")):
            self.i += 1
            if self.peek() in (ord("+"), ord("-")):
                self.i += 1
            c = self.peek()
            if c is None:
                raise GoJSONError("unexpected end of JSON input")
            if not ord("0") <= c <= ord("9"):
                raise _err(c, "in exponent of numeric literal")
            self.digits()

    def literal(self) -> None:
        word = {ord("t"): b"true", ord("f"): b"false", ord("n"): b"null"}[self.data[self.i]]
        self.i += 1
        for expected in word[1:]:
            c = self.peek()
            if c is None:
                raise GoJSONError("unexpected end of JSON input")
            if c != expected:
                raise _err(c, f"in literal {word.decode()} (expecting {quote_char(expected)})")
            self.i += 1


def check_syntax(data: bytes) -> None:
    """Raise :class:`GoJSONError` with Go's message if ``data`` is not one JSON value."""
    scanner = _Scanner(data)
    scanner.value()
    c = scanner.next_nonspace()
    if c is not None:
        raise _err(c, "after top-level value")


def go_kind(value: Any) -> str:
    """The JSON kind Go names in ``cannot unmarshal KIND into ...``."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return "null"


def unmarshal_object(data: bytes) -> dict[str, Any]:
    """``json.Unmarshal(data, &map[string]interface{})`` with Go's error texts."""
    data = data.removeprefix(b"\xef\xbb\xbf")
    check_syntax(data)
    return _as_object(data)


def decode_first_object(data: bytes) -> dict[str, Any]:
    """``json.NewDecoder(r).Decode(&map[string]interface{})``: how dockerd read daemon.json to 20.10.

    The decoder reads one JSON value and never looks past it, so a second
    document after the first is ignored; a blank input is ``EOF``, a value cut
    short ``unexpected EOF`` (encoding/json stream.go readValue), and a byte
    order mark is just an invalid character.
    """
    scanner = _Scanner(data)
    if scanner.next_nonspace() is None:
        raise GoJSONError("EOF")
    try:
        scanner.value()
    except GoJSONError as exc:
        if str(exc) == "unexpected end of JSON input":
            raise GoJSONError("unexpected EOF") from None
        raise
    return _as_object(data[: scanner.i])


def _as_object(data: bytes) -> dict[str, Any]:
    value = json.loads(data.decode("utf-8", errors="replace"))
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise GoJSONError(
            f"json: cannot unmarshal {go_kind(value)} into Go value of type map[string]interface {{}}"
        )
    return value


def go_format(value: Any) -> str:
    """``fmt.Sprintf("%v", v)`` for values decoded into ``interface{}``."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, list):
        return "[" + " ".join(go_format(v) for v in value) + "]"
    if isinstance(value, dict):
        return "map[" + " ".join(f"{k}:{go_format(value[k])}" for k in sorted(value)) + "]"
    if value is None:
        return "<nil>"
    return str(value)
