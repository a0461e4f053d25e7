"""The transport against a real OpenSSH sshd started for this module (root only).

A tiny sshd with a low MaxStartups shows that fleet's connections retry a busy
server instead of failing, and the basic command path (exit codes, stderr, stdin,
timeouts, held commands) is exercised over real SSH.  Keepalive accounting is
checked against a paramiko server in this process, whose socket the lab's freeze
fault can stop dead, and against the real sshd stopped with SIGSTOP.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import dataclasses
import hashlib
import os
import shutil
import signal
import socket
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import paramiko
import pytest

from fleet.inventory import Host
from fleet.keepalive import (
    BadKeepaliveOption,
    KeepaliveScheduler,
    KeepaliveSettings,
    parse_count_max,
    parse_interval,
    settings_from,
)
from fleet.lab.server import FreezableSocket
from fleet.transport import (
    CommandTimeout,
    ConnectionDead,
    ConnectOptions,
    Connector,
    HostKeyRejected,
    TransportError,
)

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
        # Same shell every time: it is the parent of each command that has no stdin.
        shell_pid_of = "echo $PPID"
        shell_pid = connection.run(shell_pid_of, sudo=True).stdout
        assert shell_pid.strip().isdigit()
        assert connection.run(shell_pid_of, sudo=True).stdout == shell_pid
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
        assert connection.run(shell_pid_of, sudo=True).stdout != shell_pid
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


# --- keepalives ---------------------------------------------------------------------------------


def test_keepalive_options_read_like_openssh():
    assert settings_from({}) == KeepaliveSettings(15.0, 3)
    assert [parse_interval(t) for t in ("15", "30s", "1m", "1m30s", "0")] == [15, 30, 60, 90, 0]
    assert parse_count_max("5") == 5 and parse_count_max("0") == 1
    for bad in ("", "soon", "1.5", "-1", "10x"):
        with pytest.raises(BadKeepaliveOption):
            parse_interval(bad)
    # Fabric's ssh_config lookup has lower-case keys; the inventory's ssh_options win.
    config = {"serveraliveinterval": "5", "serveralivecountmax": "4"}
    assert settings_from(config) == KeepaliveSettings(5.0, 4)
    assert settings_from(config, {"ServerAliveInterval": "0"}).enabled is False


class _Server(paramiko.ServerInterface):
    """Accepts anyone; answers every global request with ``answer`` and counts them."""

    def __init__(self, answer: bool) -> None:
        self.answer = answer
        self.requests = 0
        self.answered_five = threading.Event()

    def get_allowed_auths(self, username: str) -> str:
        return "none"

    def check_auth_none(self, username: str) -> int:
        return paramiko.AUTH_SUCCESSFUL

    def check_global_request(self, kind: str, msg: paramiko.Message) -> bool:
        assert kind == "keepalive@openssh.com"
        self.requests += 1
        if self.requests == 5:
            self.answered_five.set()
        return self.answer


@contextlib.contextmanager
def _linked(answer: bool) -> Iterator[tuple[paramiko.Transport, FreezableSocket, _Server]]:
    """A client transport talking to an in-process server over a socket pair."""
    ours, theirs = socket.socketpair()
    wire = FreezableSocket(theirs)
    server, handler = paramiko.Transport(wire), _Server(answer)
    server.add_server_key(paramiko.RSAKey.generate(2048))
    server.start_server(event=threading.Event(), server=handler)  # returns at once
    client = paramiko.Transport(ours)
    client.start_client(timeout=30)
    client.auth_none("anyone")
    try:
        yield client, wire, handler
    finally:
        wire.release()
        client.close()
        server.close()


@pytest.mark.parametrize("answer", [True, False], ids=["success", "failure"])
def test_any_reply_keeps_a_connection_alive_and_silence_kills_it(answer):
    dead = threading.Event()
    scheduler = KeepaliveScheduler()
    with _linked(answer) as (client, wire, server):
        watch = scheduler.watch(client, KeepaliveSettings(0.05, 2), dead.set)
        assert watch is not None and scheduler.running
        assert server.answered_five.wait(30)
        # Five answered keepalives: more than two intervals passed, every one answered.
        assert not dead.is_set() and client.is_active()
        wire.freeze()  # from here the server reads and writes nothing
        seen = server.requests
        assert dead.wait(30)
        client.join(30)  # the scheduler closes the transport: its thread ends
        assert not client.is_active() and not client.is_alive()
        assert server.requests == seen  # the frozen server saw none of the last ones
        assert watch.sent > seen  # keepalives went out after the freeze, and were lost
    scheduler.close()
    assert not scheduler.running


def test_no_thread_watches_when_keepalives_are_off():
    scheduler = KeepaliveScheduler()
    with _linked(True) as (client, _wire, _server):
        assert scheduler.watch(client, KeepaliveSettings(0, 3), lambda: None) is None
    assert not scheduler.running


def _sshd_sessions(listener: int) -> list[int]:
    """sshd processes below the listening one: one pair per open connection."""
    parents: dict[int, int] = {}
    for name in filter(str.isdigit, os.listdir("/proc")):
        with contextlib.suppress(OSError):
            stat = Path(f"/proc/{name}/stat").read_text()
            parents[int(name)] = int(stat[stat.rindex(")") + 2 :].split()[1])

    def below(pid: int) -> bool:
        while pid > 1:
            pid = parents.get(pid, 0)
            if pid == listener:
                return True
        return False

    return [
        p for p in parents if below(p) and Path(f"/proc/{p}/comm").read_text().strip() == "sshd"
    ]


def test_a_frozen_sshd_fails_the_command_in_flight_as_unreachable(sshd):
    # The inventory's ssh_options (here) or ssh_config set the pace: 1 s x 2.
    host = dataclasses.replace(
        sshd, ssh_options={"ServerAliveInterval": "1", "ServerAliveCountMax": "2"}
    )
    listener = int((Path(sshd.identity_file).parent / "pid").read_text())
    connection = Connector(ConnectOptions()).connect(host)
    stopped: list[int] = []

    def freeze_when_started(out: str, _err: str) -> None:
        if "started" in out and not stopped:
            stopped.extend(_sshd_sessions(listener))
            for pid in stopped:
                os.kill(pid, signal.SIGSTOP)

    try:
        with pytest.raises(ConnectionDead) as err:
            connection.run("echo started; sleep 600", watch=freeze_when_started)
    finally:
        for pid in stopped:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)
        connection.close()
    assert stopped, "no sshd session was found to freeze"
    assert err.value.status == "unreachable"
    assert err.value.message == (
        f"t1 ({sshd.address}:{sshd.port}): no answer to 2 keepalives 1s apart "
        "(ServerAliveInterval 1, ServerAliveCountMax 2); the host or the route to it is frozen"
    )


def test_a_bad_keepalive_option_fails_the_host_with_one_line(sshd):
    host = dataclasses.replace(sshd, ssh_options={"ServerAliveInterval": "soon"})
    with pytest.raises(TransportError) as err:
        Connector(ConnectOptions()).connect(host)
    assert err.value.status == "failed"
    assert "ServerAliveInterval 'soon' is not a time" in err.value.message
