"""Inventory loading: the three formats, precedence, ranges, and one-line errors.

Every test loads a real file from disk through the public ``load_inventory``.
"""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import pytest

from fleet.errors import InputError
from fleet.inventory import Host, Inventory, expand_range, load_inventory

EXAMPLES = Path(__file__).resolve().parent.parent / "inventories"
EXAMPLE_FILES = ("example.yml", "ansible-hosts.yml", "ansible-hosts.ini")
SECRET = "Tr0ub4dor&3-not-for-logs"


def load(tmp_path: Path, text: str, name: str = "inventory.yml") -> Inventory:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return load_inventory(path)


def load_error(tmp_path: Path, text: str, name: str = "inventory.yml") -> str:
    with pytest.raises(InputError) as caught:
        load(tmp_path, text, name)
    message = str(caught.value)
    assert "\n" not in message and "Traceback" not in message
    return message


def names(inventory: Inventory) -> list[str]:
    return [host.name for host in inventory.hosts]


# --------------------------------------------------------------------------- the examples


def expected_example_hosts() -> tuple[Host, ...]:
    key = str(EXAMPLES / "keys" / "fleet_ed25519")
    known = os.path.expanduser("~/.ssh/known_hosts")
    common = dict(user="centos", identity_file=key, known_hosts=known)
    env = dict(become_password_env="FLEET_BECOME_PASS")
    base = {"docker_version": "19.03.11"}
    gpu = {"docker_version": "20.10.7", "command_timeout": 900.0}
    jump = "bastion.example.com"
    return (
        Host("node01", "10.0.1.1", **common, **env, settings=base, groups=("canary",)),
        Host("node02", "10.0.1.2", **common, jump=jump, **env, settings=base, groups=("workers",)),
        Host("node03", "10.0.1.3", **common, jump=jump, **env, settings=base, groups=("workers",)),
        Host("node04", "10.0.1.4", **common, jump=jump, **env, settings=base, groups=("workers",)),
        Host(
            "gpu01",
            "10.0.2.1",
            port=2222,
            **common,
            jump=jump,
            **env,
            settings=gpu,
            groups=("gpu", "workers"),
        ),
        Host(
            "gpu02",
            "10.0.2.2",
            port=2222,
            user="admin",
            identity_file=key,
            known_hosts=known,
            jump=jump,
            **env,
            ssh_options={"ServerAliveInterval": "30"},
            settings=gpu,
            groups=("gpu", "workers"),
        ),
    )


@pytest.mark.parametrize("name", EXAMPLE_FILES)
def test_each_example_file_describes_the_same_six_hosts(name: str) -> None:
    inventory = load_inventory(EXAMPLES / name)
    assert inventory.hosts == expected_example_hosts()
    assert inventory.source == str(EXAMPLES / name)


def test_the_three_example_formats_load_equal() -> None:
    loaded = [load_inventory(EXAMPLES / name) for name in EXAMPLE_FILES]
    assert loaded[0].hosts == loaded[1].hosts == loaded[2].hosts
    assert loaded[0].groups == loaded[1].groups == loaded[2].groups


def test_example_groups_are_flattened_in_inventory_order() -> None:
    inventory = load_inventory(EXAMPLES / "example.yml")
    assert dict(inventory.groups) == {
        "canary": ("node01",),
        "workers": ("node02", "node03", "node04", "gpu01", "gpu02"),
        "gpu": ("gpu01", "gpu02"),
    }


def test_origin_names_the_declaring_line() -> None:
    ini = load_inventory(EXAMPLES / "ansible-hosts.ini")
    lines = (EXAMPLES / "ansible-hosts.ini").read_text().splitlines()
    for host in ini.hosts:
        path, _, line = host.origin.rpartition(":")
        assert path == str(EXAMPLES / "ansible-hosts.ini")
        assert lines[int(line) - 1].startswith(host.name + " ")


