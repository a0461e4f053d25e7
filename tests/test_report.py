"""Renderings of a Report: rich tables, plain lines, JSON, retry files, live progress.

Reports are built by hand from plain data; host errors are the real texts of
yum, ssh, systemctl and dockerd (see the project's docker-centos-facts notes).
"""

from __future__ import annotations

import io
import json
import os
import re
import shlex
import stat
import threading
from collections.abc import Sequence

import pytest
from rich.console import Console

from fleet.errors import EnvironmentProblem
from fleet.report import (
    LARGE_RUN,
    Cause,
    PlainProgress,
    Progress,
    RichProgress,
    SafeEvents,
    failed_hosts_file,
    fold_names,
    format_duration,
    group_causes,
    host_line,
    make_progress,
    one_line,
    render_plain,
    render_tables,
    write_json,
)
from fleet.results import DockerSummary, HostResult, Report, Status, StepResult

NO_PACKAGE = "No package docker-ce-19.03.11 available."
YUM_LOCK = "Existing lock /var/run/yum.pid: another copy is running as pid {pid}."
JOB_FAILED = (
    "Job for docker.service failed because the control process exited with error code. "
    'See "systemctl status docker.service" and "journalctl -xe" for details.'
)
GOOD = DockerSummary(server_version="19.03.11", cgroup_driver="systemd", storage_driver="overlay2")


def host_number(name: str) -> int:
    digits = re.sub(r"\D", "", name)
    return int(digits or 0) % 250


def changed(name: str, batch: int = 1, address: str = "") -> HostResult:
    return HostResult(
        name=name,
        address=address or f"10.0.0.{host_number(name)}",
        batch=batch,
        status=Status.CHANGED,
        steps=(
            StepResult("repo", Status.OK, 0.1),
            StepResult("packages", Status.CHANGED, 2.5, "installed docker-ce-19.03.11"),
            StepResult("daemon_json", Status.CHANGED, 0.2),
        ),
        docker=GOOD,
        duration_s=3.2,
    )


def bad(name: str, error: str | None, status: Status = Status.FAILED, batch: int = 1) -> HostResult:
    return HostResult(
        name=name,
        address=f"192.168.7.{host_number(name)}",
        batch=batch,
        status=status,
        error=error,
        duration_s=1.0,
    )


def report(hosts: Sequence[HostResult], **kwargs) -> Report:
    batches = max((h.batch for h in hosts), default=0)
    return Report(command="rollout", hosts=tuple(hosts), batches=batches, **kwargs)


def rich_text(rep: Report, width: int = 220, **kwargs) -> str:
    console = Console(record=True, width=width, file=io.StringIO())
    render_tables(rep, console, **kwargs)
    return console.export_text()


def plain_text(rep: Report, **kwargs) -> str:
    stream = io.StringIO()
    render_plain(rep, stream, **kwargs)
    return stream.getvalue()


def parse_plain(line: str) -> tuple[str, list[str], dict[str, str]]:
    """Keyword, positional words and key=value fields of one plain line."""
    words = shlex.split(line)
    positional = [w for w in words[1:] if "=" not in w]
    fields = dict(w.split("=", 1) for w in words[1:] if "=" in w)
    return words[0], positional, fields


def small_report() -> Report:
    return report(
        [
            changed("node01"),
            HostResult("node02", "10.0.0.2", 1, Status.OK, docker=GOOD, duration_s=0.8),
            bad("node03", NO_PACKAGE, batch=2),
            bad("node04", "connect to 192.168.7.4:22 timed out", Status.UNREACHABLE, batch=2),
            HostResult("node05", "10.0.0.5", 3, Status.NOT_RUN),
        ],
        halted=True,
        halt_reason="2 of 4 hosts attempted failed or were unreachable, more than --max-failures 0",
        duration_s=12.5,
        run_dir="/var/tmp/fleet/run-1",
    )


# --------------------------------------------------------------------------- helpers


@pytest.mark.parametrize(
    ("names", "expected"),
    [
        ([f"node{i:03d}" for i in range(1, 13)], "node[001:012]"),
        (["node1", "node2"], "node1, node2"),  # two are clearer listed than folded
        (["node9", "node10", "node11"], "node[9:11]"),
        (["node099", "node100", "node101"], "node[099:101]"),
        (["node9", "node010", "node011"], "node9, node010, node011"),  # widths cannot share a range
        (["node3", "node1", "node2", "node5"], "node[1:3], node5"),  # natural order
        (["web", "db", "node1"], "db, node1, web"),
        (
            ["n1.dc.example", "n2.dc.example", "n3.dc.example", "m1.dc.example"],
            "m1.dc.example, n[1:3].dc.example",
        ),
        (["a-1", "a-1"], "a-1"),  # duplicates collapse
        ([], ""),
    ],
)
def test_fold_names(names, expected):
    assert fold_names(names) == expected


