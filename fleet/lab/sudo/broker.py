"""The supervisor's side of the built-in sudo: who is asking, may they, then run it.

One Unix socket serves every host of a lab; it is bound read-only at
``/run/fleetlab`` inside each host.  A caller is identified by the kernel, not
by anything it says: its peer credentials give its pid and uid, and its mount
namespace must be one of this lab's hosts (a uid alone proves nothing: uid 1000
may be a real user of the machine).  The pid is pinned with a pidfd where the
kernel offers ``SO_PEERPIDFD`` (6.5+), else by its start time, so a pid reused
between the check and the read cannot borrow a host's identity.

The command runs as a child of the supervisor (``nsenter`` into the host's
holder, ``setpriv`` for a target other than root) in a session of its own with
the caller's descriptors.  Relayed signals go to its process group; when the
caller goes away (its SSH session was cut and killed), the group gets SIGHUP,
then SIGKILL, so nothing is left running.
"""

from __future__ import annotations

import contextlib
import os
import select
import shutil
import signal
import socket
import struct
import subprocess
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fleet.lab import procfs
from fleet.lab.procfs import ProcRef
from fleet.lab.shacrypt import verify
from fleet.lab.simtools.state import SUDO_CALLERS
from fleet.lab.sudo import args, policy, protocol, texts

SO_PEERPIDFD = getattr(socket, "SO_PEERPIDFD", 77)  # linux/socket.h, Linux 6.5+
HANGUP_GRACE = 5.0  # seconds between SIGHUP and SIGKILL when the caller is gone
_UCRED = struct.Struct("3i")


@dataclass(frozen=True)
class BrokerHost:
    """What the broker needs of one lab host."""

    name: str
    holder_pid: int
    namespace: str  # the holder's mount namespace, as /proc/PID/ns/mnt reads
    root: Path  # the host's private tree on the machine


@dataclass(frozen=True)
class Caller:
    pid: int
    uid: int
    host: BrokerHost | None  # None: not a process of any host of this lab