def test_hosts_equal_whatever_file_they_came_from() -> None:
    # origin is provenance; two loads of different files still compare equal
    yml = load_inventory(EXAMPLES / "example.yml").host("gpu01")
    ini = load_inventory(EXAMPLES / "ansible-hosts.ini").host("gpu01")
    assert yml.origin != ini.origin
    assert yml == ini


# --------------------------------------------------------------------------- fleet format


def test_host_named_only_in_a_group_gets_defaults(tmp_path: Path) -> None:
    inventory = load(
        tmp_path,
        """
        defaults: {user: centos, port: 2200}
        groups:
          db: {hosts: [db01]}
        hosts:
          web01: {}
        """,
    )
    assert names(inventory) == ["web01", "db01"]
    db = inventory.host("db01")
    assert (db.address, db.user, db.port, db.groups) == ("db01", "centos", 2200, ("db",))
    assert db.origin.endswith(":4")


def test_precedence_defaults_then_parent_then_child_then_host(tmp_path: Path) -> None:
    inventory = load(
        tmp_path,
        """
        fleet: 1
        defaults: {user: d, jump: d.example, docker_version: "1", containerd_version: "d"}
        groups:
          child:
            hosts: [a, b]
            vars: {user: child, docker_version: "3"}
          parent:
            children: [child]
            vars: {user: parent, jump: parent.example, docker_version: "2"}
        hosts:
          a: {user: host}
          b: {}
        """,
    )
    a, b = inventory.hosts
    assert (a.user, a.jump, dict(a.settings)) == (
        "host",
        "parent.example",
        {"docker_version": "3", "containerd_version": "d"},
    )
    assert (b.user, b.groups) == ("child", ("child", "parent"))


def test_groups_of_the_same_depth_merge_by_name_like_ansible(tmp_path: Path) -> None:
    text = """
        groups:
          zeta: {hosts: [h], vars: {user: zeta}}
          alpha: {hosts: [h], vars: {user: alpha}}
        hosts:
          h: {}
        """
    assert load(tmp_path, text).host("h").user == "zeta"


def test_ssh_options_merge_key_by_key_across_levels(tmp_path: Path) -> None:
    inventory = load(
        tmp_path,
        """
        defaults:
          ssh_options: {ServerAliveInterval: 30, Compression: true}
        hosts:
          h:
            ssh_options: {Compression: no, IPQoS: throughput}
        """,
    )
    assert dict(inventory.host("h").ssh_options) == {
        "ServerAliveInterval": "30",
        "Compression": "no",
        "IPQoS": "throughput",
    }


def test_a_hosts_password_variable_replaces_an_inherited_literal(tmp_path: Path) -> None:
    inventory = load(
        tmp_path,
        f"""
        defaults: {{become_password: "{SECRET}"}}
        hosts:
          a: {{become_password_env: A_PASS}}
          b: {{}}
        """,
    )
    a, b = inventory.hosts
    assert (a.become_password, a.become_password_env) == (None, "A_PASS")
    assert (b.become_password, b.become_password_env) == (SECRET, None)
    assert SECRET not in repr(b)


def test_address_range_is_zipped_with_the_name_range(tmp_path: Path) -> None:
    inventory = load(
        tmp_path,
        """
        hosts:
          node[08:11]:
            address: 192.168.[1:2].[5:6]
        """,
    )
    assert [(h.name, h.address) for h in inventory.hosts] == [
        ("node08", "192.168.1.5"),
        ("node09", "192.168.1.6"),
        ("node10", "192.168.2.5"),
        ("node11", "192.168.2.6"),
    ]


def test_address_range_of_another_length_is_rejected(tmp_path: Path) -> None:
    message = load_error(tmp_path, "hosts:\n  n[1:3]:\n    address: 10.0.0.[1:2]\n")
    assert message.startswith(f"{tmp_path / 'inventory.yml'}:3: ")
    assert "2 address(es) for the 3 hosts" in message and "10.0.1.[1:3]" in message


