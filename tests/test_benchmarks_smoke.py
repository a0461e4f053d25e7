"""The benchmark harness keeps working: a 3-host run of fleet and the OpenSSH peer.

No registry installs and no timing assertions: the run must finish, measure every
runner on every host, count round trips from the servers' logs, and leave no lab.
The pure parts (output readers, medians and ratios, the process meter) are
checked on recorded outputs and real processes.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.harness import process, results, tools
from tests.labkit import lab_skip_reason, openssh_skip_reason

REPO = Path(__file__).resolve().parents[1]
HOSTS = 3
EXPECTED = {
    ("fanout", "fleet transport"),
    ("fanout", "fleet verify"),
    ("fanout", "openssh xargs"),
    ("rollout", "fleet rollout"),
    ("rollout", "openssh xargs (script)"),
    ("noop", "fleet rollout"),
    ("noop", "openssh xargs (script)"),
}


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[subprocess.CompletedProcess, Path]:
    reason = lab_skip_reason() or openssh_skip_reason()
    if reason:
        pytest.skip(reason)
    out = tmp_path_factory.mktemp("bench")
    scratch = out / "tmp"
    scratch.mkdir()
    done = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "run.py"), "--hosts", str(HOSTS),
         "--repeat", "1", "--tools", "fleet,openssh", "--work", "fanout,rollout,noop",
         "--out", str(out), "--name", "smoke", "--no-plot", "--cache", str(out / "cache"),
         "--timeout", "300"],
        capture_output=True, text=True, timeout=900, cwd=out,
        env={**os.environ, "TMPDIR": str(scratch)},
    )  # fmt: skip
    return done, out


@pytest.mark.lab
def test_smoke_run_measures_every_runner_on_every_host(smoke_run) -> None:
    done, out = smoke_run
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    rows = results.read_csv(out / "perf-smoke.csv")
    assert {(r.work, r.label) for r in rows} == EXPECTED
    for row in rows:
        assert row.hosts == HOSTS and row.exit_code == 0, row
        assert row.ok_hosts == HOSTS, row
        assert row.wall_s > 0 and row.cpu_s > 0 and row.peak_mib > 0, row
        # every tool keeps one connection per host; the sshd logs count them
        assert row.connections_per_host == 1.0, row
        assert row.sessions_per_host >= 1.0, row
        assert row.server_cpu_ms_per_host > 0, row  # sudo and docker info ran on the hosts
    for row in rows:  # fleet verify judges every rollout afterwards; other runs by their output
        assert row.compliant_after == (HOSTS if row.work == "rollout" else -1), row


@pytest.mark.lab
def test_smoke_run_rollout_and_noop_rerun_cost_one_session_per_host(smoke_run) -> None:
    # Counted by the lab's sshds: the facts command's shell serves every later command.
    _, out = smoke_run
    rows = results.read_csv(out / "perf-smoke.csv")
    noop = next(r for r in rows if r.work == "noop" and r.label == "fleet rollout")
    first = next(r for r in rows if r.work == "rollout" and r.label == "fleet rollout")
    assert (first.sessions_per_host, noop.sessions_per_host) == (1.0, 1.0)
    assert (first.connections_per_host, noop.connections_per_host) == (1.0, 1.0)


@pytest.mark.lab
def test_smoke_run_prints_the_table_and_leaves_no_lab(smoke_run) -> None:
    done, out = smoke_run
    assert "| fanout | 3 | 0 ms | fleet transport |" in done.stdout
    assert "LEFT BEHIND" not in done.stderr
    assert not list((out / "tmp").glob("fleet-bench-*")), "the harness scratch folder was kept"


# --- pure parts ---------------------------------------------------------------------------------

ANSIBLE_RECAP = """
PLAY RECAP *********************************************************************
node01                     : ok=9    changed=6    unreachable=0    failed=0    skipped=0    rescued=0    ignored=0
node02                     : ok=3    changed=1    unreachable=0    failed=1    skipped=0    rescued=0    ignored=0
node03                     : ok=0    changed=0    unreachable=1    failed=0    skipped=0    rescued=0    ignored=0
"""

PYINFRA_DEPLOY = """--> Starting operation: Verify cgroup and storage drivers
    [node03] Success
    [node02] Error
    [node01] Success

--> Results:
"""


def test_output_readers_count_only_hosts_that_did_the_work() -> None:
    readers = {r.label: r.ok_hosts for r in tools.ALL_RUNNERS}
    assert readers["ansible playbook"](ANSIBLE_RECAP) == 1
    assert readers["pyinfra deploy"](PYINFRA_DEPLOY) == 2
    plain = (
        "HOST node01 batch=1 status=ok engine=19.03.11\n"
        "HOST node02 batch=1 status=failed engine=-\n"
        "HOST node03 batch=1 status=changed engine=19.03.11\n"
    )
    assert readers["fleet rollout"](plain) == 2
    assert readers["fleet transport"]('noise\n{"ok": 2, "hosts": 3, "errors": []}\n') == 2


def _row(label: str, wall: float, repeat: int, work: str = "fanout") -> results.Row:
    return results.Row(
        work, 10, 0, label, "v", repeat, wall, 1.0, 100.0, 20.0, 1.0, 1.0, 50.0, 10, -1, 0
    )


def test_summary_takes_medians_and_ratios_against_xargs() -> None:
    rows = [_row("openssh xargs", w, i) for i, w in enumerate((2.0, 4.0, 3.0))]
    rows += [_row("fleet transport", w, i) for i, w in enumerate((1.0, 9.0, 1.5))]
    by_label = {s.label: s for s in results.summarise(rows)}
    assert by_label["openssh xargs"].wall_s == 3.0 and by_label["openssh xargs"].ratio == 1.0
    assert by_label["fleet transport"].wall_s == 1.5
    assert by_label["fleet transport"].ratio == pytest.approx(0.5)
    assert "| fanout | 10 | 0 ms | fleet transport | 3 | 1.50 | 0.50 |" in results.table(
        list(by_label.values())
    )


def test_csv_round_trip(tmp_path: Path) -> None:
    sink = results.CsvSink(tmp_path / "perf.csv")
    row = _row("pyinfra exec", 1.25, 0)
    sink.add(row)
    assert results.read_csv(tmp_path / "perf.csv") == [row]


def test_meter_reports_exit_status_and_reaps_detached_descendants(tmp_path: Path) -> None:
    log = tmp_path / "out.log"
    usage = process.measure(
        ["sh", "-c", "setsid sleep 317 </dev/null >/dev/null 2>&1 & echo started; exit 3"],
        log=log,
        timeout_s=60,
    )
    assert usage.exit_code == 3 and not usage.timed_out
    assert log.read_text() == "started\n"
    assert _alive(b"sleep\x00317\x00") == [], "the detached sleep outlived the measurement"


def _alive(cmdline: bytes) -> list[int]:
    """Live (not zombie) processes anywhere on the machine with exactly this command line."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and (entry / "cmdline").read_bytes() == cmdline:
                found.append(int(entry.name))
        except OSError:
            continue
    return found
