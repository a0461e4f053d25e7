"""Host name ranges: ``node[01:50]``, ``rack[a:f]``, ``n[0:20:5]``, as Ansible writes them."""

from __future__ import annotations

import re
import string

from fleet.errors import InputError

_RANGE = re.compile(r"\[([^\[\]]*)\]")
_DIGITS = re.compile(r"[0-9]+")
# A guard against typos like node[1:100000000], not a policy on fleet size.
_MAX_EXPANDED = 100_000


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


def expand_at(pattern: str, where: str) -> list[str]:
    """:func:`expand_range`, its problem raised as an InputError prefixed with ``where``."""
    try:
        return expand_range(pattern)
    except ValueError as exc:
        raise InputError(f"{where}: {exc}") from None


def outside_ranges(pattern: str) -> str:
    """The pattern with its ``[...]`` parts removed, to look for ':' that is not a range's."""
    return _RANGE.sub("", pattern)


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