def test_one_address_for_a_range_of_hosts_is_rejected(tmp_path: Path) -> None:
    message = load_error(tmp_path, "hosts:\n  n[1:3]:\n    address: 10.0.0.1\n")
    assert ":3: address '10.0.0.1' gives 1 address(es) for the 3 hosts" in message


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ("node[01:03]", ["node01", "node02", "node03"]),
        ("node[1:3]", ["node1", "node2", "node3"]),
        ("node[8:10]", ["node8", "node9", "node10"]),
        ("node[000:010:5]", ["node000", "node005", "node010"]),
        ("n[0:20:5]", ["n0", "n5", "n10", "n15", "n20"]),
        ("rack[a:c]", ["racka", "rackb", "rackc"]),
        ("[x:z]y", ["xy", "yy", "zy"]),
        ("r[a:b]n[1:2].dc", ["ran1.dc", "ran2.dc", "rbn1.dc", "rbn2.dc"]),
        ("n[:2]", ["n0", "n1", "n2"]),
        ("plain.example.com", ["plain.example.com"]),
    ],
)
def test_expand_range(pattern: str, expected: list[str]) -> None:
    assert expand_range(pattern) == expected


@pytest.mark.parametrize(
    ("pattern", "problem"),
    [
        ("n[1-3]", "is not a range"),
        ("n[1:2:3:4]", "is not a range"),
        ("n[3:1]", "counts backwards"),
        ("n[c:a]", "counts backwards"),
        ("n[1:]", "has no end"),
        ("n[01:5]", "mixes widths"),
        ("n[1:5:0]", "step"),
        ("n[1:5:x]", "step"),
        ("n[a:5]", "numbers or single letters"),
        ("n[é:ü]", "ASCII letters"),
        ("n[1:3", "unmatched bracket"),
        ("n1:3]", "unmatched bracket"),
        ("n[[1:3]]", "unmatched bracket"),
        ("n[0:9999999]", "more than 100000"),
        ("a[0:999]b[0:999]", "more than 100000"),
    ],
)
def test_expand_range_rejects_malformed_ranges(pattern: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem.replace("[", r"\[")):
        expand_range(pattern)


def test_malformed_range_in_a_file_names_file_and_line(tmp_path: Path) -> None:
    message = load_error(tmp_path, "hosts:\n  web01: {}\n  node[5:1]: {}\n")
    assert message == (
        f"{tmp_path / 'inventory.yml'}:3: '[5:1]' counts backwards; put the smaller bound first"
    )


def test_unknown_key_names_line_and_closest_key(tmp_path: Path) -> None:
    message = load_error(tmp_path, "hosts:\n  web01:\n    adress: 10.0.0.1\n")
    assert message == (
        f"{tmp_path / 'inventory.yml'}:3: unknown key 'adress'; did you mean 'address'?"
    )


def test_unknown_setting_like_key_suggests_the_setting(tmp_path: Path) -> None:
    message = load_error(tmp_path, "fleet: 1\ndefaults:\n  docker_versoin: '20.10.7'\n")
    assert message.endswith(":3: unknown key 'docker_versoin'; did you mean 'docker_version'?")


def test_unknown_top_level_key_with_marker(tmp_path: Path) -> None:
    message = load_error(tmp_path, "fleet: 1\nhost:\n  a: {}\n")
    assert message.endswith(":2: unknown top-level key 'host'; did you mean 'hosts'?")


def test_unknown_group_key(tmp_path: Path) -> None:
    message = load_error(tmp_path, "groups:\n  g:\n    host: [a]\nhosts: {a: {}}\n")
    assert message.endswith(":3: unknown key 'host' in group 'g'; did you mean 'hosts'?")


def test_overlapping_ranges_are_a_duplicate_declaration(tmp_path: Path) -> None:
    message = load_error(tmp_path, "hosts:\n  node[01:10]: {}\n  node05: {}\n")
    assert message == (
        f"{tmp_path / 'inventory.yml'}:3: host node05 is declared twice (first at line 2); "
        "remove one declaration or make the ranges not overlap"
    )


