"""The shape of every inventory error: ``FILE:LINE: problem; fix``, user values shortened."""

from __future__ import annotations

import difflib
from collections.abc import Iterable

from fleet.errors import InputError


def error(where: str, problem: str, fix: str) -> InputError:
    return InputError(f"{where}: {problem}; {fix}")


def show(value: object) -> str:
    """A user value for a message: quoted, and short enough for one line."""
    text = str(value)
    text = text if len(text) <= 60 else text[:57] + "..."
    return repr(text)


def unknown(
    where: str, what: str, word: str, choices: Iterable[str], context: str = ""
) -> InputError:
    """An unknown name, with the closest known one or else the whole list as the fix."""
    choices = sorted(choices)
    best = difflib.get_close_matches(word, choices, n=1)
    fix = f"did you mean '{best[0]}'?" if best else f"use one of: {', '.join(choices)}"
    return error(where, f"unknown {what} {show(word)}{context}", fix)
