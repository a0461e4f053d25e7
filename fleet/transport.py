"""SSH transport: the only module that imports Fabric and paramiko.

Fabric opens connections, because it already knows ``~/.ssh/config``, jump
hosts (``gateway``) and key handling.  Commands do not go through Fabric's
``Connection.run``: its runner polls its streams in sleep loops and costs about
ten times the client CPU of a plain paramiko channel, which on a 2-core
controller driving hundreds of hosts is the difference between keeping up with
the servers and not.  :meth:`HostConnection.run` opens one channel per command
on the host's single transport and waits on the channel's file descriptor, so
an idle channel costs nothing.  After a command started with ``serve_after``
has turned into a root shell (see :mod:`fleet.rootshell`), root commands go
through that shell instead: no new session, no new sudo.

Every problem becomes a :class:`TransportError` with a one-line message; a
non-zero exit status is data, not an exception.  Passwords travel only on a
channel's stdin and are never logged or included in messages.
"""

from __future__ import annotations

import codecs
import contextlib
import logging
import os
import random
import select
import shlex
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import NoReturn

import paramiko
from fabric import Config, Connection

from fleet import rootshell
from fleet.inventory import Host
from fleet.keepalive import (
    BadKeepaliveOption,
    KeepaliveScheduler,
    KeepaliveSettings,
    Watch,
    settings_from,
)

# paramiko logs every failed handshake with a traceback; fleet reports each as one line.
logging.getLogger("paramiko").addHandler(logging.NullHandler())

SUDO_NEEDS_PASSWORD = "a password is required"
SUDO_BAD_PASSWORD = "incorrect password attempt"
SUDO_RETRY = "Sorry, try again"
_READ_SIZE = 65536
_READS_AT_ONCE = 32  # pieces taken from a stream before the deadline is looked at again
BUSY_RETRIES = 4
BUSY_BACKOFF_S = 0.25


class TransportError(Exception):
    """A host could not be reached, or a command could not be run to its end."""

    status = "failed"  # the host status this error leads to

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class Unreachable(TransportError):
    status = "unreachable"


class ConnectionDead(Unreachable):
    """Keepalives went unanswered: the host, or the route to it, froze with the TCP
    connection still open.  The command in flight cannot finish and nothing answers."""


class ServerBusy(Unreachable):
    """The server closed the connection before its banner, at once: sshd's MaxStartups
    (or a connection-rate limit) turning new connections away.  Worth retrying."""


class AuthenticationFailed(TransportError):
    """The host answered but refused us: a configuration problem, not a network one."""


class HostKeyRejected(TransportError):
    """Unknown or changed host key: the user must look before fleet goes on."""


class CommandTimeout(TransportError):
    pass


class ConnectionLost(TransportError):
    pass


class SudoFailed(TransportError):
    pass


class CommandAborted(TransportError):
    """A watcher stopped the command (e.g. a package-manager lock held too long)."""


# Called with what the command printed since the last call (stdout, stderr), decoded;
# returns a reason to abort the command, or None.  Each call gets only the new text, so a
# long transcript costs the watcher its length once; a watcher looking for a text keeps
# the tail it needs to find one cut in two.
OutputWatcher = Callable[[str, str], "str | None"]


@dataclass(frozen=True)
class CommandResult:
    """What one remote command did.  ``stdout``/``stderr`` are decoded as UTF-8 with replacement;
    ``stdout_bytes``/``stderr_bytes`` are the bytes as they came."""

    command: str
    exit_code: int
    stdout: str
    stderr: str
    duration_s: float
    stdout_bytes: bytes = field(default=b"", repr=False, compare=False)
    stderr_bytes: bytes = field(default=b"", repr=False, compare=False)

    @property
    def ok(self) -> bool:
        return self.exit_code == 0

    def error_line(self) -> str:
        """The most telling line of the output, for a one-line failure reason."""
        for text in (self.stderr, self.stdout):
            lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
            errors = [ln for ln in lines if "error" in ln.lower() or "fail" in ln.lower()]
            if errors:
                return errors[-1]
            if lines:
                return lines[-1]
        return f"exit status {self.exit_code}"


