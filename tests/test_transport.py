"""The transport against a real OpenSSH sshd started for this module (root only).

A tiny sshd with a low MaxStartups shows that fleet's connections retry a busy
server instead of failing, and the basic command path (exit codes, stderr, stdin,
timeouts, held commands) is exercised over real SSH.
"""

from __future__ import annotations

import concurrent.futures
import hashlib
import os
import shutil
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from fleet.inventory import Host
from fleet.transport import CommandTimeout, ConnectOptions, Connector, HostKeyRejected

ADDRESS = "127.0.99.1"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind((ADDRESS, 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Host]:
    if (
        os.geteuid() != 0
        or not os.access("/usr/sbin/sshd", os.X_OK)
        or not shutil.which("ssh-keygen")
    ):
        pytest.skip("needs root and OpenSSH's sshd (apt-get install openssh-server)")
    d = tmp_path_factory.mktemp("sshd")
    for name in ("host", "client"):
        subprocess.run(
            ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(d / name)], check=True
        )
    port = _free_port()
    (d / "config").write_text(
        f"ListenAddress {ADDRESS}:{port}\nHostKey {d / 'host'}\nAuthorizedKeysFile {d / 'client.pub'}\n"
        f"PidFile {d / 'pid'}\nStrictModes no\nUsePAM no\nPasswordAuthentication no\n"
        "MaxStartups 3:100:3\nPermitRootLogin yes\n"
    )
    Path("/run/sshd").mkdir(exist_ok=True)
    proc = subprocess.Popen(
        ["/usr/sbin/sshd", "-D", "-e", "-f", str(d / "config")], stderr=subprocess.DEVNULL
    )
    host_key = (d / "host.pub").read_text().split()[:2]
    (d / "known_hosts").write_text(f"[{ADDRESS}]:{port} {' '.join(host_key)}\n")
    _wait_listening(port, proc)
    yield Host("t1", ADDRESS, port, "root", str(d / "client"), known_hosts=str(d / "known_hosts"))
    proc.terminate()
    proc.wait(timeout=30)


def _wait_listening(port: int, proc: subprocess.Popen) -> None:
    for _ in range(200):
        try:
            socket.create_connection((ADDRESS, port), timeout=1).close()
            return
        except OSError:
            try:
                proc.wait(timeout=0.05)  # waits on the process, and notices if it died
            except subprocess.TimeoutExpired:
                continue
            raise AssertionError("sshd exited") from None
    raise AssertionError("sshd did not listen")


def test_commands_return_status_streams_and_stdin(sshd):
    connection = Connector(ConnectOptions()).connect(sshd)
    try:
        result = connection.run("echo out; echo err >&2; exit 3")
        assert (result.exit_code, result.stdout, result.stderr) == (3, "out\n", "err\n")
        assert connection.run("wc -c", stdin=b"x" * 300_000).stdout.strip() == "300000"
        with pytest.raises(CommandTimeout):
            connection.run("sleep 30", timeout=1)
    finally:
        connection.close()


def test_a_held_shell_serves_later_root_commands_on_the_same_channel(sshd):
    connection = Connector(ConnectOptions()).connect(sshd)
    try:
        held = connection.run("echo ready; exec sh -s", sudo=True, serve_after="ready")
        assert held.stdout == "ready\n"
        # Same shell every time: it is the grandparent of each command (the
        # parent is the shell's subshell for the command's pipeline).
        grandparent = "cut -d' ' -f4 /proc/$PPID/stat"
        shell_pid = connection.run(grandparent, sudo=True).stdout
        assert shell_pid.strip().isdigit()
        assert connection.run(grandparent, sudo=True).stdout == shell_pid
        result = connection.run("echo out; echo err >&2; printf tail >&2; exit 3", sudo=True)
        assert (result.exit_code, result.stdout, result.stderr) == (3, "out\n", "err\ntail")
        payload = bytes(range(256)) * 1000
        assert connection.run("md5sum", sudo=True, stdin=payload).stdout.split()[0] == (
            hashlib.md5(payload).hexdigest()
        )
        assert connection.run("cat", sudo=True).stdout == ""  # stdin ends: no hang
        with pytest.raises(CommandTimeout):
            connection.run("sleep 30", sudo=True, timeout=1)
        # After a timeout the shell is gone; commands get channels of their own again.
        assert connection.run(grandparent, sudo=True).stdout != shell_pid
    finally:
        connection.close()


def test_a_busy_server_is_retried_not_failed(sshd):
    # MaxStartups 3 drops every fourth concurrent unauthenticated connection at once.
    connector = Connector(ConnectOptions(connect_timeout=10))

    def one(_: int) -> int:
        connection = connector.connect(sshd)
        try:
            return connection.run("true").exit_code
        finally:
            connection.close()

    with concurrent.futures.ThreadPoolExecutor(24) as pool:
        assert list(pool.map(one, range(48))) == [0] * 48


def test_unknown_host_key_is_refused(sshd, tmp_path):
    stranger = Host(
        "t1", sshd.address, sshd.port, "root", sshd.identity_file, known_hosts=str(tmp_path / "kh")
    )
    with pytest.raises(HostKeyRejected) as err:
        Connector(ConnectOptions()).connect(stranger)
    assert "--accept-new-host-keys" in err.value.message
    accepted = Connector(ConnectOptions(accept_new_host_keys=True)).connect(stranger)
    accepted.close()
    assert (tmp_path / "kh").read_text().startswith(f"[{sshd.address}]:{sshd.port} ssh-ed25519 ")
