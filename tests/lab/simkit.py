"""Simulated hosts for the tools' tests: a seeded host tree plus the real wrappers in bash.

``SimHost.create(spec)`` seeds a world-readable temporary tree, installs the
wrapper scripts next to it and runs commands in a real ``bash`` with
``FLEETLAB_ROOT`` pointing at the tree, as root or as an unprivileged user: no
namespaces, so these tests run anywhere.  Kept with the tests, not in the
package: a wheel has no use for them.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import fleet
from fleet.lab.simtools import find_python, install_tools, seed

REPO_URL = "https://download.docker.com/linux/centos/docker-ce.repo"

# the directory holding the fleet package the tests import (a checkout or site-packages)
PACKAGE_PARENT = Path(fleet.__file__).resolve().parents[1]
NOBODY = 65534


def install_wrappers(bin_dir: Path) -> None:
    """Wrappers usable by any user: a system interpreter and a world-readable directory."""
    install_tools(bin_dir, find_python(), PACKAGE_PARENT)
    os.chmod(bin_dir, 0o755)
    os.chmod(bin_dir.parent, 0o755)


class SimHost:
    """One seeded host tree and the tool wrappers that act on it."""

    def __init__(self, base: Path, spec: dict[str, Any], bin_dir: Path) -> None:
        self.base = base
        self.root = base / "root"
        self.bin = bin_dir
        self.spec = spec
        seed(self.root, spec)
        for path in (base, self.root):
            os.chmod(path, 0o755)

    @classmethod
    def create(cls, spec: dict[str, Any], bin_dir: Path | None = None) -> SimHost:
        """Seed a new tree; wrappers go to ``bin_dir`` if given (install once, share), else beside it."""
        base = Path(tempfile.mkdtemp(prefix="fleetlab-sim-"))
        if bin_dir is None:
            bin_dir = base / "bin"
            install_wrappers(bin_dir)
        return cls(base, spec, bin_dir)

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("FLEETLAB_")}
        env["FLEETLAB_ROOT"] = str(self.root)
        env["PATH"] = f"{self.bin}:/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin"
        return env

    def popen(
        self, command: str, as_user: int | None = None, **kwargs: Any
    ) -> subprocess.Popen[str]:
        """Start ``command`` in bash (as uid ``as_user`` when given) without waiting."""
        argv = ["bash", "-c", command]
        if as_user is not None:
            argv = ["setpriv", f"--reuid={as_user}", f"--regid={as_user}", "--clear-groups", *argv]
        return subprocess.Popen(
            argv, env=self.env(), text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL, start_new_session=True, **kwargs,
        )  # fmt: skip

    def run(
        self, command: str, as_user: int | None = None, timeout: float = 60
    ) -> subprocess.CompletedProcess[str]:
        proc = self.popen(command, as_user=as_user)
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill(proc)
            raise
        return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)

    @staticmethod
    def kill(proc: subprocess.Popen[str]) -> None:
        """Kill the command's whole process group (it runs in its own session)."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()

    def file(self, path: str) -> Path:
        return self.root / path.lstrip("/")

    def write(self, path: str, text: str) -> None:
        target = self.file(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")

    def remove(self) -> None:
        shutil.rmtree(self.base, ignore_errors=True)


@contextmanager
def shared_wrappers() -> Iterator[Path]:
    """A wrapper directory for many hosts (installing once keeps test suites quick)."""
    base = Path(tempfile.mkdtemp(prefix="fleetlab-bin-"))
    try:
        install_wrappers(base / "bin")
        yield base / "bin"
    finally:
        shutil.rmtree(base, ignore_errors=True)


@contextmanager
def host_factory(bin_dir: Path) -> Iterator[Callable[..., SimHost]]:
    """``make(**spec)`` seeds a host; every host made is removed at exit."""
    hosts: list[SimHost] = []

    def make(**spec: Any) -> SimHost:
        host = SimHost.create(spec, bin_dir)
        hosts.append(host)
        return host

    try:
        yield make
    finally:
        for host in hosts:
            host.remove()


def ok(host: SimHost, command: str) -> subprocess.CompletedProcess[str]:
    """Run a command on a simulated host and insist that it succeeded."""
    result = host.run(command)
    assert result.returncode == 0, (command, result.stdout, result.stderr)
    return result