@dataclass(frozen=True)
class ConnectOptions:
    """How every host of a run is reached."""

    connect_timeout: float = 10.0
    command_timeout: float = 600.0
    accept_new_host_keys: bool = False
    ssh_config: str | None = None  # an ssh_config file instead of ~/.ssh/config
    become_password: str | None = None  # from --ask-become-pass; per-host settings win


CommandLogger = Callable[[CommandResult, bool], None]  # (result, stdin_was_sent)


class _HostKeyPolicy(paramiko.MissingHostKeyPolicy):
    """Refuse unknown host keys unless the user accepted new ones; then record them."""

    def __init__(self, store: _KnownHosts, accept_new: bool) -> None:
        self._store = store
        self._accept_new = accept_new

    def missing_host_key(
        self, client: paramiko.SSHClient, hostname: str, key: paramiko.PKey
    ) -> None:
        fingerprint = f"{key.get_name()} {key.fingerprint}"
        if not self._accept_new:
            raise HostKeyRejected(
                f"unknown host key for {hostname} ({fingerprint}); verify it and add it to "
                f"{self._store.path}, or re-run with --accept-new-host-keys"
            )
        self._store.add(hostname, key)


class _KnownHosts:
    """One known_hosts file, parsed once and shared by every connection that uses it."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.keys = paramiko.HostKeys()
        self._lock = threading.Lock()
        if path.exists():
            self.keys.load(str(path))

    def add(self, hostname: str, key: paramiko.PKey) -> None:
        with self._lock:
            self.keys.add(hostname, key.get_name(), key)
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="utf-8") as fh:
                fh.write(f"{hostname} {key.get_name()} {key.get_base64()}\n")


class Connector:
    """Opens connections for one run, sharing parsed keys, known_hosts and jump-host sessions."""

    def __init__(self, options: ConnectOptions) -> None:
        self.options = options
        self._lock = threading.Lock()
        self._known: dict[Path, _KnownHosts] = {}
        self._pkeys: dict[str, paramiko.PKey | None] = {}
        self._gateways: dict[tuple[str, str | None, str | None], Connection] = {}
        self._overrides = {"timeouts": {"connect": self.options.connect_timeout}}
        self._ssh_config = self._parse_ssh_config()
        self._keepalive = KeepaliveScheduler()  # one thread probes every connection of the run

    def _parse_ssh_config(self) -> paramiko.SSHConfig:
        """Read ~/.ssh/config and /etc/ssh/ssh_config (or --ssh-config) once per run."""
        overrides: dict[str, object] = {"load_ssh_configs": True}
        if self.options.ssh_config:
            overrides["ssh_config_path"] = self.options.ssh_config
        config = Config(overrides=overrides)
        config.load_ssh_config()
        return config.base_ssh_config

    def _fabric_config(self) -> Config:
        """A Config of the connection's own: Fabric's Connection writes into its config
        (connect_kwargs, inline_ssh_env), so one shared Config races between threads.
        ``lazy`` skips re-reading config files; the parsed ssh_config is shared."""
        return Config(overrides=self._overrides, ssh_config=self._ssh_config, lazy=True)

    def connect(self, host: Host, log: CommandLogger | None = None) -> HostConnection:
        """Open the host's one connection; raise a :class:`TransportError` if that fails.

        A server that turns new connections away at once (sshd's MaxStartups when many
        hosts share one sshd, or a bastion) is retried with jittered exponential backoff.
        """
        for attempt in range(BUSY_RETRIES):
            try:
                return self._connect_once(host, log)
            except ServerBusy:
                time.sleep(BUSY_BACKOFF_S * 2**attempt * (0.5 + random.random()))
        return self._connect_once(host, log)

    def _connect_once(self, host: Host, log: CommandLogger | None) -> HostConnection:
        fabric = self._fabric_connection(host, host.address, host.port, host.user)
        connection = HostConnection(host, fabric, self.options, log, self._keepalive)
        try:
            connection.open(self._known_hosts(host), self._gateway(host))
        except TransportError:
            connection.close()
            raise
        return connection

    def close(self) -> None:
        self._keepalive.close()
        with self._lock:
            gateways, self._gateways = list(self._gateways.values()), {}
        for gateway in gateways:
            with contextlib.suppress(Exception):
                gateway.close()

    def _known_hosts(self, host: Host) -> _KnownHosts:
        path = Path(host.known_hosts or "~/.ssh/known_hosts").expanduser()
        with self._lock:
            if path not in self._known:
                self._known[path] = _KnownHosts(path)
            return self._known[path]

    def _pkey(self, path: str | None) -> paramiko.PKey | None:
        """Parse a private key once per run; encrypted keys are left to ssh-agent."""
        if not path:
            return None
        with self._lock:
            if path not in self._pkeys:
                try:
                    self._pkeys[path] = paramiko.PKey.from_path(os.path.expanduser(path))
                except paramiko.PasswordRequiredException:
                    self._pkeys[path] = None
                except (OSError, paramiko.SSHException, ValueError) as exc:
                    raise AuthenticationFailed(f"cannot read identity file {path}: {exc}") from None
            return self._pkeys[path]

    def _fabric_connection(
        self, host: Host, address: str, port: int | None, user: str | None
    ) -> Connection:
        connect_kwargs: dict[str, object] = {
            "banner_timeout": self.options.connect_timeout,
            "auth_timeout": self.options.connect_timeout,
        }
        pkey = self._pkey(host.identity_file)
        if pkey is not None:
            connect_kwargs["pkey"] = pkey
        elif host.identity_file:
            connect_kwargs["key_filename"] = os.path.expanduser(host.identity_file)
        return Connection(
            host=address,
            user=user,
            port=port,
            config=self._fabric_config(),
            connect_timeout=self.options.connect_timeout,
            connect_kwargs=connect_kwargs,
        )

    def _gateway(self, host: Host) -> Connection | None:
        """One open session per jump host, shared by every host behind it."""
        if not host.jump:
            return None
        user, address, port = _split_jump(host.jump)
        key = (host.jump, host.identity_file, host.known_hosts)
        with self._lock:
            gateway = self._gateways.get(key)
        if gateway is not None and gateway.is_connected:
            return gateway
        gateway = self._fabric_connection(host, address, port, user or host.user)
        _secure(gateway.client, self._known_hosts(host), self.options.accept_new_host_keys)
        _open(gateway, f"jump host {host.jump}", self.options.connect_timeout)
        with self._lock:
            self._gateways[key] = gateway
        return gateway


def _split_jump(spec: str) -> tuple[str | None, str, int | None]:
    user, _, rest = spec.rpartition("@")
    address, _, port = rest.partition(":")
    return (user or None), address, (int(port) if port else None)


def _secure(client: paramiko.SSHClient, known: _KnownHosts, accept_new: bool) -> None:
    """Check host keys against one shared, pre-parsed known_hosts instead of Fabric's auto-add."""
    # SSHClient looks keys up in these two attributes; sharing one parsed HostKeys
    # object avoids re-reading a large known_hosts file for every host.
    client._system_host_keys = paramiko.HostKeys()
    client._host_keys = known.keys
    client.set_missing_host_key_policy(_HostKeyPolicy(known, accept_new))