def test_fold_names_bounds_length_and_counts_hidden_hosts():
    names = [f"node{i:03d}" for i in range(1, 13)] + [f"node{i:03d}" for i in range(20, 60, 2)]
    assert fold_names(names, max_items=3) == "node[001:012], node020, node022, and 18 more"
    assert fold_names(names, max_items=None, sep=",").count(",") == 20


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0, "0.0s"), (3.24, "3.2s"), (59.9, "59.9s"), (243, "4m03s"), (7500, "2h05m")],
)
def test_format_duration(seconds, text):
    assert format_duration(seconds) == text


def test_one_line_joins_lines_and_shows_control_characters():
    assert one_line("first\r\n  second\n") == "first | second"
    assert one_line("a\x1b[31mred\x07") == "a\\x1b[31mred\\x07"
    assert one_line("tab\there") == "tab here"


# --------------------------------------------------------------------------- causes


def test_37_identical_errors_form_one_cause_line():
    names = (
        [f"node{i:03d}" for i in range(1, 13)]
        + ["node020"]
        + [f"node{i:03d}" for i in range(30, 54)]
    )
    hosts = [bad(n, NO_PACKAGE) for n in names] + [changed(f"node{i:03d}") for i in range(60, 70)]
    causes = group_causes(report(hosts))
    assert causes == [Cause(Status.FAILED, NO_PACKAGE, tuple(names))]
    assert causes[0].line() == (
        "37 hosts failed: No package docker-ce-19.03.11 available. "
        "(node[001:012], node020, node[030:053])"
    )
    text = rich_text(report(hosts))
    assert text.count("37 hosts failed: No package docker-ce-19.03.11 available.") == 1


def test_large_cause_lists_few_names_and_counts_the_rest():
    names = [f"node{i:03d}" for i in range(1, 400, 3)]  # no runs to fold
    line = group_causes(report([bad(n, NO_PACKAGE) for n in names]))[0].line()
    assert line.startswith(f"{len(names)} hosts failed: {NO_PACKAGE} (node001, node004, ")
    assert line.endswith(f", and {len(names) - 6} more)")


def test_host_specific_details_are_normalised():
    hosts = (
        [bad(f"node{i}", YUM_LOCK.format(pid=pid)) for i, pid in ((1, 2922), (2, 8315), (3, 6150))]
        + [
            bad(
                f"web{i}",
                f"ssh: connect to host 192.168.7.{i} port 22: Connection refused",
                Status.UNREACHABLE,
            )
            for i in (1, 2, 3)
        ]
        + [bad(f"db{i}", f"db{i}: sudo: a password is required") for i in (1, 2)]
    )
    lines = [cause.line() for cause in group_causes(report(hosts))]
    assert lines == [
        "3 hosts failed: Existing lock /var/run/yum.pid: another copy is running as pid <n>. "
        "(node[1:3])",
        "3 hosts unreachable: ssh: connect to host <address> port 22: Connection refused "
        "(web[1:3])",
        "2 hosts failed: <host>: sudo: a password is required (db1, db2)",
    ]


def test_details_shared_by_all_hosts_are_shown_as_they_are():
    hosts = [
        bad("node1", "Cannot connect to 10.1.1.1 after 30s (exit status 255)"),
        bad("node2", "Cannot connect to 10.1.1.1 after 31s (exit status 255)"),
    ]
    (cause,) = group_causes(report(hosts))
    assert cause.message == "Cannot connect to 10.1.1.1 after <n> (exit status 255)"


def test_different_versions_and_texts_stay_apart():
    hosts = [
        bad("a1", NO_PACKAGE),
        bad("a2", "No package docker-ce-20.10.7 available."),
        bad("a3", JOB_FAILED),
        bad("a4", NO_PACKAGE, Status.SKIPPED),
    ]
    causes = group_causes(report(hosts))
    assert [(c.status, c.message, c.hosts) for c in causes] == [
        (Status.FAILED, NO_PACKAGE, ("a1",)),
        (Status.FAILED, "No package docker-ce-20.10.7 available.", ("a2",)),
        (Status.FAILED, JOB_FAILED, ("a3",)),
        (Status.SKIPPED, NO_PACKAGE, ("a4",)),
    ]


