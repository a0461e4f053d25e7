"""``--sshd openssh``: the machine's own OpenSSH ``sshd``, one per host, inside the host.

Each sshd is started with ``nsenter`` into its host's namespaces, so every
session it forks (and everything those run) sees the host's private paths.
Its configuration, host key and ``authorized_keys`` live in the host's
``/var/lib/fleetlab`` (a directory of the lab dir on the machine), which is
mounted first at a fixed path: sshd finds them even when the lab dir itself is
hidden by the host's private ``/tmp`` or ``/root``.

Readiness is read, not guessed: sshd -e prints ``Server listening on ADDR port
PORT.`` once its socket is bound; a reader thread copies every line to the host's
``/var/log/sshd.log`` and marks the host ready on that line.
"""

from __future__ import annotations

import contextlib
import os
import selectors
import subprocess
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from fleet.errors import EnvironmentProblem
from fleet.lab.files import STATE_DIR, LabHost, write_text

SSHD = "/usr/sbin/sshd"
SSHD_DIR = f"{STATE_DIR}/sshd"  # root-only: config and host key
HOST_KEY = f"{SSHD_DIR}/ssh_host_ed25519_key"
AUTHORIZED_KEYS = f"{STATE_DIR}/authorized_keys"  # sshd reads it as the login user
SSHD_CONFIG = f"{SSHD_DIR}/sshd_config"
PID_FILE = f"{STATE_DIR}/sshd.pid"
SESSION_PATH = "/usr/local/bin:/usr/bin:/bin"


def require_sshd() -> str:
    if not os.access(SSHD, os.X_OK):
        raise EnvironmentProblem(
            f"--sshd openssh needs OpenSSH's server at {SSHD}: apt-get install openssh-server "
            "(or use the built-in server: --sshd paramiko)"
        )
    return SSHD


def sshd_config_text(host: LabHost) -> str:
    """A minimal sshd_config: key-only login for the host's user, quiet, fast under load."""
    return "\n".join(
        [
            f"# fleet lab: sshd of {host.name}",
            f"ListenAddress {host.address}:{host.server_port}",
            f"HostKey {HOST_KEY}",
            f"PidFile {PID_FILE}",
            f"AuthorizedKeysFile {AUTHORIZED_KEYS}",
            "StrictModes no",  # the lab dir may sit under /tmp; sshd would refuse the keys silently
            "UsePAM no",
            "PasswordAuthentication no",
            "KbdInteractiveAuthentication no",
            "PubkeyAuthentication yes",
            "PermitRootLogin no" if host.uid else "PermitRootLogin prohibit-password",
            f"AllowUsers {host.user}",
            "MaxStartups 1000:30:1000",  # the default 10:30:100 drops parallel connects at random
            "MaxSessions 100",
            "AllowTcpForwarding yes",
            "X11Forwarding no",
            "PrintMotd no",
            "PrintLastLog no",
            "UseDNS no",
            f"SetEnv PATH={SESSION_PATH} LANG=C",
            "Subsystem sftp internal-sftp",
            "LogLevel INFO",
            "",
        ]
    )


def write_sshd_files(host: LabHost, host_key_path: Path, authorized_key: str | None) -> None:
    """Config and keys of one host's sshd.  No authorized key: every login is refused."""
    directory = host.path(SSHD_DIR)
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(directory, 0o700)
    write_text(host.path(SSHD_CONFIG), sshd_config_text(host), 0o600)
    key = host.path(HOST_KEY)
    if key != host_key_path:
        write_text(key, host_key_path.read_text(encoding="utf-8"), 0o600)
    write_text(host.path(AUTHORIZED_KEYS), (authorized_key + "\n") if authorized_key else "")


@dataclass
class _Sshd:
    host: LabHost
    process: subprocess.Popen[bytes]
    log: Path
    ready: threading.Event = field(default_factory=threading.Event)
    last_line: str = ""
    partial: bytes = b""


class OpenSSHServers:
    """The per-host sshd processes of one lab: start, wait until listening, stop."""

    def __init__(self, hosts: Sequence[tuple[LabHost, int]], log: Callable[[str], None]) -> None:
        self.hosts = list(hosts)  # (host, holder pid)
        self.log = log
        self.servers: dict[int, _Sshd] = {}
        self.reader: threading.Thread | None = None

    def start(self) -> None:
        for host, holder in self.hosts:
            argv = [
                "nsenter",
                "-t",
                str(holder),
                "-m",
                "-u",
                "--",
                SSHD,
                "-D",
                "-e",
                "-f",
                SSHD_CONFIG,
            ]
            process = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                cwd="/",
                start_new_session=True,
            )
            assert process.stderr is not None
            log = host.path("/var/log/sshd.log")
            self.servers[process.stderr.fileno()] = _Sshd(host, process, log)
        self.reader = threading.Thread(target=self._read, name="lab-sshd-log", daemon=True)
        self.reader.start()

    def _read(self) -> None:
        with selectors.DefaultSelector() as selector:
            for fd in self.servers:
                selector.register(fd, selectors.EVENT_READ)
            open_fds = set(self.servers)
            while open_fds:
                for key, _ in selector.select():
                    if not self._consume(self.servers[key.fd], os.read(key.fd, 65536)):
                        selector.unregister(key.fd)
                        open_fds.discard(key.fd)

    def _consume(self, sshd: _Sshd, data: bytes) -> bool:
        if not data:
            sshd.ready.set()  # exited: wait_listening reports it
            return False
        lines = (sshd.partial + data).split(b"\n")
        sshd.partial = lines.pop()
        text = [line.decode("utf-8", "replace") for line in lines]
        with sshd.log.open("a", encoding="utf-8") as handle:
            handle.writelines(line + "\n" for line in text)
        for line in text:
            sshd.last_line = line or sshd.last_line
            if line.startswith("Server listening on ") and sshd.host.address in line:
                sshd.ready.set()
        return True

    def wait_listening(self, timeout: float) -> None:
        """Return when every sshd listens; an sshd that exited or stayed silent is named."""
        deadline = time.monotonic() + timeout
        for sshd in self.servers.values():
            sshd.ready.wait(max(0.0, deadline - time.monotonic()))
            if sshd.process.poll() is not None or not sshd.ready.is_set():
                reason = sshd.last_line or "no output"
                raise EnvironmentProblem(
                    f"lab host {sshd.host.name}: sshd did not start ({reason}); see {sshd.log}"
                )

    def pids(self) -> dict[str, int]:
        return {s.host.name: s.process.pid for s in self.servers.values()}

    def close(self, timeout: float = 10.0) -> None:
        """Collect the sshd processes and the log reader.

        Call after every process of the hosts was killed: sshd's per-connection children
        keep its stderr open, so the reader ends only when they are gone too.
        """
        for sshd in self.servers.values():
            with contextlib.suppress(ProcessLookupError):
                sshd.process.kill()
            sshd.process.wait()
        if self.reader is not None:
            self.reader.join(timeout)
        for sshd in self.servers.values():
            if sshd.process.stderr is not None:
                sshd.process.stderr.close()
