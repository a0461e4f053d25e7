"""The default lab SSH server: one process, paramiko's server mode, threads for many hosts.

One acceptor thread watches the listening socket of every host; each connection
gets a paramiko ``Transport`` (its own thread) and each exec request a small
session that runs ``bash -c CMD`` as the host's login user inside the host's
mount namespace (``nsenter`` into the host's holder process).  Nothing here is
per-host Python: 500 idle hosts cost 500 sockets and 500 loaded host keys.

Server-level faults live here: ``auth: refused`` (the key is rejected),
``drop: SUBSTRING`` (the connection is cut when an exec command contains it, or
when a simulated tool whose command line contains it asks for the cut by printing
:data:`~fleet.lab.simtools.state.CUT_REQUEST`) and ``freeze: SUBSTRING`` (the
connection stops dead, still open, when a command containing it arrives: a hung
kernel or a black-holed route, as the client sees it).
"""

from __future__ import annotations

import contextlib
import errno
import ipaddress
import os
import selectors
import signal
import socket
import subprocess
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import paramiko

from fleet.errors import EnvironmentProblem
from fleet.lab.simtools.state import CUT_REQUEST

SESSION_PATH = "/usr/local/bin:/usr/bin:/bin"
SFTP_SERVERS = (
    "/usr/lib/openssh/sftp-server",
    "/usr/libexec/openssh/sftp-server",
    "/usr/lib/ssh/sftp-server",
)
_CHUNK = 32768
_LINE_KEPT = 4096  # of an unfinished input line, what the freeze fault looks at
FROZEN_MARK = "frozen"  # beside the drop marker: the freeze happened (once per host)


@dataclass(frozen=True)
class ServedHost:
    """What the server needs to know about one lab host."""

    name: str
    address: str
    port: int
    holder_pid: int
    user: str
    uid: int
    gid: int
    home: str
    host_key_path: str
    authorized_key: str  # "ssh-ed25519 AAAA... comment"
    auth_refused: bool = False
    drop: str | None = None
    drop_marker: str | None = None  # exists once the drop happened: it happens once per host
    freeze: str | None = None