def test_one_host_cause_keeps_its_own_details():
    (cause,) = group_causes(
        report([bad("node7", "connect to 192.168.7.7:22 timed out after 10.0s")])
    )
    assert cause.line() == "1 host failed: connect to 192.168.7.7:22 timed out after 10.0s (node7)"


def test_ipv6_addresses_are_normalised():
    hosts = [
        bad("h1", "connect to [fd00::1]:22 refused"),
        bad("h2", "connect to [fd00::2]:22 refused"),
        bad("h3", "no route to 2001:db8::3"),
        bad("h4", "no route to 2001:db8::4"),
    ]
    messages = [cause.message for cause in group_causes(report(hosts))]
    assert messages == ["connect to <address> refused", "no route to <address>"]


def test_causes_order_biggest_first_and_not_run_last():
    hosts = (
        [bad("x1", JOB_FAILED)]
        + [bad(f"y{i}", NO_PACKAGE) for i in range(3)]
        + [HostResult(f"z{i}", "", 2, Status.NOT_RUN) for i in range(5)]
        + [bad("w1", None)]
    )
    causes = group_causes(report(hosts, halted=True, halt_reason="limit"))
    assert [(len(c.hosts), c.message) for c in causes] == [
        (3, NO_PACKAGE),
        (1, JOB_FAILED),
        (1, "failed without an error message"),
        (5, "the rollout halted first"),
    ]
    interrupted = group_causes(report(hosts[-6:-1], interrupted=True))
    assert interrupted[0].message == "the rollout was interrupted first"


def test_compliant_hosts_have_no_cause():
    assert group_causes(report([changed("a"), changed("b")])) == []


# --------------------------------------------------------------------------- rich tables


FRESH_STEPS = (
    "prerequisites",
    "repository",
    "engine_packages",
    "daemon_json",
    "dropin_dir",
    "service",
)


def fresh(name: str, batch: int = 1) -> HostResult:
    """A host that had nothing: every step that can change did (the real step names)."""
    steps = (
        StepResult("preflight", Status.OK, 0.1),
        *(StepResult(step, Status.CHANGED, 2.0) for step in FRESH_STEPS),
        StepResult("verify", Status.OK, 0.3),
    )
    return HostResult(name, "10.0.0.1", batch, Status.CHANGED, steps, GOOD, duration_s=48.2)


def host_rows(text: str) -> dict[str, dict[str, str]]:
    """The Hosts table read back: host name -> column header -> the cell's lines joined by " ".

    A name cut with "…" or folded in the middle ("engine_package" / "s,") does not
    survive this join whole, so tests can ask for whole words.
    """
    lines = text[text.index("Hosts") : text.index("└")].splitlines()
    headers = [cell.strip() for cell in lines[2].split("┃")[1:-1]]
    rows: dict[str, dict[str, list[str]]] = {}
    current: dict[str, list[str]] = {}
    for line in lines[4:]:
        cells = [cell.strip() for cell in line.split("│")[1:-1]]
        if cells[0]:
            current = rows.setdefault(cells[0], {header: [] for header in headers})
        for header, cell in zip(headers, cells, strict=True):
            if cell:
                current[header].append(cell)
    return {name: {h: " ".join(parts) for h, parts in row.items()} for name, row in rows.items()}


def test_tables_show_every_column_and_value():
    text = rich_text(small_report())
    header = next(line for line in text.splitlines() if "host" in line and "batch" in line)
    columns = ["host", "batch", "result", "changed steps", "engine", "duration"]
    assert [cell.strip() for cell in header.split("┃")[1:-1]] == columns
    rows = host_rows(text)
    assert rows["node01"] == {
        "host": "node01",
        "batch": "1",
        "result": "changed",
        "changed steps": "2: packages, daemon_json",
        "engine": "19.03.11 systemd overlay2",
        "duration": "3.2s",
    }
    assert rows["node02"]["changed steps"] == "-"
    assert rows["node03"]["result"] == f"failed: {NO_PACKAGE}"
    assert rows["node03"]["engine"] == "-"
    assert rows["node05"]["result"] == "not_run"


