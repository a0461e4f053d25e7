"""daemon.json: parse, merge, engine rules, render, diff and dockerd's flag-conflict check.

Expected dockerd wording comes from /work/shared/notes/docker-centos-facts.md
(§3.2 override_kernel_check, §3.3 flag conflicts, §3.4 broken JSON) and from
moby ``daemon/config/config.go`` (``findConfigurationConflicts``).
"""

from __future__ import annotations

import copy
import json
import subprocess
from pathlib import Path
from types import MappingProxyType
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fleet.daemonjson import (
    DaemonJsonError,
    adapt_for_engine,
    conflict_error,
    engine_version_tuple,
    flag_conflicts,
    merge,
    parse,
    parse_execstart,
    render,
    unified_diff,
)
from fleet.settings import REFERENCE_DAEMON_JSON

DEFAULT_EXECSTART = (
    "ExecStart=/usr/bin/dockerd -H fd:// --containerd=/run/containerd/containerd.sock"
)
# facts note §3.1, the Kubernetes docs file, exactly as fleet renders it.
REFERENCE_TEXT = """{
  "exec-opts": [
    "native.cgroupdriver=systemd"
  ],
  "log-driver": "json-file",
  "log-opts": {
    "max-size": "100m"
  },
  "storage-driver": "overlay2",
  "storage-opts": [
    "overlay2.override_kernel_check=true"
  ]
}
"""


# --- parse -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{"log-level": "warn"}', {"log-level": "warn"}),
        ("", {}),
        ("  \n\t", {}),
        ('\ufeff{"debug": true}', {"debug": True}),
        (REFERENCE_TEXT, dict(REFERENCE_DAEMON_JSON)),
    ],
)
def test_parse_reads_objects(text: str, expected: dict[str, Any]) -> None:
    assert parse(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        # trailing comma (facts note §3.4, "invalid character '}' looking for ...")
        (
            '{\n  "debug": true,\n}',
            "/etc/docker/daemon.json: line 3 column 1: invalid JSON "
            "(Expecting property name enclosed in double quotes)",
        ),
        # missing comma (§3.4, "invalid character '\"' after object key:value pair")
        (
            '{\n  "debug": true\n  "log-level": "warn"\n}',
            "/etc/docker/daemon.json: line 3 column 3: invalid JSON (Expecting ',' delimiter)",
        ),
        # HTML downloaded instead of JSON (§3.4)
        ("<html>", "/etc/docker/daemon.json: line 1 column 1: invalid JSON (Expecting value)"),
        # a comment (§3.4 "invalid character '#' ...")
        ('# fleet\n{"debug": true}', "/etc/docker/daemon.json: line 1 column 1: invalid JSON"),
        ('["debug"]', "/etc/docker/daemon.json: not a JSON object (found an array)"),
        ('"debug"', "/etc/docker/daemon.json: not a JSON object (found a string)"),
        ("null", "/etc/docker/daemon.json: not a JSON object (found null)"),
        (
            '{"debug": true, "debug": false}',
            '/etc/docker/daemon.json: key "debug" appears twice; keep one of them',
        ),
        ('{"mtu": NaN}', "/etc/docker/daemon.json: NaN is not valid JSON"),
    ],
)
def test_parse_refuses_broken_files_naming_file_and_problem(text: str, message: str) -> None:
    with pytest.raises(DaemonJsonError) as caught:
        parse(text)
    assert str(caught.value).startswith(message)
    assert "\n" not in str(caught.value)


def test_parse_error_names_the_given_path_and_is_a_value_error() -> None:
    with pytest.raises(ValueError, match=r"^/srv/node7/daemon\.json: line 1 column 2: "):
        parse("{,}", path="/srv/node7/daemon.json")


def test_parse_error_never_quotes_the_file_content() -> None:
    with pytest.raises(DaemonJsonError) as caught:
        parse('{"http-proxy": "http://admin:s3cret@proxy:3128",}')
    assert "s3cret" not in str(caught.value)


# --- merge -----------------------------------------------------------------------------------

