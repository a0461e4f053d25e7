"""Lab spec parsing: defaults, overrides, groups, and one-line file:line errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from fleet.errors import InputError
from fleet.lab.spec import (
    HOST_DEFAULTS,
    builtin_spec_path,
    host_names,
    load_spec,
    parse_spec,
    resolve_hosts,
)

REPO = Path(__file__).resolve().parents[2]


def error_of(text: str, count: int | None = None) -> str:
    with pytest.raises(InputError) as caught:
        spec = parse_spec(text, "lab.yml")
        resolve_hosts(spec, count or spec.hosts or 3)
    return str(caught.value)


def test_empty_spec_gives_clean_centos7_hosts() -> None:
    hosts = resolve_hosts(parse_spec("", "lab.yml"), 3)
    assert [h["name"] for h in hosts] == ["node01", "node02", "node03"]
    assert all(h["os"] == "centos7" and h["user"] == "centos" for h in hosts)
    assert all(h["sudo"] == "nopasswd" and h["engine"] is None and h["faults"] == {} for h in hosts)
    assert set(hosts[0]) == {"name", *HOST_DEFAULTS}


def test_defaults_then_override_merge_nested_mappings() -> None:
    spec = parse_spec(
        """
hosts: 4
name_prefix: web
defaults:
  os: rocky9
  faults: {yum_lock: 5}
host:
  web02:
    faults: {repo_down: true}
    engine: {version: 20.10.7}
  web03:
    faults: null
""",
        "lab.yml",
    )
    hosts = {h["name"]: h for h in resolve_hosts(spec, spec.hosts)}
    assert hosts["web01"]["faults"] == {"yum_lock": 5}
    assert hosts["web02"]["faults"] == {"yum_lock": 5, "repo_down": True}
    assert hosts["web02"]["engine"] == {"version": "20.10.7", "running": True}
    assert hosts["web03"]["faults"] == {}
    assert all(h["os"] == "rocky9" for h in hosts.values())


def test_daemon_json_override_replaces_instead_of_merging() -> None:
    spec = parse_spec(
        """
defaults: {daemon_json: {log-level: warn, debug: true}}
hosts_override:
  node02: {daemon_json: {exec-opts: [native.cgroupdriver=systemd]}}
""",
        "lab.yml",
    )
    hosts = resolve_hosts(spec, 2)
    assert hosts[0]["daemon_json"] == {"log-level": "warn", "debug": True}
    assert hosts[1]["daemon_json"] == {"exec-opts": ["native.cgroupdriver=systemd"]}


def test_host_names_widen_for_large_labs() -> None:
    assert host_names("node", 12)[-1] == "node12"
    assert host_names("node", 500)[:2] == ["node001", "node002"]


def test_unknown_key_names_line_and_suggests() -> None:
    message = error_of("hosts: 2\ndefaults:\n  os: centos7\n  sudo_pasword: x\n")
    assert message == (
        "lab.yml:4: unknown key 'sudo_pasword' in defaults; did you mean 'sudo_password'?"
    )


def test_unknown_fault_is_rejected_with_suggestion() -> None:
    message = error_of("host:\n  node01:\n    faults: {unreachible: refused}\n")
    assert message.startswith("lab.yml:3: unknown key 'unreachible'")
    assert "did you mean 'unreachable'?" in message


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("hosts: 0\n", "lab.yml:1: hosts must be a whole number from 1 to"),
        ("hosts: many\n", "lab.yml:1: hosts must be a whole number"),
        ("sshd: dropbear\n", "lab.yml:1: sshd must be one of paramiko, openssh"),
        ("defaults:\n  os: centos6\n", "lab.yml:2: defaults: os must be one of centos7"),
        ("defaults:\n  os: rocky8\n", "did you mean 'rocky9'?"),
        ("defaults:\n  delay_ms: -5\n", "lab.yml:2: defaults: delay_ms must be whole milliseconds"),
        ("defaults:\n  engine: {running: true}\n", "lab.yml:2: defaults: engine needs a version"),
        ("defaults:\n  var_lib_docker: {ftype: 2}\n", "var_lib_docker.ftype must be 0 or 1"),
        ("defaults:\n  faults: {unreachable: maybe}\n", "faults.unreachable must be one of"),
        ("defaults:\n  faults: {missing_packages: 3}\n", "list of package names"),
        ("defaults: [1, 2]\n", "lab.yml:1: defaults must be a mapping"),
        ("hosts: 2\nhosts: 3\n", "lab.yml:2: duplicate key 'hosts'"),
        ("hosts: [\n", "lab.yml:2:"),
        ("host:\n  node01: {}\nhosts_override:\n  node02: {}\n", "keep one of them"),
    ],
)
def test_bad_values_are_one_line_errors(text: str, expected: str) -> None:
    message = error_of(text)
    assert expected in message
    assert "\n" not in message


def test_override_of_a_host_outside_the_lab_names_its_line() -> None:
    message = error_of("hosts: 3\nhost:\n  node1: {os: rocky9}\n")
    assert message.startswith("lab.yml:3: host node1 is not in this lab of 3 hosts")
    assert "did you mean 'node01'?" in message


def test_group_members_must_exist() -> None:
    message = error_of("hosts: 2\ngroups:\n  web: [node01, node07]\n")
    assert message.startswith("lab.yml:3: group web names unknown host node07")


def test_sudo_password_is_never_quoted_in_errors() -> None:
    message = error_of("defaults:\n  sudo_password: [hunter2]\n")
    assert "hunter2" not in message


def test_demo_spec_describes_the_promised_fleet() -> None:
    spec = load_spec(builtin_spec_path("demo"))
    hosts = resolve_hosts(spec, spec.hosts)
    assert 10 <= len(hosts) <= 14
    assert sum(h["os"] == "centos7" and not h["faults"] for h in hosts) >= 8
    assert any(h["os"] == "rocky9" for h in hosts)
    assert any(isinstance(h["daemon_json"], dict) for h in hosts)
    assert any(h["kubelet"] == "running" and h["engine"] for h in hosts)
    assert any("docker-ce-19.03.11" in h["faults"].get("missing_packages", []) for h in hosts)
    assert any(h["faults"].get("unreachable") for h in hosts)


def test_missing_spec_file_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"nope\.yml: cannot read lab spec"):
        load_spec(tmp_path / "nope.yml")


def test_cli_rejects_a_bad_spec_with_one_line_and_exit_2(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yml"
    bad.write_text("hosts: 2\nhost:\n  node02:\n    faults: {auth: refuse}\n")
    done = subprocess.run(
        [sys.executable, "-m", "fleet.lab.cli", "up", "--spec", str(bad), "--dir", str(tmp_path)],
        capture_output=True,
        text=True,
        cwd=REPO,
        check=False,
    )
    assert done.returncode == 2
    assert done.stdout == ""
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith(f"fleet: {bad}:4: host node02: faults.auth must be one of refused")
    assert "did you mean 'refused'?" in lines[0]
