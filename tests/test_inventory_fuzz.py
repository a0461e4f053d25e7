"""Fuzzing the three inventory parsers and --limit: only InputError may ever escape.

Inputs are written to real files and loaded through ``load_inventory``, so
format detection is fuzzed too.  Whatever loads must also be a sane inventory.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fleet.errors import InputError
from fleet.inventory import Inventory, load_inventory, select_hosts

FUZZ = settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
SECRET = "fuzz-Secret-5ee2"

HOST_KEYS = [
    "address",
    "port",
    "user",
    "identity_file",
    "known_hosts",
    "jump",
    "become_password_env",
    "ssh_options",
    "docker_version",
    "system_update",
    "min_free_disk_mb",
    "daemon_json",
    "connect_timeout",
]
ANSIBLE_KEYS = [
    "ansible_host",
    "ansible_port",
    "ansible_user",
    "ansible_ssh_private_key_file",
    "ansible_ssh_common_args",
    "ansible_ssh_extra_args",
    "ansible_ssh_args",
    "ansible_python_interpreter",
]
PASSWORD_KEYS = ["become_password", "ansible_become_password", "ansible_become_pass"]
STRUCTURE_KEYS = ["fleet", "defaults", "groups", "hosts", "vars", "children", "all", "ungrouped"]
NAMES = ["node01", "node[01:03]", "n[a:c]", "web", "db", "gpu", "g[1:2]", "x:22", "[1:2]", "a b"]
SCALARS = [
    "10.0.0.[1:3]",
    "bastion",
    "u@b:2222",
    "-o ProxyJump=b -o X=1",
    "-J",
    "-o",
    "'unclosed",
    "{{ lookup('env', 'P') }}",
    "{{ other }}",
    "~/.ssh/id",
    "keys/id",
    '{"a": 1}',
    "yes",
    "",
]


def secrets() -> st.SearchStrategy[object]:
    """Values of password variables: the secret in every shape a user might get wrong."""
    return st.sampled_from(
        [
            SECRET,
            f" {SECRET} ",
            [SECRET],
            {SECRET: SECRET},
            f"{{{{ {SECRET} }}}}",
            f"{{{{ lookup('env', '{SECRET}') }}}}",
            f"'{SECRET}",
        ]
    )


def scalars() -> st.SearchStrategy[object]:
    return st.one_of(
        st.none(),
        st.booleans(),
        st.integers(min_value=-5, max_value=70000),
        st.floats(allow_nan=True, allow_infinity=True),
        st.sampled_from(SCALARS),
        st.text(max_size=12),
    )


def keys() -> st.SearchStrategy[object]:
    return st.one_of(
        st.sampled_from(HOST_KEYS + ANSIBLE_KEYS + STRUCTURE_KEYS + NAMES),
        st.text(max_size=8),
        st.integers(min_value=0, max_value=9),
    )


def structures() -> st.SearchStrategy[object]:
    return st.recursive(
        scalars(),
        lambda inner: st.one_of(
            st.lists(inner, max_size=4),
            st.dictionaries(keys(), inner, max_size=5),
        ),
        max_leaves=30,
    )


def entries(names: list[str]) -> st.SearchStrategy[dict[str, object]]:
    """Host variables; password variables draw from ``secrets()``."""
    plain = st.dictionaries(st.sampled_from(names), scalars(), max_size=4)
    secret = st.dictionaries(st.sampled_from(PASSWORD_KEYS), secrets(), max_size=1)
    return st.tuples(plain, secret).map(lambda pair: {**pair[0], **pair[1]})


def fleet_documents() -> st.SearchStrategy[object]:
    entries_ = entries(HOST_KEYS)
    group = st.fixed_dictionaries(
        {},
        optional={
            "hosts": st.lists(st.sampled_from(NAMES), max_size=3),
            "vars": entries_,
            "children": st.lists(st.sampled_from(["web", "db", "gpu", "nope"]), max_size=2),
        },
    )
    return st.fixed_dictionaries(
        {"hosts": st.dictionaries(st.sampled_from(NAMES), st.one_of(st.none(), entries_))},
        optional={
            "fleet": st.sampled_from([1, 2, True, "1"]),
            "defaults": entries_,
            "groups": st.dictionaries(st.sampled_from(["web", "db", "gpu", "all"]), group),
        },
    )


def ansible_documents() -> st.SearchStrategy[object]:
    variables = entries(ANSIBLE_KEYS + HOST_KEYS)
    hosts = st.dictionaries(st.sampled_from(NAMES), st.one_of(st.none(), variables), max_size=3)
    group = st.recursive(
        st.fixed_dictionaries({}, optional={"hosts": hosts, "vars": variables}),
        lambda inner: st.fixed_dictionaries(
            {},
            optional={
                "hosts": hosts,
                "vars": variables,
                "children": st.dictionaries(st.sampled_from(["web", "db", "gpu"]), inner),
            },
        ),
        max_leaves=6,
    )
    return st.dictionaries(st.sampled_from(["all", "web", "db", "ungrouped"]), group, min_size=1)


INI_LINES = [
    "[web]",
    "[db]",
    "[web:vars]",
    "[db:children]",
    "[all:vars]",
    "[gpu:children]",
    "[web:other]",
    "[broken",
    "node[01:03] ansible_host=10.0.0.1",
    "web1:2222 ansible_user=centos",
    "w ansible_port=0",
    "w ansible_port=22 docker_version='20.10.7'",
    "w ansible_ssh_common_args='-o ProxyJump=bastion'",
    f"w ansible_become_password={SECRET}",
    f"w ansible_become_password='{SECRET}",
    f"w ansible_become_password={SECRET[:6]} {SECRET[6:]}",
    f"ansible_become_password={SECRET}",
    f"ansible_become_password = '{{{{ {SECRET} }}}}'",
    "w novalue",
    "ansible_user=root",
    "docker_version = 19.03.11",
    "web",
    "gpu",
    "db",
    "# comment",
    "; comment",
    "",
]


def ini_documents() -> st.SearchStrategy[str]:
    line = st.one_of(st.sampled_from(INI_LINES), st.text(max_size=20))
    return st.lists(line, max_size=12).map("\n".join)


@pytest.fixture(scope="module")
def workdir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory() as name:
        yield Path(name)


def load_or_input_error(path: Path, text: str) -> Inventory | None:
    path.write_text(text, encoding="utf-8")
    try:
        inventory = load_inventory(path)
    except InputError as exc:
        message = str(exc)
        assert message and "\n" not in message
        assert SECRET not in message  # only password variables ever hold it
        return None
    assert_sane(inventory)
    return inventory


def assert_sane(inventory: Inventory) -> None:
    names = [host.name for host in inventory.hosts]
    assert names and len(names) == len(set(names))
    for host in inventory.hosts:
        assert host.address
        assert host.port is None or 1 <= host.port <= 65535
        assert set(host.groups) <= set(inventory.groups)
        assert SECRET not in repr(host)
    for group, members in inventory.groups.items():
        assert all(group in inventory.host(name).groups for name in members)


def dump(document: object) -> str:
    return yaml.safe_dump(document, sort_keys=False, allow_unicode=True)


@FUZZ
@given(text=st.text(max_size=300), suffix=st.sampled_from([".yml", ".ini", ""]))
def test_random_text(workdir: Path, text: str, suffix: str) -> None:
    load_or_input_error(workdir / f"random{suffix}", text)


@FUZZ
@given(document=structures())
def test_random_yaml_structures(workdir: Path, document: object) -> None:
    load_or_input_error(workdir / "structure.yml", dump(document))


@FUZZ
@given(document=fleet_documents())
def test_fleet_shaped_documents(workdir: Path, document: object) -> None:
    load_or_input_error(workdir / "fleet.yml", dump(document))


@FUZZ
@given(document=ansible_documents())
def test_ansible_shaped_documents(workdir: Path, document: object) -> None:
    load_or_input_error(workdir / "ansible.yml", dump(document))


@FUZZ
@given(text=ini_documents(), name=st.sampled_from(["hosts.ini", "hosts"]))
def test_ini_shaped_documents(workdir: Path, text: str, name: str) -> None:
    load_or_input_error(workdir / name, text)


@FUZZ
@given(
    text=st.lists(
        st.sampled_from(
            ["all:", "  hosts:", "    a:", "  vars:", "{", "[", "- x", "&x", "*x", "!!"]
        ),
        max_size=8,
    ).map("\n".join)
)
def test_yaml_fragments(workdir: Path, text: str) -> None:
    load_or_input_error(workdir / "fragments.yml", text)


LIMIT_PARTS = [
    "all",
    "canary",
    "workers",
    "gpu",
    "node0*",
    "node[01:02]",
    "node[2:1]",
    "~node",
    "~(",
    "@",
    "@/nonexistent",
    "gpu01",
    "zzz",
    "[",
    "]",
    "*",
]


@pytest.fixture(scope="module")
def example() -> Inventory:
    return load_inventory(Path(__file__).resolve().parent.parent / "inventories" / "example.yml")


@FUZZ
@given(
    limit=st.one_of(
        st.text(max_size=40),
        st.lists(
            st.tuples(st.sampled_from(["", "!", "&"]), st.sampled_from(LIMIT_PARTS)),
            max_size=5,
        ).flatmap(
            lambda terms: st.sampled_from([",", ":"]).map(
                lambda sep: sep.join(op + part for op, part in terms)
            )
        ),
    )
)
def test_random_limits(example: Inventory, limit: str) -> None:
    try:
        chosen = select_hosts(example, limit)
    except InputError as exc:
        assert "\n" not in str(exc)
        return
    assert chosen
    order = [host.name for host in example.hosts]
    indexes = [order.index(host.name) for host in chosen]
    assert indexes == sorted(set(indexes))
