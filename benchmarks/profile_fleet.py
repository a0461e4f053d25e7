"""Where fleet's controller CPU goes: py-spy over a fan-out and a rollout at N hosts.

Run on purpose, as root, with py-spy installed (``pip install py-spy``):

    python benchmarks/profile_fleet.py --hosts 200

Starts an OpenSSH lab, converges it, samples ``benchmarks/fleet_fanout.py`` on it;
then a fresh lab for ``fleet rollout`` and its no-op re-run.  Samples only the
thread holding the GIL (``--gil``), so a sample is Python CPU time; prints, per
run, the functions with the most samples (self and inclusive) in milliseconds per
host.  Raw py-spy stacks are kept in ``--keep DIR`` when given.
"""

from __future__ import annotations

import argparse
import atexit
import collections
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.harness import labs, snapshot, tools

RATE = 200  # samples per second


def record(argv: list[str], out: Path) -> None:
    """Run ``argv`` under py-spy; raw collapsed stacks go to ``out``."""
    spy = shutil.which("py-spy")
    if spy is None:
        raise SystemExit("profile_fleet: py-spy not found: pip install py-spy")
    subprocess.run(
        [spy, "record", "--gil", "--nonblocking", "-r", str(RATE), "-f", "raw", "-o", str(out),
         "--", *argv],
        cwd=tools.REPO, check=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        timeout=3600,
    )  # fmt: skip


def _frames(stack: str) -> list[str]:
    """``func (file:line)`` frames, line numbers dropped so one function is one name."""
    names = []
    for frame in stack.split(";"):
        func, _, where = frame.partition(" (")
        path = where.rsplit(":", 1)[0]
        names.append(f"{func} ({_short(path)})")
    return names


def _short(path: str) -> str:
    for marker in ("site-packages/", "/fleet/", "/benchmarks/", "/lib/python3"):
        if marker in path:
            return path[path.index(marker) :].removeprefix("site-packages/")
    return path


def summarise(raw: Path, hosts: int, top: int) -> str:
    own: collections.Counter[str] = collections.Counter()
    inclusive: collections.Counter[str] = collections.Counter()
    total = 0
    for line in raw.read_text(encoding="utf-8", errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not count_text.isdigit():
            continue
        count, frames = int(count_text), _frames(stack)
        total += count
        own[frames[-1]] += count
        for name in set(frames):
            inclusive[name] += count
    per_host = 1000.0 / RATE / hosts
    lines = [f"  {total * per_host:.2f} ms/host of Python CPU in {total} samples"]
    for title, counter in (("self", own), ("inclusive", inclusive)):
        lines.append(f"  top {top} by {title} time (ms/host):")
        lines += [f"    {n * per_host:7.3f}  {name}" for name, n in counter.most_common(top)]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", type=int, default=200)
    parser.add_argument("--forks", type=int, default=50)
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--keep", type=Path, help="keep the raw py-spy stacks in this folder")
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="fleet-profile-"))
    keep = args.keep or scratch
    keep.mkdir(parents=True, exist_ok=True)
    try:
        with labs.running_lab(scratch / "fanout-lab", args.hosts) as running:
            lab = running.lab
            labs.converge(lab, scratch)
            raw = keep / f"fanout-{args.hosts}.txt"
            record([sys.executable, str(tools.BENCH / "fleet_fanout.py"), "-i", str(lab.inventory),
                    "--forks", str(args.forks)], raw)  # fmt: skip
            print(
                f"fleet transport fan-out, N={args.hosts}:\n{summarise(raw, args.hosts, args.top)}"
            )
        with labs.running_lab(scratch / "rollout-lab", args.hosts) as running:
            lab = running.lab
            for name in ("rollout", "noop"):
                raw = keep / f"{name}-{args.hosts}.txt"
                record([sys.executable, "-m", "fleet", "rollout", "-i", str(lab.inventory),
                        "--plain", "--forks", str(args.forks), "--runs-dir",
                        str(scratch / "runs")], raw)  # fmt: skip
                print(f"fleet {name}, N={args.hosts}:\n{summarise(raw, args.hosts, args.top)}")
    finally:
        left = labs.leftover_labs(scratch)
        if left:
            print("profile_fleet: LEFT BEHIND: " + "; ".join(left[:5]), file=sys.stderr)
        shutil.rmtree(scratch, ignore_errors=True)
        snapshot.remove()
    return 0


if __name__ == "__main__":
    snapshot.run_from_snapshot(Path(__file__).resolve())
    atexit.register(snapshot.remove)  # also after --help, --from-csv or an early error
    sys.exit(main())