def _open(connection: Connection, label: str, timeout: float) -> None:
    """Open a Fabric connection, turning every failure into a one-line TransportError."""
    started = time.monotonic()
    try:
        connection.open()
    except TransportError:
        raise
    except paramiko.BadHostKeyException as exc:
        raise HostKeyRejected(
            f"host key for {label} has CHANGED (now {exc.key.get_name()} {exc.key.fingerprint}, "
            f"known {exc.expected_key.get_name()} {exc.expected_key.fingerprint}); if the host was "
            f"rebuilt, remove the old line with: ssh-keygen -R {shlex.quote(exc.hostname)}"
        ) from None
    except paramiko.AuthenticationException as exc:
        raise AuthenticationFailed(f"authentication refused for {label}: {exc}") from None
    except paramiko.ssh_exception.NoValidConnectionsError as exc:
        reasons = {str(e.strerror or e).lower() for e in exc.errors.values()}
        raise Unreachable(f"cannot connect to {label}: {', '.join(sorted(reasons))}") from None
    except TimeoutError:
        raise Unreachable(f"cannot connect to {label}: timed out after {timeout:g}s") from None
    except socket.gaierror as exc:
        raise Unreachable(f"cannot resolve {label}: {exc.strerror}") from None
    except paramiko.SSHException as exc:
        # A banner timeout surfaces either as such or, when it happened in paramiko's
        # transport thread, as "No existing session" on the next call.
        if "banner" in str(exc) or "No existing session" in str(exc):
            _no_banner(label, timeout, started)
        raise Unreachable(f"SSH handshake with {label} failed: {exc}") from None
    except (EOFError, ConnectionResetError):
        _no_banner(label, timeout, started)
    except OSError as exc:
        raise Unreachable(f"cannot connect to {label}: {exc.strerror or exc}") from None