MERGES = [
    pytest.param(
        {"exec-opts": ["native.cgroupdriver=cgroupfs", "foo=bar"]},
        {"exec-opts": ["native.cgroupdriver=systemd"]},
        {"exec-opts": ["native.cgroupdriver=systemd", "foo=bar"]},
        id="exec-opts-replaced-by-name",
    ),
    pytest.param(
        {"exec-opts": ["Native.CgroupDriver = cgroupfs", "native.cgroupdriver=cgroupfs"]},
        {"exec-opts": ["native.cgroupdriver=systemd"]},
        {"exec-opts": ["native.cgroupdriver=systemd"]},
        id="exec-opts-names-trimmed-case-folded-no-duplicates",
    ),
    pytest.param(
        {"storage-opts": ["overlay2.size=20G", "overlay2.size=20G"]},
        {"storage-opts": ["overlay2.override_kernel_check=true"]},
        {"storage-opts": ["overlay2.size=20G", "overlay2.override_kernel_check=true"]},
        id="storage-opts-kept-and-added",
    ),
    pytest.param(
        {"log-opts": {"max-file": "3", "max-size": "10m"}},
        {"log-opts": {"max-size": "100m"}},
        {"log-opts": {"max-file": "3", "max-size": "100m"}},
        id="log-opts-key-wise",
    ),
    pytest.param(
        {"log-driver": "journald", "debug": True},
        {"log-driver": "json-file"},
        {"log-driver": "json-file", "debug": True},
        id="scalar-required-wins",
    ),
    pytest.param(
        {"exec-opts": "native.cgroupdriver=cgroupfs"},
        {"exec-opts": ["native.cgroupdriver=systemd"]},
        {"exec-opts": ["native.cgroupdriver=systemd"]},
        id="wrong-type-replaced-key-kept",
    ),
    pytest.param(
        {"insecure-registries": ["reg.local:5000"]},
        {"insecure-registries": ["mirror.local:5000", "reg.local:5000"]},
        {"insecure-registries": ["reg.local:5000", "mirror.local:5000"]},
        id="plain-list-union",
    ),
    pytest.param(
        {"exec-opts": ["native.cgroupdriver=cgroupfs"]},
        {"exec-opts": ["native.cgroupdriver=cgroupfs", "native.cgroupdriver=systemd"]},
        {"exec-opts": ["native.cgroupdriver=systemd"]},
        id="required-last-item-of-a-name-wins",
    ),
]


@pytest.mark.parametrize(("existing", "required", "expected"), MERGES)
def test_merge(existing: dict[str, Any], required: dict[str, Any], expected: Any) -> None:
    assert merge(existing, required) == expected


def test_merge_keeps_owner_order_then_required_order() -> None:
    # facts note §1.1: the daemon.json used on that host, then the Kubernetes reference.
    owner = {"registry-mirrors": ["https://1mbc3b4s.mirror.aliyuncs.com/"]}
    owner["exec-opts"] = ["native.cgroupdriver=systemd"]
    merged = merge(owner, REFERENCE_DAEMON_JSON)
    assert list(merged) == [
        "registry-mirrors",
        "exec-opts",
        "log-driver",
        "log-opts",
        "storage-driver",
        "storage-opts",
    ]
    assert merged["registry-mirrors"] == ["https://1mbc3b4s.mirror.aliyuncs.com/"]


def test_merge_into_nothing_is_the_required_file() -> None:
    assert render(merge({}, REFERENCE_DAEMON_JSON)) == REFERENCE_TEXT


def test_merge_leaves_inputs_alone_and_shares_no_structure() -> None:
    owner = {"log-opts": {"max-file": "3"}, "exec-opts": ["a=1"]}
    required = {"log-opts": {"max-size": "100m"}, "exec-opts": ["b=2"], "labels": ["x"]}
    before = copy.deepcopy((owner, required))
    merged = merge(owner, required)
    merged["log-opts"]["max-file"] = "9"
    merged["exec-opts"].append("c=3")
    merged["labels"].append("y")
    assert (owner, required) == before


