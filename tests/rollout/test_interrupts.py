"""Ctrl-C and SIGTERM keep their word (docs/failures.md, "Ctrl-C / SIGTERM").

fleet runs as a real process against lab hosts and gets real signals.  No test
sleeps or times anything: each acts on an event that shows a host inside a
command: fleet's own output lines (a note printed while a command waits), or a
file the command is writing on the host, waited for with a bounded wait.  Hosts
are slowed by the lab's ``slow`` fault (every simulated tool sleeps first) or held
by ``yum_lock`` (yum waits for a lock another process holds), so a host is still in
its command when the signal arrives.
"""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from fleet.errors import ExitCode
from tests.rollout.helpers import by_name, fleet, on_host

SLOW = 2  # seconds every simulated tool waits: a step that runs one is still running
# Engines from 23.0 on validate daemon.json with dockerd before it is written, which the
# slow fault delays: a signal sent when engine_packages ends lands inside daemon_json.
PINS_24 = {"docker_version": "24.0.7", "containerd_version": "1.6.28"}
DAEMON_JSON_LEFT = (
    "interrupted after daemon_json: /etc/docker/daemon.json written, docker not restarted yet; "
    "re-run to finish"
)
DONE_STATUSES = {"ok", "changed", "skipped"}
TEST_TIMEOUT_S = 300  # far shorter than the command timeout these tests give fleet
POLL_S = 0.02  # how often a bounded wait looks for a file on a host


def start_fleet(tmp_path: Path, *argv: str) -> subprocess.Popen[str]:
    """``fleet ... --plain`` in the background; stderr joins stdout, so lines keep their order."""
    return subprocess.Popen(
        [sys.executable, "-m", "fleet", *argv, "--plain", "--runs-dir", str(tmp_path / "runs")],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )


def wait_for_lines(proc: subprocess.Popen[str], prefixes: Iterable[str]) -> list[str]:
    """Read fleet's output until a line has started with each prefix; return the lines read."""
    missing = set(prefixes)
    seen: list[str] = []
    assert proc.stdout is not None
    for line in proc.stdout:
        seen.append(line)
        missing -= {prefix for prefix in missing if line.startswith(prefix)}
        if not missing:
            return seen
    raise AssertionError(f"fleet ended before printing {sorted(missing)}: {seen}")


def wait_for_file(directory: Path, pattern: str, proc: subprocess.Popen[str]) -> Path:
    """A file matching ``pattern`` in ``directory``, waited for as long as fleet runs (bounded)."""
    deadline = time.monotonic() + TEST_TIMEOUT_S
    while time.monotonic() < deadline and proc.poll() is None:
        found = sorted(directory.glob(pattern))
        if found:
            return found[0]
        time.sleep(POLL_S)
    raise AssertionError(f"no {directory / pattern} while fleet ran (exit status {proc.poll()})")


def finish(proc: subprocess.Popen[str], seen: list[str]) -> str:
    """Wait for fleet to end (bounded by the test's timeout); all of its output."""
    rest, _ = proc.communicate(timeout=TEST_TIMEOUT_S)
    return "".join(seen) + rest


def run_files(report_file: Path) -> tuple[dict[str, Any], Path]:
    """The --report file, checked against report.json in the run folder; and that folder."""
    report = json.loads(report_file.read_text())
    run_dir = Path(report["run_dir"])
    assert json.loads((run_dir / "report.json").read_text()) == report
    return report, run_dir


def steps_of(host: dict[str, Any]) -> list[tuple[str, str]]:
    return [(step["name"], step["status"]) for step in host["steps"]]


def assert_stopped_between_steps(host: dict[str, Any]) -> str:
    """Steps done, then only steps not run, and the error names the last one done."""
    steps = steps_of(host)
    done = next(i for i, (_, status) in enumerate(steps) if status not in DONE_STATUSES)
    assert host["status"] == "interrupted", host
    assert done > 0 and {status for _, status in steps[done:]} == {"not_run"}, host
    last = steps[done - 1][0]
    assert host["error"].startswith(f"interrupted after {last}"), host
    assert host["error"].endswith("; re-run to finish"), host
    return last