def _no_banner(label: str, timeout: float, started: float) -> NoReturn:
    if time.monotonic() - started < timeout / 2:
        raise ServerBusy(f"{label} closed the connection before the SSH banner (server busy)")
    raise Unreachable(f"{label} accepted TCP but sent no SSH banner within {timeout:g}s")


class HostConnection:
    """One host's single SSH connection, reused by every command of the run."""

    def __init__(
        self,
        host: Host,
        connection: Connection,
        options: ConnectOptions,
        log: CommandLogger | None,
        keepalive: KeepaliveScheduler | None = None,
    ) -> None:
        self.host = host
        self._connection = connection
        self._options = options
        self._log = log
        self._password = _become_password(host, options)
        self._sudo_needs_password: bool | None = None
        self._held: list[paramiko.Channel] = []
        self._shell: _ServedShell | None = None
        self._mark = rootshell.new_mark()  # the served shell's control lines carry it
        self._keepalive = keepalive
        self._watch: Watch | None = None
        self._dead: str | None = None  # why keepalives declared the connection dead

    @property
    def user(self) -> str:
        return self._connection.user

    @property
    def needs_sudo(self) -> bool:
        return self._connection.user != "root"

    def open(self, known: _KnownHosts, gateway: Connection | None) -> None:
        label = f"{self.host.name} ({self.host.address}:{self._connection.port})"
        if gateway is not None:
            self._connection.gateway = gateway
        settings = self._keepalive_settings(label)  # a bad value fails before connecting
        _secure(self._connection.client, known, self._options.accept_new_host_keys)
        _open(self._connection, label, self._options.connect_timeout)
        self._watch_liveness(settings, label)

    def _keepalive_settings(self, label: str) -> KeepaliveSettings:
        """ServerAliveInterval/CountMax from ssh_config, the inventory's ssh_options winning."""
        try:
            return settings_from(self._connection.ssh_config, self.host.ssh_options)
        except BadKeepaliveOption as exc:
            raise TransportError(f"{label}: {exc} (ssh_config or ssh_options)") from None

    def _watch_liveness(self, settings: KeepaliveSettings, label: str) -> None:
        """Probe the open connection with keepalives; see :mod:`fleet.keepalive`."""
        if self._keepalive is None:
            return

        def dead() -> None:
            # Recorded before the scheduler closes the transport and wakes the readers.
            self._dead = settings.reason(label)

        self._watch = self._keepalive.watch(self._connection.transport, settings, dead)

    def _lost(self, message: str) -> TransportError:
        """The connection is gone: frozen (keepalives said so) or dropped."""
        if self._dead is not None:
            return ConnectionDead(self._dead)
        return ConnectionLost(message)

    def abandon(self) -> None:
        """Close the SSH transport from any thread: a run stopped at once drops its commands.

        Every reader of the connection's channels wakes at once and the command in
        flight fails as a lost connection; the worker that owns the connection still
        calls :meth:`close`.
        """
        transport = self._connection.transport
        if transport is not None:
            with contextlib.suppress(Exception):
                transport.close()

    def close(self) -> None:
        KeepaliveScheduler.unwatch(self._watch)
        self._shell = None
        for channel in self._held:
            with contextlib.suppress(Exception):
                channel.close()
        with contextlib.suppress(Exception):
            self._connection.close()

    def run(
        self,
        command: str,
        *,
        sudo: bool = False,
        timeout: float | None = None,
        stdin: bytes = b"",
        serve_after: str | None = None,
        watch: OutputWatcher | None = None,
    ) -> CommandResult:
        """Run ``command`` under ``sh -c``, through sudo when ``sudo`` and not root already.

        With ``serve_after``, ``command`` must end as a shell reading the rest of its
        stdin (``sh -s``) after printing that text: the call returns as soon as the
        text appears, the shell stays with its stdin open until :meth:`close`, and
        later root commands run through it (:mod:`fleet.rootshell`).  A remote lock
        taken by that command lives exactly as long as this connection.  ``watch``
        sees the output as it arrives and may abort the command by returning a reason.
        """
        if self._shell is not None and serve_after is None and (sudo or not self.needs_sudo):
            return self._through_shell(_Run(command, stdin, timeout, None, watch=watch))
        extra = rootshell.prelude(self._mark) if serve_after is not None else b""
        run = _Run(command, stdin + extra, timeout, serve_after, watch=watch)
        if not (sudo and self.needs_sudo):
            return self._exec(run, _wrap(command))
        if not self._sudo_needs_password:
            result = self._exec(run, "sudo -n -- " + _wrap(command))
            if self._sudo_needs_password is None:
                self._sudo_needs_password = _sudo_wants_password(result)
            if not self._sudo_needs_password:
                return result
        if self._password is None:
            raise SudoFailed(
                f"sudo on {self.host.name} needs a password: set become_password_env in the "
                "inventory or use --ask-become-pass"
            )
        secret = replace(
            run, stdin=self._password.encode() + b"\n" + run.stdin, secret_only=not run.stdin
        )
        result = self._exec(secret, "sudo -S -p '' -- " + _wrap(command))
        if SUDO_BAD_PASSWORD in result.stderr or SUDO_RETRY in result.stderr:
            raise SudoFailed(f"sudo on {self.host.name} refused the password (incorrect password)")
        return result

    def _exec(self, run: _Run, wire: str) -> CommandResult:
        """Run one command on a channel of its own."""
        limit = run.timeout if run.timeout is not None else self._options.command_timeout
        started = time.monotonic()
        transport = self._connection.transport
        if transport is None or not transport.is_active():
            raise self._lost(f"connection to {self.host.name} was lost")
        try:
            channel = transport.open_session(timeout=self._options.connect_timeout)
        except (paramiko.SSHException, EOFError, OSError) as exc:
            raise self._lost(f"connection to {self.host.name} was lost: {exc}") from None
        held = False
        try:
            exit_code, out, err = _drive(channel, wire, run, started + limit)
            held = exit_code == HELD
            if held:
                out = self._serve(channel, out, run, started + limit)
        except _TRANSPORT_FAILURES as exc:
            raise self._failure(exc, run, limit) from None
        finally:
            if held:
                self._held.append(channel)
            else:
                channel.close()
        if exit_code < 0 and not held:
            raise self._lost(
                f"connection to {self.host.name} dropped during: {_short(run.command)}"
            )
        return self._result(run, max(exit_code, 0), out, err, started)

    def _serve(self, channel: paramiko.Channel, out: bytes, run: _Run, deadline: float) -> bytes:
        """A held command became a shell: keep it for later commands if it serves them.

        Returns the held command's own output, up to the end of its marker line.
        """
        assert run.serve_after is not None
        end = out.index(run.serve_after.encode()) + len(run.serve_after)
        newline = out.find(b"\n", end)
        end = newline + 1 if newline >= 0 else end
        shell = _ServedShell(channel, bytes(out[end:]), self._mark)
        if shell.greet(deadline):
            self._shell = shell
        return out[:end]

    def _through_shell(self, run: _Run) -> CommandResult:
        """Run one command through the served root shell: no new session, no new sudo."""
        shell = self._shell
        assert shell is not None
        limit = run.timeout if run.timeout is not None else self._options.command_timeout
        started = time.monotonic()
        try:
            status, out, err = shell.run(run, started + limit)
        except (*_TRANSPORT_FAILURES, rootshell.ProtocolError) as exc:
            # The shell, and the host lock it holds, cannot be trusted after this:
            # the host fails, and nothing more may run on it.
            self._shell = None
            with contextlib.suppress(Exception):
                shell.channel.close()
            if isinstance(exc, rootshell.ProtocolError):
                raise ConnectionLost(f"{self.host.name}: {exc}") from None
            raise self._failure(exc, run, limit) from None
        return self._result(run, status, out, err, started)

    def _failure(self, exc: BaseException, run: _Run, limit: float) -> TransportError:
        if isinstance(exc, _Aborted):
            return CommandAborted(f"{exc} on {self.host.name}")
        if isinstance(exc, TimeoutError):
            return CommandTimeout(
                f"command timed out after {limit:g}s on {self.host.name}: {_short(run.command)}"
            )
        return self._lost(
            f"connection to {self.host.name} dropped during: {_short(run.command)} ({exc})"
        )

    def _result(
        self, run: _Run, status: int, out: bytes, err: bytes, started: float
    ) -> CommandResult:
        result = CommandResult(
            run.command,
            status,
            out.decode("utf-8", "replace"),
            err.decode("utf-8", "replace"),
            time.monotonic() - started,
            out,
            err,
        )
        if self._log is not None:
            self._log(result, bool(run.stdin) and not run.secret_only)
        return result


