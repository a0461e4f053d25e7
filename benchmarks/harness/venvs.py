"""Peers live in their own virtual environments, installed from the package registry."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from fleet.errors import EnvironmentProblem

# tool name -> (pip requirement, distribution whose version is reported)
PEERS: dict[str, tuple[str, str]] = {
    "pyinfra": ("pyinfra", "pyinfra"),
    "pssh": ("parallel-ssh", "parallel-ssh"),
    "ansible": ("ansible-core", "ansible-core"),
}
MARKER = ".fleet-bench-installed"


class PeerUnavailable(EnvironmentProblem):
    """A peer could not be installed; the run goes on without it and says why."""


def ensure(tool: str, cache: Path) -> Path:
    """The venv of ``tool`` under ``cache``, created and filled on first use."""
    requirement, _ = PEERS[tool]
    venv = cache / f"venv-{tool}"
    if (venv / MARKER).exists():
        return venv
    cache.mkdir(parents=True, exist_ok=True)
    _call([sys.executable, "-m", "venv", str(venv)], f"create the {tool} venv")
    _call([str(venv / "bin" / "pip"), "install", "-q", requirement], f"pip install {requirement}")
    (venv / MARKER).write_text(version(tool, venv) + "\n")
    return venv


def version(tool: str, venv: Path) -> str:
    _, dist = PEERS[tool]
    probe = f"import importlib.metadata as m; print(m.version({dist!r}))"
    done = subprocess.run(
        [str(venv / "bin" / "python"), "-c", probe],
        capture_output=True, text=True, check=False, timeout=60,
    )  # fmt: skip
    return f"{dist} {done.stdout.strip() or '?'}"


def _call(argv: list[str], what: str) -> None:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=1200)
    except subprocess.TimeoutExpired:
        raise PeerUnavailable(f"{what}: timed out after 1200 s") from None
    if done.returncode != 0:
        lines = [ln for ln in done.stderr.splitlines() if ln.strip() and "WARNING" not in ln]
        raise PeerUnavailable(f"{what} failed: {lines[-1] if lines else done.returncode}")