def test_merge_accepts_read_only_mappings_and_tuples() -> None:
    required = MappingProxyType({"exec-opts": ("native.cgroupdriver=systemd",)})
    owner = MappingProxyType({"log-opts": MappingProxyType({"max-file": "3"})})
    merged = merge(owner, required)
    assert merged == {"log-opts": {"max-file": "3"}, "exec-opts": ["native.cgroupdriver=systemd"]}
    assert json.loads(render(merged)) == merged


# Property tests: JSON-like daemon.json values, with keys drawn so that collisions happen.
KEYS = st.sampled_from(["exec-opts", "storage-opts", "log-opts", "log-driver", "labels", "debug"])
OPTION = st.builds(
    lambda name, value: f"{name}={value}",
    st.sampled_from(["native.cgroupdriver", "Native.CgroupDriver", "overlay2.size", "foo"]),
    st.sampled_from(["systemd", "cgroupfs", "20G", "bar"]),
)
SCALARS = st.none() | st.booleans() | st.integers(-5, 5) | st.text(max_size=5) | OPTION
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(KEYS | st.text(max_size=3), inner),
    max_leaves=12,
)
CONFIGS = st.dictionaries(KEYS | st.text(max_size=6), VALUES, max_size=6)


def _key_paths(cfg: Any, prefix: tuple[str, ...] = ()) -> set[tuple[str, ...]]:
    if not isinstance(cfg, dict):
        return set()
    paths = set()
    for key, value in cfg.items():
        paths.add((*prefix, key))
        paths |= _key_paths(value, (*prefix, key))
    return paths


def _survives(path: tuple[str, ...], owner: dict[str, Any], required: dict[str, Any]) -> bool:
    """An owner's nested key survives unless required replaces a parent with a non-object."""
    node = required
    for key in path[:-1]:
        if not isinstance(node, dict) or key not in node:
            return True
        node = node[key]
        if not isinstance(node, dict):
            return False
    return True


@settings(max_examples=300)
@given(CONFIGS, CONFIGS)
def test_merge_never_drops_an_owner_key(owner: dict[str, Any], required: dict[str, Any]) -> None:
    merged = merge(owner, required)
    assert set(owner) <= set(merged)
    kept = {p for p in _key_paths(owner) if _survives(p, owner, required)}
    assert kept <= _key_paths(merged)


@settings(max_examples=300)
@given(CONFIGS, CONFIGS)
def test_merge_is_idempotent(owner: dict[str, Any], required: dict[str, Any]) -> None:
    once = merge(owner, required)
    assert merge(once, required) == once


@settings(max_examples=300)
@given(CONFIGS, CONFIGS)
def test_merge_result_holds_every_required_item(
    owner: dict[str, Any], required: dict[str, Any]
) -> None:
    merged = merge(owner, required)
    for key, value in required.items():
        if isinstance(value, list):
            if key in {"exec-opts", "storage-opts"}:
                value = list({_name(item): item for item in value}.values())
            assert all(item in merged[key] for item in value)
        elif not isinstance(value, dict):
            assert merged[key] == value


def _name(item: Any) -> str:
    return item.partition("=")[0].strip().lower() if isinstance(item, str) else repr(item)


# --- engine rules ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("19.03.11", (19, 3, 11)),
        ("20.10.24", (20, 10, 24)),
        ("24.0.7", (24, 0, 7)),
        ("26.1.4", (26, 1, 4)),
        ("3:19.03.11-3.el7", (19, 3, 11)),  # rpm EVR (facts note §4.3)
        ("1:19.03.11-3.el7", (19, 3, 11)),
        ("5:19.03.11~3-0~ubuntu-focal", (19, 3, 11)),  # deb (facts note §7)
        ("18.06.1-ce", (18, 6, 1)),
        ("17.03.0.ce", (17, 3, 0)),
        ("v24.0.7", (24, 0, 7)),
        ("24", (24,)),
        (" 27.5.1 ", (27, 5, 1)),
        ("", None),
        ("latest", None),
        ("docker-ce-19.03.11-3.el7.x86_64", None),
        (None, None),
    ],
)
def test_engine_version_tuple(text: str | None, expected: tuple[int, ...] | None) -> None:
    assert engine_version_tuple(text) == expected