class SudoBroker:
    """Accepts sudo requests from the lab's hosts until :meth:`stop`."""

    def __init__(
        self, directory: Path, hosts: Sequence[BrokerHost], log: Callable[[str], None]
    ) -> None:
        self.path = directory / protocol.SOCKET_NAME
        self._hosts = {h.namespace: h for h in hosts}
        self._log = log
        self._nsenter = shutil.which("nsenter") or "/usr/bin/nsenter"
        self._setpriv = shutil.which("setpriv") or "/usr/bin/setpriv"
        self._bash = shutil.which("bash") or "/bin/bash"
        self._env = shutil.which("env") or "/usr/bin/env"
        self._listener: socket.socket | None = None
        self._wake_read, self._wake_write = os.pipe2(os.O_CLOEXEC)
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self.path.parent.mkdir(mode=0o755, parents=True, exist_ok=True)
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
        listener.bind(str(self.path))
        os.chmod(self.path, 0o666)  # any user of a host may ask; the kernel says who they are
        listener.listen(128)
        self._listener = listener
        self._thread = threading.Thread(target=self._accept, name="sudo-broker", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        os.write(self._wake_write, b"x")
        if self._thread is not None:
            self._thread.join(10)
        if self._listener is not None:
            self._listener.close()
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()

    def _accept(self) -> None:
        assert self._listener is not None
        while True:
            ready, _, _ = select.select([self._listener, self._wake_read], [], [])
            if self._wake_read in ready:
                return
            with contextlib.suppress(OSError):
                conn, _ = self._listener.accept()
                threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        fds: list[int] = []
        try:
            caller = identify(conn, self._hosts)
            request, fds = protocol.receive(conn, with_fds=3)
            if len(fds) != 3:
                return
            if caller.host is None:
                os.write(fds[2], texts.warning(texts.OUTSIDE_HOST))
                self._log(f"sudo: refused pid {caller.pid} uid {caller.uid}: not in a lab host")
                protocol.send(conn, {"exit": 1})
                return
            status = _Session(self, conn, caller, caller.host, request, fds).run()
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                protocol.send(conn, status)  # a caller killed with its session hears nothing
        except (protocol.ProtocolError, OSError, ValueError, KeyError, TypeError) as exc:
            self._log(f"sudo: request ended: {exc!r}")
        finally:
            for fd in fds:
                with contextlib.suppress(OSError):
                    os.close(fd)
            conn.close()

    def spawn(
        self,
        host: BrokerHost,
        target: policy.Account,
        argv: list[str],
        cwd: str,
        env: dict[str, str],
        fds: list[int],
        before_start: Callable[[int], None],
    ) -> subprocess.Popen[bytes]:
        """The command inside the host's namespaces, as the target user, in its own session.

        It waits at a gate (a shell reading a pipe, then exec) until ``before_start(pid)``
        has run, so what the lab records about it is there before its first instruction.
        """
        # nsenter opens --wd before it enters the namespace: reach the host's view of it
        # through the holder's root.
        inside = f"/proc/{host.holder_pid}/root{cwd}"
        command = [self._nsenter, "-t", str(host.holder_pid), "-m", "-u", f"--wd={inside}", "--"]
        if target.uid != 0:
            command += [self._setpriv, f"--reuid={target.uid}", f"--regid={target.gid}"]
            command += ["--init-groups", "--"]
        gate_read, gate_write = os.pipe2(os.O_CLOEXEC)
        # bash adds PWD and (on exec) SHLVL to what it runs; sudo's environment has neither.
        added = " ".join(v for v in ("PWD", "OLDPWD") if v not in env)
        clean = "" if "SHLVL" in env else f"{self._env} -u SHLVL "
        gate = f'read -r _ <&{gate_read}; exec {gate_read}<&-; unset {added}; exec {clean}"$@"'
        try:
            process = subprocess.Popen(
                [*command, self._bash, "-c", gate, argv[0], *argv],
                stdin=fds[0],
                stdout=fds[1],
                stderr=fds[2],
                env=env,
                start_new_session=True,
                close_fds=True,
                pass_fds=(gate_read,),
            )
            os.close(gate_read)
            before_start(process.pid)
            os.write(gate_write, b"\n")
        finally:
            with contextlib.suppress(OSError):
                os.close(gate_read)
            os.close(gate_write)
        return process

    def log(self, message: str) -> None:
        self._log(message)


def identify(conn: socket.socket, hosts: Mapping[str, BrokerHost]) -> Caller:
    """The peer as the kernel knows it, and the lab host it runs in (if any)."""
    pid, uid, _gid = _UCRED.unpack(
        conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _UCRED.size)
    )
    pidfd = _peer_pidfd(conn)
    try:
        started = ProcRef.of(pid)
        namespace = procfs.mount_namespace(pid)
        if namespace is None:
            return Caller(pid, uid, None)
        # The same process still: not exited (pidfd) and not replaced (start time).
        if _exited(pidfd) or started is None or ProcRef.of(pid) != started:
            return Caller(pid, uid, None)
        return Caller(pid, uid, hosts.get(namespace))
    finally:
        if pidfd is not None:
            os.close(pidfd)


def _peer_pidfd(conn: socket.socket) -> int | None:
    try:
        return conn.getsockopt(socket.SOL_SOCKET, SO_PEERPIDFD)
    except OSError:
        return None


def _exited(pidfd: int | None) -> bool:
    """A pidfd becomes readable when its process exits."""
    return pidfd is not None and bool(select.select([pidfd], [], [], 0)[0])


