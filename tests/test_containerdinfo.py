"""The running containerd's own words: parsers on recorded and reconstructed outputs, the check."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fleet import containerdinfo as ci

DATA = Path(__file__).parent / "data" / "containerd"


def data(name: str) -> str:
    return (DATA / name).read_text()


@pytest.mark.parametrize(
    ("text", "version"),
    [
        (data("version-1.6.20-debian.txt"), "1.6.20"),
        ("containerd containerd.io 1.6.33 d2d58213f83a351ca8f528a95fbd145f5654e957\n", "1.6.33"),
        ("containerd containerd.io v2.2.1 dea7da592f5d1d2b7755e3a161be07f43fad8f75\n", "2.2.1"),
        ("bash: containerd: command not found\n", None),
        ("", None),
    ],
)
def test_parse_version(text, version):
    assert ci.parse_version(text) == version


@pytest.mark.parametrize(
    ("name", "systemd", "snapshotter", "sandbox"),
    [
        ("crictl-info-1.7.28-systemd.json", True, "overlayfs", "registry.k8s.io/pause:3.10"),
        ("crictl-info-1.7.28-defaults.json", False, "overlayfs", "registry.k8s.io/pause:3.8"),
        ("crictl-info-2.2.1-systemd.json", True, None, None),
    ],
)
def test_crictl_info_reads_runc_options_not_the_top_level_key(name, systemd, snapshotter, sandbox):
    view = ci.parse_crictl_info(data(name))
    assert view.answered
    assert view.systemd_cgroup is systemd
    assert (view.snapshotter, view.sandbox_image) == (snapshotter, sandbox)


def test_the_deprecated_top_level_key_is_false_even_with_systemd():
    text = data("crictl-info-1.7.28-systemd.json")
    assert '"systemdCgroup": false' in text
    assert ci.parse_crictl_info(text).systemd_cgroup is True


def test_crictl_without_cri_is_an_answer_of_its_own():
    view = ci.parse_crictl_info(data("crictl-info-cri-disabled.txt"))
    assert not view.answered
    assert "unknown service runtime.v1.RuntimeService" in (view.error or "")


@pytest.mark.parametrize(
    ("name", "status"),
    [
        ("ctr-plugins-1.6.20-stub.txt", None),  # a disabled plugin is not listed at all
        ("ctr-plugins-1.6.20-cri.txt", "ok"),
        ("ctr-plugins-2.2.1-cri.txt", "ok"),
    ],
)
def test_ctr_plugins_ls(name, status):
    plugins = ci.parse_ctr_plugins(data(name))
    assert plugins[("io.containerd.content.v1", "content")] == "ok"
    assert ci.cri_status(plugins) == status


def test_ctr_plugins_skip_and_error_rows():
    plugins = ci.parse_ctr_plugins(data("ctr-plugins-1.6.20-stub.txt"))
    assert plugins[("io.containerd.snapshotter.v1", "aufs")] == "skip"
    assert plugins[("io.containerd.snapshotter.v1", "devmapper")] == "error"
    failed = {("io.containerd.grpc.v1", "cri"): "error"}
    assert ci.cri_status(failed) == "error"


@pytest.mark.parametrize(
    ("name", "disabled", "systemd", "snapshotter", "sandbox"),
    [
        ("config-dump-1.6.20-stub.toml", True, None, None, None),
        ("config-dump-1.6.20-merged.toml", False, True, "overlayfs", "registry.k8s.io/pause:3.10"),
        ("config-dump-2.2.1-merged.toml", False, True, "overlayfs", "registry.k8s.io/pause:3.10"),
    ],
)
def test_config_dump(name, disabled, systemd, snapshotter, sandbox):
    view = ci.parse_config_dump(data(name))
    assert view.cri_disabled is disabled
    assert view.systemd_cgroup is systemd
    assert (view.snapshotter, view.sandbox_image) == (snapshotter, sandbox)


def script_output(**sections: str) -> str:
    unit = sections.pop("unit", "Id=containerd.service\nActiveState=active\nUnitFileState=enabled")
    parts = {"version": "containerd containerd.io 1.7.28 b98a3aace\n", "unit": unit, **sections}
    return "".join(f"\n@@fleet:{k}\n{v}\n" for k, v in parts.items()) + "\n@@fleet:end\n"


def test_verification_through_crictl():
    info = ci.parse_verification(
        script_output(
            crictl=data("crictl-info-1.7.28-systemd.json"),
            dump=data("config-dump-1.6.20-merged.toml"),
        )
    )
    assert (info.version, info.active, info.enabled) == ("1.7.28", "active", "enabled")
    assert (info.cri, info.cgroup_driver, info.snapshotter) == (True, "systemd", "overlayfs")
    assert info.source == "crictl info"
    assert ci.check_runtime(info) == []


@pytest.mark.parametrize(
    ("started", "written", "stale"),
    [("1700000100", "1700000100", False), ("1700000200", "1700000100", False),
     ("1700000099", "1700000100", True), ("", "1700000100", None)],
)  # fmt: skip
def test_verification_without_crictl_needs_a_daemon_newer_than_the_file(started, written, stale):
    info = ci.parse_verification(
        script_output(
            started=started,
            written=written,
            plugins=data("ctr-plugins-1.6.20-cri.txt"),
            dump=data("config-dump-1.6.20-merged.toml"),
        )
    )
    assert (info.cri, info.cgroup_driver, info.stale) == (True, "systemd", stale)
    problems = ci.check_runtime(info)
    assert any("started before" in p for p in problems) is bool(stale)


def test_verification_of_the_package_stub_fails_on_cri():
    info = ci.parse_verification(
        script_output(
            started="5",
            written="4",
            plugins=data("ctr-plugins-1.6.20-stub.txt"),
            dump=data("config-dump-1.6.20-stub.toml"),
        )
    )
    assert info.cri is False
    assert info.cgroup_driver == "cgroupfs"  # no SystemdCgroup anywhere in the dump
    problems = ci.check_runtime(info)
    assert problems == ["the CRI plugin is not serving: kubeadm and the kubelet need it"]


def test_cgroupfs_and_a_stopped_daemon_are_named():
    info = ci.parse_verification(script_output(crictl=data("crictl-info-1.7.28-defaults.json")))
    assert ci.check_runtime(info) == [
        "runc uses the cgroupfs cgroup driver, not systemd (SystemdCgroup under the runc "
        "runtime's options)"
    ]
    down = ci.parse_verification(
        script_output(unit="Id=containerd.service\nActiveState=failed\nUnitFileState=enabled")
    )
    assert ci.check_runtime(down) == ["containerd is not running (ActiveState failed)"]


def test_crictl_refusing_names_its_reason():
    info = ci.parse_verification(script_output(crictl=data("crictl-info-cri-disabled.txt")))
    (problem,) = ci.check_runtime(info)
    assert "unknown service runtime.v1.RuntimeService" in problem


def test_the_script_reads_runc_options_and_never_the_shim_key():
    assert "crictl --runtime-endpoint unix:///run/containerd/containerd.sock info" in (
        ci.VERIFY_SCRIPT
    )
    assert "ctr plugins ls" in ci.VERIFY_SCRIPT and "containerd config dump" in ci.VERIFY_SCRIPT


@given(st.text(max_size=300))
def test_parsers_never_raise(text):
    ci.parse_version(text)
    ci.parse_crictl_info(text)
    ci.parse_ctr_plugins(text)
    ci.parse_config_dump(text)
    ci.check_runtime(ci.parse_verification(text))