KERNEL_CHECK_ERROR = (
    "failed to start daemon: error initializing graphdriver: overlay2: "
    "unknown option overlay2.override_kernel_check: overlay2"
)


@pytest.mark.parametrize("version", ["19.03.11", "20.10.24", "23.0.6", "3:19.03.11-3.el7", None])
def test_adapt_keeps_override_kernel_check_before_24(version: str | None) -> None:
    assert adapt_for_engine(REFERENCE_DAEMON_JSON, version) == (dict(REFERENCE_DAEMON_JSON), [])


@pytest.mark.parametrize(
    ("version", "engine"),
    [
        ("24.0.0", "24.0.0"),
        ("24.0.7", "24.0.7"),
        ("26.1.4", "26.1.4"),
        ("3:26.1.4-1.el8", "26.1.4"),
        ("29.1.0", "29.1.0"),
    ],
)
def test_adapt_drops_override_kernel_check_from_24(version: str, engine: str) -> None:
    adapted, notes = adapt_for_engine(REFERENCE_DAEMON_JSON, version)
    assert "storage-opts" not in adapted  # emptied: the key goes too
    assert adapted == {k: v for k, v in REFERENCE_DAEMON_JSON.items() if k != "storage-opts"}
    assert notes == [
        f"removed storage-opts overlay2.override_kernel_check=true: Docker Engine {engine} "
        f"refuses it ({KERNEL_CHECK_ERROR})"
    ]


def test_adapt_keeps_other_storage_opts_and_leaves_input_alone() -> None:
    required = {"storage-opts": ["overlay2.size=20G", "Overlay2.Override_Kernel_Check=1"]}
    before = copy.deepcopy(required)
    adapted, notes = adapt_for_engine(required, "24.0.7")
    assert adapted == {"storage-opts": ["overlay2.size=20G"]}
    assert len(notes) == 1
    assert required == before


def test_adapt_without_storage_opts_changes_nothing() -> None:
    assert adapt_for_engine({"exec-opts": ["a=b"]}, "26.1.4") == ({"exec-opts": ["a=b"]}, [])


# --- render and diff -------------------------------------------------------------------------


def test_render_reference_file_bytes() -> None:
    assert render(REFERENCE_DAEMON_JSON) == REFERENCE_TEXT


@pytest.mark.parametrize(
    ("cfg", "text"),
    [
        ({}, "{}\n"),
        ({"labels": ["zone=süd"]}, '{\n  "labels": [\n    "zone=süd"\n  ]\n}\n'),
        ({"b": 1, "a": 2}, '{\n  "b": 1,\n  "a": 2\n}\n'),  # order kept, not sorted
    ],
)
def test_render_layout(cfg: dict[str, Any], text: str) -> None:
    assert render(cfg) == text


@settings(max_examples=300)
@given(CONFIGS)
def test_render_is_stable(cfg: dict[str, Any]) -> None:
    text = render(cfg)
    assert text.endswith("\n")
    assert render(copy.deepcopy(cfg)) == text
    assert render(parse(text)) == text


def test_unified_diff_equal_is_empty() -> None:
    assert unified_diff(REFERENCE_TEXT, REFERENCE_TEXT) == ""


@pytest.mark.parametrize("missing", [None, ""])
def test_unified_diff_from_nothing(missing: str | None) -> None:
    diff = unified_diff(missing, '{\n  "debug": true\n}\n')
    assert diff == (
        '--- /dev/null\n+++ /etc/docker/daemon.json\n@@ -0,0 +1,3 @@\n+{\n+  "debug": true\n+}\n'
    )


def test_unified_diff_shows_the_replaced_option() -> None:
    old = render({"exec-opts": ["native.cgroupdriver=cgroupfs"], "debug": True})
    new = render(merge(parse(old), {"exec-opts": ["native.cgroupdriver=systemd"]}))
    diff = unified_diff(old, new, path="/etc/docker/daemon.json")
    assert diff.startswith("--- /etc/docker/daemon.json\n+++ /etc/docker/daemon.json\n")
    changed = [line for line in diff.splitlines()[2:] if line[:1] in "+-"]
    assert changed == [
        '-    "native.cgroupdriver=cgroupfs"',
        '+    "native.cgroupdriver=systemd"',
    ]