class _ServedShell:
    """The root shell a held command became, and the commands it runs one at a time."""

    def __init__(self, channel: paramiko.Channel, pending: bytes, mark: bytes) -> None:
        self.channel = channel
        self._pending = pending  # what the held command's channel said after its marker
        self._mark = mark
        self._token = 0

    def greet(self, deadline: float) -> bool:
        """Read the prelude's answer: does this host's shell serve commands?"""
        hello = rootshell.Reply(self._mark, 0)
        hello.out.feed(self._pending)
        self._read(hello, deadline, _Watched(None))
        return bool(hello.serving)

    def run(self, run: _Run, deadline: float) -> tuple[int, bytes, bytes]:
        """Send one command and its stdin, and read its reply, all before ``deadline``."""
        self._token += 1
        reply = rootshell.Reply(self._mark, self._token)
        watched = _Watched(run.watch)
        request = rootshell.encode_request(self._token, run.command, len(run.stdin))
        for part in (request, run.stdin):
            _send(self.channel, part, deadline, lambda: self._take(reply, watched))
        self._read(reply, deadline, watched)
        status = reply.status if reply.status is not None else 255
        return status, bytes(reply.stdout), bytes(reply.stderr)

    def _read(self, reply: rootshell.Reply, deadline: float, watched: _Watched) -> None:
        """Take output until the reply ends; the deadline holds even if output never stops."""
        fd = self.channel.fileno()
        while True:
            arrived = self._take(reply, watched)
            if reply.done:
                return
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError
            if arrived:
                continue
            if self.channel.closed or self.channel.eof_received:
                raise EOFError("the host's shell ended")
            select.select([fd], [], [], min(remaining, 30.0))

    def _take(self, reply: rootshell.Reply, watched: _Watched) -> bool:
        """Feed what arrived on either stream to the reply; True when anything did."""
        out, err = len(reply.stdout), len(reply.stderr)
        arrived = False
        for _ in range(_READS_AT_ONCE):
            if not self.channel.recv_ready():
                break
            reply.out.feed(self.channel.recv(_READ_SIZE))
            arrived = True
        for _ in range(_READS_AT_ONCE):
            if not self.channel.recv_stderr_ready():
                break
            reply.err.feed(self.channel.recv_stderr(_READ_SIZE))
            arrived = True
        if arrived and watched.watching:
            watched.saw(reply.stdout[out:], reply.stderr[err:])
        return arrived


