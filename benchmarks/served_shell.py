"""What one command costs through the served root shell: controller and host CPU.

Run on purpose (needs root, OpenSSH's sshd), not from the test suite:

    python benchmarks/served_shell.py
    python benchmarks/served_shell.py --against HEAD~3 --rounds 5
    python benchmarks/served_shell.py --against /path/to/another/checkout

One lab host (OpenSSH, real sudo) serves every measurement.  Each side (this work
tree, and with ``--against`` the fleet of an earlier revision, exported with ``git
archive``) holds a root shell the way a rollout does and runs the same commands
through ``HostConnection.run`` in a process of its own; sides alternate within
each round, so a comparison is between runs made seconds apart on one lab.
Controller CPU is the measuring process's (``time.process_time``, paramiko's
thread included); host CPU is everything the host's sshd and its children used
(one cgroup, see benchmarks/harness/servercpu.py).  Prints one line per
measurement and a table of medians per command.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BIG = 50 * 1024 * 1024


def _works(small: int) -> dict[str, dict]:
    """name -> the command, how often, its stdin, whether watched, and the output it must give."""
    lines = "yes 'a line of text such as a package manager prints, eighty characters or so'"
    return {
        "small command": {"command": "true", "count": small},
        "50 MB stdout": {"command": f"head -c {BIG} /dev/zero", "out": BIG},
        "50 MB stdout under a watcher": {
            "command": f"{lines} | head -c {BIG}",
            "out": BIG,
            "watch": 1,
        },
        "5 MB stderr lines": {"command": f"{lines} | head -c 5242880 >&2", "err": 5242880},
        "8 MB stdin": {"command": "wc -c", "stdin": 8 << 20, "out": 8, "count": 3},
    }


# --- the measuring side (a process of its own, importing the fleet it was given) -----------------


def measure(inventory: str, counter: str, works: dict[str, dict]) -> None:
    """Hold a root shell on the inventory's one host; print one JSON line per work."""
    from fleet.inventory import load_inventory
    from fleet.transport import ConnectOptions, Connector

    host = load_inventory(inventory).hosts[0]
    connection = Connector(ConnectOptions(command_timeout=1800)).connect(host)
    try:
        connection.run("echo ready; exec sh -s", sudo=True, serve_after="ready")
        for name, work in works.items():
            print(json.dumps({"work": name, **_one(connection, counter, work)}), flush=True)
    finally:
        connection.close()


def _one(connection, counter: str, work: dict) -> dict[str, float]:
    count, stdin = work.get("count", 1), b"y" * work.get("stdin", 0)
    watch = (lambda out, err: None) if work.get("watch") else None
    client, host, wall = time.process_time(), _host_seconds(counter), time.monotonic()
    for _ in range(count):
        result = connection.run(work["command"], sudo=True, stdin=stdin, watch=watch)
        _check(result, work)
    return {
        "controller_ms": (time.process_time() - client) * 1000 / count,
        "host_ms": (_host_seconds(counter) - host) * 1000 / count,
        "wall_ms": (time.monotonic() - wall) * 1000 / count,
    }


def _check(result, work: dict) -> None:
    """Every measured command must have done its job, or its numbers mean nothing."""
    sizes = (len(result.stdout), len(result.stderr))
    expected = (work.get("out", 0), work.get("err", 0))
    if result.exit_code != 0 or sizes != expected:
        raise SystemExit(f"{work['command']}: exit {result.exit_code}, sizes {sizes}")


def _host_seconds(counter: str) -> float:
    """CPU seconds of the lab's sshd cgroup (cgroup v2 cpu.stat or v1 cpuacct.usage)."""
    text = Path(counter).read_text()
    if counter.endswith("cpu.stat"):
        usage = next(ln for ln in text.splitlines() if ln.startswith("usage_usec"))
        return int(usage.split()[1]) / 1e6
    return int(text) / 1e9


# --- the driver --------------------------------------------------------------------------------


def _export(revision: str, into: Path) -> Path:
    """The tree of ``revision`` (its fleet package) in ``into``."""
    archive = into / "tree.tar"
    with archive.open("wb") as out:
        subprocess.run(["git", "-C", str(REPO), "archive", revision], stdout=out, check=True)
    with tarfile.open(archive) as tar:
        tar.extractall(into / "tree", filter="data")
    return into / "tree"


def _side(root: Path, inventory: Path, counter: str, works: list[str], small: int) -> list[dict]:
    command = [sys.executable, __file__, "--measure", str(inventory), "--counter", counter]
    command += ["--small", str(small), "--works", ",".join(works)]
    env = {**os.environ, "PYTHONPATH": str(root)}
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"measuring with {root} failed:\n{done.stderr}")
    return [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]


def _table(results: dict[tuple[str, str], list[dict]]) -> None:
    print(f"\n{'command':24} {'framing':14} {'controller ms':>14} {'host ms':>9} {'wall ms':>9}")
    for (work, side), rows in sorted(results.items()):
        medians = [statistics.median(r[k] for r in rows) for k in ("controller_ms", "host_ms")]
        wall = statistics.median(r["wall_ms"] for r in rows)
        print(f"{work:24} {side:14} {medians[0]:14.2f} {medians[1]:9.2f} {wall:9.2f}")


def drive(args: argparse.Namespace) -> int:
    sys.path.insert(0, str(REPO))
    from benchmarks.harness.servercpu import ServerCpu
    from fleet.lab import runtime
    from fleet.lab.spec import parse_spec

    works = list(_works(args.small)) if not args.works else args.works.split(",")
    with tempfile.TemporaryDirectory(prefix="fleet-served-shell-") as scratch:
        sides = {"this tree": REPO}
        if args.against:
            given = Path(args.against)
            tree = given if (given / "fleet").is_dir() else _export(args.against, Path(scratch))
            sides[args.against] = tree
        lab = runtime.lab_up(
            Path(scratch) / "lab", parse_spec("hosts: 1\n", "<bench>"), sshd="openssh"
        )
        meter = ServerCpu(lab)
        results: dict[tuple[str, str], list[dict]] = {}
        try:
            if meter.group is None:
                raise SystemExit("no cgroup to count the host's CPU in")
            counter = str(meter.group / meter.counter)
            for round_ in range(args.rounds):
                order = list(sides.items())[:: 1 if round_ % 2 == 0 else -1]
                for name, root in order:
                    for row in _side(root, lab.inventory, counter, works, args.small):
                        results.setdefault((row["work"], name), []).append(row)
                        print(round_, name, json.dumps(row), flush=True)
        finally:
            report = runtime.lab_down(lab.directory)
            meter.close()
        _table(results)
        return 0 if report.clean else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--against", help="also measure the fleet of this git revision (or source directory)"
    )
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--small", type=int, default=100, help="small commands per measurement")
    parser.add_argument("--works", help="comma-separated subset of: " + ", ".join(_works(0)))
    parser.add_argument("--measure", metavar="INVENTORY", help=argparse.SUPPRESS)
    parser.add_argument("--counter", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        all_works = _works(args.small)
        chosen = args.works.split(",") if args.works else list(all_works)
        measure(args.measure, args.counter, {name: all_works[name] for name in chosen})
        return 0
    return drive(args)


if __name__ == "__main__":
    sys.exit(main())
