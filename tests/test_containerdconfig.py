"""config.toml merged as TOML: CRI on, runc on systemd cgroups, the owner's settings kept."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fleet import containerdconfig as cc

DATA = Path(__file__).parent / "data" / "containerd"
STUB = (DATA / "package-stub.toml").read_text()
PAUSE = "registry.k8s.io/pause:3.10"

OWNER_V2 = """version = 2
root = "/data/containerd"
oom_score = -999

[plugins."io.containerd.grpc.v1.cri".registry.mirrors."docker.io"]
  endpoint = ["https://mirror.example.com"]

[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
  SystemdCgroup = false
"""

OWNER_V1 = """disabled_plugins = ["cri", "aufs"]
[plugins.cri]
  sandbox_image = "k8s.gcr.io/pause:3.2"
"""


def runc_options(config: dict, version: int) -> dict:
    node = config
    for key in cc.LAYOUTS[version].options:
        node = node[key]
    return node


def sandbox(config: dict, version: int) -> str:
    node = config
    for key in cc.LAYOUTS[version].sandbox:
        node = node[key]
    return node


@pytest.mark.parametrize(
    ("text", "containerd", "version"),
    [
        (STUB, "1.6.33", 2),
        (STUB, "1.7.28", 2),
        (STUB, "2.2.1", 3),
        ("", "1.7.28", 2),
        ("", "2.1.5", 3),
        ("version = 3\n", "2.2.1", 3),
        ("version = 2\n", "2.2.1", 3),  # nothing of the owner's at version 2: written as 3
    ],
)
def test_stub_and_empty_files_get_the_schema_of_the_installed_containerd(text, containerd, version):
    merged = cc.merge(cc.parse(text), containerd, PAUSE)
    assert merged.version == version
    assert merged.config["version"] == version
    assert "disabled_plugins" not in merged.config
    assert runc_options(merged.config, version) == {"SystemdCgroup": True}
    assert sandbox(merged.config, version) == PAUSE
    runc = cc.LAYOUTS[version].runc
    assert merged.config["plugins"][runc[1]]["containerd"]["runtimes"]["runc"]["runtime_type"] == (
        "io.containerd.runc.v2"
    )


def test_the_package_stub_disables_cri_by_its_short_name():
    assert cc.parse(STUB) == {"disabled_plugins": ["cri"]}
    assert "CRI plugin enabled" in cc.merge(cc.parse(STUB), "1.7.28", PAUSE).notes


def test_rendered_tables_are_the_paths_kubernetes_documents():
    v2 = cc.render(cc.merge({}, "1.7.28", PAUSE).config)
    v3 = cc.render(cc.merge({}, "2.2.1", PAUSE).config)
    assert '[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]' in v2
    assert 'sandbox_image = "registry.k8s.io/pause:3.10"' in v2
    assert '[plugins."io.containerd.cri.v1.runtime".containerd.runtimes.runc.options]' in v3
    assert '[plugins."io.containerd.cri.v1.images".pinned_images]' in v3
    assert v2.startswith("version = 2\n") and v3.startswith("version = 3\n")
    assert "SystemdCgroup = true" in v2 and "SystemdCgroup = true" in v3


def test_owner_mirrors_root_and_other_settings_are_kept():
    merged = cc.merge(cc.parse(OWNER_V2), "1.7.28", PAUSE)
    config = merged.config
    assert config["root"] == "/data/containerd" and config["oom_score"] == -999
    cri = config["plugins"][cc.V2_CRI]
    assert cri["registry"]["mirrors"]["docker.io"]["endpoint"] == ["https://mirror.example.com"]
    assert runc_options(config, 2)["SystemdCgroup"] is True
    assert "SystemdCgroup false -> true" in merged.notes
    assert cc.parse(cc.render(config)) == config


def test_a_version_2_file_with_cri_settings_stays_version_2_on_containerd_2():
    merged = cc.merge(cc.parse(OWNER_V2), "2.2.1", PAUSE)
    assert merged.version == 2 and merged.config["version"] == 2
    assert runc_options(merged.config, 2)["SystemdCgroup"] is True
    assert any("converts it at start" in note for note in merged.notes)


def test_version_1_names_are_migrated_by_containerds_rule():
    merged = cc.merge(cc.parse(OWNER_V1), "1.7.28", PAUSE)
    assert merged.config["version"] == 2
    assert merged.config["disabled_plugins"] == ["io.containerd.snapshotter.v1.aufs"]
    assert "cri" not in merged.config["plugins"]
    assert sandbox(merged.config, 2) == PAUSE
    assert "sandbox image 'k8s.gcr.io/pause:3.2' -> 'registry.k8s.io/pause:3.10'" in merged.notes


@pytest.mark.parametrize(
    ("name", "uri"),
    [
        ("cri", "io.containerd.grpc.v1.cri"),
        ("overlayfs", "io.containerd.snapshotter.v1.overlayfs"),
        ("tasks-service", "io.containerd.service.v1.tasks-service"),
        ("windows", "io.containerd.snapshotter.v1.windows"),
        ("mystery", "io.containerd.grpc.v1.mystery"),
        ("io.containerd.gc.v1.scheduler", "io.containerd.gc.v1.scheduler"),
    ],
)
def test_plugin_name_migration(name, uri):
    assert cc.migrate_plugin_name(name) == uri


def test_a_converged_file_merges_to_itself():
    first = cc.render(cc.merge(cc.parse(OWNER_V2), "1.7.28", PAUSE).config)
    again = cc.merge(cc.parse(first), "1.7.28", PAUSE)
    assert again.config == cc.parse(first)
    assert cc.diff(first, cc.render(again.config)) == ""


def test_other_disabled_plugins_stay_disabled():
    merged = cc.merge({"version": 2, "disabled_plugins": [cc.V2_CRI, "io.x.v1.y"]}, "1.7.28", PAUSE)
    assert merged.config["disabled_plugins"] == ["io.x.v1.y"]


def test_the_v1_shim_systemd_cgroup_key_is_removed():
    owner = {"version": 2, "plugins": {cc.V2_CRI: {"systemd_cgroup": True}}}
    merged = cc.merge(owner, "1.6.33", PAUSE)
    assert "systemd_cgroup" not in merged.config["plugins"][cc.V2_CRI]
    assert any("systemd_cgroup removed" in note for note in merged.notes)


def test_merge_does_not_modify_its_input():
    owner = cc.parse(OWNER_V2)
    cc.merge(owner, "1.7.28", PAUSE)
    assert owner == cc.parse(OWNER_V2)


def test_the_diff_names_the_file_and_starts_from_nothing_when_there_was_none():
    text = cc.render(cc.merge({}, "1.7.28", PAUSE).config)
    diff = cc.diff(None, text)
    assert diff.startswith("--- /dev/null\n+++ /etc/containerd/config.toml\n")
    assert "+SystemdCgroup = true\n" in diff


@pytest.mark.parametrize(
    ("text", "containerd", "fragment"),
    [
        ("[plugins\n", "1.7.28", "is not valid TOML ("),
        ("version = 2\nSystemdCgroup true\n", "1.7.28", "(at line 2, column 15)"),
        ('a = "x"\na = "y"\n', "1.7.28", "is not valid TOML"),
        ("version = 3\n", "1.7.28", "declares version = 3, which containerd 1.7.28 does not read"),
        ("version = 'two'\n", "1.7.28", "version = 'two' is not a config version"),
        ('version = 2\nplugins = "none"\n', "1.7.28", "plugins is a str, not a table"),
        (
            'version = 2\n[plugins."io.containerd.grpc.v1.cri"]\ncontainerd = 1\n',
            "1.7.28",
            '"io.containerd.grpc.v1.cri".containerd is a int, not a table',
        ),
    ],
)
def test_bad_files_are_one_line_errors_naming_the_file(text, containerd, fragment):
    with pytest.raises(cc.ContainerdConfigError) as err:
        cc.merge(cc.parse(text, "/etc/containerd/config.toml"), containerd, PAUSE)
    message = str(err.value)
    assert message.startswith("/etc/containerd/config.toml")
    assert fragment in message
    assert "\n" not in message


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (STUB, None),
        (OWNER_V2, False),
        (cc.render(cc.merge({}, "2.2.1", PAUSE).config), True),
        ("[plugins.cri.containerd.runtimes.runc.options]\nSystemdCgroup = true\n", True),
        ("version = 'x'\n", None),
    ],
)
def test_runc_systemd_cgroup_reads_the_files_own_schema(text, expected):
    assert cc.runc_systemd_cgroup(cc.parse(text)) is expected


@pytest.mark.parametrize(("version", "schema"), [("1.2.13", 2), ("1.7.28", 2), ("2.0.0", 3)])
def test_schema_for(version, schema):
    assert cc.schema_for(version) == schema


_keys = st.text(alphabet="abcdefghij_-.", min_size=1, max_size=8)
_values = st.one_of(st.booleans(), st.integers(-5, 5), st.text(max_size=8))
_docs = st.dictionaries(
    _keys.filter(lambda k: k not in ("version", "plugins", "disabled_plugins")),
    st.one_of(_values, st.dictionaries(_keys, _values, max_size=3)),
    max_size=4,
)


@given(_docs, st.sampled_from(["1.6.33", "1.7.28", "2.2.1"]))
def test_any_owner_document_keeps_its_keys_and_converges(owner, containerd):
    merged = cc.merge(owner, containerd, PAUSE)
    for key, value in owner.items():
        assert merged.config[key] == value
    text = cc.render(merged.config)
    assert cc.merge(cc.parse(text), containerd, PAUSE).config == cc.parse(text)