class _Watched:
    """Hands a command's watcher what arrived since its last call, decoded as it comes.

    Decoding is incremental, so a character cut between two pieces is whole in the
    later call, and a long transcript is decoded once, not once per piece.
    """

    def __init__(self, watch: OutputWatcher | None) -> None:
        self._watch = watch
        if watch is not None:
            self._out = codecs.getincrementaldecoder("utf-8")("replace")
            self._err = codecs.getincrementaldecoder("utf-8")("replace")

    @property
    def watching(self) -> bool:
        return self._watch is not None

    def saw(self, out: bytes | bytearray, err: bytes | bytearray) -> None:
        if self._watch is None or not (out or err):
            return
        reason = self._watch(self._out.decode(out), self._err.decode(err))
        if reason:
            raise _Aborted(reason)


_SEND_WAIT_S = 0.05  # longest wait for the host's window before taking its output again


def _send(
    channel: paramiko.Channel, data: bytes, deadline: float, take: Callable[[], bool]
) -> None:
    """Write ``data`` to the channel before ``deadline``, taking its output meanwhile.

    ``sendall`` waits for the host's receive window without end: a host that reads
    nothing (a command that ignores its stdin, a shell stopped dead) would hold the
    worker forever.  Here each wait is short, the deadline is checked between them,
    and what the host prints meanwhile is taken, so a command that answers while it
    still reads (``cat`` of a large stdin) cannot fill both windows and stall.
    """
    if not data:
        return
    view = memoryview(data)
    channel.settimeout(_SEND_WAIT_S)
    try:
        while view:
            take()
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError
            if remaining < _SEND_WAIT_S:
                channel.settimeout(remaining)
            try:
                sent = channel.send(view[:_READ_SIZE])
            except TimeoutError:  # socket.timeout: the window stayed shut
                continue  # take output, look at the deadline, try again
            except OSError:
                if not channel.closed:
                    raise
                sent = 0
            if sent == 0:
                return  # the channel closed: its reader says why (an exit status, a lost shell)
            view = view[sent:]
    finally:
        channel.settimeout(None)


