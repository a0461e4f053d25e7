"""The slice of Go's text/template that ``--format`` strings use: ``{{.A.B}}`` and ``{{json .X}}``."""

from __future__ import annotations

import json
from typing import Any

from fleet.lab.simtools.gojson import go_format


class TemplateParseError(ValueError):
    """Docker prints "template parsing error: ..." and exits 64."""


class TemplateExecError(ValueError):
    """Evaluation failed (a field that does not exist); the CLI exits 1."""


def go_json(value: Any) -> str:
    """Go's json.Marshal output: compact, with <, > and & escaped."""
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _lookup(data: Any, path: str, type_name: str, pos: int) -> Any:
    value = data
    if path == ".":
        return value
    for field in path.strip(".").split("."):
        if not isinstance(value, dict) or field not in value:
            raise TemplateExecError(
                f'template: :1:{pos}: executing "" at <{path}>: can\'t evaluate field {field} '
                f"in type {type_name}"
            )
        value = value[field]
    return value


def render(template: str, data: Any, type_name: str = "system.info") -> str:
    out: list[str] = []
    rest = template
    offset = 0
    while "{{" in rest:
        before, _, after = rest.partition("{{")
        if "}}" not in after:
            raise TemplateParseError("template: :1: unclosed action")
        action, _, rest = after.partition("}}")
        out.append(before)
        pos = offset + len(before) + 2
        offset = pos + len(action) + 2
        words = action.strip().strip("-").strip().split()
        if len(words) == 1 and words[0].startswith("."):
            value = _lookup(data, words[0], type_name, pos)
            out.append("" if value is None else go_format(value))
        elif len(words) == 2 and words[0] == "json" and words[1].startswith("."):
            out.append(go_json(_lookup(data, words[1], type_name, pos)))
        elif words and not words[0].startswith("."):
            raise TemplateParseError(f'template: :1: function "{words[0]}" not defined')
        else:
            raise TemplateParseError(f"template: :1: unexpected {action.strip()!r} in command")
    out.append(rest)
    return "".join(out)