PATCH_CASES = [
    ('{"log-level":"warn"}', render(merge({"log-level": "warn"}, REFERENCE_DAEMON_JSON))),
    (REFERENCE_TEXT, render(adapt_for_engine(REFERENCE_DAEMON_JSON, "24.0.7")[0])),
    (None, REFERENCE_TEXT),
    ('{\n  "debug": true\n}', '{\n  "debug": false\n}'),  # no newline at the end on both sides
]


@pytest.mark.parametrize(("old", "new"), PATCH_CASES)
def test_unified_diff_applies_with_gnu_patch(tmp_path: Path, old: str | None, new: str) -> None:
    target = tmp_path / "daemon.json"
    if old is not None:
        target.write_text(old)
    diff = unified_diff(old, new)
    subprocess.run(
        ["patch", "--quiet", "--force", str(target)],
        input=diff,
        text=True,
        check=True,
        capture_output=True,
    )
    assert target.read_text() == new


# --- dockerd flags vs daemon.json ------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "argv"),
    [
        (
            DEFAULT_EXECSTART,
            ["/usr/bin/dockerd", "-H", "fd://", "--containerd=/run/containerd/containerd.sock"],
        ),
        ("/usr/bin/dockerd -H fd://", ["/usr/bin/dockerd", "-H", "fd://"]),
        ("ExecStart=", []),
        ("ExecStart = ", []),
        (
            "ExecStart=-/usr/bin/dockerd --exec-opt native.cgroupdriver=cgroupfs",
            ["/usr/bin/dockerd", "--exec-opt", "native.cgroupdriver=cgroupfs"],
        ),
        (
            'ExecStart=/usr/bin/dockerd --label "rack=a 1"',
            ["/usr/bin/dockerd", "--label", "rack=a 1"],
        ),
        (
            "ExecStart=/usr/bin/dockerd \\\n  -H fd:// \\\n  --log-driver journald",
            ["/usr/bin/dockerd", "-H", "fd://", "--log-driver", "journald"],
        ),
        ('ExecStart=/usr/bin/dockerd --label "open', ["/usr/bin/dockerd", "--label", '"open']),
    ],
)
def test_parse_execstart(line: str, argv: list[str]) -> None:
    assert parse_execstart(line) == argv


