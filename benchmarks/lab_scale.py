"""How long `fleet lab up/down` take for N hosts, and what a host costs in memory.

Run on purpose (needs root), not from the test suite:

    python benchmarks/lab_scale.py --hosts 500
    python benchmarks/lab_scale.py --hosts 100 --sshd openssh

Prints one line per phase; the lab is always stopped again, even on errors.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fleet.lab import runtime


def measure(hosts: int, sshd: str, directory: Path) -> int:
    started = time.monotonic()
    lab = runtime.lab_up(directory, hosts=hosts, sshd=sshd)
    up = time.monotonic() - started
    try:
        status = runtime.lab_status(directory)
        healthy = sum(h.expected for h in status.hosts)
        print(f"up:     {up:6.1f} s for {len(lab.hosts)} hosts ({sshd}), every host answered SSH")
        print(f"status: {healthy}/{len(status.hosts)} hosts as planned")
        print(
            f"memory: {status.memory_kib_per_host} KiB per host (PSS of supervisor, holders, sshd)"
        )
    finally:
        started = time.monotonic()
        report = runtime.lab_down(directory)
        down = time.monotonic() - started
    left = "nothing left" if report.clean else f"LEFT: {report}"
    print(f"down:   {down:6.1f} s, {left}")
    return 0 if report.clean else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", type=int, default=500)
    parser.add_argument("--sshd", choices=("paramiko", "openssh"), default="paramiko")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="fleet-lab-bench-") as scratch:
        return measure(args.hosts, args.sshd, Path(scratch) / "lab")


if __name__ == "__main__":
    sys.exit(main())