def test_the_same_key_twice_is_rejected_not_silently_overwritten(tmp_path: Path) -> None:
    message = load_error(tmp_path, "hosts:\n  web01: {port: 22}\n  web01: {port: 2222}\n")
    assert message.endswith(":3: 'web01' is declared twice (first at line 2); remove one")


@pytest.mark.parametrize("port", ["0", "65536", "ssh", "true", "22.5", "-1", "[22]"])
def test_bad_port_names_the_line(tmp_path: Path, port: str) -> None:
    message = load_error(tmp_path, f"hosts:\n  web01:\n    port: {port}\n")
    assert message.startswith(f"{tmp_path / 'inventory.yml'}:3: port ")
    assert message.endswith("is not a TCP port; use a number from 1 to 65535")


def test_yaml_syntax_error_names_the_line(tmp_path: Path) -> None:
    message = load_error(tmp_path, "hosts:\n  web01:\n    port: 22\n   user: x\n")
    assert message.startswith(f"{tmp_path / 'inventory.yml'}:4: YAML syntax error: ")
    assert message.endswith("; check the indentation and quoting")


def test_unknown_child_group(tmp_path: Path) -> None:
    message = load_error(
        tmp_path, "groups:\n  web:\n    children: [gpus]\n  gpu: {}\nhosts: {a: {}}\n"
    )
    assert message.endswith(":3: unknown child group 'gpus' of 'web'; did you mean 'gpu'?")


def test_children_that_loop_are_rejected(tmp_path: Path) -> None:
    text = """
        groups:
          a: {children: [b]}
          b: {children: [c]}
          c: {children: [a]}
        hosts: {h: {}}
        """
    message = load_error(tmp_path, text)
    assert message.endswith(
        ":5: groups contain each other: a -> b -> c -> a; remove 'a' from the children of 'c'"
    )


def test_bad_setting_value_names_file_and_line(tmp_path: Path) -> None:
    message = load_error(tmp_path, "hosts:\n  a:\n    min_free_disk_mb: lots\n")
    assert message.startswith(f"{tmp_path / 'inventory.yml'}:3: setting min_free_disk_mb: ")


def test_settings_are_converted(tmp_path: Path) -> None:
    host = load(
        tmp_path,
        """
        hosts:
          a:
            system_update: "yes"
            min_free_disk_mb: "4096"
            daemon_json: {log-level: warn}
        """,
    ).host("a")
    assert dict(host.settings) == {
        "system_update": True,
        "min_free_disk_mb": 4096,
        "daemon_json": {"log-level": "warn"},
    }


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        (
            "fleet: 2\nhosts: {a: {}}\n",
            ":1: inventory format '2' is not supported; write 'fleet: 1'",
        ),
        ("fleet: 1\ngroups:\n  all: {hosts: [a]}\n", ":3: group name 'all' is reserved"),
        ("groups:\n  g:\n    hosts: a\nhosts: {a: {}}\n", ":3: 'hosts' must be a list, not a str"),
        ("hosts:\n  - a\n  - b\n", ":1: 'hosts' must be a mapping, not a list"),
        ("hosts:\n  a: [1, 2]\n", ":2: host 'a' must be a mapping, not a list"),
        ("hosts:\n  a:\n    user: [x]\n", ":3: user must be text, not a list"),
        ("hosts:\n  a:\n    user: yes\n", ":3: user must be text, not a boolean; quote the value"),
        ("hosts:\n  a:\n    address: ''\n", ":3: address is empty"),
        ("hosts:\n  a:\n    jump: 'a,b'\n", ":3: jump 'a,b' is not one jump host"),
        ("hosts:\n  a:\n    jump: 'b:99999'\n", ":3: jump 'b:99999' is not one jump host"),
        ("hosts:\n  a:\n    become_password_env: 'X Y'\n", ":3: become_password_env is not an"),
        ("hosts:\n  a:\n    ssh_options: [x]\n", ":3: ssh_options must be a mapping"),
        ("hosts:\n  a b: {}\n", ":2: host name 'a b' is empty or has spaces or commas"),
        ("hosts:\n  '!a': {}\n", ":2: host name '!a' starts with '!'"),
        ("hosts:\n  'a:22': {}\n", ":2: host name 'a:22' contains ':'; set 'port:' instead"),
        ("hosts:\n  a:\n    port: 2021-02-30\n", ":3: cannot read this value"),
        ("hosts:\n  ? [a, b]\n  : {}\n", ":2: a key is a list or mapping"),
        ("- a\n- b\n", ":1: the inventory must be a mapping, not a list"),
        ("hosts:\n  a: !!python/object:os.system {}\n", ":2: YAML syntax error: could not"),
        ("{}\n", "no hosts are declared"),
        ("# only a comment\n", "the inventory is empty"),
    ],
)
def test_fleet_format_errors(tmp_path: Path, text: str, problem: str) -> None:
    message = load_error(tmp_path, text)
    assert message.startswith(str(tmp_path / "inventory.yml"))
    assert problem in message