def test_ctrl_c_stops_running_hosts_after_their_step_and_a_rerun_converges(lab, tmp_path):
    lab = lab(3, defaults={"os": "centos7", "faults": {"slow": SLOW}, "vars": PINS_24})
    report_file = tmp_path / "report.json"
    proc = start_fleet(
        tmp_path, "rollout", "-i", str(lab.inventory), "--forks", "2", "--report", str(report_file)
    )
    seen = wait_for_lines(proc, ["STEP node01 step=engine_packages"])
    # daemon_json writes a temporary file, validates it (a slow dockerd), then renames it:
    # while the file is there, node01 is inside daemon_json.
    wait_for_file(lab.host("node01").path("/etc/docker"), ".daemon.json.*", proc)
    proc.send_signal(signal.SIGINT)
    output = finish(proc, seen)
    assert proc.returncode == ExitCode.INTERRUPTED, output
    assert (
        "fleet: stopping (SIGINT): no new host starts; running hosts stop after their current "
        "step (Ctrl-C again abandons their commands)" in output
    )
    assert "Traceback" not in output

    report, run_dir = run_files(report_file)
    assert report["interrupted"] is True
    hosts = by_name(report)
    node01 = hosts["node01"]
    assert node01["error"] == DAEMON_JSON_LEFT, output
    assert steps_of(node01)[-4:] == [
        ("daemon_json", "changed"),
        ("dropin_dir", "not_run"),
        ("service", "not_run"),
        ("verify", "not_run"),
    ]
    assert_stopped_between_steps(node01)
    assert "native.cgroupdriver=systemd" in on_host(lab, "node01", "cat /etc/docker/daemon.json")
    assert on_host(lab, "node01", "systemctl is-active docker") == "inactive"

    last_done = assert_stopped_between_steps(hosts["node02"])  # running too: where is its own
    if last_done in ("preflight", "prerequisites", "repository", "system_update"):
        assert on_host(lab, "node02", "rpm -q docker-ce") == "package docker-ce is not installed"
    assert on_host(lab, "node02", "systemctl is-active docker") != "active"

    assert hosts["node03"]["status"] == "not_run"
    assert hosts["node03"]["error"] == "interrupted before this host started"
    assert on_host(lab, "node03", "rpm -q docker-ce") == "package docker-ce is not installed"
    assert on_host(lab, "node03", "ls -A /etc/docker") == ""
    assert report["summary"]["interrupted"] == 2 and report["summary"]["not_run"] == 1, output
    causes = [shlex.split(line) for line in output.splitlines() if line.startswith("CAUSE ")]
    assert [
        "status=interrupted",
        f"error={DAEMON_JSON_LEFT}",
    ] in [[c[2], c[4]] for c in causes if "node01" in c[3]], causes

    failed = run_dir / "failed-hosts.txt"
    assert failed.read_text().split() == ["node01", "node02", "node03"]
    code, rerun = fleet(tmp_path, "rollout", "-i", str(lab.inventory), "--limit", f"@{failed}")
    assert code == ExitCode.OK, rerun
    assert [h["status"] for h in rerun["hosts"]] == ["changed", "changed", "changed"]
    node01_again = by_name(rerun)["node01"]
    # What the first run did stays done: only the steps it never ran change something.
    assert [s["name"] for s in node01_again["steps"] if s["status"] == "changed"] == [
        "dropin_dir",
        "service",
    ]
    assert on_host(lab, "node01", "systemctl is-active docker") == "active"


def test_a_second_ctrl_c_abandons_the_commands_in_flight_and_still_writes_every_file(lab, tmp_path):
    # Another process holds the yum lock for an hour, and fleet would wait as long:
    # prerequisites' `yum install` stays in flight far longer than this test waits.
    lab = lab(3, defaults={"os": "centos7", "faults": {"yum_lock": 3600}})
    report_file = tmp_path / "report.json"
    proc = start_fleet(
        tmp_path,
        "rollout",
        "-i",
        str(lab.inventory),
        "--forks",
        "2",
        "--yum-lock-timeout",
        "3600",
        "--command-timeout",
        "7200",
        "--report",
        str(report_file),
    )
    waiting = [f"NOTE {name}: waiting for the yum lock" for name in ("node01", "node02")]
    seen = wait_for_lines(proc, waiting)  # printed while each host's yum install runs
    proc.send_signal(signal.SIGINT)
    seen += wait_for_lines(proc, ["fleet: stopping (SIGINT)"])
    proc.send_signal(signal.SIGINT)
    output = finish(proc, seen)
    assert proc.returncode == ExitCode.INTERRUPTED, output
    assert (
        "fleet: stopping at once (SIGINT): abandoning the commands in flight; the report follows"
        in output
    )
    assert "Traceback" not in output

    report, run_dir = run_files(report_file)
    hosts = by_name(report)
    for name in ("node01", "node02"):
        host = hosts[name]
        assert host["status"] == "interrupted", host
        assert host["error"] == (
            "interrupted during prerequisites: install yum-utils abandoned; re-run to finish"
        )
        assert steps_of(host) == [
            ("preflight", "ok"),
            ("prerequisites", "interrupted"),
            *((step, "not_run") for step in ("repository", "system_update", "engine_packages")),
            *((step, "not_run") for step in ("daemon_json", "dropin_dir", "service", "verify")),
        ]
        assert on_host(lab, name, "rpm -q yum-utils") == "package yum-utils is not installed"
    assert hosts["node03"]["status"] == "not_run"
    assert (run_dir / "failed-hosts.txt").read_text().split() == ["node01", "node02", "node03"]
    assert "INTERRUPTED" in output.splitlines()


def test_sigterm_starts_no_new_batch_and_stops_the_running_host_after_its_step(lab, tmp_path):
    lab = lab(3, defaults={"os": "centos7", "faults": {"slow": SLOW}})
    report_file = tmp_path / "report.json"
    proc = start_fleet(
        tmp_path,
        "rollout",
        "-i",
        str(lab.inventory),
        "--batch-size",
        "1",
        "--report",
        str(report_file),
    )
    seen = wait_for_lines(proc, ["STEP node01 step=preflight"])
    proc.send_signal(signal.SIGTERM)
    output = finish(proc, seen)
    assert proc.returncode == ExitCode.INTERRUPTED, output
    assert "fleet: stopping (SIGTERM): no new host starts" in output
    report, run_dir = run_files(report_file)
    assert [h["status"] for h in report["hosts"]] == ["interrupted", "not_run", "not_run"]
    assert_stopped_between_steps(by_name(report)["node01"])
    assert on_host(lab, "node01", "systemctl is-active docker") != "active"
    assert on_host(lab, "node02", "rpm -q docker-ce") == "package docker-ce is not installed"
    assert (run_dir / "failed-hosts.txt").read_text().split() == ["node01", "node02", "node03"]