CONFLICTS = [
    # facts note §3.3, idx:20620551315 (verbatim conflict text)
    pytest.param(
        {"hosts": ["tcp://0.0.0.0:2376", "unix:///var/run/docker.sock"]},
        DEFAULT_EXECSTART,
        [
            "hosts: (from flag: [fd://], from file: [tcp://0.0.0.0:2376 unix:///var/run/docker.sock])"
        ],
        id="hosts-note",
    ),
    # facts note §3.3, Docker docs troubleshooting (idx:12035870807)
    pytest.param(
        {"hosts": ["tcp://127.0.0.1:2376"]},
        "ExecStart=/usr/bin/dockerd -H unix:///var/run/docker.sock",
        ["hosts: (from flag: [unix:///var/run/docker.sock], from file: [tcp://127.0.0.1:2376])"],
        id="hosts-docs",
    ),
    # facts note §3.3, idx:71387882809
    pytest.param(
        {"log-driver": "json-file"},
        "ExecStart=/usr/bin/dockerd --log-driver=journald",
        ["log-driver: (from flag: journald, from file: json-file)"],
        id="log-driver",
    ),
    pytest.param(
        {"data-root": "/mnt/docker"},
        "ExecStart=/usr/bin/dockerd --data-root /tmp/rl/data",
        ["data-root: (from flag: /tmp/rl/data, from file: /mnt/docker)"],
        id="data-root",
    ),
    pytest.param(
        {"data-root": "/mnt/docker"},
        "ExecStart=/usr/bin/dockerd -g /var/lib/docker2",
        ["data-root: (from flag: /var/lib/docker2, from file: /mnt/docker)"],
        id="graph-short",
    ),
    pytest.param(
        {"exec-opts": ["native.cgroupdriver=systemd"]},
        "ExecStart=/usr/bin/dockerd -H fd:// --exec-opt native.cgroupdriver=cgroupfs",
        [
            "exec-opts: (from flag: [native.cgroupdriver=cgroupfs], "
            "from file: [native.cgroupdriver=systemd])"
        ],
        id="exec-opts",
    ),
    pytest.param(
        {"storage-driver": "overlay2", "storage-opts": ["overlay2.size=20G"]},
        "/usr/bin/dockerd -s devicemapper --storage-opt dm.basesize=20G --storage-opt=dm.fs=xfs",
        [
            "storage-driver: (from flag: devicemapper, from file: overlay2)",
            "storage-opts: (from flag: [dm.basesize=20G dm.fs=xfs], from file: [overlay2.size=20G])",
        ],
        id="storage",
    ),
    pytest.param(
        {"log-opts": {"max-size": "100m", "max-file": 3}},
        "/usr/bin/dockerd --log-opt max-size=10m --log-opt labels=a",
        [
            "log-opts: (from flag: map[labels:a max-size:10m], from file: map[max-file:3 max-size:100m])"
        ],
        id="log-opts-maps",
    ),
    pytest.param(
        {"cgroup-parent": "/docker", "live-restore": True},
        "/usr/bin/dockerd --cgroup-parent=/fleet --live-restore",
        [
            "cgroup-parent: (from flag: /fleet, from file: /docker)",
            "live-restore: (from flag: true, from file: true)",
        ],
        id="cgroup-parent-live-restore",
    ),
    pytest.param(
        {"live-restore": False},
        "/usr/bin/dockerd --live-restore=0",
        ["live-restore: (from flag: false, from file: false)"],
        id="bool-value",
    ),
    pytest.param(
        dict(REFERENCE_DAEMON_JSON),
        DEFAULT_EXECSTART,
        [],
        id="reference-file-with-the-stock-unit",
    ),
    pytest.param(
        {"containerd": "/run/containerd/containerd.sock"},
        DEFAULT_EXECSTART,
        [
            "containerd: (from flag: /run/containerd/containerd.sock, "
            "from file: /run/containerd/containerd.sock)"
        ],
        id="containerd",
    ),
]


@pytest.mark.parametrize(("cfg", "execstart", "expected"), CONFLICTS)
def test_flag_conflicts(cfg: dict[str, Any], execstart: str, expected: list[str]) -> None:
    argv = parse_execstart(execstart)
    assert flag_conflicts(cfg, argv) == expected
    assert flag_conflicts(cfg, argv[1:]) == expected  # without the program name too


def test_conflicts_come_in_dockerd_order_sorted_by_flag_name() -> None:
    cfg = {"log-driver": "json-file", "hosts": ["fd://"], "exec-opts": ["a=b"]}
    argv = ["--log-driver", "journald", "-H", "fd://", "--exec-opt", "a=c"]
    assert [c.partition(":")[0] for c in flag_conflicts(cfg, argv)] == [
        "exec-opts",  # exec-opt
        "hosts",  # host
        "log-driver",  # log-driver
    ]


@pytest.mark.parametrize(
    "argv",
    [
        ["--host=fd://"],
        ["-Hfd://"],
        ["-H=fd://"],
        ["-H", "fd://"],
        ["--userns-remap", "default", "-H", "fd://"],  # an unknown flag with a value
        ["--some-new-bool", "-H", "fd://"],  # an unknown flag without one
        ["-D", "-H", "fd://"],
        ["$OPTIONS", "-H", "fd://"],  # RHEL units pass an environment variable
    ],
)
def test_flag_spellings(argv: list[str]) -> None:
    assert flag_conflicts({"hosts": ["tcp://0.0.0.0:2376"]}, argv) == [
        "hosts: (from flag: [fd://], from file: [tcp://0.0.0.0:2376])"
    ]


