"""Ansible's connection variables and fleet's settings into Host fields; others are ignored.

Jinja is not evaluated: a template in a variable fleet reads is an error, except
the one form that reads the sudo password from an environment variable,
``{{ lookup('env', 'NAME') }}``.  A vault-encrypted value there is an error too:
fleet cannot decrypt it.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from fleet.inventory.draft import Fields
from fleet.inventory.messages import error
from fleet.inventory.values import as_jump, as_path, as_text, host_field, setting_fields
from fleet.inventory.yamlload import Vault
from fleet.settings import SETTING_SPECS

# Later entries win when several spellings of one field are set (the modern names
# come last).  ssh argument strings are applied before the plain fields.
_ANSIBLE_VARS: Mapping[str, str] = {
    "ansible_ssh_args": "ssh_args",
    "ansible_ssh_common_args": "ssh_args",
    "ansible_ssh_extra_args": "ssh_args",
    "ansible_ssh_host": "address",
    "ansible_host": "address",
    "ansible_ssh_port": "port",
    "ansible_port": "port",
    "ansible_ssh_user": "user",
    "ansible_user": "user",
    "ansible_private_key_file": "identity_file",
    "ansible_ssh_private_key_file": "identity_file",
    "ansible_sudo_pass": "become",
    "ansible_become_pass": "become",
    "ansible_become_password": "become",
}
_ANSIBLE_RANK = {name: index for index, name in enumerate(_ANSIBLE_VARS)}
_ENV_LOOKUP = re.compile(
    r"\{\{\s*lookup\(\s*(['\"])(?:ansible\.builtin\.)?env\1\s*,\s*"
    r"(['\"])([A-Za-z_][A-Za-z0-9_]*)\2\s*\)\s*\}\}"
)
# ssh(1) options that take an argument; their argument is skipped, not misread.
_SSH_FLAGS_WITH_ARGUMENT = frozenset("BbcDEeFIiLlmOpQRSWw")
# "Key=Value" or "Key Value", as ssh -o accepts both.
_OPTION = re.compile(r"\s*([^=\s]+)\s*(?:=|\s)\s*(\S.*?)\s*", re.DOTALL)


def ansible_rank(key: str) -> int:
    """The draft's rank for Ansible: the order of ``_ANSIBLE_VARS``, other keys last."""
    return _ANSIBLE_RANK.get(key, len(_ANSIBLE_RANK))


def ansible_var(key: str, raw: Any, where: str, base_dir: Path) -> Fields | None:
    """The draft's translate function for Ansible: None for variables fleet does not use."""
    if key in SETTING_SPECS:
        _reject_template(key, raw, where)
        return setting_fields(key, raw, where)
    field_name = _ANSIBLE_VARS.get(key)
    if field_name is None:
        return None  # one of Ansible's many variables that mean nothing to fleet
    if isinstance(raw, Vault):
        raise error(
            where,
            f"{key} is vault-encrypted and fleet cannot decrypt it",
            "use \"{{ lookup('env', 'NAME') }}\" or a fleet inventory with become_password_env",
        )
    if field_name == "become":
        return _ansible_become(key, raw, where)
    _reject_template(key, raw, where)
    if field_name == "ssh_args":
        return _ssh_args(key, raw, where, base_dir)
    return {field_name: host_field(field_name, key, raw, where, base_dir)}


def _is_template(raw: Any) -> bool:
    return isinstance(raw, str) and ("{{" in raw or "{%" in raw)


def _reject_template(key: str, raw: Any, where: str) -> None:
    if _is_template(raw):
        raise error(
            where,
            f"{key} is a Jinja template, which fleet does not evaluate",
            "write the value itself",
        )


def _ansible_become(key: str, raw: Any, where: str) -> Fields:
    if _is_template(raw):
        match = _ENV_LOOKUP.fullmatch(raw.strip())
        if match is None:
            raise error(
                where,
                f"{key} is a template fleet cannot evaluate",
                "use \"{{ lookup('env', 'NAME') }}\" to read the password from NAME",
            )
        return {"become_password_env": match.group(3)}
    return {"become_password": as_text(key, raw, where)}


def _ssh_args(key: str, raw: Any, where: str, base_dir: Path) -> Fields:
    """Read ``-o Key=Value`` and ``-J host`` out of an ssh argument string."""
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return {"ssh_options": {}}
    try:
        tokens = shlex.split(as_text(key, raw, where))
    except ValueError:
        raise error(where, f"{key} has an unclosed quote", "close the quote") from None
    fields: Fields = {"ssh_options": {}}
    words = iter(tokens)
    for token in words:
        if token.startswith("-o") or token.startswith("-J"):
            value = token[2:] or next(words, "")
            _ssh_arg(key, token[1], value, fields, where, base_dir)
        elif len(token) == 2 and token[0] == "-" and token[1] in _SSH_FLAGS_WITH_ARGUMENT:
            next(words, None)
    return fields


def _ssh_arg(key: str, flag: str, value: str, fields: Fields, where: str, base_dir: Path) -> None:
    if flag == "J":
        fields["jump"] = as_jump(f"{key} -J", value, where)
        return
    match = _OPTION.fullmatch(value)
    if match is None:
        raise error(where, f"{key} has '-o' without Key=Value", "write -o Key=Value")
    name, option = match.groups()
    if name.lower() == "proxyjump":
        none = option.lower() == "none"
        fields["jump"] = None if none else as_jump(f"{key} ProxyJump", option, where)
    elif name.lower() == "userknownhostsfile":
        first = option.split()[0]
        fields["known_hosts"] = as_path(f"{key} UserKnownHostsFile", first, where, base_dir)
    else:
        fields["ssh_options"][name] = option