def bind_host(name: str, address: str, port: int, *, reuse: bool = True) -> socket.socket:
    """A socket bound to a lab host's address; a taken address is an EnvironmentProblem naming it.

    ``reuse=False`` binds without SO_REUSEADDR, as a placeholder must: then no other lab
    can take the address while this socket holds it.
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if reuse:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((address, port))
    except OSError as exc:
        sock.close()
        raise EnvironmentProblem(
            f"lab host {name}: {address}:{port} is taken ({exc.strerror}); "
            "another server took it - run fleet lab up again"
        ) from None
    return sock


def first_time(marker: str | None, text: str) -> bool:
    """Whether a once-per-host fault happens now: the first time, so a re-run converges.

    The marker is created exclusively; without one (or when it cannot be written) the
    fault always happens.
    """
    if marker is None:
        return True
    try:
        with open(marker, "x", encoding="utf-8") as fh:
            fh.write(text + "\n")
    except FileExistsError:
        return False
    except OSError:
        return True
    return True


class FreezableSocket:
    """A connection's socket as paramiko sees it, which the freeze fault can stop dead.

    Once frozen, every read and write waits (the transport thread and the session
    threads stop where they are) and the TCP connection stays open: the client's
    packets, keepalives included, go unanswered, as with a hung kernel.  ``release``
    (the server stopping, or cutting the connection) ends the wait with an error, so
    every thread ends.
    """

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.frozen = threading.Event()
        self.released = threading.Event()

    def freeze(self) -> None:
        self.frozen.set()

    def release(self) -> None:
        self.released.set()

    def recv(self, size: int) -> bytes:
        self._stall()
        return self.sock.recv(size)

    def send(self, data: bytes) -> int:
        self._stall()
        return self.sock.send(data)

    def _stall(self) -> None:
        if self.frozen.is_set():
            self.released.wait()
            raise OSError(errno.ECONNABORTED, "frozen connection released")

    def __getattr__(self, name: str) -> object:
        return getattr(self.sock, name)


class CommandText:
    """Finds a text in what a session reads, as it streams in, however it is cut.

    fleet's served root shell receives its commands as plain lines in its input
    (fleet/rootshell.py), in pieces of any size.
    """

    def __init__(self, text: str) -> None:
        self.text = text.encode()
        self.line = b""  # the unfinished line (its end only, for a long one)

    def feed(self, data: bytes) -> bool:
        lines = (self.line + data).split(b"\n")
        self.line = lines.pop()[-max(_LINE_KEPT, len(self.text)) :]
        return any(self.text in line for line in (*lines, self.line))


def session_argv(host: ServedHost, program: Sequence[str | bytes]) -> list[str | bytes]:
    """Run ``program`` as the login user inside the host's namespaces, in the user's home.

    ``-w`` takes the holder's working directory, which the holder set to the login user's
    home *inside* the host; ``nsenter`` switches uid and gid after entering the namespace.
    """
    return [
        "nsenter",
        "-t",
        str(host.holder_pid),
        "-m",
        "-u",
        "-w",
        "-S",
        str(host.uid),
        "-G",
        str(host.gid),
        "--",
        *program,
    ]


def session_env(host: ServedHost, connection: str) -> dict[str, str]:
    """The clean environment a real sshd session would start with."""
    return {
        "PATH": SESSION_PATH,
        "HOME": host.home,
        "USER": host.user,
        "LOGNAME": host.user,
        "SHELL": "/bin/bash",
        "SSH_CONNECTION": connection,
        "LANG": "C",
    }


def _sftp_server() -> str | None:
    return next((path for path in SFTP_SERVERS if os.path.exists(path)), None)


class _Session:
    """One exec/shell/subsystem request: a process whose pipes are bridged to a channel."""

    def __init__(
        self,
        channel: paramiko.Channel,
        argv: list[str | bytes],
        env: dict[str, str],
        cut: Callable[[], None],
        held: Callable[[bytes], bool] | None = None,
    ) -> None:
        self.channel = channel
        self.argv = argv
        self.env = env
        self.cut = cut
        self.held = held  # True: this input froze the connection and must not reach the host
        self.process: subprocess.Popen[bytes] | None = None
        self.started = threading.Event()

    def start(self, on_done: Callable[[_Session], None]) -> None:
        threading.Thread(target=self._run, args=(on_done,), name="lab-session", daemon=True).start()

    def _run(self, on_done: Callable[[_Session], None]) -> None:
        try:
            self.process = subprocess.Popen(
                self.argv,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env=self.env,
                cwd="/",
                start_new_session=True,  # its own process group, so a cut connection can end it all
            )
        except OSError as exc:
            self.started.set()
            self._finish(127, f"fleet lab: cannot start session: {exc.strerror}\n".encode())
            on_done(self)
            return
        self.started.set()
        threading.Thread(target=self._pump_stdin, name="lab-stdin", daemon=True).start()
        self._pump_output()
        code = self.process.wait()
        self._finish(code if code >= 0 else 128 - code, b"")
        on_done(self)

    def _pump_stdin(self) -> None:
        assert self.process is not None and self.process.stdin is not None
        stdin = self.process.stdin
        try:
            while data := self.channel.recv(_CHUNK):
                if self.held is not None and self.held(data):
                    return
                stdin.write(data)
                stdin.flush()
        except (OSError, EOFError):
            pass  # the command exited or closed its stdin; the rest of the input is dropped
        finally:
            with contextlib.suppress(OSError):
                stdin.close()

    def _pump_output(self) -> None:
        assert self.process is not None and self.process.stdout and self.process.stderr
        sends = {
            self.process.stdout.fileno(): self.channel.sendall,
            self.process.stderr.fileno(): self.channel.sendall_stderr,
        }
        with selectors.DefaultSelector() as selector:
            for fd in sends:
                selector.register(fd, selectors.EVENT_READ)
            while sends:
                for key, _ in selector.select():
                    data = os.read(key.fd, _CHUNK)
                    if CUT_REQUEST in data:
                        self.cut()  # the drop fault: nothing from here on reaches the client
                        return
                    if not data:
                        selector.unregister(key.fd)
                        del sends[key.fd]
                        continue
                    with contextlib.suppress(OSError, EOFError):
                        sends[key.fd](data)

    def _finish(self, code: int, stderr: bytes) -> None:
        with contextlib.suppress(OSError, EOFError):
            if stderr:
                self.channel.sendall_stderr(stderr)
            self.channel.shutdown_write()
            self.channel.send_exit_status(code)
            self.channel.close()

    def hang_up(self) -> None:
        """The connection is gone: end the session's whole process group (sudo children too)."""
        self.started.wait()
        if self.process is not None and self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.process.pid, signal.SIGKILL)