@pytest.mark.parametrize("width", [80, 120])
def test_every_changed_step_of_a_fresh_host_is_shown_whole(width):
    text = rich_text(report([fresh("node01"), fresh("node02")]), width=width)
    assert max(len(line) for line in text.splitlines()) <= width
    assert "…" not in text
    cell = host_rows(text)["node01"]["changed steps"]
    assert cell == "6: " + ", ".join(FRESH_STEPS)


def test_narrow_tables_stack_the_engine_facts_and_wide_ones_keep_them_on_a_line():
    rows = report([fresh("node01"), bad("node02", NO_PACKAGE)])
    narrow = rich_text(rows, width=80)
    wide = rich_text(rows, width=120)
    assert [line.split("│")[5].strip() for line in narrow.splitlines() if "node01" in line] == [
        "19.03.11"
    ]
    assert "│ 19.03.11 systemd overlay2 │" in wide
    for text, width in ((narrow, 80), (wide, 120)):
        assert max(len(line) for line in text.splitlines()) <= width
        assert host_rows(text)["node01"]["engine"] == "19.03.11 systemd overlay2"
    # The error follows the status in the result cell; nothing of it is cut, though at 80
    # columns a word longer than the cell (docker-ce-19.03.11) is folded.
    assert host_rows(wide)["node02"]["result"] == f"failed: {NO_PACKAGE}"
    folded = host_rows(narrow)["node02"]["result"]
    assert folded.replace(" ", "") == f"failed: {NO_PACKAGE}".replace(" ", "")


def test_recap_counts_each_batch_and_the_total():
    text = rich_text(small_report())
    recap = text[text.index("Recap") :]
    header = next(line for line in recap.splitlines() if "unreachable" in line)
    assert [w for w in re.split(r"[\s┃│]+", header) if w] == [
        "batch",
        "ok",
        "changed",
        "failed",
        "unreachable",
        "skipped",
        "not",
        "run",
        "total",
    ]

    def row(first: str) -> list[str]:
        pattern = re.compile(rf"[│┃]\s*{first}\s")
        line = next(text for text in recap.splitlines() if pattern.match(text))
        return [w for w in re.split(r"[\s│┃]+", line) if w]

    assert row("1") == ["1", "1", "1", "0", "0", "0", "0", "2"]
    assert row("2") == ["2", "0", "0", "1", "1", "0", "0", "2"]
    assert row("3") == ["3", "0", "0", "0", "0", "0", "1", "1"]
    assert row("total") == ["total", "1", "1", "1", "1", "0", "1", "5"]


def test_closing_lines_give_compliance_and_halt():
    text = rich_text(small_report())
    assert "rollout: 2 of 5 hosts compliant (40.0%) in 12.5s" in text
    assert (
        "HALTED: 2 of 4 hosts attempted failed or were unreachable, more than --max-failures 0"
        in text
    )
    assert "Failures by cause" in text
    assert "1 host unreachable: connect to 192.168.7.4:22 timed out (node04)" in text
    assert "1 host not run: the rollout halted first (node05)" in text


@pytest.mark.parametrize(
    ("good", "total", "percent"),
    [(999, 1000, "99.9%"), (1, 3, "33.3%"), (2, 3, "66.6%"), (7, 7, "100.0%")],
)
def test_compliance_percentage_rounds_down(good, total, percent):
    hosts = [changed(f"n{i}") for i in range(good)] + [
        bad(f"f{i}", NO_PACKAGE) for i in range(total - good)
    ]
    rep = report(hosts)
    assert f"{good} of {total} hosts compliant ({percent})" in rich_text(rep)
    summary = plain_text(rep).splitlines()[-1]
    assert parse_plain(summary)[2]["compliant_pct"] == percent.rstrip("%")


def test_empty_report_says_so():
    rep = Report(command="verify", hosts=())
    assert "verify: no hosts selected" in rich_text(rep)
    assert "Failures by cause" not in rich_text(rep)


def test_interrupted_run_says_so():
    rep = report([changed("a"), HostResult("b", "", 1, Status.NOT_RUN)], interrupted=True)
    assert "INTERRUPTED: the rollout was stopped before it finished" in rich_text(rep)
    assert "INTERRUPTED" in plain_text(rep).splitlines()


DAEMON_JSON_LEFT = (
    "interrupted after daemon_json: /etc/docker/daemon.json written, docker not restarted yet; "
    "re-run to finish"
)


