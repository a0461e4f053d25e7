"""The simulated dockerd's own flag and daemon.json rules, against texts real dockerds printed.

Each row is a command line (the unit's ExecStart after ``dockerd``), a
daemon.json and a release, and what that dockerd does: start (None) or the
error it prints before exiting 1.  Texts marked "seen" were printed by real
engines (GH threads, docs, /work/shared/notes/docker-centos-facts.md §3.3-3.4);
the others follow moby's sources (daemon/config/config.go
getConflictFreeConfiguration, findConfigurationConflicts; cmd/dockerd).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fleet.lab.simtools import dockerd_config, dockerd_flags, dockerd_load
from tests.lab.simkit import SimHost, ok

PATH = "/etc/docker/daemon.json"
PREFIX = f"unable to configure the Docker daemon with file {PATH}: "
BOTH = "the following directives are specified both as a flag and in the configuration file: "
UNKNOWN = "the following directives don't match any configuration option: "
UNIT = ["-H", "fd://", "--containerd=/run/containerd/containerd.sock"]  # docker-ce 18.09+ unit
K8S_DOCS = {
    "exec-opts": ["native.cgroupdriver=systemd"],
    "log-driver": "json-file",
    "log-opts": {"max-size": "100m"},
    "storage-driver": "overlay2",
    "storage-opts": ["overlay2.override_kernel_check=true"],
}


def start(version: str, argv: list[str], daemon_json: Any) -> str | None:
    """What dockerd ``version`` says about its configuration: None when it goes on to start."""
    data = None if daemon_json is None else _bytes(daemon_json)
    try:
        parsed = dockerd_flags.parse(argv, version)
        dockerd_load.load(parsed, data, PATH, version)
    except (dockerd_flags.FlagError, dockerd_config.ConfigError) as exc:
        return str(exc)
    return None


def _bytes(daemon_json: Any) -> bytes:
    return (
        daemon_json.encode() if isinstance(daemon_json, str) else json.dumps(daemon_json).encode()
    )


SEEN = [
    # facts §3.3 (idx:20620551315): the packaged unit's -H fd:// against a "hosts" key
    ("19.03.11", UNIT, {"hosts": ["tcp://0.0.0.0:2376", "unix:///var/run/docker.sock"]},
     PREFIX + BOTH + "hosts: (from flag: [fd://], "
     "from file: [tcp://0.0.0.0:2376 unix:///var/run/docker.sock])"),
    # Docker docs, troubleshooting the daemon (idx:12035870807)
    ("20.10.7", ["-H", "unix:///var/run/docker.sock"], {"hosts": ["tcp://127.0.0.1:2376"]},
     PREFIX + BOTH + "hosts: (from flag: [unix:///var/run/docker.sock], "
     "from file: [tcp://127.0.0.1:2376])"),
    # OpenCloudOS moby unit with --log-driver=journald (idx:71387882809)
    ("20.10.7", [*UNIT, "--log-driver=journald"], {"log-driver": "json-file"},
     PREFIX + BOTH + "log-driver: (from flag: journald, from file: json-file)"),
    # the brief's case: a drop-in's -s overlay2 and the rollout's storage-driver
    ("24.0.7", [*UNIT, "-s", "overlay2"], K8S_DOCS | {"storage-opts": []},
     PREFIX + BOTH + "storage-driver: (from flag: overlay2, from file: overlay2)"),
    # GH moby/moby#41725: `dockerd -D -l debug`, bools print as true, sorted by flag name
    ("19.03.11", ["-D", "-l", "debug"], {"debug": True, "log-level": "info"},
     PREFIX + BOTH + "debug: (from flag: true, from file: true), "
     "log-level: (from flag: debug, from file: info)"),
    # GH moby/moby#41268 (19.03.11): an empty file
    ("19.03.11", UNIT, "", PREFIX + "EOF"),
    # facts §3.4: the usual syntax errors
    ("19.03.11", UNIT, '{"exec-opts": ["native.cgroupdriver=systemd"],}',
     PREFIX + "invalid character '}' looking for beginning of object key string"),
    ("20.10.7", UNIT, "<html>", PREFIX + "invalid character '<' looking for beginning of value"),
]  # fmt: skip


@pytest.mark.parametrize(("version", "argv", "daemon_json", "error"), SEEN)
def test_texts_real_dockerds_printed(
    version: str, argv: list[str], daemon_json: Any, error: str
) -> None:
    assert start(version, argv, daemon_json) == error


FROM_SOURCES = [
    # the packaged unit and the Kubernetes docs' daemon.json never meet: no shared directive
    *[(v, UNIT, K8S_DOCS, None) for v in ("19.03.11", "20.10.24", "23.0.6")],
    # a drop-in that sets the cgroup driver on the command line, and the file that does too
    ("19.03.11", [*UNIT, "--exec-opt", "native.cgroupdriver=systemd"], K8S_DOCS,
     PREFIX + BOTH + "exec-opts: (from flag: [native.cgroupdriver=systemd], "
     "from file: [native.cgroupdriver=systemd])"),
    # every spelling pflag accepts; repeated list flags accumulate, a string's last one wins
    ("20.10.7", ["-Hfd://", "-H=unix:///run/d.sock", "--exec-opt=a=b", "--exec-opt", "c=d",
                 "-s", "vfs", "--storage-driver=overlay2"],
     {"hosts": [], "exec-opts": [], "storage-driver": "overlay2"},
     PREFIX + BOTH + "exec-opts: (from flag: [a=b c=d], from file: []), "
     "hosts: (from flag: [fd:// unix:///run/d.sock], from file: []), "
     "storage-driver: (from flag: overlay2, from file: overlay2)"),
    # order is by flag name: "host" before "host-gateway-ip", though "host-gateway-ip" < "hosts"
    ("20.10.7", ["--host-gateway-ip", "10.0.0.1", "-H", "fd://"],
     {"host-gateway-ip": "10.0.0.2", "hosts": ["fd://"]},
     PREFIX + BOTH + "hosts: (from flag: [fd://], from file: [fd://]), "
     "host-gateway-ip: (from flag: 10.0.0.1, from file: 10.0.0.2)"),
    # log-opt is a map: keys added one flag at a time, printed sorted
    ("24.0.7", ["--log-opt", "max-size=10m", "--log-opt", "max-file=3", "--log-opt", "max-size=1g"],
     {"log-opts": {"max-size": "100m"}},
     PREFIX + BOTH + "log-opts: (from flag: map[max-file:3 max-size:1g], "
     "from file: map[max-size:100m])"),
    # file numbers are float64 printed with %v: 1e+06, not 1000000
    ("24.0.7", ["--mtu=1450", "--max-concurrent-downloads", "3"],
     {"mtu": 1450, "max-concurrent-downloads": 1000000},
     PREFIX + BOTH + "max-concurrent-downloads: (from flag: 3, from file: 1e+06), "
     "mtu: (from flag: 1450, from file: 1450)"),
    # -g and "graph": the same directory as data-root, but only like names conflict
    ("20.10.7", ["-g", "/srv/docker"], {"graph": "/var/lib/docker"},
     PREFIX + BOTH + "graph: (from flag: /srv/docker, from file: /var/lib/docker)"),
    ("20.10.7", ["--data-root", "/srv/docker"], {"graph": "/var/lib/docker"}, None),
    ("20.10.7", [], {"graph": "/a", "data-root": "/b"},
     PREFIX + 'cannot specify both "graph" and "data-root" config file options'),
    ("20.10.7", ["-g", "/a", "--data-root", "/b"], None,
     'cannot specify both "--graph" and "--data-root" option'),
    ("23.0.6", [], {"graph": "/a"},
     PREFIX + "merged configuration validation from file and command line flags failed: "
     'the "graph" config file option is deprecated; use "data-root" instead'),
    ("24.0.7", [], {"graph": "/a"}, PREFIX + UNKNOWN + "graph"),
    ("24.0.7", ["-g", "/a"], None, "Status: unknown shorthand flag: 'g' in -g\n"
     "See 'dockerd --help'., Code: 125"),
    # unknown keys come before conflicts; a shorthand is no directive name
    ("19.03.11", ["-s", "overlay2"], {"s": "overlay2", "storage-driver": "overlay2"},
     PREFIX + UNKNOWN + "s"),
    ("19.03.11", UNIT, {"cgroup-driver": "systemd", "exec-opt": ["x"]},
     PREFIX + UNKNOWN + "cgroup-driver"),
    # objects not in flatOptions are merged into the top level: proxies, tls, anything
    ("24.0.7", ["--http-proxy", "http://u:secret@proxy:3128"],
     {"proxies": {"http-proxy": "http://a:b@proxy:8080"}},
     PREFIX + BOTH + "http-proxy: (from flag: http://xxxxx:xxxxx@proxy:3128, "
     "from file: http://xxxxx:xxxxx@proxy:8080)"),
    ("20.10.7", UNIT, {"anything": {"hosts": ["tcp://0.0.0.0:2375"]}},
     PREFIX + BOTH + "hosts: (from flag: [fd://], from file: [tcp://0.0.0.0:2375])"),
    # runtimes merge (skipDuplicates); features never count as unknown
    ("20.10.7", ["--add-runtime", "kata=/usr/bin/kata"], {"runtimes": {"x": {"path": "/x"}}}, None),
    ("20.10.7", [], {"features": {"buildkit": True}}, None),
    ("27.5.1", ["--feature", "cdi"], {"features": {"cdi": True}},
     PREFIX + BOTH + "features: (from flag: map[cdi:true], from file: map[cdi:true])"),
    # --dns: space-joined ListOpts, pflag's comma-joined ipSlice from 25.0
    ("20.10.7", ["--dns", "1.1.1.1", "--dns", "8.8.8.8"], {"dns": ["9.9.9.9"]},
     PREFIX + BOTH + "dns: (from flag: [1.1.1.1 8.8.8.8], from file: [9.9.9.9])"),
    ("26.1.4", ["--dns", "1.1.1.1,8.8.8.8"], {"dns": ["9.9.9.9"]},
     PREFIX + BOTH + "dns: (from flag: [1.1.1.1,8.8.8.8], from file: [9.9.9.9])"),
    # 28.0: exec-opts are validated; host-gateway-ip migrated to host-gateway-ips
    ("27.5.1", [], {"exec-opts": ["foo=bar"]}, None),
    ("28.0.0", [], {"exec-opts": ["foo=bar"]},
     PREFIX + "merged configuration validation from file and command line flags failed: "
     "invalid exec-opt (foo=bar): unknown option: 'foo'"),
    ("28.0.0", ["--exec-opt", "native.cgroupdriver"], None,
     "invalid exec-opt (native.cgroupdriver): must be formatted 'opt=value'"),
    ("28.0.0", ["--host-gateway-ip", "10.0.0.1"],
     {"host-gateway-ip": "10.0.0.2", "host-gateway-ips": ["10.0.0.3"]},
     PREFIX + "host-gateway-ip and host-gateway-ips must not both be specified in the config file\n"
     + BOTH + "host-gateway-ips: (from flag: [10.0.0.1], from file: [10.0.0.3]), "
     "host-gateway-ip: (from flag: [10.0.0.1], from file: 10.0.0.2)"),
    # the decoder to 20.10 reads one document; 23.0+ drops a BOM and takes a blank file as {}
    ("20.10.7", UNIT, '{"debug": true}\n{"hosts": ["x"]}', None),
    ("23.0.6", UNIT, '{"debug": true}\n{"hosts": ["x"]}',
     PREFIX + "invalid character '{' after top-level value"),
    ("20.10.7", UNIT, '{"debug": tru', PREFIX + "unexpected EOF"),
    ("24.0.7", UNIT, '{"debug": tru', PREFIX + "unexpected end of JSON input"),
    ("24.0.7", UNIT, " \n\t", None),
    ("24.0.7", UNIT, '\ufeff{"debug": true}', None),
    ("20.10.7", UNIT, '\ufeff{"debug": true}',
     PREFIX + "invalid character 'ï' looking for beginning of value"),
    # a missing default file is fine, a named one is not
    ("24.0.7", UNIT, None, None),
    ("24.0.7", [*UNIT, "--config-file", PATH], None,
     PREFIX + f"open {PATH}: no such file or directory"),
    # command lines dockerd refuses: cobra's StatusError printed with %s, exit 1
    ("20.10.7", ["--validate"], None,
     "Status: unknown flag: --validate\nSee 'dockerd --help'., Code: 125"),
    ("24.0.7", ["--validate"], {"debug": True}, None),
    ("24.0.7", ["-H"], None, "Status: flag needs an argument: 'H' in -H\n"
     "See 'dockerd --help'., Code: 125"),
    ("24.0.7", ["--containerd"], None, "Status: flag needs an argument: --containerd\n"
     "See 'dockerd --help'., Code: 125"),
    ("24.0.7", ["--debug=maybe"], None,
     'Status: invalid argument "maybe" for "-D, --debug" flag: strconv.ParseBool: '
     "parsing \"maybe\": invalid syntax\nSee 'dockerd --help'., Code: 125"),
    ("24.0.7", ["--mtu", "big"], None,
     'Status: invalid argument "big" for "--mtu" flag: strconv.ParseInt: '
     "parsing \"big\": invalid syntax\nSee 'dockerd --help'., Code: 125"),
]  # fmt: skip


@pytest.mark.parametrize(("version", "argv", "daemon_json", "error"), FROM_SOURCES)
def test_rules_read_from_dockerds_sources(
    version: str, argv: list[str], daemon_json: Any, error: str | None
) -> None:
    assert start(version, argv, daemon_json) == error


def test_flags_exist_only_in_their_releases() -> None:
    assert "validate" not in dockerd_flags.flag_set("20.10.24")
    assert "validate" in dockerd_flags.flag_set("23.0.0")
    assert dockerd_flags.flag_set("23.0.18")["graph"].short == "g"
    assert "graph" not in dockerd_flags.flag_set("24.0.0")
    assert "oom-score-adjust" not in dockerd_flags.flag_set("26.0.0")
    assert dockerd_flags.flag_set("27.5.1")["host-gateway-ip"].key == ""
    assert dockerd_flags.flag_set("28.0.0")["host-gateway-ip"].key == "host-gateway-ips"
    assert [f.kind for f in (dockerd_flags.flag_set(v)["dns"] for v in ("24.0.9", "25.0.0"))] == [
        "list",
        "ipslice",
    ]


@pytest.mark.parametrize(
    ("value", "text"),
    [(1.0, "1"), (1500, "1500"), (999999, "999999"), (1e6, "1e+06"), (1234567, "1.234567e+06"),
     (0.0001, "0.0001"), (0.00001, "1e-05"), (-2.5, "-2.5"), (2**64, "1.8446744073709552e+19"),
     (True, "true"), (None, "<nil>"), (["a", 1, {"b": False}], "[a 1 map[b:false]]"),
     ({"z": "1", "a": [2]}, "map[a:[2] z:1]")],
)  # fmt: skip
def test_file_values_print_as_go_prints_interface_values(value: Any, text: str) -> None:
    assert dockerd_config.go_value(value) == text


_argv = st.lists(
    st.sampled_from(["-H", "-D", "-s", "--exec-opt", "--debug=false", "--mtu", "-Dl", "--", "x"])
    | st.text(max_size=8),
    max_size=6,
)
_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=5),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=8,
)
_keys = st.sampled_from(["hosts", "exec-opts", "debug", "storage-driver", "graph", "tls", "x"])


@given(
    st.sampled_from(["19.03.11", "20.10.24", "23.0.6", "24.0.7", "28.0.0", "29.7.2"]),
    _argv,
    st.dictionaries(_keys | st.text(max_size=6), _json_values, max_size=4),
)
def test_any_command_line_and_file_start_or_fail_with_a_message(
    version: str, argv: list[str], config: dict[str, Any]
) -> None:
    result = start(version, argv, config)
    assert result is None or (isinstance(result, str) and result.strip())


@given(st.dictionaries(st.sampled_from(["debug", "log-level", "labels", "mtu"]), _json_values))
def test_flags_and_a_file_with_different_directives_never_conflict(config: dict[str, Any]) -> None:
    result = start("24.0.7", [*UNIT, "--exec-opt", "native.cgroupdriver=systemd"], config)
    assert result is None or BOTH not in result


def test_a_drop_in_flag_meets_the_file_on_restart_and_in_validate(
    make_host: Callable[..., SimHost],
) -> None:
    host = make_host(
        os="rocky9", engine={"version": "24.0.7", "running": True}, daemon_json=K8S_DOCS
    )
    flags = "-H fd:// --containerd=/run/containerd/containerd.sock --exec-opt native.cgroupdriver=systemd"
    host.write(
        "/etc/systemd/system/docker.service.d/cgroup.conf",
        f"[Service]\nExecStart=\nExecStart=/usr/bin/dockerd {flags}\n",
    )
    ok(host, "systemctl daemon-reload")
    # 24.0 refuses override_kernel_check, but the conflict is found first
    conflict = (
        PREFIX + BOTH + "exec-opts: (from flag: [native.cgroupdriver=systemd], "
        "from file: [native.cgroupdriver=systemd])"
    )
    assert host.run("systemctl restart docker").returncode == 1
    log = ok(host, "journalctl -u docker").stdout.splitlines()
    assert [line for line in log if "dockerd[" in line][-1].endswith(": " + conflict)
    validate = host.run(f"dockerd --validate {flags}")
    assert (validate.returncode, validate.stderr) == (1, conflict + "\n")
    host.write("/etc/docker/daemon.json", json.dumps({"log-level": "warn"}))
    assert host.run(f"dockerd --validate {flags}").stderr == "configuration OK\n"