class _Connection(paramiko.ServerInterface):
    """One client connection to one host: authentication, channel requests, faults."""

    def __init__(self, host: ServedHost, sock: socket.socket, peer: tuple[str, int]) -> None:
        self.host = host
        self.sock = sock
        self.wire = FreezableSocket(sock)  # what the transport reads and writes
        self.connection = f"{peer[0]} {peer[1]} {host.address} {host.port}"
        self.sessions: set[_Session] = set()
        self.forwards: dict[int, socket.socket] = {}
        self.lock = threading.Lock()

    # -- authentication: public key only, the lab's client key, the login user only --
    def get_allowed_auths(self, username: str) -> str:
        return "publickey"

    def check_auth_none(self, username: str) -> int:
        return paramiko.AUTH_FAILED

    def check_auth_publickey(self, username: str, key: paramiko.PKey) -> int:
        if self.host.auth_refused or username != self.host.user:
            return paramiko.AUTH_FAILED
        key_type, key_data = self.host.authorized_key.split()[:2]
        if key.get_name() == key_type and key.get_base64() == key_data:
            return paramiko.AUTH_SUCCESSFUL
        return paramiko.AUTH_FAILED

    # -- channels --
    def check_channel_request(self, kind: str, chanid: int) -> int:
        if kind == "session":
            return paramiko.OPEN_SUCCEEDED
        return paramiko.OPEN_FAILED_ADMINISTRATIVELY_PROHIBITED

    def check_channel_exec_request(self, channel: paramiko.Channel, command: bytes) -> bool:
        if self._drop_now(command):
            self.cut()
            return False
        if self._freeze_now(command):
            return True  # the reply waits in the frozen socket forever: nothing answers
        return self._start(channel, [b"/bin/bash", b"-c", command])

    def _drop_now(self, command: bytes) -> bool:
        """The first command containing the drop text cuts the connection; a re-run converges."""
        drop = self.host.drop
        if not drop or drop.encode() not in command:
            return False
        return first_time(self.host.drop_marker, drop)

    def _freeze_now(self, command: bytes) -> bool:
        """The first command containing the freeze text freezes the connection."""
        freeze = self.host.freeze
        if not freeze or freeze.encode() not in command:
            return False
        return self._freeze()

    def _freeze(self) -> bool:
        assert self.host.freeze is not None
        marker = self.host.drop_marker
        frozen = None if marker is None else str(Path(marker).with_name(FROZEN_MARK))
        if not first_time(frozen, self.host.freeze):
            return False
        self.wire.freeze()
        return True

    def _input_watch(self) -> Callable[[bytes], bool] | None:
        """For a host with the freeze fault: a session's input check (commands sent
        through a served shell arrive as input, not as exec requests)."""
        if not self.host.freeze:
            return None
        text = CommandText(self.host.freeze)

        def held(data: bytes) -> bool:
            if not text.feed(data) or not self._freeze():
                return False
            self.wire.released.wait()  # the command never reaches the host
            return True

        return held

    def check_channel_shell_request(self, channel: paramiko.Channel) -> bool:
        return self._start(channel, ["/bin/bash"])

    def check_channel_subsystem_request(self, channel: paramiko.Channel, name: str) -> bool:
        program = _sftp_server() if name == "sftp" else None
        return program is not None and self._start(channel, [program])

    def check_channel_pty_request(self, *args: object) -> bool:
        return False  # commands run without a terminal, as fleet runs them

    def check_channel_env_request(
        self, channel: paramiko.Channel, name: bytes, value: bytes
    ) -> bool:
        return False  # like sshd without AcceptEnv: the session environment stays clean

    def check_channel_direct_tcpip_request(
        self, chanid: int, origin: tuple, destination: tuple
    ) -> int:
        address, port = destination
        if not _loopback_literal(str(address)):
            return paramiko.OPEN_FAILED_ADMINISTRATIVELY_PROHIBITED
        try:
            upstream = socket.create_connection(
                ("127.0.0.1" if address == "localhost" else address, port), 10
            )
        except OSError:
            return paramiko.OPEN_FAILED_CONNECT_FAILED
        with self.lock:
            self.forwards[chanid] = upstream
        return paramiko.OPEN_SUCCEEDED

    def check_global_request(self, kind: str, msg: paramiko.Message) -> bool:
        return False  # keepalive@openssh.com and friends: a failure reply proves we are alive

    # -- helpers --
    def _start(self, channel: paramiko.Channel, program: list[str | bytes]) -> bool:
        session = _Session(
            channel,
            session_argv(self.host, program),
            session_env(self.host, self.connection),
            self.cut,
            self._input_watch(),
        )
        with self.lock:
            self.sessions.add(session)
        session.start(self._session_done)
        return True

    def _session_done(self, session: _Session) -> None:
        with self.lock:
            self.sessions.discard(session)

    def forward_for(self, channel: paramiko.Channel) -> socket.socket | None:
        with self.lock:
            return self.forwards.pop(channel.get_id(), None)

    def cut(self) -> None:
        """Drop the TCP connection without an SSH goodbye, as a dying network would."""
        self.wire.release()
        with contextlib.suppress(OSError):
            self.sock.setsockopt(
                socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00"
            )
            self.sock.shutdown(socket.SHUT_RDWR)

    def hang_up(self) -> None:
        with self.lock:
            sessions = list(self.sessions)
            forwards = list(self.forwards.values())
        for session in sessions:
            session.hang_up()
        for upstream in forwards:
            upstream.close()

    def process_ids(self) -> set[int]:
        with self.lock:
            return {s.process.pid for s in self.sessions if s.process is not None}