def interrupted_report() -> Report:
    return report(
        [
            bad("node01", DAEMON_JSON_LEFT, Status.INTERRUPTED),
            changed("node02"),
            HostResult("node03", "10.0.0.3", 1, Status.NOT_RUN, error="interrupted before start"),
        ],
        interrupted=True,
    )


def test_interrupted_hosts_are_counted_listed_and_say_the_word_once():
    rep = interrupted_report()
    text = rich_text(rep)
    assert host_rows(text)["node01"]["result"] == DAEMON_JSON_LEFT
    assert f"1 host {DAEMON_JSON_LEFT} (node01)" in text
    recap = text[text.index("Recap") :]
    assert "interrupted" in recap.splitlines()[2]
    assert rep.summary()["interrupted"] == 1 and rep.to_dict()["summary"]["interrupted"] == 1
    fields = parse_plain(next(ln for ln in plain_text(rep).splitlines() if ln.startswith("TOTAL")))
    assert fields[2]["interrupted"] == "1" and fields[2]["not_run"] == "1"
    assert rep.to_dict()["hosts"][0]["status"] == "interrupted"


def test_interrupted_runs_fit_80_columns_and_others_keep_their_recap():
    text = rich_text(interrupted_report(), width=80)
    assert max(len(line) for line in text.splitlines()) <= 80
    assert "…" not in text
    assert "engine" in text  # no host reported one: the column keeps its header's width
    plain_run = rich_text(small_report())
    assert "interrupted" not in plain_run[plain_run.index("Recap") :]


def test_host_output_is_never_markup():
    hostile = bad("[red]evil[/]", "boom [red]x[/] [bold]y [/] :smile: \x1b[31mred\nnext")
    rep = report([changed("node01"), hostile])
    buffer = io.StringIO()
    console = Console(file=buffer, width=220, color_system=None)
    render_tables(rep, console)  # unescaped, "[/]" with nothing open raises MarkupError
    out = buffer.getvalue()
    assert "[red]evil[/]" in out
    assert "boom [red]x[/] [bold]y [/] :smile: \\x1b[31mred | next" in out
    assert "\x1b" not in out
    assert "😄" not in out


def test_styles_come_only_from_fleet():
    hostile = bad("[red]evil[/]", "[bold red]x[/bold red]")
    console = Console(record=True, width=200, file=io.StringIO(), force_terminal=True)
    render_tables(report([hostile]), console)
    html = console.export_html()
    assert "[bold red]x[/bold red]" in html


