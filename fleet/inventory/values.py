"""Validate one variable's value for one Host field or fleet setting, in any format.

Messages never echo a value that may be a password: ``key`` names the variable
instead.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from fleet.inventory.draft import Fields, mapping
from fleet.inventory.messages import error, show
from fleet.inventory.yamlload import Vault, kind_of
from fleet.settings import SETTING_SPECS

_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_JUMP = re.compile(r"(?:[^@\s,]+@)?([^@:\s,/]+)(?::([0-9]{1,5}))?")
_PORT = re.compile(r"[0-9]{1,5}")


def host_field(field_name: str, key: str, raw: Any, where: str, base_dir: Path) -> Any:
    """Validate one value for one Host field; ``key`` is the name the user wrote."""
    if field_name == "port":
        return _port(key, raw, where)
    if field_name in ("identity_file", "known_hosts"):
        return as_path(key, raw, where, base_dir)
    if field_name == "ssh_options":
        return _ssh_options(key, raw, where)
    if field_name == "become_password_env":
        return _env_name(key, raw, where)
    if field_name == "become_password":
        return as_text(key, raw, where)
    if field_name == "jump":
        return as_jump(key, raw, where)
    return _word(key, raw, where)


def setting_fields(key: str, raw: Any, where: str) -> Fields:
    """A fleet setting (``key`` is in SETTING_SPECS), converted as its declaration says."""
    if isinstance(raw, Vault):
        raise error(where, f"{key} is vault-encrypted", "write the value in clear")
    return {"settings": {key: SETTING_SPECS[key].convert(raw, where)}}


def as_text(key: str, raw: Any, where: str) -> str:
    """A scalar as text.  Never echoes the value: ``key`` may be a password."""
    if isinstance(raw, (str, int, float)) and not isinstance(raw, bool):
        text = str(raw).strip()
        if text:
            return text
    if raw is None or isinstance(raw, str):
        raise error(where, f"{key} is empty", f"give {key} a value")
    fix = "quote the value" if isinstance(raw, bool) else f"give {key} a text value"
    raise error(where, f"{key} must be text, not {kind_of(raw)}", fix)


def as_path(key: str, raw: Any, where: str, base_dir: Path) -> str:
    """An absolute, normalised path; ``~`` expanded, relative ones taken from ``base_dir``."""
    path = Path(os.path.expanduser(as_text(key, raw, where)))
    if not path.is_absolute():
        path = base_dir / path
    return os.path.normpath(path)


def as_jump(key: str, raw: Any, where: str) -> str:
    """One ``[user@]host[:port]`` jump host, as written."""
    text = as_text(key, raw, where)
    match = _JUMP.fullmatch(text)
    if not match or (match.group(2) and not 1 <= int(match.group(2)) <= 65535):
        raise error(
            where,
            f"{key} {show(text)} is not one jump host",
            "write [user@]host[:port]; chains of jump hosts are not supported",
        )
    return text


def _word(key: str, raw: Any, where: str) -> str:
    text = as_text(key, raw, where)
    if any(char.isspace() for char in text):
        raise error(where, f"{key} {show(text)} contains spaces", "remove them")
    return text


def _port(key: str, raw: Any, where: str) -> int:
    text = str(raw).strip() if isinstance(raw, (int, str)) and not isinstance(raw, bool) else ""
    if _PORT.fullmatch(text) and 1 <= int(text) <= 65535:
        return int(text)
    raise error(where, f"{key} {show(raw)} is not a TCP port", "use a number from 1 to 65535")


def _env_name(key: str, raw: Any, where: str) -> str:
    text = as_text(key, raw, where)
    if not _ENV_NAME.fullmatch(text):
        # Not echoed: a password typed here by mistake must not reach a log.
        raise error(
            where,
            f"{key} is not an environment variable name (letters, digits, '_')",
            "use a name like FLEET_BECOME_PASS",
        )
    return text


def _ssh_options(key: str, raw: Any, where: str) -> dict[str, str]:
    options = mapping(raw, 0, where, key)
    result = {}
    for name, value in options.items():
        if not isinstance(name, str) or not name or any(c.isspace() or c == "=" for c in name):
            raise error(where, f"{key} has a bad option name {show(name)}", "use ssh_config names")
        if isinstance(value, bool):
            # YAML reads 'StrictHostKeyChecking: no' as false; ssh_config wants yes/no.
            result[name] = "yes" if value else "no"
        else:
            result[name] = as_text(f"{key}.{name}", value, where)
    return result
