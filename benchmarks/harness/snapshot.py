"""Run the benchmark from a copy of the tree taken when it starts.

A run takes an hour and the work tree is edited meanwhile.  Running fleet, the
lab and the harness from one copy measures one version of fleet, and a
half-saved file cannot fail a measurement.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

SNAPSHOT = "FLEET_BENCH_SNAPSHOT"  # the copy this process runs from
SOURCE = "FLEET_BENCH_SOURCE"  # the work tree it was copied from
PROBE = "import fleet.cli, fleet.lab.runtime, fleet.steps.docker_ce"


def source_repo() -> Path:
    """The work tree the run was started from (results go to its docs/)."""
    return Path(os.environ.get(SOURCE) or Path(__file__).resolve().parents[2])


def run_from_snapshot(script: Path) -> None:
    """Re-execute ``script`` from a fresh copy of fleet/ and benchmarks/, unless in one already."""
    if os.environ.get(SNAPSHOT):
        return
    repo = script.parents[1]
    copy = Path(tempfile.mkdtemp(prefix="fleet-bench-src-"))
    # mkdtemp makes it 0700; root inside a lab host has no right to override that.
    copy.chmod(0o755)
    for part in ("fleet", "benchmarks"):
        shutil.copytree(repo / part, copy / part, ignore=shutil.ignore_patterns("__pycache__"))
    env = {**os.environ, SNAPSHOT: str(copy), SOURCE: str(repo), "PYTHONPATH": str(copy)}
    done = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True, text=True)
    if done.returncode != 0:
        shutil.rmtree(copy, ignore_errors=True)
        last = (done.stderr.strip().splitlines() or ["?"])[-1]
        raise SystemExit(f"bench: fleet in {repo} does not import now ({last}); try again")
    target = copy / script.relative_to(repo)
    os.execve(sys.executable, [sys.executable, str(target), *sys.argv[1:]], env)


_OWNER = os.getpid()


def remove() -> None:
    """Delete the copy this process runs from (its modules are already loaded).

    Only the process that imported this module removes it: a forked child that
    exits normally (the lab forks to build namespaces) runs the same atexit hooks,
    and the lab hosts still run their simulated tools from the copy.
    """
    copy = os.environ.get(SNAPSHOT)
    if os.getpid() == _OWNER and copy and Path(copy).name.startswith("fleet-bench-src-"):
        shutil.rmtree(copy, ignore_errors=True)
