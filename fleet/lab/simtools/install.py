"""Wrapper scripts that put the simulated tools first on a lab host's PATH."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

_WRAPPER = """#!{python} -SE
# fleet lab tool: runs the simulated `{tool}` of this host (fleet.lab.simtools)
import sys
sys.path.insert(0, {parent!r})
from fleet.lab.simtools import main
sys.exit(main(sys.argv))
"""


def install(bin_dir: Path, python: str, package_parent: Path, tools: tuple[str, ...]) -> None:
    bin_dir.mkdir(parents=True, exist_ok=True)
    for tool in tools:
        path = bin_dir / tool
        text = _WRAPPER.format(python=python, tool=tool, parent=str(package_parent))
        tmp = path.with_name(f".{tool}.tmp")
        tmp.write_text(text, encoding="utf-8")
        os.chmod(tmp, 0o755)
        os.replace(tmp, path)
    package = package_parent / "fleet"
    # Best effort: a read-only tree still works, only start-up is slower.
    subprocess.run(
        [python, "-SE", "-m", "compileall", "-q", str(package)],
        check=False,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def find_python() -> str:
    """An interpreter a lab host's login user can run: outside /root (private per host, 0700).

    The system ``/usr/bin/python3`` when it is 3.10 or newer, else this process's own.
    """
    import sys

    for candidate in ("/usr/bin/python3", "/usr/local/bin/python3"):
        if not os.access(candidate, os.X_OK):
            continue
        probe = subprocess.run(
            [candidate, "-SEc", "import sys; print(sys.version_info >= (3, 10))"],
            capture_output=True,
            text=True,
            check=False,
        )
        if probe.stdout.strip() == "True":
            return os.path.realpath(candidate)
    return sys.executable