def test_short_bool_cluster_then_value() -> None:
    cfg = {"debug": True, "storage-driver": "overlay2"}
    assert flag_conflicts(cfg, ["-Ds", "vfs"]) == [
        "debug: (from flag: true, from file: true)",
        "storage-driver: (from flag: vfs, from file: overlay2)",
    ]


def test_arguments_after_double_dash_are_not_flags() -> None:
    assert flag_conflicts({"hosts": ["fd://"]}, ["--", "-H", "fd://"]) == []


@pytest.mark.parametrize(
    ("number", "text"),
    [
        (3, "3"),
        (1.5, "1.5"),
        (-2, "-2"),
        (100000, "100000"),
        (123456.7, "123456.7"),
        (1000000, "1e+06"),
        (1234567, "1.234567e+06"),
        (0.0001, "0.0001"),
        (0.00001, "1e-05"),
        (0, "0"),
    ],
)
def test_file_numbers_print_like_go_float64(number: float, text: str) -> None:
    # JSON numbers decode to float64 in dockerd and print with %v.
    conflicts = flag_conflicts({"cgroup-parent": number}, ["--cgroup-parent", "x"])
    assert conflicts == [f"cgroup-parent: (from flag: x, from file: {text})"]


def test_file_values_of_other_types_print_like_go() -> None:
    cfg = {"labels": [None, True, {"b": 1, "a": [2]}]}
    assert flag_conflicts(cfg, ["--label", "x"]) == [
        "labels: (from flag: [x], from file: [<nil> true map[a:[2] b:1]])"
    ]


def test_proxy_credentials_are_masked_like_dockerd() -> None:
    cfg = {"http-proxy": "http://ops:filepass@proxy.local:3128"}
    argv = ["--http-proxy", "http://admin:flagpass@proxy.local:3128"]
    [conflict] = flag_conflicts(cfg, argv)
    assert conflict == (
        "http-proxy: (from flag: http://xxxxx:xxxxx@proxy.local:3128, "
        "from file: http://xxxxx:xxxxx@proxy.local:3128)"
    )
    assert "pass" not in conflict


def test_conflict_error_is_dockerds_line() -> None:
    # facts note §3.3, idx:20620551315, verbatim.
    conflicts = flag_conflicts(
        {"hosts": ["tcp://0.0.0.0:2376", "unix:///var/run/docker.sock"]},
        parse_execstart(DEFAULT_EXECSTART),
    )
    assert conflict_error(conflicts) == (
        "unable to configure the Docker daemon with file /etc/docker/daemon.json: "
        "the following directives are specified both as a flag and in the configuration file: "
        "hosts: (from flag: [fd://], from file: [tcp://0.0.0.0:2376 unix:///var/run/docker.sock])"
    )


def test_conflict_error_joins_with_comma_and_names_the_path() -> None:
    line = conflict_error(
        ["a: (from flag: 1, from file: 2)", "b: (from flag: 3, from file: 4)"], "/x.json"
    )
    assert line.endswith(": a: (from flag: 1, from file: 2), b: (from flag: 3, from file: 4)")
    assert line.startswith("unable to configure the Docker daemon with file /x.json: ")


@settings(max_examples=300)
@given(CONFIGS, st.lists(st.text(max_size=12) | st.sampled_from(["-H", "-s", "--log-opt", "-"])))
def test_flag_conflicts_never_raises(cfg: dict[str, Any], argv: list[str]) -> None:
    conflicts = flag_conflicts(cfg, argv)
    assert all(c.partition(":")[0] in cfg for c in conflicts)


@settings(max_examples=300)
@given(st.text())
def test_parse_execstart_never_raises(line: str) -> None:
    assert all(isinstance(arg, str) and arg for arg in parse_execstart(line))


@settings(max_examples=300)
@given(st.text())
def test_parse_raises_only_daemon_json_errors(text: str) -> None:
    try:
        assert isinstance(parse(text), dict)
    except DaemonJsonError as exc:
        assert str(exc).startswith("/etc/docker/daemon.json: ")