class _Session:
    """One sudo invocation from a host: decide, authenticate, run, report how it ended."""

    def __init__(
        self,
        broker: SudoBroker,
        conn: socket.socket,
        caller: Caller,
        host: BrokerHost,
        request: dict[str, Any],
        fds: list[int],
    ) -> None:
        self.broker, self.conn, self.caller, self.host = broker, conn, caller, host
        self.request, self.fds = request, fds

    def say(self, text: str, prefixed: bool = True) -> None:
        data = texts.warning(text) if prefixed else f"{text}\n".encode()
        with contextlib.suppress(OSError):
            os.write(self.fds[2], data)

    def run(self) -> dict[str, int]:
        try:
            invocation = args.parse([str(a) for a in self.request["argv"]])
        except args.UsageError as error:
            with contextlib.suppress(OSError):
                os.write(self.fds[2], error.output())
            return {"exit": 1}
        accounts = policy.read_accounts(self._file("/etc/passwd"))
        caller = next((a for a in accounts.values() if a.uid == self.caller.uid), None)
        if caller is None:
            self.say(texts.unknown_uid(self.caller.uid))
            return {"exit": 1}
        target = _target(accounts, invocation.target)
        if target is None:
            self.say(texts.unknown_user(invocation.target))
            self.say(texts.POLICY_INIT)
            return {"exit": 1}
        if invocation.remove_timestamp or (invocation.reset_timestamp and not invocation.command):
            return {"exit": 0}  # nothing is cached, so there is nothing to forget
        return self._decide_and_run(invocation, caller, target)

    def _decide_and_run(
        self, invocation: args.Invocation, caller: policy.Account, target: policy.Account
    ) -> dict[str, int]:
        groups = policy.read_groups(self._file("/etc/group"))
        rules = [
            rule
            for path in policy.sudoers_files(self.host.root / "etc/sudoers.d")
            for rule in policy.parse_rules(path.read_text(errors="replace"))
        ]
        decision = policy.decide(
            caller, target, rules, policy.groups_of(caller.name, caller.gid, groups)
        )
        if (decision.password or not decision.allowed) and not self._authenticate(
            invocation, caller, target
        ):
            return {"exit": 1}
        if not decision.allowed:
            self.say(self._denial(invocation, caller, target, decision), prefixed=False)
            return {"exit": 1}
        if invocation.validate or not invocation.runs_command:
            return {"exit": 0}
        return self._execute(invocation, caller, target)

    def _denial(
        self,
        invocation: args.Invocation,
        caller: policy.Account,
        target: policy.Account,
        decision: policy.Decision,
    ) -> str:
        if not decision.has_rule:
            return texts.not_in_sudoers(caller.name)
        command = str(self.request.get("command") or " ".join(invocation.command))
        line = " ".join([command, *invocation.command[1:]])
        return texts.not_allowed(caller.name, line, target.name, self.host.name)

    def _authenticate(
        self, invocation: args.Invocation, caller: policy.Account, target: policy.Account
    ) -> bool:
        """plugins/sudoers/auth/sudo_auth.c (verify_user): up to three tries."""
        if invocation.non_interactive:
            self.say(texts.PASSWORD_REQUIRED)
            return False
        how = self._how(invocation)
        if how is None:
            self.say(texts.NO_TTY)
            return False
        prompt = policy.expand_prompt(
            texts.DEFAULT_PROMPT if invocation.prompt is None else invocation.prompt,
            caller.name,
            target.name,
            self.host.name,
        )
        hashed = policy.shadow_hash(self._file("/etc/shadow"), caller.name)
        tries = 0
        for attempt in range(texts.PASSWORD_TRIES):
            if attempt:
                self.say(texts.BAD_PASSWORD, prefixed=False)
            protocol.send(self.conn, {"ask": prompt, "how": how})
            answer, _ = protocol.receive(self.conn)
            password = answer.get("password")
            if not isinstance(password, str):
                break  # EOF: sudo stops asking
            if verify(password, hashed):
                return True
            tries += 1
        if tries:
            self.say(texts.incorrect_attempts(tries))
        return False

    def _how(self, invocation: args.Invocation) -> str | None:
        if invocation.stdin_password:
            return "stdin"
        if invocation.askpass:
            return "askpass"
        return "tty" if self.request.get("tty") else None

    def _execute(
        self, invocation: args.Invocation, caller: policy.Account, target: policy.Account
    ) -> dict[str, int]:
        argv = self._argv(invocation, target)
        if argv is None:
            self.say(texts.command_not_found(invocation.command[0]))
            return {"exit": 1}
        caller_env = {str(k): str(v) for k, v in dict(self.request.get("env") or {}).items()}
        env = policy.environment(caller_env, invocation, caller, target, " ".join(argv))
        cwd = target.home if invocation.login else str(self.request.get("cwd") or "/")
        callers = self.host.root / SUDO_CALLERS.lstrip("/")
        process = self.broker.spawn(
            self.host, target, argv, cwd, env, self.fds, lambda pid: self._record(callers, pid)
        )
        record = callers / str(process.pid)
        # Only the command holds the caller's descriptors now: its output ends when it does.
        # The list is the one _serve closes at the end: emptied in place, never closed twice.
        for fd in self.fds:
            with contextlib.suppress(OSError):
                os.close(fd)
        self.fds.clear()
        try:
            status = _Watch(process, self.conn).wait()
        finally:
            record.unlink(missing_ok=True)
        self.broker.log(
            f"sudo {self.host.name}: {caller.name} as {target.name}: {Path(argv[0]).name} "
            f"-> {status}"
        )
        return status

    def _record(self, callers: Path, pid: int) -> None:
        """Who asked for ``pid`` (see fleet.lab.simtools.state.SUDO_CALLERS)."""
        with contextlib.suppress(OSError):
            callers.mkdir(exist_ok=True)
            (callers / str(pid)).write_text(f"{self.caller.pid}\n")

    def _argv(self, invocation: args.Invocation, target: policy.Account) -> list[str] | None:
        if invocation.login or invocation.shell:
            env = dict(self.request.get("env") or {})
            shell = target.shell if invocation.login else str(env.get("SHELL") or target.shell)
            argv = policy.login_command(shell, invocation.command)
            return [argv[0], "-l", *argv[1:]] if invocation.login else argv
        command = self.request.get("command")
        if not isinstance(command, str) or not command:
            return None
        return [command, *invocation.command[1:]]

    def _file(self, path: str) -> str:
        try:
            return (self.host.root / path.lstrip("/")).read_text(errors="replace")
        except OSError:
            return ""