def test_paths_are_resolved_against_the_inventory_and_home(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    (tmp_path / "site").mkdir()
    inventory = load(
        tmp_path,
        """
        hosts:
          a: {identity_file: keys/../keys/id, known_hosts: ~/kh}
          b: {identity_file: /etc/fleet/id, known_hosts: known}
        """,
        name="site/inventory.yml",
    )
    a, b = inventory.hosts
    assert a.identity_file == str(tmp_path / "site" / "keys" / "id")
    assert a.known_hosts == str(tmp_path / "home" / "kh")
    assert (b.identity_file, b.known_hosts) == ("/etc/fleet/id", str(tmp_path / "site" / "known"))


def test_relative_inventory_path_gives_absolute_key_paths(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "inv.yml").write_text("hosts:\n  a: {identity_file: id_ed25519}\n")
    monkeypatch.chdir(tmp_path)
    host = load_inventory("inv.yml").host("a")
    assert host.identity_file == str(tmp_path / "id_ed25519")
    assert host.origin == "inv.yml:2"


def test_unreadable_inventories(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"missing.yml: cannot read the inventory \(No such file"):
        load_inventory(tmp_path / "missing.yml")
    with pytest.raises(InputError, match=r"cannot read the inventory \(Is a directory\)"):
        load_inventory(tmp_path)
    (tmp_path / "latin1.yml").write_bytes(b"hosts:\n  caf\xe9: {}\n")
    with pytest.raises(InputError, match=r"latin1.yml:2: the file is not UTF-8 text"):
        load_inventory(tmp_path / "latin1.yml")


def test_control_characters_are_reported_with_their_line(tmp_path: Path) -> None:
    message = load_error(tmp_path, "hosts:\n  a: {}\n  b\x01: {}\n")
    assert message.endswith(":3: character #x0001 is not allowed; remove it")


# --------------------------------------------------------------------------- Ansible YAML


def test_ansible_yaml_without_all_and_with_host_ports(tmp_path: Path) -> None:
    inventory = load(
        tmp_path,
        """
        web:
          hosts:
            web[1:2].example.com:2222:
            db.example.com:
              ansible_port: "5522"
              ansible_ssh_user: old
              ansible_user: new
        ungrouped:
          hosts:
            lonely:
        """,
    )
    assert [(h.name, h.port, h.user, h.groups) for h in inventory.hosts] == [
        ("web1.example.com", 2222, None, ("web",)),
        ("web2.example.com", 2222, None, ("web",)),
        ("db.example.com", 5522, "new", ("web",)),
        ("lonely", None, None, ()),
    ]
    assert dict(inventory.groups) == {
        "web": ("web1.example.com", "web2.example.com", "db.example.com")
    }


def test_host_in_several_groups_is_one_host_with_merged_vars(tmp_path: Path) -> None:
    inventory = load(
        tmp_path,
        """
        all:
          children:
            web:
              hosts:
                h1: {ansible_host: 10.0.0.1}
            db:
              hosts:
                h1: {ansible_port: 2200}
                h2:
        """,
    )
    assert names(inventory) == ["h1", "h2"]
    h1 = inventory.host("h1")
    assert (h1.address, h1.port, h1.groups) == ("10.0.0.1", 2200, ("db", "web"))


def test_ansible_variables_fleet_ignores(tmp_path: Path) -> None:
    host = load(
        tmp_path,
        """
        all:
          hosts:
            h:
              ansible_python_interpreter: /usr/bin/python3
              ansible_connection: ssh
              kube_version: "{{ something | default('x') }}"
              ntp_servers: [a, b]
        """,
    ).host("h")
    assert host == Host("h", "h")


@pytest.mark.parametrize(
    ("args", "jump", "options"),
    [
        ("-o ProxyJump=bastion", "bastion", {}),
        ("-oProxyJump=ops@bastion:2222", "ops@bastion:2222", {}),
        ("-J bastion", "bastion", {}),
        ("-Jbastion", "bastion", {}),
        ("-o 'ProxyJump bastion'", "bastion", {}),
        (
            "-C -o ControlMaster=auto -o ControlPersist=60s",
            None,
            {"ControlMaster": "auto", "ControlPersist": "60s"},
        ),
        ("-i key -o StrictHostKeyChecking=no -q", None, {"StrictHostKeyChecking": "no"}),
        ("-o ProxyCommand='ssh -W %h:%p b'", None, {"ProxyCommand": "ssh -W %h:%p b"}),
        ("", None, {}),
    ],
)
def test_ssh_argument_strings(tmp_path: Path, args: str, jump: str | None, options: dict) -> None:
    (tmp_path / "hosts").write_text(f'h ansible_ssh_common_args="{args}"\n')
    host = load_inventory(tmp_path / "hosts").host("h")
    assert (host.jump, dict(host.ssh_options)) == (jump, options)


def test_ssh_args_known_hosts_and_later_variables(tmp_path: Path) -> None:
    host = load(
        tmp_path,
        """
        all:
          vars:
            ansible_ssh_args: -o ServerAliveInterval=10 -J first
            ansible_ssh_common_args: -o UserKnownHostsFile=kh -o ServerAliveInterval=20
            ansible_ssh_extra_args: -o ProxyJump=second
          hosts:
            h:
        """,
    ).host("h")
    assert (host.jump, host.known_hosts) == ("second", str(tmp_path / "kh"))
    assert dict(host.ssh_options) == {"ServerAliveInterval": "20"}


def test_host_ssh_args_replace_group_ssh_args_as_ansible_does(tmp_path: Path) -> None:
    host = load(
        tmp_path,
        """
        web:
          vars: {ansible_ssh_common_args: -J bastion}
          hosts:
            h: {ansible_ssh_common_args: -o Compression=yes}
        """,
    ).host("h")
    assert (host.jump, dict(host.ssh_options)) == (None, {"Compression": "yes"})


def test_become_password_literal_and_env_lookup(tmp_path: Path) -> None:
    inventory = load(
        tmp_path,
        f"""
        all:
          hosts:
            a: {{ansible_become_password: "{SECRET}"}}
            b: {{ansible_become_pass: "{{{{ lookup('env', 'B_PASS') }}}}"}}
            c: {{ansible_become_password: '{{{{lookup("ansible.builtin.env","C_PASS")}}}}'}}
        """,
    )
    a, b, c = inventory.hosts
    assert (a.become_password, a.become_password_env) == (SECRET, None)
    assert (b.become_password, b.become_password_env) == (None, "B_PASS")
    assert c.become_password_env == "C_PASS"
    assert SECRET not in repr(inventory)


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ('ansible_become_password: "{{ vault_sudo_pass }}"', "is a template fleet cannot evaluate"),
        ('ansible_host: "{{ inventory_hostname }}.lan"', "is a Jinja template"),
        ('docker_version: "{{ docker_pin }}"', "is a Jinja template"),
        (
            "ansible_become_password: !vault |\n          $ANSIBLE_VAULT;1.1;AES256\n          6162",
            "vault-encrypted",
        ),
        ("ansible_port: 0", "ansible_port '0' is not a TCP port"),
        ("ansible_ssh_common_args: -o 'Proxy", "has an unclosed quote"),
        ("ansible_ssh_common_args: -o", "has '-o' without Key=Value"),
        ("ansible_ssh_extra_args: -J a,b", "is not one jump host"),
    ],
)
def test_ansible_yaml_variable_errors(tmp_path: Path, line: str, problem: str) -> None:
    message = load_error(tmp_path, f"all:\n  hosts:\n    h:\n      {line}\n")
    assert message.startswith(f"{tmp_path / 'inventory.yml'}:4: ")
    assert problem in message


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("web:\n  hosts: [a, b]\n", ":2: 'hosts' is a list; write each host as a key"),
        (
            "web:\n  a:\n  b:\n",
            ":2: unknown key 'a' in group 'web'; use one of: children, hosts, vars",
        ),
        ("web:\n  children: [db]\n", ":2: children of 'web' must be a mapping, not a list"),
        ("web:\n  hosts:\n    ':22':\n", ":3: host ':22' has no name before ':'"),
        ("ungrouped:\n  vars: {x: 1}\n", ":2: vars on 'ungrouped' are not supported"),
        ("'a b':\n  hosts: {h: }\n", ":1: group name 'a b' is empty or has spaces"),
        ("42:\n  hosts: {h: }\n", ":1: group name '42' is not text; quote it"),
        ("web:\n  hosts:\n    h:\n      5: x\n", ":4: variable name '5' is not text; quote it"),
        (
            "a:\n  children:\n    b:\n      children:\n        a:\n  hosts: {h: }\n",
            ":5: groups contain each other: a -> b -> a",
        ),
    ],
)
def test_ansible_yaml_structure_errors(tmp_path: Path, text: str, problem: str) -> None:
    assert problem in load_error(tmp_path, text)


