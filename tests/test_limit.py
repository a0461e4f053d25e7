"""--limit selection against real inventory files (the six-host example and small ones)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from fleet.errors import InputError
from fleet.inventory import Inventory, load_inventory, select_hosts

EXAMPLE = Path(__file__).resolve().parent.parent / "inventories" / "example.yml"
ALL = ["node01", "node02", "node03", "node04", "gpu01", "gpu02"]


@pytest.fixture(scope="module")
def inventory() -> Inventory:
    return load_inventory(EXAMPLE)


def selected(inventory: Inventory, limit: str | None) -> list[str]:
    return [host.name for host in select_hosts(inventory, limit)]


def limit_error(inventory: Inventory, limit: str) -> str:
    with pytest.raises(InputError) as caught:
        select_hosts(inventory, limit)
    return str(caught.value)


@pytest.mark.parametrize(
    ("limit", "expected"),
    [
        (None, ALL),
        ("", ALL),
        ("  ", ALL),
        ("all", ALL),
        ("*", ALL),
        ("canary", ["node01"]),
        ("gpu02", ["gpu02"]),
        ("workers", ["node02", "node03", "node04", "gpu01", "gpu02"]),
        ("gpu02,node01", ["node01", "gpu02"]),  # inventory order, not pattern order
        ("gpu02:node01", ["node01", "gpu02"]),
        (" canary , gpu ", ["node01", "gpu01", "gpu02"]),
        ("node0*", ["node01", "node02", "node03", "node04"]),
        ("*01", ["node01", "gpu01"]),
        ("gpu0?", ["gpu01", "gpu02"]),
        ("node0[13]", ["node01", "node03"]),
        ("node[02:03]", ["node02", "node03"]),
        ("node[03:09]", ["node03", "node04"]),  # a range may name hosts that do not exist
        ("node[01:04:3],gpu[01:02]", ["node01", "node04", "gpu01", "gpu02"]),
        ("g*", ["gpu01", "gpu02"]),  # globs match group names too
        ("workers:!gpu", ["node02", "node03", "node04"]),
        ("workers,!gpu01", ["node02", "node03", "node04", "gpu02"]),
        ("workers:&gpu", ["gpu01", "gpu02"]),
        ("!canary", ["node02", "node03", "node04", "gpu01", "gpu02"]),
        ("&gpu", ["gpu01", "gpu02"]),
        ("!node0*:!gpu02", ["gpu01"]),
        ("all:!workers", ["node01"]),
        ("~node0[12]", ["node01", "node02"]),
        ("~(gpu|canary)$", ["node01", "gpu01", "gpu02"]),
        ("canary:workers:&gpu:!gpu01", ["gpu02"]),
        (",,canary,,", ["node01"]),
    ],
)
def test_selection(inventory: Inventory, limit: str | None, expected: list[str]) -> None:
    assert selected(inventory, limit) == expected


def test_returns_the_inventorys_host_objects(inventory: Inventory) -> None:
    assert select_hosts(inventory, "gpu01")[0] is inventory.host("gpu01")
    assert select_hosts(inventory, None) == inventory.hosts


def test_unknown_name_is_named_with_suggestion_and_groups(inventory: Inventory) -> None:
    assert limit_error(inventory, "wokers") == (
        "--limit: no host or group matches 'wokers' (did you mean 'workers'?); "
        "known groups: canary, gpu, workers"
    )
    assert limit_error(inventory, "zzz") == (
        "--limit: no host or group matches 'zzz'; known groups: canary, gpu, workers"
    )


@pytest.mark.parametrize(
    ("limit", "problem"),
    [
        ("canary:!nod01", "no host or group matches 'nod01' (did you mean 'node01'?)"),
        ("canary:&gpus", "no host or group matches 'gpus'"),
        ("db*", "no host or group matches 'db*'"),
        ("node[05:09]", "no host or group matches 'node[05:09]'"),
        ("~^db", "no host or group matches '~^db'"),
        ("canary:&gpu", "--limit 'canary:&gpu' selects no hosts"),
        ("all:!all", "selects no hosts"),
        ("!", "'!' must be followed by a host, group or pattern"),
        ("canary,&", "'&' must be followed"),
        ("node[3:1]", "'[3:1]' counts backwards"),
        ("~(", "'~(' is not a regular expression"),
    ],
)
def test_limit_errors(inventory: Inventory, limit: str, problem: str) -> None:
    message = limit_error(inventory, limit)
    assert message.startswith("--limit")
    assert problem in message


def test_at_file_with_comments_and_blank_lines(inventory: Inventory, tmp_path: Path) -> None:
    failed = tmp_path / "failed-hosts"
    failed.write_text("# failed in the last run\ngpu02\n\nnode03   # disk full\n  canary\n")
    assert selected(inventory, f"@{failed}") == ["node01", "node03", "gpu02"]
    assert selected(inventory, f"workers:!@{failed}") == ["node02", "node04", "gpu01"]
    assert selected(inventory, f"&@{failed},gpu") == ["gpu02"]


def test_at_file_path_may_contain_colons(inventory: Inventory, tmp_path: Path) -> None:
    failed = tmp_path / "failed-2024-05-01T10:00.txt"
    failed.write_text("node02\n")
    assert selected(inventory, f"@{failed},gpu01") == ["node02", "gpu01"]


def test_at_file_relative_to_the_working_directory(
    inventory: Inventory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "retry").write_text("node04\n")
    monkeypatch.chdir(tmp_path)
    assert selected(inventory, "@retry") == ["node04"]


def test_empty_at_file(inventory: Inventory, tmp_path: Path) -> None:
    empty = tmp_path / "none-failed"
    empty.write_text("# no failures\n")
    assert selected(inventory, f"all:!@{empty}") == ALL
    assert "selects no hosts" in limit_error(inventory, f"@{empty}")


def test_at_file_errors_name_file_and_line(inventory: Inventory, tmp_path: Path) -> None:
    stale = tmp_path / "stale"
    stale.write_text("node01\nnode99\n")
    assert limit_error(inventory, f"@{stale}") == (
        f"--limit: {stale}:2: no host or group matches 'node99' (did you mean 'node04'?); "
        "known groups: canary, gpu, workers"
    )
    missing = tmp_path / "missing"
    assert limit_error(inventory, f"@{missing}") == (
        f"--limit: cannot read @{missing} (No such file or directory); check the path"
    )


def test_group_wins_over_a_host_of_the_same_name(tmp_path: Path) -> None:
    path = tmp_path / "inv.yml"
    path.write_text(
        textwrap.dedent(
            """
            groups:
              db: {hosts: [db01, db02]}
            hosts:
              db: {}
              db01: {}
              db02: {}
              solo: {}
            """
        )
    )
    inventory = load_inventory(path)
    assert selected(inventory, "db") == ["db01", "db02"]
    assert selected(inventory, "db*") == ["db", "db01", "db02"]
    assert selected(inventory, "ungrouped") == ["db", "solo"]


def test_known_groups_list_is_cut_short(tmp_path: Path) -> None:
    groups = "".join(f"  g{n:02d}: {{hosts: [h]}}\n" for n in range(30))
    path = tmp_path / "inv.yml"
    path.write_text(f"groups:\n{groups}hosts:\n  h: {{}}\n")
    message = limit_error(load_inventory(path), "nothing")
    assert message.endswith("g18, g19, ...")
    assert "g20" not in message