def _target(accounts: Mapping[str, policy.Account], name: str) -> policy.Account | None:
    """``-u NAME`` or ``-u '#UID'`` (plugins/sudoers/sudoers.c, set_runaspw)."""
    if name.startswith("#") and name[1:].isdigit():
        return next((a for a in accounts.values() if a.uid == int(name[1:])), None)
    return accounts.get(name)


class _Watch:
    """Wait for the command while relaying the caller's signals; the caller gone ends it."""

    def __init__(self, process: subprocess.Popen[bytes], conn: socket.socket) -> None:
        self.process, self.conn = process, conn

    def wait(self) -> dict[str, int]:
        pidfd = os.pidfd_open(self.process.pid)
        try:
            while True:
                ready, _, _ = select.select([pidfd, self.conn], [], [])
                if pidfd in ready:
                    break
                try:
                    message, _ = protocol.receive(self.conn)
                except (protocol.ProtocolError, OSError):
                    self._hang_up(pidfd)
                    break
                if "signal" in message:
                    self._signal(int(message["signal"]))
        finally:
            os.close(pidfd)
        code = self.process.wait()
        return {"signal": -code} if code < 0 else {"exit": code}

    def _signal(self, signum: int) -> None:
        if signum in {int(s) for s in signal.valid_signals()}:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.process.pid, signum)

    def _hang_up(self, pidfd: int) -> None:
        self._signal(signal.SIGHUP)
        if not select.select([pidfd], [], [], HANGUP_GRACE)[0]:
            self._signal(signal.SIGKILL)


_CLIENT = """#!{python} -SE
# fleet lab: the built-in sudo of this host (fleet.lab.sudo.client)
import sys
sys.path.insert(0, {parent!r})
from fleet.lab.sudo.client import main
sys.exit(main(sys.argv))
"""


def install_client(bin_dir: Path, python: str, package_parent: Path) -> Path:
    """Put ``sudo`` into the lab's tools directory, first on every host's PATH."""
    path = bin_dir / "sudo"
    tmp = path.with_name(".sudo.tmp")
    tmp.write_text(_CLIENT.format(python=python, parent=str(package_parent)), encoding="utf-8")
    os.chmod(tmp, 0o755)
    os.replace(tmp, path)
    return path
