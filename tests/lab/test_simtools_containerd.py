"""The simulated containerd decides from its own reading of config.toml, per release."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from fleet.lab.simtools import tomltext
from tests.lab.simkit import SimHost, ok

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib

DATA = Path(__file__).parents[1] / "data" / "containerd"
REPO = "yum-config-manager --add-repo https://download.docker.com/linux/centos/docker-ce.repo"
V2 = """version = 2
[plugins."io.containerd.grpc.v1.cri"]
sandbox_image = "registry.k8s.io/pause:3.10"
[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
runtime_type = "io.containerd.runc.v2"
[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
SystemdCgroup = true
"""


def installed(make_host, os: str = "rocky9", version: str = "1.7.28", **spec) -> SimHost:
    host = make_host(os=os, crictl=True, **spec)
    ok(host, f"yum install -y yum-utils && {REPO} && yum install -y containerd.io-{version}")
    return host


def restart(host: SimHost):
    return host.run("systemctl restart containerd")


@pytest.mark.parametrize("name", sorted(p.name for p in DATA.glob("*.toml")))
def test_the_reader_agrees_with_tomllib_on_every_recorded_file(name):
    text = (DATA / name).read_text()
    assert tomltext.loads(text) == tomllib.loads(text)


def test_the_v1_writer_prints_what_containerd_1_6_printed():
    recorded = (DATA / "config-dump-1.6.20-merged.toml").read_text()
    assert tomltext.dumps(tomllib.loads(recorded), 1) == recorded


def test_the_package_installs_its_stub_and_the_daemon_starts_without_cri(make_host):
    host = installed(make_host)
    assert 'disabled_plugins = ["cri"]' in host.file("/etc/containerd/config.toml").read_text()
    assert ok(host, "systemctl is-enabled containerd || true").stdout.strip() == "disabled"
    ok(host, "systemctl start containerd")
    plugins = ok(host, "ctr plugins ls").stdout
    assert "io.containerd.content.v1" in plugins and " cri " not in plugins
    refused = host.run("crictl info")
    assert refused.returncode == 1
    assert "unknown service runtime.v1.RuntimeService" in refused.stderr


def test_a_v2_file_turns_cri_on_with_systemd_after_a_restart_only(make_host):
    host = installed(make_host)
    ok(host, "systemctl start containerd")
    host.write("/etc/containerd/config.toml", V2)
    assert host.run("crictl info").returncode == 1  # still the daemon that read the stub
    ok(host, "systemctl restart containerd")
    info = json.loads(
        ok(host, "crictl --runtime-endpoint unix:///run/containerd/containerd.sock info").stdout
    )
    assert info["config"]["containerd"]["runtimes"]["runc"]["options"] == {"SystemdCgroup": True}
    assert info["config"]["systemdCgroup"] is False  # the deprecated shim key
    assert info["config"]["sandboxImage"] == "registry.k8s.io/pause:3.10"
    row = [line for line in ok(host, "ctr plugins ls").stdout.splitlines() if " cri " in line]
    assert row and row[0].split()[-1] == "ok"
    dump = tomllib.loads(ok(host, "containerd config dump").stdout)
    runc = dump["plugins"]["io.containerd.grpc.v1.cri"]["containerd"]["runtimes"]["runc"]
    assert runc["options"] == {"SystemdCgroup": True}


@pytest.mark.parametrize(
    ("text", "version", "said"),
    [
        ("version = 2\nSystemdCgroup true\n", "1.7.28",
         "containerd: failed to load TOML: /etc/containerd/config.toml: (2, 15): was expecting "
         "token =, but got keys cannot contain new lines instead"),
        ('version = 2\ndisabled_plugins = ["cri"]\n', "1.6.33",
         'containerd: failed to load TOML from /etc/containerd/config.toml: invalid disabled '
         'plugin URI "cri" expect io.containerd.x.vx'),
        ("version = 3\n", "1.7.28",
         "containerd: failed to load TOML from /etc/containerd/config.toml: unsupported config "
         "version `3`"),
        ("version = 2\nSystemdCgroup true\n", "2.2.1",
         "containerd: failed to unmarshal TOML at row 2 column 15: toml: expected character ="),
    ],
)  # fmt: skip
def test_a_bad_file_stops_containerd_with_its_own_words(make_host, text, version, said):
    host = installed(make_host, version=version)
    host.write("/etc/containerd/config.toml", text)
    result = restart(host)
    assert result.returncode == 1
    assert "Job for containerd.service failed" in result.stderr
    journal = ok(host, "journalctl -u containerd --no-pager -n 20").stdout
    assert said in journal
    assert ok(host, "systemctl is-active containerd || true").stdout.strip() == "failed"


def test_containerd_2_reads_version_3_and_converts_version_2(make_host):
    host = installed(make_host, version="2.2.1")
    assert ok(host, "containerd --version").stdout.startswith("containerd containerd.io v2.2.1 ")
    host.write("/etc/containerd/config.toml", V2)
    ok(host, "systemctl restart containerd")
    info = json.loads(ok(host, "crictl info").stdout)
    assert info["config"]["containerd"]["runtimes"]["runc"]["options"]["SystemdCgroup"] is True
    assert "sandboxImage" not in info["config"] and "systemdCgroup" not in info["config"]
    dump = tomllib.loads(ok(host, "containerd config dump").stdout)
    assert dump["version"] == 3
    images = dump["plugins"]["io.containerd.cri.v1.images"]
    assert images["pinned_images"]["sandbox"] == "registry.k8s.io/pause:3.10"


def test_containerd_1_6_ignores_version_3_tables(make_host):
    host = installed(make_host, os="centos7", version="1.6.33")
    host.write(
        "/etc/containerd/config.toml",
        "version = 3\n[plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc.options]\n"
        "SystemdCgroup = true\n",
    )
    ok(host, "systemctl restart containerd")
    info = json.loads(ok(host, "crictl info").stdout)
    assert info["config"]["containerd"]["runtimes"]["runc"]["options"]["SystemdCgroup"] is False


def test_el7_and_el8_repositories_end_at_1_6(make_host):
    for os, last in (("centos7", "1.6.33"), ("centos8", "1.6.32")):
        host = make_host(os=os)
        ok(host, f"yum install -y yum-utils && {REPO}")
        listing = ok(host, "yum --showduplicates list available containerd.io").stdout
        assert last in listing and "1.7." not in listing
