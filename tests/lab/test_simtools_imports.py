"""The simulated tools are an independent oracle: they import only themselves and the stdlib.

A simulated dockerd that asked fleet.daemonjson whether a daemon.json
conflicts with its flags would repeat fleet's mistakes instead of catching
them; a tool that imported yaml or paramiko would also fail on a lab host
whose interpreter runs with ``-SE`` (no site-packages).  So every import in
fleet/lab/simtools is checked twice: in the source (every ``import`` and
``from``, in functions too, and every ``importlib.import_module`` name), and
at run time (importing every tool module loads no other fleet module).
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import fleet
import fleet.lab.simtools

PACKAGE = "fleet.lab.simtools"
SIMTOOLS = Path(fleet.lab.simtools.__file__).resolve().parent
FLEET_ROOT = Path(fleet.__file__).resolve().parent
SOURCES = sorted(SIMTOOLS.glob("*.py"))
# Importing the package runs these; anything they imported would be loaded by every tool.
PACKAGE_INITS = (FLEET_ROOT / "__init__.py", FLEET_ROOT / "lab" / "__init__.py")


def allowed(module: str) -> bool:
    """A module simtools may import: its own, or one of the standard library."""
    if module == PACKAGE or module.startswith(PACKAGE + "."):
        return True
    return module.split(".")[0] in sys.stdlib_module_names


def imported_names(path: Path) -> list[tuple[int, str]]:
    """(line, absolute module name) of every import in ``path``, however it is spelt."""
    module = f"{PACKAGE}.{path.stem}"
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            found.append((node.lineno, _absolute(module, node)))
        elif isinstance(node, ast.Call) and _is_dynamic_import(node):
            found.append((node.lineno, _dynamic_target(node)))
    return found


def _absolute(module: str, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    base = module.split(".")[: -node.level]  # a module's own package is one level up
    return ".".join([*base, node.module] if node.module else base)


def _is_dynamic_import(node: ast.Call) -> bool:
    func = node.func
    name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
    return name in ("import_module", "__import__")


def _dynamic_target(node: ast.Call) -> str:
    """The module name's fixed prefix (an f-string's first part); "?" when it has none."""
    arg = node.args[0] if node.args else None
    if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
        return arg.value
    if isinstance(arg, ast.JoinedStr) and arg.values and isinstance(arg.values[0], ast.Constant):
        return str(arg.values[0].value)
    return "?"


def test_the_checker_sees_every_kind_of_import(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text(
        "import os, yaml\n"
        "from . import gojson\n"
        "from .state import Host\n"
        "from fleet import daemonjson\n"
        "def f():\n"
        "    import paramiko\n"
        "    importlib.import_module(f'fleet.lab.simtools.{x}')\n"
        "    importlib.import_module(name)\n",
        encoding="utf-8",
    )
    names = [name for _line, name in imported_names(sample)]
    assert names == [
        "os", "yaml", "fleet.lab.simtools", "fleet.lab.simtools.state", "fleet",
        "paramiko", "fleet.lab.simtools.", "?",
    ]  # fmt: skip
    assert [allowed(n) for n in names] == [True, False, True, True, False, False, True, False]


def test_the_tools_are_all_checked() -> None:
    stems = {path.stem for path in SOURCES}
    assert {"engine", "dockerd_flags", "dockerd_config", "dockerd_load", "yum"} <= stems
    assert "testing" not in stems  # test helpers live in tests/lab/simkit.py


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: p.name)
def test_simtools_import_only_themselves_and_the_standard_library(path: Path) -> None:
    bad = [
        f"{path.name}:{line}: {name}" for line, name in imported_names(path) if not allowed(name)
    ]
    assert bad == []


@pytest.mark.parametrize("path", PACKAGE_INITS, ids=str)
def test_the_package_inits_above_the_tools_import_nothing(path: Path) -> None:
    names = [name for _line, name in imported_names(path)]
    assert set(names) <= {"__future__"}


def test_importing_every_tool_loads_no_other_fleet_module_and_nothing_outside_the_stdlib() -> None:
    """What a lab host's wrapper does: ``python -SE``, the package's parent on sys.path."""
    modules = [f"{PACKAGE}.{p.stem}" for p in SOURCES if p.stem not in ("__init__", "__main__")]
    code = (
        "import importlib, sys\n"
        f"sys.path.insert(0, {str(FLEET_ROOT.parent)!r})\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
        "print('\\n'.join(sorted(sys.modules)))\n"
    )
    result = subprocess.run(
        [sys.executable, "-SE", "-c", code], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    loaded = result.stdout.split()
    assert set(modules) <= set(loaded)
    fleet_modules = {m for m in loaded if m.split(".")[0] == "fleet"}
    assert fleet_modules - {m for m in fleet_modules if allowed(m)} == {"fleet", "fleet.lab"}
    top_levels = {m.split(".")[0] for m in loaded} - {"__main__", "fleet"}  # __main__: the -c code
    assert sorted(top_levels - sys.stdlib_module_names) == []