# --------------------------------------------------------------------------- Ansible INI


def test_ini_quoting_comments_and_ungrouped_hosts(tmp_path: Path) -> None:
    inventory = load(
        tmp_path,
        """
        # hosts before any section are ungrouped
        solo ansible_host="10.0.0.9"   # a comment
        ; another comment style

        [web]
        web[1:2]:2200 ansible_ssh_extra_args='-o ProxyJump=ops@bastion -o IPQoS=lowdelay' # trailing comment
        [web:vars]
        ansible_user = "deploy"
        min_free_disk_mb = 512 # MiB
        daemon_json = '{"log-level": "warn", "debug": false}'
        """,
        name="hosts.ini",
    )
    solo, web1, web2 = inventory.hosts
    assert (solo.address, solo.groups) == ("10.0.0.9", ())
    assert (web1.name, web1.port, web1.user, web1.jump) == ("web1", 2200, "deploy", "ops@bastion")
    assert dict(web1.ssh_options) == {"IPQoS": "lowdelay"}
    assert dict(web2.settings) == {
        "min_free_disk_mb": 512,
        "daemon_json": {"log-level": "warn", "debug": False},
    }


def test_ini_children_may_be_declared_before_the_group(tmp_path: Path) -> None:
    inventory = load(
        tmp_path,
        """
        [k8s:children]
        masters
        workers
        [k8s:vars]
        ansible_user=centos
        [masters]
        m1
        [workers]
        w1
        w2 ansible_user=root
        """,
        name="hosts",
    )
    assert [(h.name, h.user, h.groups) for h in inventory.hosts] == [
        ("m1", "centos", ("k8s", "masters")),
        ("w1", "centos", ("k8s", "workers")),
        ("w2", "root", ("k8s", "workers")),
    ]


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        (
            "[web:children]\ndbs\n[db]\nd1\n",
            ":2: unknown child group 'dbs' in [web:children]; did you mean 'db'?",
        ),
        ("[web:vars]\nx=1\n[db]\nd1\n", ":1: [web:vars] is for a group that has no [web] section"),
        ("[web]\nw1 ansible_port\n", ":2: word 2 is not a key=value variable"),
        ("[web]\nw1 ansible_host='10.0.0.1\n", ":2: the line has an unclosed quote"),
        ("[web\nw1\n", ":1: '[web' is not a section header"),
        ("[web:hostvars]\nw1\n", ":1: section kind ':hostvars' is unknown"),
        ("[web:vars]\njust words\n[web]\nw1\n", ":2: [web:vars] lines must be key=value"),
        ("[web:children]\na b\n", ":2: [web:children] lines must name one group"),
        ("[web:children]\nall\n", ":2: 'all' cannot be a child group"),
        ("[web]\nw1 ansible_port=http\n", ":2: ansible_port 'http' is not a TCP port"),
        ("[web]\nw[3:1]\n", ":2: '[3:1]' counts backwards"),
        ("ansible_user=root\n[web]\nw1\n", ":1: a host name contains '=', so this looks like"),
        ("[a:children]\nb\n[b:children]\na\n", "groups contain each other: a -> b -> a"),
        ("# nothing but comments\n", "no hosts are declared"),
    ],
)
def test_ini_errors(tmp_path: Path, text: str, problem: str) -> None:
    message = load_error(tmp_path, text, name="hosts.ini")
    assert message.startswith(str(tmp_path / "hosts.ini"))
    assert problem in message