HELD = -2  # _drive's exit code for a command left running on purpose


@dataclass(frozen=True)
class _Run:
    command: str
    stdin: bytes
    timeout: float | None
    serve_after: str | None
    secret_only: bool = False  # stdin holds a password: never say "input sent" for it
    watch: OutputWatcher | None = None


def _drive(
    channel: paramiko.Channel, wire: str, run: _Run, deadline: float
) -> tuple[int, bytes, bytes]:
    """Run one exec request, waiting on the channel's fd rather than polling.

    Returns ``HELD`` instead of an exit status when ``run.serve_after`` appeared.
    """
    channel.exec_command(wire)
    out, err = bytearray(), bytearray()
    watched = _Watched(run.watch)

    def take() -> bool:
        before_out, before_err = len(out), len(err)
        if not _drain(channel, out, err):
            return False
        if watched.watching:
            watched.saw(out[before_out:], err[before_err:])
        return True

    _send(channel, run.stdin, deadline, take)
    if run.serve_after is None:
        channel.shutdown_write()
    marker = run.serve_after.encode() if run.serve_after else None
    fd = channel.fileno()
    while True:
        take()
        if marker is not None and marker in out:
            return HELD, bytes(out), bytes(err)
        if marker is not None and SUDO_RETRY.encode() in err:
            # sudo asks again for a password on a stdin we keep open: it would wait forever.
            return 1, bytes(out), bytes(err)
        if channel.closed or (channel.eof_received and channel.exit_status_ready()):
            break
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError
        if channel.eof_received:
            # No more output can come; the fd stays readable from here on, so wait
            # for the exit status on its event instead of spinning on select().
            channel.status_event.wait(min(remaining, 30.0))
        else:
            select.select([fd], [], [], min(remaining, 30.0))
    while take():  # the rest of what came before the end
        pass
    status = channel.recv_exit_status() if channel.exit_status_ready() else -1
    return status, bytes(out), bytes(err)


class _Aborted(Exception):
    pass


# What can go wrong while a command runs; each becomes one TransportError (_failure).
_TRANSPORT_FAILURES = (_Aborted, TimeoutError, paramiko.SSHException, EOFError, OSError)


def _drain(channel: paramiko.Channel, out: bytearray, err: bytearray) -> bool:
    """Move what arrived into the buffers; True when anything did.

    At most ``_READS_AT_ONCE`` pieces per stream: output that arrives as fast as it is
    taken must not keep the caller from its deadline.
    """
    before = len(out) + len(err)
    for _ in range(_READS_AT_ONCE):
        if not channel.recv_ready():
            break
        out += channel.recv(_READ_SIZE)
    for _ in range(_READS_AT_ONCE):
        if not channel.recv_stderr_ready():
            break
        err += channel.recv_stderr(_READ_SIZE)
    return len(out) + len(err) > before


def _wrap(command: str) -> str:
    return "env LC_ALL=C sh -c " + shlex.quote(command)


def _sudo_wants_password(result: CommandResult) -> bool:
    return result.exit_code == 1 and SUDO_NEEDS_PASSWORD in result.stderr


def _become_password(host: Host, options: ConnectOptions) -> str | None:
    if host.become_password is not None:
        return host.become_password
    if host.become_password_env:
        value = os.environ.get(host.become_password_env)
        if value is not None:
            return value
    return options.become_password


def _short(command: str, limit: int = 80) -> str:
    first = command.strip().splitlines()[0] if command.strip() else command
    return first if len(first) <= limit else first[: limit - 3] + "..."
