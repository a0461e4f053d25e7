"""Fixtures of the real-host tier: booted systemd hosts and fleet run as its users run it.

The tier skips itself, with the reason, where the machine cannot boot hosts
(not root, no systemd-nspawn or debootstrap, no mirror).  ``FLEET_REAL=require``
turns those skips into failures (for a machine that is known to be capable);
``FLEET_REAL=off`` skips the tier outright.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.real.realhosts import (
    RUN_DIR,
    RUN_LOCK,
    SESSION_NETWORK,
    RealFleet,
    Unavailable,
    clear_stale,
    ensure_rootfs,
    locked,
    machine_problem,
)

REPO = Path(__file__).resolve().parents[2]
# One group of hosts per scenario, so that no test depends on another's leftovers:
# real1-3 the full rollout, real4 the cgroupfs flip, real5 the broken engine with
# real6 as the later batch that must not run, real7 the CentOS front-ends alone.
HOST_NAMES = ("real1", "real2", "real3", "real4", "real5", "real6", "real7")
# Plain Debian hosts for fleet's apt back end: deb1-2 the rollouts, deb3 the missing pin.
NATIVE_HOST_NAMES = ("deb1", "deb2", "deb3")
# What the cached engine packages are (Debian bookworm's docker.io and containerd).
DOCKER_VERSION = "20.10.24"
CONTAINERD_VERSION = "1.6.20"


def _unavailable(reason: str) -> None:
    mode = os.environ.get("FLEET_REAL", "auto")
    if mode == "require":
        pytest.fail(f"real-host tier required (FLEET_REAL=require) but: {reason}", pytrace=False)
    pytest.skip(f"real-host tier skipped: {reason}")


@pytest.fixture(scope="package")
def real_fleet(pytestconfig: pytest.Config) -> Iterator[RealFleet]:
    """Ten booted hosts for this directory's tests; torn down, and checked gone, after the
    last of them (not at the end of the whole session: other tests need not share the CPU)."""
    if os.environ.get("FLEET_REAL") == "off":
        pytest.skip("real-host tier skipped: FLEET_REAL=off")
    problem = machine_problem()
    if problem:
        _unavailable(problem)
    say = _progress(pytestconfig)
    base = RUN_DIR / SESSION_NETWORK.prefix
    try:
        with locked(RUN_LOCK, timeout_s=900, what="the real-host network"):
            clear_stale(SESSION_NETWORK, base)
            fleet = RealFleet(SESSION_NETWORK, ensure_rootfs(log=say), base)
            try:
                fleet.boot((*HOST_NAMES, *NATIVE_HOST_NAMES), log=say, native=NATIVE_HOST_NAMES)
                yield fleet
            finally:
                problems = fleet.teardown()
                say(f"stopped and removed {len(fleet.hosts)} real hosts")
            assert not problems, f"teardown left traces behind: {problems}"
    except Unavailable as exc:
        _unavailable(str(exc))


def _progress(config: pytest.Config) -> Callable[[str], None]:
    """Print progress past pytest's capture: building and booting take minutes, not seconds."""
    capture = config.pluginmanager.getplugin("capturemanager")

    def say(text: str) -> None:
        with capture.global_and_fixture_disabled():
            print(f"\n[real hosts] {text}", file=sys.stderr, flush=True)

    return say


@dataclass(frozen=True)
class FleetRun:
    """One run of the fleet command line, and the JSON report it wrote."""

    exit_code: int
    stdout: str
    stderr: str
    report: dict[str, Any]

    def host(self, name: str) -> dict[str, Any]:
        return next(h for h in self.report["hosts"] if h["name"] == name)

    def steps(self, name: str) -> dict[str, dict[str, Any]]:
        return {s["name"]: s for s in self.host(name)["steps"]}

    def explain(self) -> str:
        return f"exit {self.exit_code}\n--- stdout\n{self.stdout}\n--- stderr\n{self.stderr}"


@pytest.fixture(scope="package")
def run_fleet(
    real_fleet: RealFleet, tmp_path_factory: pytest.TempPathFactory
) -> Callable[..., FleetRun]:
    """``run_fleet(command, hosts, *flags)``: fleet's CLI as a subprocess, as users run it."""

    def run(command: str, hosts: Sequence[str], *flags: str) -> FleetRun:
        folder = tmp_path_factory.mktemp(f"fleet-{command}")
        inventory = real_fleet.write_inventory(folder / "inventory.yml", hosts)
        report = folder / "report.json"
        args = [sys.executable, "-m", "fleet", command, "-i", str(inventory)]
        args += ["--docker-version", DOCKER_VERSION, "--containerd-version", CONTAINERD_VERSION]
        args += ["--report", str(report), "--runs-dir", str(folder / "runs"), *flags]
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        result = subprocess.run(
            args, cwd=REPO, env=env, capture_output=True, text=True, timeout=900, check=False
        )
        data = json.loads(report.read_text()) if report.exists() else {}
        return FleetRun(result.returncode, result.stdout, result.stderr, data)

    return run