@pytest.mark.parametrize(
    ("name", "text", "address"),
    [
        ("hosts", "[web]\nw1 ansible_host=10.1.1.1\n", "10.1.1.1"),
        ("hosts", "w1 ansible_host=10.1.1.2\n", "10.1.1.2"),
        ("hosts", "all:\n  hosts:\n    w1: {ansible_host: 10.1.1.3}\n", "10.1.1.3"),
        ("inventory", "fleet: 1\nhosts:\n  w1: {address: 10.1.1.4}\n", "10.1.1.4"),
        ("hosts.cfg", "[web]\nw1 ansible_host=10.1.1.5\n", "10.1.1.5"),
        ("hosts.yaml", "hosts:\n  w1: {address: 10.1.1.6}\n", "10.1.1.6"),
    ],
)
def test_format_is_detected_from_suffix_and_content(
    tmp_path: Path, name: str, text: str, address: str
) -> None:
    assert load(tmp_path, text, name=name).host("w1").address == address


def test_yaml_looking_file_without_suffix_reports_yaml_errors(tmp_path: Path) -> None:
    message = load_error(tmp_path, "all:\n  hosts:\n    a: {\n", name="hosts")
    assert "YAML syntax error" in message


# --------------------------------------------------------------------------- secrets


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("inv.yml", f"hosts:\n  a:\n    become_password: ['{SECRET}']\n"),
        ("inv.yml", f"hosts:\n  a:\n    become_password_env: '{SECRET}'\n"),
        ("inv.yml", f"hosts:\n  a:\n    become_password: '{SECRET}'\n   bad: indent\n"),
        ("inv.yml", f"hosts:\n  a:\n    become_password: !!int '{SECRET}'\n"),
        (
            "inv.yml",
            f"all:\n  hosts:\n    a:\n      ansible_become_password: '{{{{ {SECRET} }}}}'\n",
        ),
        ("hosts", f"[web]\na ansible_become_password={SECRET[:8]} {SECRET[8:]}\n"),
        ("hosts", f"[web]\na ansible_become_password='{SECRET}\n"),
        ("hosts", f"[web]\na ansible_become_password={SECRET} ansible_port=0\n"),
        ("hosts", f"[web]\nansible_become_password={SECRET}\n"),
    ],
)
def test_passwords_never_appear_in_errors(tmp_path: Path, name: str, text: str) -> None:
    message = load_error(tmp_path, text, name=name)
    assert SECRET not in message
    assert SECRET[:8] not in message and SECRET[8:] not in message