def test_large_run_lists_only_hosts_that_need_attention():
    hosts = [changed(f"node{i:03d}", batch=1 + i // 20) for i in range(1, 58)]
    hosts[9] = bad("node010", NO_PACKAGE)
    hosts[30] = bad("node031", "ssh: Could not resolve hostname node031", Status.UNREACHABLE)
    hosts += [HostResult(f"node{i:03d}", "", 4, Status.NOT_RUN) for i in range(58, 61)]
    rep = report(hosts, halted=True, halt_reason="limit")
    assert len(rep.hosts) > LARGE_RUN
    text = rich_text(rep)
    listed = {m for m in re.findall(r"^[│┃] (node\d+)", text, flags=re.M)}
    assert listed == {"node010", "node031"}
    assert "55 compliant hosts (ok or changed) not listed; --verbose lists every host" in text
    assert "3 hosts not run, listed under the causes below" in text
    assert "3 hosts not run: the rollout halted first (node[058:060])" in text

    full = rich_text(rep, full=True)
    assert len(set(re.findall(r"^[│┃] (node\d+)", full, flags=re.M))) == 60
    assert "not listed" not in full


def test_small_run_lists_every_host():
    hosts = [changed(f"n{i}") for i in range(LARGE_RUN)]
    text = rich_text(report(hosts))
    assert len(re.findall(r"^[│┃] (n\d+)", text, flags=re.M)) == LARGE_RUN
    assert "not listed" not in text


def test_500_hosts_with_one_common_problem_end_in_one_screen():
    hosts = [bad(f"node{i:03d}", NO_PACKAGE) for i in range(1, 38)]
    hosts += [changed(f"node{i:03d}", batch=2 + i // 100) for i in range(38, 501)]
    text = rich_text(report(hosts), width=160)
    tail = text[text.index("Recap") :].splitlines()
    assert len(tail) < 25
    assert "37 hosts failed: No package docker-ce-19.03.11 available. (node[001:037])" in tail


# --------------------------------------------------------------------------- plain lines


def test_plain_host_line_matches_the_documented_shape():
    assert host_line(changed("node01")) == (
        "HOST node01 batch=1 status=changed engine=19.03.11 cgroup=systemd storage=overlay2 "
        "changed=packages,daemon_json duration=3.2s"
    )


def test_plain_lines_parse_back():
    text = plain_text(small_report())
    assert "\x1b" not in text
    parsed = [parse_plain(line) for line in text.splitlines()]
    assert [kind for kind, _, _ in parsed] == (
        ["HOST"] * 5 + ["BATCH"] * 3 + ["TOTAL", "CAUSE", "CAUSE", "CAUSE", "HALTED", "SUMMARY"]
    )
    hosts = {pos[0]: fields for kind, pos, fields in parsed if kind == "HOST"}
    assert list(hosts) == ["node01", "node02", "node03", "node04", "node05"]
    assert hosts["node03"] == {
        "batch": "2",
        "status": "failed",
        "engine": "-",
        "cgroup": "-",
        "storage": "-",
        "changed": "-",
        "duration": "1.0s",
        "error": NO_PACKAGE,
    }
    batches = {pos[0]: fields for kind, pos, fields in parsed if kind == "BATCH"}
    assert batches["2"] == {
        "ok": "0",
        "changed": "0",
        "failed": "1",
        "unreachable": "1",
        "skipped": "0",
        "interrupted": "0",
        "not_run": "0",
        "total": "2",
    }
    causes = [fields for kind, _, fields in parsed if kind == "CAUSE"]
    assert causes[0] == {"hosts": "1", "status": "failed", "names": "node03", "error": NO_PACKAGE}
    summary = parsed[-1][2]
    assert summary["hosts"] == "5" and summary["compliant"] == "2" and summary["halted"] == "yes"


def test_plain_values_with_quotes_and_newlines_round_trip():
    error = "dockerd: \"unable\" to \\configure\n  daemon.json: invalid character 's'"
    line = host_line(bad("node9", error))
    assert "\n" not in line
    assert parse_plain(line)[2]["error"] == one_line(error)


def test_plain_output_is_stable_and_lists_all_causes_in_full():
    names = [f"node{i:03d}" for i in range(1, 100, 2)]
    rep = report([bad(n, JOB_FAILED) for n in names] + [changed(f"ok{i}") for i in range(10)])
    first, second = plain_text(rep), plain_text(rep)
    assert first == second
    (cause,) = [line for line in first.splitlines() if line.startswith("CAUSE")]
    assert parse_plain(cause)[2]["names"].split(",") == names


def test_plain_compact_mode_omits_compliant_hosts():
    rep = report([changed("a"), changed("b"), bad("c", NO_PACKAGE)])
    lines = plain_text(rep, full=False).splitlines()
    assert [parse_plain(line)[1][0] for line in lines if line.startswith("HOST ")] == ["c"]
    assert "OMIT compliant=2" in lines


# --------------------------------------------------------------------------- files


def test_write_json_round_trips(tmp_path):
    path = tmp_path / "report.json"
    rep = small_report()
    write_json(rep, path)
    assert json.loads(path.read_text(encoding="utf-8")) == json.loads(json.dumps(rep.to_dict()))
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    assert os.listdir(tmp_path) == ["report.json"]  # no temp file left behind


def test_write_json_replaces_an_existing_report(tmp_path):
    path = tmp_path / "report.json"
    path.write_text("old")
    write_json(report([bad("né", "ünïcode ✓")]), str(path))
    assert json.loads(path.read_text(encoding="utf-8"))["hosts"][0]["error"] == "ünïcode ✓"


def test_write_json_into_a_missing_directory_is_one_clear_line(tmp_path):
    target = tmp_path / "missing" / "report.json"
    with pytest.raises(EnvironmentProblem) as caught:
        write_json(small_report(), target)
    message = str(caught.value)
    assert message.startswith(f"cannot write {target}: No such file or directory")
    assert "\n" not in message


def test_failed_hosts_file_lists_hosts_to_retry(tmp_path):
    rep = report(
        [
            changed("a"),
            bad("b", NO_PACKAGE),
            bad("c", "refused", Status.UNREACHABLE),
            bad("d", "policy", Status.SKIPPED),
            HostResult("e", "", 2, Status.NOT_RUN),
            bad("f", DAEMON_JSON_LEFT, Status.INTERRUPTED),
        ]
    )
    path = tmp_path / "retry"
    assert failed_hosts_file(rep, path) == 4
    assert path.read_text() == "b\nc\ne\nf\n"
    assert failed_hosts_file(report([changed("a")]), path) == 0
    assert path.read_text() == ""


# --------------------------------------------------------------------------- live progress


def drive(events, batches: int = 2, per_batch: int = 3, fail: str = "") -> None:
    for number in range(1, batches + 1):
        names = [f"node{(number - 1) * per_batch + i:04d}" for i in range(1, per_batch + 1)]
        events.batch_started(number, names)
        for name in names:
            events.host_started(name)
            events.step_finished(name, StepResult("packages", Status.CHANGED, 2.0, "installed"))
        counts = {"changed": 0, "failed": 0}
        for name in names:
            if name == fail:
                events.host_finished(bad(name, "x [red]y[/]\nz", batch=number))
                counts["failed"] += 1
            else:
                events.host_finished(changed(name, batch=number))
                counts["changed"] += 1
        events.batch_finished(number, counts)


def test_plain_progress_writes_one_parseable_line_per_event():
    stream = io.StringIO()
    with PlainProgress(stream) as progress:
        drive(progress, batches=1, per_batch=2, fail="node0002")
        progress.halted("1 of 2 hosts attempted failed")
        progress.message("lab: 2 hosts up")
    assert stream.getvalue().splitlines() == [
        "BEGIN batch=1 hosts=2 names=node0001,node0002",
        "START node0001",
        "STEP node0001 step=packages status=changed duration=2.0s message=installed",
        "START node0002",
        "STEP node0002 step=packages status=changed duration=2.0s message=installed",
        "DONE node0001 batch=1 status=changed duration=3.2s",
        'DONE node0002 batch=1 status=failed duration=1.0s error="x [red]y[/] | z"',
        "END batch=1 changed=1 failed=1",
        'HALT reason="1 of 2 hosts attempted failed"',
        "NOTE lab: 2 hosts up",
    ]
    for line in stream.getvalue().splitlines():
        parse_plain(line)


def test_make_progress_picks_by_terminal_and_is_safe():
    plain = make_progress(Console(file=io.StringIO()))
    assert isinstance(plain, SafeEvents)
    assert [type(t) for t in plain.targets] == [PlainProgress]
    with make_progress(Console(file=io.StringIO(), force_terminal=True)) as rich:
        assert [type(t) for t in rich.targets] == [RichProgress]
    forced = make_progress(Console(file=io.StringIO(), force_terminal=True), plain=True)
    assert [type(t) for t in forced.targets] == [PlainProgress]


def test_make_progress_writes_plain_lines_to_the_console_file():
    buffer = io.StringIO()
    with make_progress(Console(file=buffer)) as events:
        events.host_started("node1")
    assert buffer.getvalue() == "START node1\n"


def terminal() -> tuple[Console, io.StringIO]:
    buffer = io.StringIO()
    return Console(file=buffer, force_terminal=True, width=120, color_system=None), buffer


def test_rich_progress_prints_failures_escaped_and_removes_itself():
    console, buffer = terminal()
    with RichProgress(console, auto_refresh=False) as progress:
        drive(progress, fail="node0005")
        progress.halted("limit [bold]exceeded[/]")
        progress.message("note [/]")
    out = buffer.getvalue()
    assert "node0005 failed: x [red]y[/] | z" in out
    # the frame redrawn under the failure line shows the counts of that moment
    after = out[out.index("node0005 failed") :]
    assert after.split("\n")[1].startswith("5/6 hosts done, 1 failed or unreachable, 1 running")
    assert "HALTED: limit [bold]exceeded[/]" in out
    assert "note [/]" in out
    assert out.rstrip().endswith("\x1b[2K")  # transient: the bars are erased at the end


def test_rich_progress_does_not_redraw_per_event():
    console, buffer = terminal()
    with RichProgress(console, auto_refresh=False) as progress:
        drive(progress, batches=200, per_batch=5)
    # One frame when the display starts and one when it stops; 1,000 hosts add nothing.
    assert len(buffer.getvalue()) < 3000


def test_rich_progress_view_stays_small_with_many_hosts():
    console, _ = terminal()
    progress = RichProgress(console, auto_refresh=False, max_bars=6)
    drive(progress, batches=200, per_batch=5, fail="node0007")
    running = [f"late{i:03d}" for i in range(300)]
    progress.batch_started(201, running)
    for name in running:
        progress.host_started(name)
    view = Console(record=True, width=120, file=io.StringIO())
    view.print(progress.view())
    lines = view.export_text().splitlines()
    progress.close()
    assert len(lines) <= 6 + 4
    assert lines[0].startswith("1000/1300 hosts done, 1 failed or unreachable, 300 running")
    assert "195 earlier batches not shown" in lines
    assert any(line.startswith("batch 201") and "0/300" in line for line in lines)
    assert any(line == "running: late[000:299]" for line in lines)
    assert any(line.startswith("last: node1000 changed, node0999 changed") for line in lines)


def test_rich_progress_close_is_idempotent():
    console, _ = terminal()
    progress = RichProgress(console, auto_refresh=False)
    progress.batch_started(1, ["a"])
    progress.close()
    progress.close()


class Recorder:
    def __init__(self) -> None:
        self.events: list[tuple[object, ...]] = []

    def host_started(self, name: str) -> None:
        self.events.append(("host_started", name))

    def batch_finished(self, batch_no: int, counts) -> None:
        self.events.append(("batch_finished", batch_no, counts))


class Broken(Progress):
    def host_started(self, name: str) -> None:
        raise RuntimeError(f"display broke on {name}\nsecond line")


def test_safe_events_only_warn_once_and_keep_other_displays_running():
    warnings: list[str] = []
    recorder = Recorder()
    events = SafeEvents(Broken(), recorder, warn=warnings.append)
    for name in ("a", "b", "c"):
        events.host_started(name)
    events.batch_finished(1, {"ok": 3})
    events.host_finished(changed("a"))  # neither target minds an event it does not handle
    events.close()
    assert recorder.events == [
        ("host_started", "a"),
        ("host_started", "b"),
        ("host_started", "c"),
        ("batch_finished", 1, {"ok": 3}),
    ]
    assert warnings == [
        "fleet: warning: Broken.host_started failed (RuntimeError: display broke on a | "
        "second line); the rollout continues, further errors hidden"
    ]


def test_safe_events_let_ctrl_c_through():
    class Interrupting(Progress):
        def message(self, text: str) -> None:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        SafeEvents(Interrupting(), warn=lambda text: None).message("x")


def test_safe_events_warn_on_stderr_by_default(capsys):
    SafeEvents(Broken()).host_started("a")
    assert "fleet: warning: Broken.host_started failed" in capsys.readouterr().err


def test_rich_progress_counts_events_from_many_workers():
    console, buffer = terminal()
    display = RichProgress(console, refresh_per_second=50)  # the real refresh thread runs
    warnings: list[str] = []
    events = SafeEvents(display, warn=warnings.append)
    names = [f"node{i:04d}" for i in range(1000)]
    events.batch_started(1, names)

    def work(chunk: Sequence[str]) -> None:
        for name in chunk:
            events.host_started(name)
            events.host_finished(changed(name))

    threads = [threading.Thread(target=work, args=(names[i::8],)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    view = Console(record=True, width=120, file=io.StringIO())
    view.print(display.view())
    events.close()
    assert view.export_text().startswith("1000/1000 hosts done, 0 failed or unreachable, 0 running")
    assert "\x1b[?25h" in buffer.getvalue()  # the cursor is shown again after close
    assert warnings == []


def test_plan_groups_hosts_with_the_same_changes_and_shows_the_diff():
    diff = "--- /dev/null\n+++ /etc/docker/daemon.json\n@@ -0,0 +1 @@\n+{}\n"
    steps = (
        StepResult("daemon_json", Status.CHANGED, 0.1, "would write /etc/docker/daemon.json", diff),
        StepResult("service", Status.OK, 0.1, "docker active and enabled"),
    )
    hosts = tuple(
        HostResult(f"node{i:02d}", f"10.0.0.{i}", 1, Status.CHANGED, steps) for i in range(1, 4)
    )
    report = Report(command="plan", hosts=hosts, batches=1)
    from fleet.report import plain_lines

    lines = plain_lines(report)
    assert "PLAN node[01:03]: would write /etc/docker/daemon.json" in lines
    assert "DIFF +++ /etc/docker/daemon.json" in lines
    console = Console(record=True, width=120)
    render_tables(report, console)
    assert "node[01:03]: would write /etc/docker/daemon.json" in console.export_text()
    assert report.to_dict()["hosts"][0]["steps"][0]["diff"] == diff
