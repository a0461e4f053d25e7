"""Labs for the benchmark: OpenSSH servers, optional network delay, always stopped again."""

from __future__ import annotations

import contextlib
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import yaml

from benchmarks.harness import sshdlog
from benchmarks.harness.servercpu import ServerCpu
from fleet.errors import EnvironmentProblem
from fleet.lab import runtime
from fleet.lab.spec import LabSpec, parse_spec

REPO = Path(__file__).resolve().parents[2]


def spec_text(hosts: int, delay_ms: int) -> str:
    """Fresh CentOS 7 hosts, as a rollout finds them; ``delay_ms`` each way per chunk."""
    document: dict[str, object] = {"hosts": hosts, "sshd": "openssh"}
    if delay_ms:
        document["defaults"] = {"delay_ms": delay_ms}
    return yaml.safe_dump(document, sort_keys=False)


@dataclass(frozen=True)
class BenchLab:
    """A running lab and the meter of its hosts' CPU."""

    lab: runtime.Lab
    server: ServerCpu


@contextlib.contextmanager
def running_lab(directory: Path, hosts: int, delay_ms: int = 0) -> Iterator[BenchLab]:
    """A started lab whose sshds log every session; stopped (and checked) on the way out."""
    spec = parse_spec(spec_text(hosts, delay_ms), "<benchmark lab spec>")
    lab = _up(directory, spec)
    server: ServerCpu | None = None
    try:
        sshdlog.make_verbose(lab)
        server = ServerCpu(lab)
        yield BenchLab(lab, server)
    finally:
        report = runtime.lab_down(lab.directory)
        if server is not None:
            server.close()
        if not report.clean:
            raise EnvironmentProblem(f"benchmark lab {lab.directory} not cleanly stopped: {report}")


def _up(directory: Path, spec: LabSpec, attempts: int = 3) -> runtime.Lab:
    """Start a lab, trying again in a new folder when an address was taken meanwhile.

    Labs of other users of this machine probe and bind addresses too; two starting
    at once can pick the same free block, and one sshd then cannot bind.
    """
    for attempt in range(1, attempts + 1):
        target = directory if attempt == 1 else directory.with_name(f"{directory.name}-{attempt}")
        try:
            return runtime.lab_up(target, spec, sshd="openssh")
        except EnvironmentProblem as exc:
            if attempt == attempts:
                raise
            print(f"bench: lab start failed ({exc.message}); trying again", flush=True)
    raise AssertionError("unreachable")


def converge(lab: runtime.Lab, scratch: Path) -> int:
    """Roll fleet out once (not measured), so fan-out hosts run a compliant engine.

    Returns how many hosts are compliant afterwards.
    """
    return compliant_hosts(lab, scratch, "rollout")


def compliant_hosts(lab: runtime.Lab, scratch: Path, command: str = "verify") -> int:
    """How many hosts ``fleet verify`` (or ``rollout``) finds compliant: the judge of every run.

    The reasons of the others are printed, grouped, so a shortfall is explained.
    """
    report = scratch / f"judge-{command}.json"
    subprocess.run(
        [sys.executable, "-m", "fleet", command, "-i", str(lab.inventory), "--plain",
         "--forks", "50", "--runs-dir", str(scratch / "judge-runs"), "--report", str(report)],
        cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False, timeout=1800,
    )  # fmt: skip
    if not report.exists():
        print(f"bench: fleet {command} wrote no report", flush=True)
        return 0
    document = yaml.safe_load(report.read_text())
    report.unlink()
    reasons = Counter(
        f"{h['status']}: {h.get('error') or '?'}"
        for h in document["hosts"]
        if h["status"] not in ("ok", "changed")
    )
    for reason, count in reasons.most_common(5):
        print(f"bench: fleet {command}: {count} host(s) {reason[:300]}", flush=True)
    summary = document["summary"]
    return int(summary.get("ok", 0)) + int(summary.get("changed", 0))


def leftover_labs(root: Path) -> list[str]:
    """What any lab under ``root`` left: supervisors naming it, mounts of it in any namespace.

    Only labs under ``root`` are looked at: other labs on the machine are not ours.
    """
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            if str(root) in cmdline and "fleet.lab" in cmdline:
                found.append(f"process {entry.name}: {cmdline.strip()}")
        with contextlib.suppress(OSError):
            if str(root) in (entry / "mountinfo").read_text():
                found.append(f"process {entry.name} sees a mount under {root}")
    return found
