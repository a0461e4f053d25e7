"""The simulated engine: configuration -> start or dockerd's error; docker info/version layouts."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from tests.lab.simkit import NOBODY, SimHost, ok

PREFIX = "unable to configure the Docker daemon with file /etc/docker/daemon.json: "
JOB_FAILED = (
    "Job for docker.service failed because the control process exited with error code. "
    'See "systemctl status docker.service" and "journalctl -xe" for details.\n'
)
DAEMON_DOWN = "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?"
D_TYPE_REFUSED = (
    "failed to start daemon: error initializing graphdriver: overlay2: the backing xfs filesystem is "
    "formatted without d_type support, which leads to incorrect behavior. Reformat the filesystem with "
    "ftype=1 to enable d_type support. Backing filesystems without d_type support are not supported."
)


def restart_fails_with(host: SimHost, daemon_json: str | None, message: str) -> None:
    if daemon_json is not None:
        host.write("/etc/docker/daemon.json", daemon_json)
    result = host.run("systemctl restart docker")
    assert (result.returncode, result.stderr) == (1, JOB_FAILED)
    assert host.run("systemctl is-active docker").stdout == "failed\n"
    log = ok(host, "journalctl -u docker").stdout
    assert "dockerd[" in log
    assert [line for line in log.splitlines() if "dockerd[" in line][-1].endswith(": " + message)


@pytest.mark.parametrize(
    ("version", "text", "error"),
    [
        ("19.03.11", '{\n  "exec-opts": ["native.cgroupdriver=systemd"],\n}\n',
         "invalid character '}' looking for beginning of object key string"),
        ("19.03.11", '{\n  "log-driver": "json-file"\n  "exec-opts": ["native.cgroupdriver=systemd"]\n}\n',
         "invalid character '\"' after object key:value pair"),
        ("19.03.11", '{\n  // kubernetes\n  "exec-opts": ["native.cgroupdriver=systemd"]\n}\n',
         "invalid character '/' looking for beginning of object key string"),
        ("19.03.11", "<html><body>404</body></html>\n",
         "invalid character '<' looking for beginning of value"),
        # to 20.10 a json.Decoder reads the file: an empty one is EOF (GH moby/moby#41268),
        # a cut one "unexpected EOF", and only the first document is read
        ("19.03.11", "", "EOF"),
        ("20.10.7", '{"debug": tru', "unexpected EOF"),
        ("19.03.11", '{"debug": true}\n{"b": 2}\n', None),
        ("24.0.7", '{"a": 1}\n{"b": 2}\n', "invalid character '{' after top-level value"),
        ("24.0.7", '{"debug": tru', "unexpected end of JSON input"),
        ("19.03.11", '{"exec-opts": "native.cgroupdriver=systemd"}',
         "json: cannot unmarshal string into Go struct field Config.exec-opts of type []string"),
        ("19.03.11", '{"cgroup-driver": "systemd"}',
         "the following directives don't match any configuration option: cgroup-driver"),
    ],
)  # fmt: skip
def test_daemon_json_errors_are_dockerds(
    make_host: Callable[..., SimHost], version: str, text: str, error: str | None
) -> None:
    host = make_host(os="centos7", engine={"version": version, "running": True})
    if error is None:
        host.write("/etc/docker/daemon.json", text)
        ok(host, "systemctl restart docker")
        return
    restart_fails_with(host, text, PREFIX + error)
    info = host.run("docker info")
    assert info.returncode == 1
    assert info.stdout.endswith("\nServer:\n")
    assert info.stderr.endswith(f"ERROR: {DAEMON_DOWN}\nerrors pretty printing info\n")


def test_blank_daemon_json_is_no_configuration_from_23(make_host: Callable[..., SimHost]) -> None:
    host = make_host(os="rocky9", engine={"version": "24.0.7", "running": True})
    host.write("/etc/docker/daemon.json", "\ufeff \n")
    ok(host, "systemctl restart docker")
    old = make_host(os="centos7", engine={"version": "20.10.7", "running": True})
    restart_fails_with(
        old, "\ufeff{}", PREFIX + "invalid character 'ï' looking for beginning of value"
    )


def test_flag_and_file_conflict(make_host: Callable[..., SimHost]) -> None:
    host = make_host(os="centos7", engine={"version": "19.03.11", "running": True})
    restart_fails_with(
        host,
        '{"hosts": ["tcp://0.0.0.0:2376", "unix:///var/run/docker.sock"]}',
        PREFIX
        + "the following directives are specified both as a flag and in the configuration file: "
        "hosts: (from flag: [fd://], from file: [tcp://0.0.0.0:2376 unix:///var/run/docker.sock])",
    )
    host.write("/etc/docker/daemon.json", '{"exec-opts": ["native.cgroupdriver=systemd"]}')
    host.write(
        "/etc/systemd/system/docker.service.d/override.conf",
        "[Service]\nExecStart=\nExecStart=/usr/bin/dockerd -H fd:// --exec-opt native.cgroupdriver=systemd\n",
    )
    ok(host, "systemctl daemon-reload")
    restart_fails_with(
        host, None,
        PREFIX + "the following directives are specified both as a flag and in the configuration file: "
        "exec-opts: (from flag: [native.cgroupdriver=systemd], from file: [native.cgroupdriver=systemd])",
    )  # fmt: skip


@pytest.mark.parametrize(
    ("os_key", "version", "daemon_json", "driver", "cgroup_version"),
    [
        ("centos7", "19.03.11", None, "cgroupfs", None),
        ("centos7", "19.03.11", '{"exec-opts": ["native.cgroupdriver=systemd"]}', "systemd", None),
        ("centos7", "20.10.7", None, "cgroupfs", "1"),
        ("rocky9", "20.10.24", None, "systemd", "2"),
        ("rocky9", "24.0.7", '{"exec-opts": ["native.cgroupdriver=cgroupfs"]}', "cgroupfs", "2"),
    ],
)
def test_cgroup_driver_follows_config_and_cgroup_version(
    make_host: Callable[..., SimHost], os_key: str, version: str, daemon_json: str | None,
    driver: str, cgroup_version: str | None,
) -> None:  # fmt: skip
    host = make_host(
        os=os_key, engine={"version": version, "running": True}, daemon_json=daemon_json
    )
    data = json.loads(ok(host, "docker info --format '{{json .}}'").stdout)
    assert data["CgroupDriver"] == driver
    assert data["ServerVersion"] == version
    assert data["Driver"] == "overlay2"
    assert data.get("CgroupVersion") == cgroup_version
    text = ok(host, "docker info").stdout
    assert f" Cgroup Driver: {driver}\n" in text
    assert (" Cgroup Version: " in text) == (cgroup_version is not None)


def test_invalid_cgroup_driver_value(make_host: Callable[..., SimHost]) -> None:
    host = make_host(os="centos7", engine={"version": "19.03.11", "running": True})
    restart_fails_with(host, '{"exec-opts": ["native.cgroupdriver=system"]}',
                       "failed to start daemon: native.cgroupdriver option system not supported")  # fmt: skip


def test_override_kernel_check_is_refused_from_24(make_host: Callable[..., SimHost]) -> None:
    options = (
        '{"storage-driver": "overlay2", "storage-opts": ["overlay2.override_kernel_check=true"]}'
    )
    old = make_host(
        os="centos7", engine={"version": "19.03.11", "running": True}, daemon_json=options
    )
    assert ok(old, "systemctl is-active docker").stdout == "active\n"
    new = make_host(
        os="centos7", engine={"version": "24.0.7", "running": False}, daemon_json=options
    )
    result = new.run("systemctl start docker")
    assert (result.returncode, result.stderr) == (1, JOB_FAILED)
    assert (
        "failed to start daemon: error initializing graphdriver: overlay2: unknown option "
        "overlay2.override_kernel_check: overlay2"
    ) in ok(new, "journalctl -u docker").stdout
    status = new.run("systemctl status docker")
    assert status.returncode == 3
    assert "   Active: failed (Result: exit-code) since" in status.stdout
    assert " Main PID: " in status.stdout and "(code=exited, status=1/FAILURE)" in status.stdout


def test_xfs_without_d_type(make_host: Callable[..., SimHost]) -> None:
    ftype0 = {"fs": "xfs", "ftype": 0}
    warned = make_host(
        os="centos7", engine={"version": "19.03.11", "running": True}, var_lib_docker=ftype0
    )
    info = ok(warned, "docker info")
    assert "  Supports d_type: false\n" in info.stdout
    assert info.stdout.endswith(" Live Restore Enabled: false\n\n")
    assert info.stderr == (
        "WARNING: overlay2: the backing xfs filesystem is formatted without d_type support, which leads "
        "to incorrect behavior.\n"
        "         Reformat the filesystem with ftype=1 to enable d_type support.\n"
        "         Running without d_type support will not be supported in future releases.\n"
    )
    assert json.loads(ok(warned, "docker info --format '{{json .Warnings}}'").stdout)[0].startswith(
        "WARNING: overlay2"
    )
    restart_fails_with(warned, '{"storage-driver": "overlay2"}', D_TYPE_REFUSED)
    newer = make_host(
        os="centos7", engine={"version": "23.0.6", "running": True}, var_lib_docker=ftype0
    )
    assert newer.run("systemctl is-active docker").stdout == "failed\n"
    assert D_TYPE_REFUSED in ok(newer, "journalctl -u docker").stdout


def test_engine_fails_fault_wins_over_any_config(make_host: Callable[..., SimHost]) -> None:
    message = "failed to start daemon: Error initializing network controller: iptables failed"
    host = make_host(
        os="centos7",
        engine={"version": "19.03.11", "running": True},
        faults={"engine_fails": message},
    )
    assert host.run("systemctl is-active docker").stdout == "failed\n"
    restart_fails_with(host, None, message)


def test_dockerd_validate(make_host: Callable[..., SimHost]) -> None:
    old = make_host(os="centos7", engine={"version": "20.10.7"})
    result = old.run("dockerd --validate --config-file /etc/docker/daemon.json")
    # cobra's FlagErrorFunc StatusError, printed by main() with "%s", exit 1 (cmd/dockerd)
    assert (result.returncode, result.stderr) == (
        1,
        "Status: unknown flag: --validate\nSee 'dockerd --help'., Code: 125\n",
    )
    new = make_host(os="rocky9", engine={"version": "24.0.7"}, daemon_json={"log-level": "warn"})
    valid = new.run("dockerd --validate --config-file /etc/docker/daemon.json")
    # printed on stderr, "to align with other tools, such as nginx -t" (cmd/dockerd/docker.go)
    assert (valid.returncode, valid.stdout, valid.stderr) == (0, "", "configuration OK\n")
    new.write("/etc/docker/daemon.json", '{"log-level": "warn",}')
    invalid = new.run("dockerd --validate --config-file /etc/docker/daemon.json")
    assert invalid.returncode == 1
    assert (
        invalid.stderr
        == PREFIX + "invalid character '}' looking for beginning of object key string\n"
    )
    assert new.run("dockerd --version").stdout == "Docker version 24.0.7, build 311b9ff\n"


def test_info_layouts_by_version(make_host: Callable[..., SimHost]) -> None:
    v19 = ok(
        make_host(os="centos7", name="n19", engine={"version": "19.03.11"}), "docker info"
    ).stdout
    assert v19.startswith("Client:\n Debug Mode: false\n\nServer:\n Containers: 0\n")
    assert " Registry: https://index.docker.io/v1/\n" in v19
    assert " ID: " in v19 and len(v19.split(" ID: ")[1].split("\n")[0].split(":")) == 12
    assert " Operating System: CentOS Linux 7 (Core)\n Kernel" not in v19
    assert (
        " Kernel Version: 3.10.0-1160.el7.x86_64\n Operating System: CentOS Linux 7 (Core)\n" in v19
    )
    v20 = ok(make_host(os="centos7", engine={"version": "20.10.7"}), "docker info").stdout
    assert v20.startswith("Client:\n Context:    default\n Debug Mode: false\n Plugins:\n")
    assert "  userxattr: false\n Logging Driver: json-file\n" in v20
    assert " Runtimes: io.containerd.runc.v2 io.containerd.runtime.v1.linux runc\n" in v20
    v24 = ok(make_host(os="rocky9", engine={"version": "24.0.7"}), "docker info").stdout
    assert v24.startswith("Client: Docker Engine - Community\n Version:    24.0.7\n")
    assert "  Using metacopy: false\n" in v24
    assert " Registry:" not in v24
    assert "   Profile: builtin\n  cgroupns\n" in v24
    assert " Operating System: Rocky Linux 9.3 (Blue Onyx)\n" in v24


def test_daemon_down_forms(make_host: Callable[..., SimHost]) -> None:
    host = make_host(os="rocky9", engine={"version": "24.0.7", "running": False})
    down = host.run("docker info")
    assert down.returncode == 1
    assert down.stdout == (
        "Client: Docker Engine - Community\n Version:    24.0.7\n Context:    default\n"
        " Debug Mode: false\n\nServer:\n"
    )
    assert down.stderr == f"ERROR: {DAEMON_DOWN}\nerrors pretty printing info\n"
    formatted = host.run("docker info --format '{{.CgroupDriver}}'")
    assert (formatted.returncode, formatted.stdout, formatted.stderr) == (
        0,
        "\n",
        DAEMON_DOWN + "\n",
    )
    version = host.run("docker version --format '{{.Server.Version}}'")
    assert version.returncode == 1
    assert version.stderr == DAEMON_DOWN + "\n"


def test_non_root_docker_gets_permission_denied(make_host: Callable[..., SimHost]) -> None:
    host = make_host(os="centos7", engine={"version": "19.03.11", "running": True})
    result = host.run("docker info", as_user=NOBODY)
    assert result.returncode == 1
    assert result.stderr.startswith(
        "ERROR: Got permission denied while trying to connect to the Docker daemon socket at "
        "unix:///var/run/docker.sock: Get http://%2Fvar%2Frun%2Fdocker.sock/v1.40/info: "
        "dial unix /var/run/docker.sock: connect: permission denied\n"
    )
    newer = make_host(os="rocky9", engine={"version": "24.0.7", "running": True})
    result = newer.run("docker version --format '{{.Server.Version}}'", as_user=NOBODY)
    assert result.returncode == 1
    assert 'Get "http://%2Fvar%2Frun%2Fdocker.sock/v1.43/version"' in result.stderr


def test_format_templates(make_host: Callable[..., SimHost]) -> None:
    host = make_host(os="centos7", engine={"version": "19.03.11"})
    assert ok(host, "docker info -f '{{.Driver}}/{{.CgroupDriver}}/{{.ServerVersion}}'").stdout == (
        "overlay2/cgroupfs/19.03.11\n"
    )
    assert ok(host, "docker info --format '{{json .DriverStatus}}'").stdout == (
        '[["Backing Filesystem","xfs"],["Supports d_type","true"],["Native Overlay Diff","true"]]\n'
    )
    assert ok(host, "docker version --format '{{.Client.Version}} {{.Server.Version}}'").stdout == (
        "19.03.11 19.03.11\n"
    )
    bad = host.run("docker info --format '{{nosuch .}}'")
    assert (bad.returncode, bad.stderr) == (
        64,
        'template parsing error: template: :1: function "nosuch" not defined\n',
    )
    assert ok(host, "docker --version").stdout == "Docker version 19.03.11, build 42e35e61f3\n"


def test_file_systems(make_host: Callable[..., SimHost]) -> None:
    root_xfs = make_host(os="centos7", var_lib_docker={"fs": "xfs", "ftype": 0})
    assert ok(root_xfs, "findmnt -n -o FSTYPE,TARGET -T /var/lib/docker").stdout == "xfs /\n"
    info = ok(root_xfs, "xfs_info /").stdout
    assert "naming   =version 2              bsize=4096   ascii-ci=0 ftype=0\n" in info
    assert info.startswith("meta-data=/dev/mapper/centos-root isize=256")
    not_mount = root_xfs.run("xfs_info /var/lib/docker")
    assert (not_mount.returncode, not_mount.stderr) == (
        1,
        "xfs_info: /var/lib/docker is not a mounted XFS filesystem\n",
    )
    ext4 = make_host(os="centos7", var_lib_docker={"fs": "ext4", "mount": "/var/lib/docker"})
    assert (
        ok(ext4, "findmnt -n -o FSTYPE,TARGET -T /var/lib/docker/overlay2").stdout
        == "ext4 /var/lib/docker\n"
    )
    assert ok(ext4, "findmnt -n -o FSTYPE -T /var/lib").stdout == "xfs\n"
    assert ext4.run("xfs_info /var/lib/docker").returncode == 1
    assert "ftype=1" in ok(ext4, "xfs_info /").stdout
