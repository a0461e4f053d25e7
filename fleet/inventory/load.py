"""Read an inventory file and turn it into an Inventory, whatever its format."""

from __future__ import annotations

from pathlib import Path

from fleet.errors import InputError
from fleet.inventory.ansible_vars import ansible_rank, ansible_var
from fleet.inventory.ansible_yaml import parse_ansible_yaml
from fleet.inventory.build import build
from fleet.inventory.detect import detect
from fleet.inventory.draft import Draft
from fleet.inventory.fleet_yaml import as_written, fleet_var, parse_fleet
from fleet.inventory.ini import parse_ini
from fleet.inventory.messages import error
from fleet.inventory.model import Inventory


def load_inventory(path: str | Path) -> Inventory:
    """Read a fleet YAML, Ansible YAML or Ansible INI inventory (detected from its content)."""
    path = Path(path)
    text = _read(path)
    try:
        return _load(path, text)
    except RecursionError:
        # Only absurdly nested input gets here; it must still be one clear line.
        raise InputError(f"{path}: the inventory is nested too deeply; flatten it") from None


def _read(path: Path) -> str:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(
            f"{path}: cannot read the inventory ({exc.strerror or exc}); check the path"
        ) from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise error(f"{path}:{line}", "the file is not UTF-8 text", "save it as UTF-8") from None


def _load(path: Path, text: str) -> Inventory:
    kind, data = detect(path, text)
    base_dir = path.absolute().parent
    if kind == "fleet":
        draft = Draft(str(path), base_dir, fleet_var, as_written)
        parse_fleet(data, draft)
    elif kind == "ini":
        draft = Draft(str(path), base_dir, ansible_var, ansible_rank)
        parse_ini(text, draft)
    else:
        draft = Draft(str(path), base_dir, ansible_var, ansible_rank)
        parse_ansible_yaml(data, draft)
    return build(draft)
