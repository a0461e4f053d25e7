"""Which format an inventory file is in: fleet YAML, Ansible YAML or Ansible INI.

The suffix decides when it is a known one (``.ini``/``.cfg``, ``.yml``/``.yaml``/
``.json``); otherwise the content does.  A YAML document is fleet's when it has
a ``fleet:`` key or only fleet's top-level keys, and Ansible's otherwise.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

from fleet.errors import InputError
from fleet.inventory.messages import error
from fleet.inventory.yamlload import LineMap, kind_of, load_yaml

Format = Literal["fleet", "ansible", "ini"]

_YAML_SUFFIXES = (".yml", ".yaml", ".json")
_INI_SUFFIXES = (".ini", ".cfg")
_YAML_START = re.compile(r"(---|[\w.-]+:(\s|$))")


def detect(path: Path, text: str) -> tuple[Format, Any]:
    """The format of ``text`` and, for YAML, the loaded document (None for INI)."""
    suffix = path.suffix.lower()
    source = str(path)
    if suffix in _INI_SUFFIXES:
        return "ini", None
    if suffix in _YAML_SUFFIXES or _looks_like_yaml(text):
        data = load_yaml(text, source)
    else:
        try:
            data = load_yaml(text, source)
        except InputError:
            return "ini", None
        if not isinstance(data, LineMap):
            return "ini", None
    return _yaml_kind(data, source), data


def _looks_like_yaml(text: str) -> bool:
    for line in text.split("\n"):
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            return bool(_YAML_START.match(stripped))
    return False


def _yaml_kind(data: Any, source: str) -> Format:
    if data is None:
        raise error(source, "the inventory is empty", "declare hosts (see docs/inventory.md)")
    if not isinstance(data, LineMap):
        raise error(
            f"{source}:1",
            f"the inventory must be a mapping, not {kind_of(data)}",
            "start with 'fleet: 1' or Ansible's 'all:'",
        )
    if "fleet" in data or (data and set(data) <= {"defaults", "groups", "hosts"}):
        return "fleet"
    return "ansible"