def _loopback_literal(address: str) -> bool:
    """Forwarding is limited to loopback literals: a lab must never reach past this machine."""
    if address == "localhost":
        return True
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


def _bridge(channel: paramiko.Channel, upstream: socket.socket) -> None:
    """Copy bytes both ways between a direct-tcpip channel and its TCP connection."""
    with (
        selectors.DefaultSelector() as selector,
        contextlib.closing(upstream),
        contextlib.closing(channel),
    ):
        selector.register(channel, selectors.EVENT_READ, upstream.sendall)
        selector.register(upstream, selectors.EVENT_READ, channel.sendall)
        while True:
            for key, _ in selector.select():
                source = channel if key.fileobj is channel else upstream
                try:
                    data = source.recv(_CHUNK)
                    if data:
                        key.data(data)
                except (OSError, EOFError):
                    data = b""
                if not data:
                    return


class LabSSHServer:
    """SSH servers for many lab hosts in this process.  ``bind``, ``start``, then ``stop``."""

    def __init__(self, hosts: Sequence[ServedHost], log: Callable[[str], None]) -> None:
        self.hosts = list(hosts)
        self.log = log
        self.keys = {h.name: paramiko.Ed25519Key(filename=h.host_key_path) for h in self.hosts}
        self.listeners: dict[int, tuple[socket.socket, ServedHost]] = {}
        self.connections: set[_Connection] = set()
        self.threads: set[threading.Thread] = set()
        self.lock = threading.Lock()
        self.wake_r, self.wake_w = os.pipe()
        self.acceptor: threading.Thread | None = None

    def bind(self) -> None:
        """Listen on every host's address; a taken address is an EnvironmentProblem naming it."""
        for host in self.hosts:
            sock = bind_host(host.name, host.address, host.port)
            sock.listen(128)
            sock.setblocking(False)
            self.listeners[sock.fileno()] = (sock, host)

    def start(self) -> None:
        self.acceptor = threading.Thread(target=self._accept_loop, name="lab-acceptor", daemon=True)
        self.acceptor.start()

    def _accept_loop(self) -> None:
        with selectors.DefaultSelector() as selector:
            selector.register(self.wake_r, selectors.EVENT_READ)
            for sock, _ in self.listeners.values():
                selector.register(sock, selectors.EVENT_READ)
            while True:
                for key, _ in selector.select():
                    if key.fd == self.wake_r:
                        return
                    self._accept(*self.listeners[key.fd])

    def _accept(self, listener: socket.socket, host: ServedHost) -> None:
        try:
            sock, peer = listener.accept()
        except (BlockingIOError, InterruptedError):
            return
        sock.setblocking(True)
        thread = threading.Thread(
            target=self._serve, args=(sock, peer, host), name="lab-conn", daemon=True
        )
        with self.lock:
            self.threads.add(thread)
        thread.start()

    def _serve(self, sock: socket.socket, peer: tuple[str, int], host: ServedHost) -> None:
        connection = _Connection(host, sock, peer)
        with self.lock:
            self.connections.add(connection)
        transport = paramiko.Transport(connection.wire)
        try:
            transport.add_server_key(self.keys[host.name])
            transport.start_server(server=connection)
            self._channels(transport, connection)
        except (paramiko.SSHException, OSError, EOFError) as exc:
            self.log(f"{host.name}: connection from {peer[0]}:{peer[1]} ended: {exc}")
        finally:
            transport.close()
            connection.hang_up()
            with self.lock:
                self.connections.discard(connection)
                self.threads.discard(threading.current_thread())

    def _channels(self, transport: paramiko.Transport, connection: _Connection) -> None:
        """Serve forwarding channels until the transport ends (sessions run from their requests)."""
        while transport.is_active():
            # A bounded wait: the transport may end between is_active() and accept().
            channel = transport.accept(timeout=2.0)
            if channel is None:
                continue
            upstream = connection.forward_for(channel)
            if upstream is not None:
                threading.Thread(
                    target=_bridge, args=(channel, upstream), name="lab-forward", daemon=True
                ).start()

    def process_ids(self) -> set[int]:
        """Session processes this server started and still waits for."""
        with self.lock:
            connections = list(self.connections)
        return set().union(*(c.process_ids() for c in connections)) if connections else set()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop listening, cut every connection, end every session; wait for the threads."""
        os.write(self.wake_w, b"x")
        if self.acceptor is not None:
            self.acceptor.join(timeout)
        for sock, _ in self.listeners.values():
            sock.close()
        with self.lock:
            connections = list(self.connections)
            threads = list(self.threads)
        for connection in connections:
            connection.hang_up()
            connection.cut()
        for thread in threads:
            thread.join(timeout)
        os.close(self.wake_r)
        os.close(self.wake_w)
