"""parse_docker_info and check_docker_info against recorded ``docker info`` outputs.

Every file in tests/data/docker_info/ is listed in RECORDINGS with its source.
``NAME.out``/``NAME.json`` is stdout and ``NAME.err`` stderr.  Text was copied
verbatim from /work/shared/notes/docker-centos-facts.md (the "facts note", cited
by section) or from the named public file; a file that is only a prefix of its
source ends where the source elides (``[...]``), and shell prompts are left out.
Terminal pastes interleave the two streams, so each line was put on the stream
docker/cli writes it to (facts note §1.0, ``cli/command/system/info.go``):
WARNING lines on stderr; ``ERROR:`` lines on stdout for a 19.03 CLI and on
stderr for newer ones; ``errors pretty printing info`` on stderr.  Files marked
"derived" were not captured from a host; their shape follows the cited source.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fleet.dockerinfo import (
    DOCKER_INFO_COMMAND,
    DOCKER_INFO_TEXT_COMMAND,
    DockerInfo,
    check_docker_info,
    parse_docker_info,
)

DATA = Path(__file__).parent / "data" / "docker_info"
CANNOT_CONNECT = (
    "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. "
    "Is the docker daemon running?"
)
D_TYPE_XFS_WARNING = (
    "WARNING: overlay2: the backing xfs filesystem is formatted without d_type support, "
    "which leads to incorrect behavior. Reformat the filesystem with ftype=1 to enable "
    "d_type support. Running without d_type support will not be supported in future releases."
)
PERMISSION_DENIED = (
    "Got permission denied while trying to connect to the Docker daemon socket at "
    "unix:///var/run/docker.sock: Get http://%2Fvar%2Frun%2Fdocker.sock/v1.40/info: "
    "dial unix /var/run/docker.sock: connect: permission denied"
)


@dataclass(frozen=True)
class Recording:
    name: str
    source: str
    expected: dict[str, Any]
    # check_docker_info(info, "systemd", "overlay2") for this recording.
    mismatches: list[str] = field(default_factory=list)

    def streams(self) -> tuple[str, str]:
        """(stdout, stderr) as recorded; a missing file is an empty stream."""
        out = _read(DATA / f"{self.name}.out") or _read(DATA / f"{self.name}.json")
        return out, _read(DATA / f"{self.name}.err")


def _read(path: Path) -> str:
    return path.read_text() if path.exists() else ""


def _fields(**overrides: Any) -> dict[str, Any]:
    return {**asdict(DockerInfo()), **overrides}


def _healthy(version: str, backing: str, cgroup_version: str | None = None) -> dict[str, Any]:
    return _fields(
        server_version=version,
        cgroup_driver="systemd",
        storage_driver="overlay2",
        cgroup_version=cgroup_version,
        backing_filesystem=backing,
        supports_d_type=True,
    )


RECORDINGS = [
    Recording(
        "text-19.03.11-systemd-xfs",
        "facts note §1.1 (idx:23391162341), CentOS 7, docker-ce 19.03.11",
        _healthy("19.03.11", "xfs"),  # 19.03 prints no Cgroup Version: stays None
    ),
    Recording(
        "text-19.03.4-cgroupfs-extfs",
        "facts note §1.2 (idx:36222706432), CentOS 7.6, default driver",
        _fields(
            server_version="19.03.4",
            cgroup_driver="cgroupfs",
            storage_driver="overlay2",
            backing_filesystem="extfs",
            supports_d_type=True,
        ),
        ["cgroup driver is cgroupfs, expected systemd"],
    ),
    Recording(
        "text-19.03.15-cgroupfs-xfs-cli20.10",
        "facts note §1.2b (idx:8896600279), 20.10 CLI and 19.03.15 daemon; prefix before [...]",
        _fields(
            server_version="19.03.15",
            cgroup_driver="cgroupfs",
            storage_driver="overlay2",
            backing_filesystem="xfs",
            supports_d_type=True,
        ),
        ["cgroup driver is cgroupfs, expected systemd"],
    ),
    Recording(
        "text-19.03.15-systemd-xfs-excerpt",
        "facts note §1.2b (idx:3509681398), CentOS 8; prefix before [...]",
        _healthy("19.03.15", "xfs"),
    ),
    Recording(
        "text-19.03.8-unknown-backingfs",
        "facts note §1.3 (idx:12004445917), 'Backing Filesystem: <unknown>' (moby/moby#40626)",
        _fields(
            server_version="19.03.8",
            cgroup_driver="cgroupfs",
            storage_driver="overlay2",
            supports_d_type=True,
        ),
        ["cgroup driver is cgroupfs, expected systemd"],
    ),
    Recording(
        "text-18.09.2-old-layout",
        "steniowagner/bon-appetit-server:DOCKER_DEBUG.md (unindented <=18.09 layout)",
        _fields(
            server_version="18.09.2",
            cgroup_driver="cgroupfs",
            storage_driver="overlay2",
            backing_filesystem="extfs",
            supports_d_type=True,
        ),
        ["cgroup driver is cgroupfs, expected systemd"],
    ),
    Recording(
        "text-1.12-bridge-warnings",
        "facts note §1.4 (moby/moby#24809), old-layout tail with bridge warnings",
        _fields(
            warnings=(
                "WARNING: bridge-nf-call-iptables is disabled",
                "WARNING: bridge-nf-call-ip6tables is disabled",
            )
        ),
        ["engine reported nothing: docker info printed no server section"],
    ),
    Recording(
        "text-20.10-dtype-xfs-ftype0",
        "facts note §1.4 (idx:21923296760), tail of 20.10 on xfs ftype=0",
        _fields(backing_filesystem="xfs", supports_d_type=False, warnings=(D_TYPE_XFS_WARNING,)),
        ["engine reported nothing: docker info printed no server section"],
    ),
    Recording(
        "text-20.10.2-cgroupfs-xfs-excerpt",
        "facts note §1.5 (kata-containers/kata-containers#3385), cut before 'Cgroup Ver[...]'",
        _fields(
            server_version="20.10.2",
            cgroup_driver="cgroupfs",
            storage_driver="overlay2",
            backing_filesystem="xfs",
            supports_d_type=True,
        ),
        ["cgroup driver is cgroupfs, expected systemd"],
    ),
    Recording(
        "text-20.10-grep-cgroup-v1",
        "facts note §1.5 (idx:49733347483), 'docker info | grep Cgroup' on 20.10",
        _fields(cgroup_driver="systemd", cgroup_version="1"),
        ["storage driver not reported, expected overlay2"],
    ),
    Recording(
        "text-20.10.6-cgroupfs-v1",
        "facts note §1.5 (maricaantonacci/docker-tutorial:docs/basics/index.md), Ubuntu 20.04",
        _fields(
            server_version="20.10.6",
            cgroup_driver="cgroupfs",
            storage_driver="overlay2",
            cgroup_version="1",
            backing_filesystem="extfs",
            supports_d_type=True,
            warnings=("WARNING: No swap limit support",),
        ),
        ["cgroup driver is cgroupfs, expected systemd"],
    ),
    Recording(
        "text-20.10.24-systemd-v2-rocky9",
        "facts note §1.5 (idx:14991660344), Rocky 9.2; prefix before [...]",
        _healthy("20.10.24", "xfs", cgroup_version="2"),
    ),
    Recording(
        "text-24.0.7-systemd-v2",
        "facts note §1.6 (longpt233/hello-k8s:06-kube-gpu/mig/docker.sh); prefix before [...]",
        _healthy("24.0.7", "extfs", cgroup_version="2"),
    ),
    Recording(
        "text-27.5.1-systemd-v2-rocky9",
        "facts note §1.6 (idx:65760003025), 'Client: Docker Engine - Community' header",
        _healthy("27.5.1", "extfs", cgroup_version="2"),
    ),
    Recording(
        "text-29.5.2-overlayfs-containerd",
        "facts note §1.6 (idx:68695215572), containerd image store; prefix before [...]",
        _fields(
            server_version="29.5.2",
            cgroup_driver="cgroupfs",
            storage_driver="overlayfs",
            cgroup_version="2",
            storage_driver_type="io.containerd.snapshotter.v1",
        ),
        [
            "cgroup driver is cgroupfs, expected systemd",
            "storage driver is overlayfs (containerd image store), expected overlay2",
        ],
    ),
    Recording(
        "text-23.0.5-rootless-vfs",
        "facts note §1.7 (docker/for-linux#1454), rootless; prefix before [...]",
        _fields(
            server_version="23.0.5", cgroup_driver="none", storage_driver="vfs", cgroup_version="1"
        ),
        ["cgroup driver is none, expected systemd", "storage driver is vfs, expected overlay2"],
    ),
    Recording(
        "json-17.06-no-swarm-golden",
        "facts note §2.1 (docker/cli testdata/docker-info-no-swarm.json.golden)",
        _fields(
            server_version="17.06.1-ce",
            cgroup_driver="cgroupfs",
            storage_driver="overlay2",
            backing_filesystem="extfs",
            supports_d_type=True,
        ),
        ["cgroup driver is cgroupfs, expected systemd"],
    ),
    Recording(
        "json-17.06-daemon-warnings-golden",
        "docker/cli:cli/command/system/testdata/docker-info-daemon-warnings.json.golden "
        "(facts note §2.1 quotes its Warnings array)",
        _fields(
            server_version="17.06.1-ce",
            cgroup_driver="cgroupfs",
            storage_driver="overlay2",
            backing_filesystem="extfs",
            supports_d_type=True,
            warnings=(
                "WARNING: No memory limit support",
                "WARNING: No swap limit support",
                "WARNING: No oom kill disable support",
                "WARNING: No cpu cfs quota support",
                "WARNING: No cpu cfs period support",
                "WARNING: No cpu shares support",
                "WARNING: No cpuset support",
                "WARNING: IPv4 forwarding is disabled",
            ),
        ),
        ["cgroup driver is cgroupfs, expected systemd"],
    ),
    Recording(
        "down-18.09",
        "facts note §2.2 (docker/for-win#4049): bare message, exit 1",
        _fields(server_errors=(CANNOT_CONNECT,)),
        [f"engine not running: {CANNOT_CONNECT}"],
    ),
    Recording(
        "down-19.03",
        "facts note §2.2 (vdesabou/kafka-docker-playground#215 lines, 19.03 stdout part)",
        _fields(server_errors=(CANNOT_CONNECT,)),
        [f"engine not running: {CANNOT_CONNECT}"],
    ),
    Recording(
        "down-26.1.4",
        "facts note §2.2 (docker/for-mac#7354)",
        _fields(server_errors=(CANNOT_CONNECT,)),
        [f"engine not running: {CANNOT_CONNECT}"],
    ),
    Recording(
        "format-down-28.0.1",
        "facts note §2.2 (docker/cli#5900): --format with the daemon down, exit 0",
        _fields(
            server_errors=(
                "Cannot connect to the Docker daemon at unix:///non-existent. "
                "Is the docker daemon running?",
            )
        ),
        [
            "engine not running: Cannot connect to the Docker daemon at unix:///non-existent. "
            "Is the docker daemon running?"
        ],
    ),
    Recording(
        "permission-denied-19.03",
        "public 19.03 pastes of 'docker info' outside the docker group (GitHub text "
        "'docker.sock/v1.40/info: dial unix'); wording as in facts note §2.2",
        _fields(server_errors=(PERMISSION_DENIED,)),
        [f"engine not reachable: {PERMISSION_DENIED}"],
    ),
    Recording(
        "json-down-19.03",
        "derived from docker/cli 19.03 info.go: nil server info, ServerErrors, no stderr",
        _fields(server_errors=(CANNOT_CONNECT,)),
        [f"engine not running: {CANNOT_CONNECT}"],
    ),
    Recording(
        "json-down-current",
        "derived and abbreviated from docker/cli info.go (24+): zero-valued server fields "
        "as empty strings, ServerErrors, and the bare message on stderr",
        _fields(server_errors=(CANNOT_CONNECT,)),
        [f"engine not running: {CANNOT_CONNECT}"],
    ),
]
HEALTHY = {
    "text-19.03.11-systemd-xfs",
    "text-19.03.15-systemd-xfs-excerpt",
    "text-20.10.24-systemd-v2-rocky9",
    "text-24.0.7-systemd-v2",
    "text-27.5.1-systemd-v2-rocky9",
}


def _ids(recordings: list[Recording]) -> list[str]:
    return [r.name for r in recordings]


def _recording(name: str) -> Recording:
    return next(r for r in RECORDINGS if r.name == name)


def test_every_data_file_is_listed_with_a_source() -> None:
    on_disk = {path.name.rsplit(".", 1)[0] for path in DATA.iterdir()}
    listed = {r.name for r in RECORDINGS}
    assert on_disk == listed
    assert all(r.source for r in RECORDINGS)


@pytest.mark.parametrize("recording", RECORDINGS, ids=_ids(RECORDINGS))
def test_recorded_output_fields(recording: Recording) -> None:
    out, err = recording.streams()
    assert asdict(parse_docker_info(out, err)) == recording.expected


@pytest.mark.parametrize("recording", RECORDINGS, ids=_ids(RECORDINGS))
def test_recorded_output_mismatches(recording: Recording) -> None:
    out, err = recording.streams()
    info = parse_docker_info(out, err)
    assert check_docker_info(info, "systemd", "overlay2") == recording.mismatches
    assert (recording.name in HEALTHY) == (recording.mismatches == [])


@pytest.mark.parametrize("recording", RECORDINGS, ids=_ids(RECORDINGS))
def test_a_pty_merging_stderr_into_stdout_reads_the_same(recording: Recording) -> None:
    out, err = recording.streams()
    assert parse_docker_info(out + err, "") == parse_docker_info(out, err)


def test_text_layout_values_are_stripped_of_label_padding() -> None:
    out, _ = _recording("text-27.5.1-systemd-v2-rocky9").streams()
    assert " Version:    27.5.1" in out
    assert parse_docker_info(out).server_version == "27.5.1"


# --- edge cases fed inline -----------------------------------------------------------------


def test_json_wrapped_in_literal_shell_quotes() -> None:
    # argv ["docker", "info", "-f", "'{{json .}}'"] without a shell keeps the quotes.
    out = "'" + json.dumps({"ServerVersion": "20.10.7", "CgroupVersion": "1"}) + "'\n"
    info = parse_docker_info(out)
    assert (info.server_version, info.cgroup_version) == ("20.10.7", "1")


def test_json_cgroup_version_absent_is_none_not_one() -> None:
    out = json.dumps({"ServerVersion": "19.03.11", "CgroupDriver": "systemd"})
    assert parse_docker_info(out).cgroup_version is None


def test_json_cgroup_version_as_number_is_kept_as_text() -> None:
    assert parse_docker_info('{"CgroupVersion": 2}').cgroup_version == "2"


def test_json_multiline_daemon_warning_becomes_one_string() -> None:
    # moby daemon/info.go fillDriverWarnings (facts note §1.4) puts newlines in the string.
    warning = (
        "WARNING: overlay2: the backing xfs filesystem is formatted without d_type support, "
        "which leads to incorrect behavior.\n"
        "         Reformat the filesystem with ftype=1 to enable d_type support.\n"
        "         Running without d_type support will not be supported in future releases."
    )
    doc = {
        "ServerVersion": "19.03.11",
        "Driver": "overlay2",
        "CgroupDriver": "systemd",
        "DriverStatus": [["Backing Filesystem", "xfs"], ["Supports d_type", "false"]],
        "Warnings": [warning],
    }
    info = parse_docker_info(json.dumps(doc))
    assert info.warnings == (D_TYPE_XFS_WARNING,)
    assert info.supports_d_type is False
    assert check_docker_info(info, "systemd", "overlay2") == [
        "overlay2 without d_type support on xfs (reformat with ftype=1)"
    ]


def test_json_and_stderr_report_the_same_error_once() -> None:
    out, err = json.dumps({"ServerErrors": [CANNOT_CONNECT]}), CANNOT_CONNECT + "\n"
    assert parse_docker_info(out, err).server_errors == (CANNOT_CONNECT,)


def test_warnings_glued_together_by_a_paste_are_split() -> None:
    # facts note §1.4, idx:16252958228: newlines lost between warnings.
    err = (
        "WARNING: bridge-nf-call-iptables is disabledWARNING: bridge-nf-call-ip6tables is disabled"
    )
    assert parse_docker_info("", err).warnings == (
        "WARNING: bridge-nf-call-iptables is disabled",
        "WARNING: bridge-nf-call-ip6tables is disabled",
    )


def test_ancient_logrus_form_is_a_server_error() -> None:
    # facts note §2.2, moby/moby#12047 (Docker 1.5 on CentOS 7).
    err = "FATA[0000] Cannot connect to the Docker daemon. Is 'docker -d' running on this host?"
    info = parse_docker_info("", err)
    assert info.server_errors == (
        "Cannot connect to the Docker daemon. Is 'docker -d' running on this host?",
    )


def test_format_flag_unknown_to_an_old_cli_asks_for_the_text_command() -> None:
    info = parse_docker_info("", "unknown flag: --format\nSee 'docker info --help'.\n")
    assert info.is_empty
    assert info.server_errors == ()
    assert DOCKER_INFO_TEXT_COMMAND == "docker info"
    assert DOCKER_INFO_COMMAND == "docker info --format '{{json .}}'"


@pytest.mark.parametrize(
    "stdout",
    ["", "null\n", "<no value>\n", "[]", '"text"', "{broken json", "{}", "Server:\n"],
)
def test_null_ish_and_broken_output_gives_an_empty_info(stdout: str) -> None:
    info = parse_docker_info(stdout)
    assert info == DockerInfo()
    assert info.is_empty


def test_a_brace_inside_a_text_value_does_not_switch_to_json() -> None:
    out = " Labels:\n  note={x}\n Server Version: 24.0.7\n Cgroup Driver: systemd\n"
    info = parse_docker_info(out)
    assert (info.server_version, info.cgroup_driver) == ("24.0.7", "systemd")


def test_json_driver_status_of_the_wrong_shape_is_ignored() -> None:
    doc = {"Driver": "overlay2", "DriverStatus": [["Backing Filesystem"], "x", [1, 2], None]}
    info = parse_docker_info(json.dumps(doc))
    assert (info.storage_driver, info.backing_filesystem, info.supports_d_type) == (
        "overlay2",
        None,
        None,
    )


# --- check_docker_info ---------------------------------------------------------------------

CHECKS = [
    (_healthy("19.03.11", "xfs"), []),
    (
        {**_healthy("19.03.11", "xfs"), "storage_driver": "devicemapper"},
        ["storage driver is devicemapper, expected overlay2"],
    ),
    (
        {**_healthy("19.03.11", "xfs"), "supports_d_type": False},
        ["overlay2 without d_type support on xfs (reformat with ftype=1)"],
    ),
    (
        {**_healthy("19.03.11", "extfs"), "supports_d_type": False},
        ["overlay2 without d_type support on extfs (enable it with tune2fs -O filetype)"],
    ),
    (
        {**_healthy("19.03.8", "xfs"), "backing_filesystem": None, "supports_d_type": False},
        ["overlay2 without d_type support (backing filesystem not reported)"],
    ),
    (
        {**_healthy("19.03.11", "xfs"), "cgroup_driver": None},
        ["cgroup driver not reported, expected systemd"],
    ),
    (
        {**_healthy("19.03.11", "xfs"), "server_errors": ("Error response from daemon: boom",)},
        ["engine error: Error response from daemon: boom"],
    ),
    (_fields(), ["engine reported nothing: docker info printed no server section"]),
]


@pytest.mark.parametrize(("fields", "expected"), CHECKS)
def test_check_sentences(fields: dict[str, Any], expected: list[str]) -> None:
    assert check_docker_info(DockerInfo(**fields), "systemd", "overlay2") == expected


def test_check_compares_driver_names_case_insensitively() -> None:
    info = DockerInfo(**_healthy("20.10.24", "xfs", "2"))
    assert check_docker_info(info, "Systemd", " overlay2 ") == []


def test_check_reports_cgroupfs_against_a_cgroupfs_requirement_as_compliant() -> None:
    out, err = _recording("text-19.03.4-cgroupfs-extfs").streams()
    assert check_docker_info(parse_docker_info(out, err), "cgroupfs", "overlay2") == []


# --- never raises ----------------------------------------------------------------------------

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=20), children, max_size=4)
    ),
    max_leaves=20,
)
INFO_KEYS = st.sampled_from(
    (
        "ServerVersion",
        "Driver",
        "CgroupDriver",
        "CgroupVersion",
        "DriverStatus",
        "Warnings",
        "ServerErrors",
    )
)


@settings(max_examples=300)
@given(st.text(), st.text())
def test_any_text_parses_without_raising(stdout: str, stderr: str) -> None:
    info = parse_docker_info(stdout, stderr)
    assert isinstance(info, DockerInfo)
    assert isinstance(check_docker_info(info, "systemd", "overlay2"), list)


@settings(max_examples=300)
@given(st.dictionaries(INFO_KEYS, JSON_VALUES), st.sampled_from(["", "'", "junk\n"]))
def test_any_json_shape_parses_without_raising(doc: dict[str, Any], prefix: str) -> None:
    info = parse_docker_info(prefix + json.dumps(doc))
    assert all(isinstance(w, str) and "\n" not in w for w in info.warnings)
    assert info.server_version is None or isinstance(info.server_version, str)


@settings(max_examples=200)
@given(st.lists(st.sampled_from(RECORDINGS), min_size=1, max_size=3), st.text(max_size=40))
def test_recordings_with_noise_appended_parse_without_raising(
    recordings: list[Recording], noise: str
) -> None:
    out = "".join(r.streams()[0] for r in recordings) + noise
    assert isinstance(parse_docker_info(out, noise), DockerInfo)
