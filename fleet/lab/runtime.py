"""The lab runtime: namespaces, hosts and the supervisor behind ``fleet lab up/status/down``.

A lab host is a *holder* process (``fleet-lab-holder``, an exec'd ``sleep``) in
its own mount and UTS namespaces, with the host's private tree bind-mounted over
the paths a rollout touches and everything else of the machine mounted
read-only, so a write on one host can reach neither another host nor the
machine.  A *supervisor* process (``python -m fleet.lab.runtime serve DIR``),
started by ``lab up``, owns the holders, the SSH servers and the delay proxies;
``lab down`` stops it and then checks, from ``/proc``, that no process, mount or
listener of the lab is left.

Holders are forked from the supervisor before it starts any thread, and the
mounts are made with direct system calls in the forked child: one ``unshare``
plus ``mount`` binary per bind would cost 20 process starts per host, which at
500 hosts is most of the time budget.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import contextlib
import ctypes
import fcntl
import json
import logging
import os
import resource
import secrets
import select
import shutil
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, NoReturn

import paramiko

from fleet.errors import EnvironmentProblem, FleetError, InputError
from fleet.lab import files
from fleet.lab.files import HIDING_DIRS, PRIVATE_DIRS, PRIVATE_FILES, LabHost
from fleet.lab.openssh import HOST_KEY, OpenSSHServers, require_sshd, write_sshd_files
from fleet.lab.proxy import DelayProxy, Route
from fleet.lab.server import LabSSHServer, ServedHost
from fleet.lab.simtools.state import DROPPED_MARK
from fleet.lab.spec import LabSpec, resolve_hosts
from fleet.lab.sudo import protocol as sudo_protocol
from fleet.lab.sudo.broker import BrokerHost, SudoBroker, install_client

__all__ = [
    "DownReport",
    "HostStatus",
    "Lab",
    "LabHost",
    "LabNotStopped",
    "LabStatus",
    "faults_text",
    "lab_down",
    "lab_status",
    "lab_up",
    "load_lab",
    "require_root",
]


class LabNotStopped(EnvironmentProblem):
    """``lab down`` found processes, mounts or listeners of the lab still there."""


ADDRESS_NET = "127.77"
SSH_PORT = 22
INTERNAL_PORT = 2222  # where a delayed host's server listens, behind its proxy
STATE_FILE = "lab.json"
SUDO_DIR = "sudo"  # DIR/sudo holds the built-in sudo's socket, bound at /run/fleetlab in hosts
LOG_FILE = "supervisor.log"
HOLDER_NAME = "fleet-lab-holder"
START_TIMEOUT = 120.0
ADDRESS_LOCK = Path("/run/lock/fleet-lab-addresses.lock")  # see _address_reservation
STOP_TIMEOUT = 60.0
CLIENT_FILES = (
    "inventory.yml",
    "ansible.yml",
    "id_ed25519",
    "id_ed25519.pub",
    "known_hosts",
    "ssh_config",
    "become.env",
)

# Linux constants (sched.h, sys/mount.h, sys/prctl.h)
CLONE_NEWNS = 0x00020000
CLONE_NEWUTS = 0x04000000
MS_RDONLY = 1
MS_NOSUID = 2
MS_NODEV = 4
MS_NOEXEC = 8
MS_REMOUNT = 32
MS_NOATIME = 1024
MS_NODIRATIME = 2048
MS_BIND = 4096
MS_REC = 16384
MS_PRIVATE = 1 << 18
MS_RELATIME = 1 << 21
MS_STRICTATIME = 1 << 24
PR_SET_PDEATHSIG = 1
PR_SET_CHILD_SUBREAPER = 36
_MOUNT_OPTION_FLAGS = {
    "nosuid": MS_NOSUID,
    "nodev": MS_NODEV,
    "noexec": MS_NOEXEC,
    "noatime": MS_NOATIME,
    "nodiratime": MS_NODIRATIME,
    "relatime": MS_RELATIME,
    "strictatime": MS_STRICTATIME,
}


# --- privilege and programs -------------------------------------------------------------------


def require_root(command: str = "fleet lab up") -> None:
    """Refuse early, naming the command to run instead: lab hosts are mount namespaces."""
    if os.geteuid() != 0:
        raise EnvironmentProblem(
            f"the lab needs root for its mount namespaces; run: sudo {command} "
            "(or run it in a container with CAP_SYS_ADMIN)"
        )


def _require_programs(sshd: str, sudo: str) -> None:
    needed = [("nsenter", "util-linux"), ("bash", "bash")]
    needed += [("setpriv", "util-linux")] if sudo == "builtin" else []
    for program, package in needed:
        if shutil.which(program) is None:
            raise EnvironmentProblem(f"fleet lab needs {program}: apt-get install {package}")
    if sudo == "system" and not machine_has_sudo():
        raise EnvironmentProblem(
            "fleet lab --sudo system needs this machine's sudo: apt-get install sudo "
            "(or use --sudo builtin, the lab's own)"
        )
    if sshd == "openssh":
        require_sshd()


def machine_has_sudo() -> bool:
    """A real sudo: the setuid binary, not a file of that name without its powers."""
    path = shutil.which("sudo")
    return path is not None and bool(os.stat(path).st_mode & 0o4000)


def default_sudo() -> str:
    """``system`` where the machine has sudo, else the lab's ``builtin`` one."""
    return "system" if machine_has_sudo() else "builtin"


# --- processes --------------------------------------------------------------------------------


@dataclass(frozen=True)
class ProcRef:
    """A process by pid *and* start time, so a recycled pid is never mistaken for ours."""

    pid: int
    start: int

    @classmethod
    def of(cls, pid: int) -> ProcRef | None:
        stat = _stat(pid)
        return cls(pid, int(stat[19])) if stat else None

    def alive(self) -> bool:
        stat = _stat(self.pid)
        return bool(stat) and int(stat[19]) == self.start and stat[0] != "Z"


def _stat(pid: int) -> list[str] | None:
    """Fields of /proc/PID/stat after the command name (state first)."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text[text.rindex(")") + 2 :].split()


def _namespace(pid: int) -> str | None:
    try:
        return os.readlink(f"/proc/{pid}/ns/mnt")
    except OSError:
        return None


def _all_pids() -> list[int]:
    return [int(name) for name in os.listdir("/proc") if name.isdigit()]


def lab_namespaces(holders: Sequence[Holder]) -> set[str]:
    """The recorded namespaces that are provably still this lab's.

    Namespace ids are recycled by the kernel, so one counts only while its recorded holder
    (pid and start time) is alive in it, or while one of its processes has mounts from this
    lab's tree.  Once confirmed, an id stays valid as long as any process is in it.
    """
    wanted = {h.namespace: h for h in holders}
    by_namespace = _members_by_namespace(set(wanted))
    confirmed = set()
    for namespace, pids in by_namespace.items():
        holder = wanted[namespace]
        held = holder.proc.alive() and _namespace(holder.proc.pid) == namespace
        # A chrooted process (sshd's privilege-separated child) shows no mounts; others do.
        if held or any(_mounts_from_lab(pid, holder.name) for pid in pids):
            confirmed.add(namespace)
    return confirmed


def _members_by_namespace(namespaces: set[str]) -> dict[str, list[int]]:
    found: dict[str, list[int]] = {}
    for pid in _all_pids():
        namespace = _namespace(pid)
        if namespace in namespaces and pid != os.getpid():
            found.setdefault(namespace, []).append(pid)
    return found


def namespace_members(namespaces: set[str]) -> list[int]:
    """Live processes in any of ``namespaces`` (see lab_namespaces)."""
    return sorted(pid for pids in _members_by_namespace(namespaces).values() for pid in pids)


def _mounts_from_lab(pid: int, name: str) -> bool:
    marker = f"/hosts/{name}/var/lib/fleetlab "
    try:
        text = Path(f"/proc/{pid}/mountinfo").read_text()
    except OSError:
        return False
    return any(marker in line and " /var/lib/fleetlab " in line for line in text.splitlines())


def wait_gone(pids: Iterable[int], timeout: float) -> list[int]:
    """Wait (on pidfds, not by polling) until the processes exit; return those still alive."""
    fds = {}
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            fds[os.pidfd_open(pid)] = pid
    deadline = time.monotonic() + timeout
    try:
        poller = select.poll()
        for fd in fds:
            poller.register(fd, select.POLLIN)
        pending = set(fds)
        while pending and time.monotonic() < deadline:
            for fd, _ in poller.poll(max(1, int((deadline - time.monotonic()) * 1000))):
                pending.discard(fd)
                poller.unregister(fd)
        return [fds[fd] for fd in pending]
    finally:
        for fd in fds:
            os.close(fd)


def _kill(pids: Iterable[int], sig: int = signal.SIGKILL) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, sig)


def _reap(pid: int) -> None:
    """Collect an exited child so it leaves no zombie (no-op for other processes)."""
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, 0)


def reap_orphans(keep: set[int]) -> None:
    """Collect exited children this process inherited as subreaper, except ``keep``."""
    me = str(os.getpid())
    for pid in _all_pids():
        stat = _stat(pid)
        if stat and stat[0] == "Z" and stat[1] == me and pid not in keep:
            _reap(pid)


def clear_namespaces(holders: Sequence[Holder], rounds: int = 20) -> list[int]:
    """Kill every process in the lab's namespaces (stopped first, so none forks away)."""
    namespaces = lab_namespaces(holders)
    left: list[int] = []
    for _ in range(rounds):
        left = namespace_members(namespaces)
        if not left:
            return []
        _kill(left, signal.SIGSTOP)
        _kill(left)
        wait_gone(left, 10.0)
        for pid in left:
            with contextlib.suppress(ChildProcessError, OSError):
                os.waitpid(pid, os.WNOHANG)
    return namespace_members(namespaces)


def _pss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return 0


# --- sockets ----------------------------------------------------------------------------------


def address_of(block: int, index: int) -> str:
    """Host ``index`` (0-based) of the lab that starts at 127.77.<block>.1."""
    return f"{ADDRESS_NET}.{block + index // 254}.{index % 254 + 1}"


def port_free(address: str, port: int, strict: bool = False) -> bool:
    """True if nothing listens on (or holds) address:port.

    The probe sets SO_REUSEADDR, so a TIME_WAIT leftover does not count as taken, while a
    listener, or another lab's bound-but-closed placeholder (bound without SO_REUSEADDR),
    does.  ``strict`` probes as a placeholder binds: without SO_REUSEADDR.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        if not strict:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((address, port))
        except OSError:
            return False
    return True


def allocate_addresses(count: int, internal: set[int], placeholders: set[int]) -> list[str]:
    """The first block of ``count`` consecutive loopback addresses whose ports are all free.

    ``internal``: hosts that also need INTERNAL_PORT (a delay proxy sits in front);
    ``placeholders``: hosts whose port is held by a placeholder socket (unreachable faults).
    """

    def free(index: int, address: str) -> bool:
        if not port_free(address, SSH_PORT, strict=index in placeholders):
            return False
        return index not in internal or port_free(address, INTERNAL_PORT)

    for block in range(256 - (count - 1) // 254):
        addresses = [address_of(block, i) for i in range(count)]
        if all(free(i, a) for i, a in enumerate(addresses)):
            return addresses
    raise EnvironmentProblem(
        f"no free block of {count} addresses with port {SSH_PORT} free under {ADDRESS_NET}.0.0/16 "
        "(is a server listening on 0.0.0.0:22? stop it or run fewer labs)"
    )


def listeners_on(addresses: set[str]) -> list[str]:
    """Sockets still listening on, or bound to, any of ``addresses`` (from /proc/net/tcp)."""
    found = []
    try:
        lines = Path("/proc/net/tcp").read_text().splitlines()[1:]
    except OSError:
        return []
    for line in lines:
        fields = line.split()
        local, state = fields[1], fields[3]
        if state not in ("0A", "07"):  # LISTEN, or bound and closed
            continue
        raw, port = local.split(":")
        address = socket.inet_ntoa(bytes.fromhex(raw)[::-1])
        if address in addresses:
            found.append(f"{address}:{int(port, 16)}")
    return found


def lab_mounts(directory: Path) -> list[str]:
    """Mounts in this (the machine's) namespace that involve the lab directory."""
    text = Path("/proc/self/mountinfo").read_text()
    return [line for line in text.splitlines() if str(directory) in line]


# --- namespaces: the mount plan and the holders -----------------------------------------------


@dataclass(frozen=True)
class Bind:
    source: str
    target: str
    readonly: bool = False
    recursive: bool = False


@dataclass(frozen=True)
class HolderPlan:
    """Everything the forked child needs: no lookups between fork and exec."""

    name: str
    binds: tuple[Bind, ...]
    remounts: tuple[tuple[str, int], ...]  # (mount point, flags to keep) made read-only
    home: str


def _under(path: str, parent: str) -> bool:
    return path == parent or path.startswith(parent.rstrip("/") + "/")


def keep_visible_paths(package_parent: Path) -> list[str]:
    """Paths the tools need (Python, its libraries, fleet) that a private dir would hide.

    E.g. pyenv's Python lives under /root: every host gets its own /root, so the
    interpreter's prefix is bound back, read-only, inside it.
    """
    import site

    candidates = {
        sys.prefix,
        sys.base_prefix,
        sys.exec_prefix,
        str(Path(os.path.realpath(sys.executable)).parent.parent),
        str(package_parent),
        *site.getsitepackages(),
    }
    with contextlib.suppress(AttributeError):
        candidates.add(site.getusersitepackages())
    real = sorted({os.path.realpath(p) for p in candidates if os.path.isdir(p)})
    hidden = [p for p in real if any(_under(p, d) for d in HIDING_DIRS)]
    return [p for p in hidden if not any(q != p and _under(p, q) for q in hidden)]


def mount_plan(
    host: LabHost, tools: Path, keep: Sequence[str], lab_dir: Path, broker: Path | None = None
) -> list[Bind]:
    """The binds of one host, in an order where every source is still visible when used.

    ``broker``: the built-in sudo's socket folder, bound read-only over the host's
    own (private) ``/run/fleetlab``.
    """
    binds = [
        Bind(str(tools), target, readonly=True) for target in ("/usr/local/bin", "/usr/local/sbin")
    ]
    binds += [Bind(str(host.path(p)), p) for p in (*PRIVATE_DIRS, *PRIVATE_FILES)]
    if broker is not None:
        binds.append(Bind(str(broker), sudo_protocol.SOCKET_DIR, readonly=True))
    binds += [Bind(path, str(host.path(path)), readonly=True) for path in keep]
    binds.append(Bind("/proc/sys", "/proc/sys", readonly=True))
    # The private dir holding the lab directory hides the sources: it goes last.
    hiding = sorted(HIDING_DIRS, key=lambda d: _under(str(lab_dir), d))
    binds += [Bind(str(host.path(d)), d, recursive=True) for d in hiding]
    return binds


def readonly_remounts(targets: Iterable[str]) -> tuple[tuple[str, int], ...]:
    """The machine's writable mounts that stay visible in a host: each becomes read-only there."""
    targets = list(targets)
    remounts = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        fields = line.split()
        point, options = fields[4].replace("\\040", " "), fields[5].split(",")
        if "ro" in options or any(_under(point, p) for p in ("/proc", "/sys", "/dev")):
            continue
        if any(_under(point, t) for t in targets):
            continue  # replaced or hidden by a private path
        keep = 0
        for option in options:
            keep |= _MOUNT_OPTION_FLAGS.get(option, 0)
        remounts.append((point, keep))
    return tuple(remounts)


def _inside_private(path: str) -> bool:
    """Under a host's private directory: the mount point is in the host's tree, not here."""
    return any(path != d and _under(path, d) for d in (*PRIVATE_DIRS, *HIDING_DIRS))


def ensure_mountpoints(binds: Iterable[Bind]) -> list[str]:
    """Create missing mount points on the machine (empty; e.g. /etc/docker on Debian)."""
    created = []
    for bind in binds:
        target = Path(bind.target)
        if target.exists() or target.is_symlink() or _inside_private(bind.target):
            continue
        if Path(bind.source).is_dir():
            missing = [p for p in (target, *target.parents) if not p.exists()]
            target.mkdir(parents=True, exist_ok=True)
            created += [str(p) for p in reversed(missing)]
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.touch()
            created.append(str(target))
    return created


class _Syscalls:
    """The few libc calls a holder makes between fork and exec."""

    def __init__(self) -> None:
        self.libc = ctypes.CDLL(None, use_errno=True)

    def _check(self, result: int, what: str) -> None:
        if result != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"{what}: {os.strerror(err)}")

    def unshare(self, flags: int) -> None:
        self._check(self.libc.unshare(flags), "unshare")

    def mount(self, source: str | None, target: str, flags: int) -> None:
        src = source.encode() if source else b"none"
        self._check(self.libc.mount(src, target.encode(), None, flags, None), f"mount {target}")

    def sethostname(self, name: str) -> None:
        self._check(self.libc.sethostname(name.encode(), len(name.encode())), "sethostname")

    def prctl(self, option: int, value: int) -> None:
        self._check(self.libc.prctl(option, value, 0, 0, 0), "prctl")


def _holder_child(
    calls: _Syscalls, plan: HolderPlan, report: int, sleep: str, parent: int
) -> NoReturn:
    """In the forked child: build the host's mount namespace, then become ``sleep infinity``."""
    try:
        calls.unshare(CLONE_NEWNS | CLONE_NEWUTS)
        calls.mount(None, "/", MS_REC | MS_PRIVATE)  # nothing we mount may reach the machine
        for bind in plan.binds:
            calls.mount(bind.source, bind.target, MS_BIND | (MS_REC if bind.recursive else 0))
            if bind.readonly:
                calls.mount(None, bind.target, MS_BIND | MS_REMOUNT | MS_RDONLY)
        for point, keep in plan.remounts:
            calls.mount(None, point, MS_BIND | MS_REMOUNT | MS_RDONLY | keep)
        calls.sethostname(plan.name)
        os.chdir(plan.home)  # sessions enter with nsenter -w: they start in the login user's home
        calls.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() != parent:
            os._exit(1)
        for sig in (signal.SIGPIPE, signal.SIGXFSZ, signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, signal.SIG_DFL)
        null = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(null, fd)
        os.execv(sleep, [HOLDER_NAME, "infinity"])
    except BaseException as exc:  # everything must reach the parent, then exit without cleanup
        with contextlib.suppress(BaseException):
            os.write(report, f"{plan.name}: {exc}".encode())
    os._exit(1)


@dataclass(frozen=True)
class Holder:
    name: str
    proc: ProcRef
    namespace: str


def start_holders(plans: Sequence[HolderPlan], batch: int = 64) -> list[Holder]:
    """Fork one holder per host, ``batch`` at a time; each reports failure or closes its pipe on exec.

    Must run before this process starts any thread (fork copies only the calling thread).
    """
    calls = _Syscalls()
    sleep = shutil.which("sleep") or "/bin/sleep"
    holders: list[Holder] = []
    try:
        for start in range(0, len(plans), batch):
            holders += _start_batch(calls, plans[start : start + batch], sleep)
    except BaseException:
        _kill(h.proc.pid for h in holders)
        for holder in holders:
            _reap(holder.proc.pid)
        raise
    return holders


def _start_batch(calls: _Syscalls, plans: Sequence[HolderPlan], sleep: str) -> list[Holder]:
    started: list[tuple[HolderPlan, int, int]] = []
    me = os.getpid()
    for plan in plans:
        read_end, write_end = os.pipe2(os.O_CLOEXEC)
        pid = os.fork()
        if pid == 0:
            os.close(read_end)
            _holder_child(calls, plan, write_end, sleep, me)
        os.close(write_end)
        started.append((plan, pid, read_end))
    holders, errors = [], []
    for plan, pid, read_end in started:
        with os.fdopen(read_end, "rb") as pipe:
            message = pipe.read().decode(errors="replace")
        if message:
            errors.append(message)
            _reap(pid)
            continue
        proc, namespace = ProcRef.of(pid), _namespace(pid)
        if proc is None or namespace is None:
            errors.append(f"{plan.name}: holder exited at start")
            continue
        holders.append(Holder(plan.name, proc, namespace))
    if errors:
        _kill(h.proc.pid for h in holders)
        for holder in holders:
            _reap(holder.proc.pid)
        raise EnvironmentProblem(
            f"lab host {errors[0]} (and {len(errors) - 1} more)"
            if len(errors) > 1
            else f"lab host {errors[0]}"
        )
    return holders


# --- lab state ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Lab:
    """A lab as recorded in DIR/lab.json."""

    directory: Path
    sshd: str
    hosts: tuple[LabHost, ...]
    groups: Mapping[str, tuple[str, ...]]
    supervisor: ProcRef | None
    holders: Mapping[str, Holder] = field(default_factory=dict)
    sshd_pids: Mapping[str, ProcRef] = field(default_factory=dict)
    state: str = "starting"
    teardown: Mapping[str, Any] = field(default_factory=dict)
    sudo: str = "system"  # builtin: the lab's own privilege path (fleet.lab.sudo)

    @property
    def inventory(self) -> Path:
        return self.directory / "inventory.yml"

    @property
    def ansible_inventory(self) -> Path:
        return self.directory / "ansible.yml"

    @property
    def ssh_config(self) -> Path:
        return self.directory / "ssh_config"

    @property
    def known_hosts(self) -> Path:
        return self.directory / "known_hosts"

    @property
    def identity_file(self) -> Path:
        return self.directory / "id_ed25519"

    @property
    def become_env(self) -> Path:
        return self.directory / "become.env"

    def host(self, name: str) -> LabHost:
        return next(h for h in self.hosts if h.name == name)

    def sshd_pid(self, name: str) -> int | None:
        if self.host(name).faults.get("unreachable"):
            return None
        if self.sshd == "paramiko":
            return self.supervisor.pid if self.supervisor else None
        proc = self.sshd_pids.get(name)
        return proc.pid if proc else None


def _lab_to_json(lab: Lab, extra: Mapping[str, Any]) -> str:
    document = {
        "version": 1,
        "directory": str(lab.directory),
        "sshd": lab.sshd,
        "sudo": lab.sudo,
        "state": lab.state,
        "supervisor": asdict(lab.supervisor) if lab.supervisor else None,
        "groups": {k: list(v) for k, v in lab.groups.items()},
        "hosts": [{**asdict(h), "spec": dict(h.spec)} for h in lab.hosts],
        "holders": {
            k: {"proc": asdict(v.proc), "namespace": v.namespace} for k, v in lab.holders.items()
        },
        "sshd_pids": {k: asdict(v) for k, v in lab.sshd_pids.items()},
        "teardown": dict(lab.teardown),
        **extra,
    }
    return json.dumps(document, indent=1) + "\n"


def _read_document(directory: Path) -> dict[str, Any]:
    path = directory / STATE_FILE
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(
            f"{path}: no lab here; start one with: fleet lab up --dir {directory}"
        ) from None
    except (OSError, ValueError) as exc:
        raise InputError(
            f"{path}: unreadable lab state ({exc}); remove {directory} by hand"
        ) from None


def load_lab(directory: str | Path) -> Lab:
    """The lab recorded in DIR/lab.json (InputError if there is none)."""
    directory = Path(directory).resolve()
    doc = _read_document(directory)
    supervisor = ProcRef(**doc["supervisor"]) if doc.get("supervisor") else None
    return Lab(
        directory=directory,
        sshd=doc["sshd"],
        hosts=tuple(LabHost(**h) for h in doc["hosts"]),
        groups={k: tuple(v) for k, v in doc.get("groups", {}).items()},
        supervisor=supervisor,
        holders={
            k: Holder(k, ProcRef(**v["proc"]), v["namespace"])
            for k, v in doc.get("holders", {}).items()
        },
        sshd_pids={k: ProcRef(**v) for k, v in doc.get("sshd_pids", {}).items()},
        state=doc.get("state", "starting"),
        teardown=doc.get("teardown", {}),
        sudo=doc.get("sudo", "system"),
    )


def _save(lab: Lab, extra: Mapping[str, Any] | None = None) -> None:
    doc = _read_document(lab.directory) if (lab.directory / STATE_FILE).exists() else {}
    keep = {k: doc[k] for k in ("mountpoints_created",) if k in doc}
    files.write_text(lab.directory / STATE_FILE, _lab_to_json(lab, {**keep, **(extra or {})}))


# --- lab up -------------------------------------------------------------------------------------


def _simtools_missing(exc: ModuleNotFoundError) -> bool:
    return (exc.name or "").startswith("fleet.lab.simtools")


def _install_tools(bin_dir: Path) -> bool:
    """Install the simulated tools into ``bin_dir``; False while they are not part of fleet."""
    try:
        from fleet.lab.simtools import install_tools

        install_tools(bin_dir, os.path.realpath(sys.executable), _package_parent())
    except ModuleNotFoundError as exc:
        if not _simtools_missing(exc):
            raise
        return False
    return True


def _seed(host: LabHost) -> None:
    """Let the simulated tools create the host's initial state from its spec."""
    try:
        from fleet.lab.simtools import seed

        seed(Path(host.root), dict(host.spec))
    except ModuleNotFoundError as exc:
        if not _simtools_missing(exc):
            raise


def _package_parent() -> Path:
    import fleet

    return Path(fleet.__file__).resolve().parent.parent


def _check_directory(directory: Path) -> None:
    state = directory / STATE_FILE
    if state.exists():
        lab = load_lab(directory)
        running = lab.supervisor is not None and lab.supervisor.alive()
        what = "is running" if running else "was left behind by a stopped lab"
        raise InputError(f"{directory}: a lab {what}; run: fleet lab down --dir {directory}")
    if directory.exists() and any(p.name != LOG_FILE for p in directory.iterdir()):
        raise InputError(f"{directory}: directory is not empty; choose another --dir or empty it")


def _plan_hosts(
    directory: Path, specs: list[dict[str, Any]]
) -> tuple[list[LabHost], dict[str, str]]:
    """LabHosts with addresses, plus the sudo password of every host that needs one."""
    delayed = {i for i, s in enumerate(specs) if s["delay_ms"]}
    unreachable = {i for i, s in enumerate(specs) if s["faults"].get("unreachable")}
    addresses = allocate_addresses(len(specs), delayed, unreachable)
    generated = secrets.token_urlsafe(12)
    passwords: dict[str, str] = {}
    hosts = []
    for index, spec in enumerate(specs):
        password = spec.pop("sudo_password", None)
        if spec["sudo"] == "password":
            passwords[spec["name"]] = password or generated
        uid = 0 if spec["user"] == "root" else files.LOGIN_UID
        hosts.append(
            LabHost(
                name=spec["name"],
                address=addresses[index],
                port=SSH_PORT,
                internal_port=INTERNAL_PORT if index in delayed else None,
                root=str(directory / "hosts" / spec["name"]),
                spec=spec,
                uid=uid,
                gid=uid,
            )
        )
    return hosts, passwords


def _prepare_hosts(
    directory: Path, hosts: list[LabHost], passwords: Mapping[str, str], with_tools: bool
) -> dict[str, str]:
    """Write every host tree, host key and sshd file; seed the tools' state.  Host keys by name."""
    machine = files.MachineAccounts.read()
    hashes = {p: files.password_hash(p) for p in sorted(set(passwords.values()))}
    client_key = files.public_key_of(directory / "id_ed25519")
    host_keys = {}
    for host in hosts:
        files.prepare_host_root(host, machine, hashes.get(passwords.get(host.name, "")))
        key_path = host.path(HOST_KEY)
        key_path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        host_keys[host.name] = files.write_key_pair(key_path, f"root@{host.name}")
        refused = host.faults.get("auth") == "refused"
        write_sshd_files(host, key_path, None if refused else client_key)
        if with_tools:
            _seed(host)
        files.finish_host_root(host)
    return host_keys


def _write_client_files(
    directory: Path,
    hosts: list[LabHost],
    groups: Mapping[str, tuple[str, ...]],
    host_keys: Mapping[str, str],
    passwords: Mapping[str, str],
) -> None:
    var_of_host = files.become_vars(hosts, passwords)
    files.write_text(directory / "known_hosts", files.known_hosts_text(hosts, host_keys))
    files.write_text(directory / "ssh_config", files.ssh_config_text(hosts, directory))
    files.write_text(
        directory / "inventory.yml", files.fleet_inventory_text(hosts, groups, var_of_host)
    )
    files.write_text(
        directory / "ansible.yml", files.ansible_inventory_text(hosts, groups, directory)
    )
    if var_of_host:
        files.write_text(
            directory / "become.env", files.become_env_text(var_of_host, passwords), 0o600
        )


def _spawn_supervisor(directory: Path) -> tuple[int, int]:
    """Start the supervisor (``fleet.lab.runtime serve DIR``) in its own session; (pid, ready pipe)."""
    read_end, write_end = os.pipe()
    os.set_inheritable(write_end, True)
    log = os.open(directory / LOG_FILE, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    # Not ``-m``: that puts the working directory first on sys.path, and a ``fleet``
    # folder there (a source tree) would replace the package the hosts' tools run.
    bootstrap = (
        f"import sys; sys.path[0] = {str(_package_parent())!r}; "
        "from fleet.lab.runtime import main; sys.exit(main(sys.argv[1:]))"
    )
    argv = [sys.executable, "-c", bootstrap, "serve", str(directory), "--ready-fd", str(write_end)]
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(
            filter(None, [str(_package_parent()), os.environ.get("PYTHONPATH")])
        ),
    }
    try:
        pid = os.posix_spawn(
            sys.executable,
            argv,
            env,
            file_actions=[
                (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
                (os.POSIX_SPAWN_DUP2, log, 1),
                (os.POSIX_SPAWN_DUP2, log, 2),
            ],
            setsid=True,
        )
    finally:
        os.close(write_end)
        os.close(log)
    return pid, read_end


def _await_ready(pid: int, ready: int, directory: Path, timeout: float) -> None:
    """Block until the supervisor says ready or fails (its pipe closes either way)."""
    with os.fdopen(ready, "rb") as pipe:
        if not select.select([pipe], [], [], timeout)[0]:
            raise EnvironmentProblem(
                f"the lab did not start within {timeout:g}s; see {directory / LOG_FILE}"
            )
        message = pipe.read().decode(errors="replace").strip()
    if message == "ready":
        return
    if not message:
        message = f"the supervisor (pid {pid}) exited without a word; see {directory / LOG_FILE}"
    raise EnvironmentProblem(message)


def _handshake(host: LabHost, expected_key: str, timeout: float) -> str | None:
    """A real SSH key exchange; None when the host answered with its own key, else the problem."""
    try:
        sock = socket.create_connection((host.address, host.port), timeout)
    except OSError as exc:
        return f"{host.name}: no TCP connection to {host.address}:{host.port} ({exc})"
    transport = paramiko.Transport(sock)
    try:
        transport.banner_timeout = timeout
        transport.start_client(timeout=timeout)
        key = transport.get_remote_server_key()
        if key.get_base64() != expected_key.split()[1]:
            return f"{host.name}: answered with a host key that is not in known_hosts"
        return None
    except (paramiko.SSHException, OSError, EOFError) as exc:
        return f"{host.name}: SSH handshake failed ({exc})"
    finally:
        transport.close()


def _check_fault_port(host: LabHost) -> str | None:
    """An unreachable host must be unreachable the way its spec says."""
    mode = host.faults.get("unreachable")
    try:
        with socket.create_connection((host.address, host.port), 5):
            return (
                None
                if mode == "timeout"
                else f"{host.name}: accepts connections but should refuse them"
            )
    except ConnectionRefusedError:
        return None if mode == "refused" else f"{host.name}: refuses connections"
    except OSError as exc:
        return f"{host.name}: {exc}"


def verify_hosts(hosts: Sequence[LabHost], host_keys: Mapping[str, str], workers: int = 16) -> None:
    """Every host answers as planned: a real handshake, or the planned refusal/silence."""

    def check(host: LabHost) -> str | None:
        if host.faults.get("unreachable"):
            return _check_fault_port(host)
        return _handshake(host, host_keys[host.name], 30.0)

    with concurrent.futures.ThreadPoolExecutor(workers) as pool:
        problems = [p for p in pool.map(check, hosts) if p]
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise EnvironmentProblem(f"lab host {problems[0]}{more}")


def lab_up(
    directory: str | Path,
    spec: LabSpec | None = None,
    *,
    hosts: int | None = None,
    sshd: str | None = None,
    sudo: str | None = None,
) -> Lab:
    """Start a lab and return when every host answers SSH (or fails as its faults say).

    ``hosts``, ``sshd`` and ``sudo`` override the spec's.  On any failure everything started is
    stopped again and the error names what failed.
    """
    require_root()
    spec = spec or LabSpec()
    count = hosts or spec.hosts
    if not count:
        raise InputError("how many hosts? give --hosts N (or hosts: N in the --spec file)")
    mode = sshd or spec.sshd or "paramiko"
    privilege = sudo or spec.sudo or default_sudo()
    _require_programs(mode, privilege)
    directory = Path(directory).resolve()
    _check_directory(directory)
    specs = resolve_hosts(spec, count)
    directory.mkdir(parents=True, exist_ok=True)
    with _address_reservation():
        planned, passwords = _plan_hosts(directory, specs)
        lab = Lab(
            directory, mode, tuple(planned), dict(spec.groups), supervisor=None, sudo=privilege
        )
        try:
            return _start(lab, passwords)
        except BaseException:
            with contextlib.suppress(FleetError, OSError):
                if (directory / STATE_FILE).exists():
                    lab_down(directory, keep_log=True)
                else:
                    _remove_state(lab, keep_log=True)
            raise


@contextlib.contextmanager
def _address_reservation() -> Iterator[None]:
    """Let one lab at a time go from picking free addresses to listening on them.

    A lab picks its address block by probing which ports are free, and only its
    supervisor binds them; two labs starting at the same moment (parallel test
    runs, benchmarks) would otherwise pick the same block and one would fail.
    """
    ADDRESS_LOCK.parent.mkdir(parents=True, exist_ok=True)
    with ADDRESS_LOCK.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def _start(lab: Lab, passwords: Mapping[str, str]) -> Lab:
    directory = lab.directory
    files.write_key_pair(directory / "id_ed25519", f"fleet-lab@{socket.gethostname()}")
    (directory / "tools").mkdir(exist_ok=True)
    with_tools = _install_tools(directory / "tools")
    if lab.sudo == "builtin":
        _prepare_builtin_sudo(lab)
    host_keys = _prepare_hosts(directory, list(lab.hosts), passwords, with_tools)
    _write_client_files(directory, list(lab.hosts), lab.groups, host_keys, passwords)
    _save(lab)
    pid, ready = _spawn_supervisor(directory)
    _await_ready(pid, ready, directory, START_TIMEOUT + len(lab.hosts) * 0.5)
    running = load_lab(directory)
    verify_hosts(running.hosts, host_keys)
    return running


def _prepare_builtin_sudo(lab: Lab) -> None:
    """The built-in sudo in the tools, its socket folder, and a mount point in every host."""
    install_client(lab.directory / "tools", os.path.realpath(sys.executable), _package_parent())
    (lab.directory / SUDO_DIR).mkdir(mode=0o755, exist_ok=True)
    for host in lab.hosts:
        host.path(sudo_protocol.SOCKET_DIR).mkdir(parents=True, exist_ok=True)


def lab_with(lab: Lab, **changes: Any) -> Lab:
    return replace(lab, **changes)


# --- lab status ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class HostStatus:
    name: str
    address: str
    port: int
    state: str  # up | refused | silent | down
    expected: bool  # the state is what the host's spec asks for
    sshd_pid: int | None
    faults: str


@dataclass(frozen=True)
class LabStatus:
    lab: Lab
    supervisor_alive: bool
    hosts: tuple[HostStatus, ...]
    memory_kib_per_host: int

    @property
    def healthy(self) -> bool:
        return self.supervisor_alive and all(h.expected for h in self.hosts)


def _probe(host: LabHost, timeout: float = 3.0) -> str:
    """up (an SSH banner), refused, silent (no banner), or down: cheap, no key exchange."""
    try:
        with socket.create_connection((host.address, host.port), timeout) as sock:
            if host.faults.get("unreachable") == "timeout":
                return "silent"  # waiting out the banner would cost the whole timeout
            sock.settimeout(timeout)
            banner = sock.recv(256)
    except ConnectionRefusedError:
        return "refused"
    except OSError:
        return "silent"
    return "up" if banner.startswith(b"SSH-") else "down"


def faults_text(host: LabHost) -> str:
    parts = [f"{k}={v}" for k, v in sorted(host.faults.items())]
    if host.spec.get("delay_ms"):
        parts.append(f"delay_ms={host.spec['delay_ms']}")
    return ", ".join(parts) or "-"


def _expected_state(host: LabHost) -> str:
    return {"refused": "refused", "timeout": "silent"}.get(host.faults.get("unreachable", ""), "up")


def lab_status(directory: str | Path) -> LabStatus:
    lab = load_lab(directory)
    alive = lab.supervisor is not None and lab.supervisor.alive()
    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        states = list(pool.map(_probe, lab.hosts))
    hosts = tuple(
        HostStatus(
            h.name,
            h.address,
            h.port,
            state,
            state == _expected_state(h),
            lab.sshd_pid(h.name),
            faults_text(h),
        )
        for h, state in zip(lab.hosts, states, strict=True)
    )
    pids = [lab.supervisor.pid] if alive and lab.supervisor else []
    pids += [h.proc.pid for h in lab.holders.values() if h.proc.alive()]
    pids += [p.pid for p in lab.sshd_pids.values() if p.alive()]
    memory = sum(_pss_kib(pid) for pid in pids) // max(1, len(lab.hosts))
    return LabStatus(lab, alive, hosts, memory)


# --- lab down -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class DownReport:
    directory: Path
    hosts: int
    supervisor_was_running: bool
    processes_left: tuple[int, ...]
    listeners_left: tuple[str, ...]
    mounts_left: tuple[str, ...]

    @property
    def clean(self) -> bool:
        return not (self.processes_left or self.listeners_left or self.mounts_left)


def _is_supervisor(proc: ProcRef, directory: Path) -> bool:
    try:
        argv = Path(f"/proc/{proc.pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return (
        proc.alive()
        and any(b"fleet.lab.runtime" in word for word in argv)
        and str(directory).encode() in argv
    )


def _stop_supervisor(lab: Lab) -> bool:
    """SIGTERM, then wait for it to exit; it cleans up its own children first."""
    proc = lab.supervisor
    if proc is None or not _is_supervisor(proc, lab.directory):
        return False
    _kill([proc.pid], signal.SIGTERM)
    if wait_gone([proc.pid], STOP_TIMEOUT):
        _kill([proc.pid])
        wait_gone([proc.pid], 10.0)
    if _parent_of(proc.pid) == os.getpid():
        _reap(proc.pid)
    return True


def _parent_of(pid: int) -> int | None:
    stat = _stat(pid)
    return int(stat[1]) if stat else None


def _leftover_processes(lab: Lab) -> list[int]:
    recorded = [*(h.proc for h in lab.holders.values()), *lab.sshd_pids.values()]
    if lab.supervisor is not None and _is_supervisor(lab.supervisor, lab.directory):
        recorded.append(lab.supervisor)
    left = {p.pid for p in recorded if p.alive()}
    return sorted(left | set(namespace_members(lab_namespaces(list(lab.holders.values())))))


def _remove_state(lab: Lab, keep_log: bool) -> None:
    for name in (
        *CLIENT_FILES,
        "hosts",
        "tools",
        SUDO_DIR,
        STATE_FILE,
        *(() if keep_log else (LOG_FILE,)),
    ):
        files.remove_tree(lab.directory / name)
    with contextlib.suppress(OSError):
        lab.directory.rmdir()


def lab_down(directory: str | Path, *, keep_log: bool = False) -> DownReport:
    """Stop exactly what ``lab up`` started, verify nothing is left, remove the lab's files.

    Works whether or not the supervisor is still alive: recorded processes are killed
    by pid (after checking their start time) and every process still in a lab namespace
    is killed.  If anything is left, the state is kept so ``down`` can be run again.
    """
    require_root()
    lab = load_lab(directory)
    was_running = _stop_supervisor(lab)
    lab = load_lab(lab.directory)
    _kill(
        p.pid
        for p in (*(h.proc for h in lab.holders.values()), *lab.sshd_pids.values())
        if p.alive()
    )
    clear_namespaces(list(lab.holders.values()))
    for proc in (*(h.proc for h in lab.holders.values()), *lab.sshd_pids.values()):
        if _parent_of(proc.pid) == os.getpid():
            _reap(proc.pid)
    report = DownReport(
        directory=lab.directory,
        hosts=len(lab.hosts),
        supervisor_was_running=was_running,
        processes_left=tuple(_leftover_processes(lab)),
        listeners_left=tuple(listeners_on({h.address for h in lab.hosts})),
        mounts_left=tuple(lab_mounts(lab.directory)),
    )
    if report.clean:
        _remove_state(lab, keep_log)
    return report


# --- the supervisor -----------------------------------------------------------------------------


def _logger(directory: Path) -> Callable[[str], None]:
    handle = (directory / LOG_FILE).open("a", encoding="utf-8", buffering=1)
    lock = threading.Lock()

    def log(message: str) -> None:
        with lock:
            handle.write(f"{time.strftime('%H:%M:%S')} {message}\n")

    return log


def _raise_fd_limit() -> None:
    """Listening sockets, pipes and connections for hundreds of hosts exceed a 1024 soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or hard > soft:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(
                resource.RLIMIT_NOFILE, (hard if hard != resource.RLIM_INFINITY else 1 << 20, hard)
            )


@dataclass
class _Running:
    """What the supervisor started, so teardown can stop exactly that."""

    holders: list[Holder] = field(default_factory=list)
    placeholders: list[socket.socket] = field(default_factory=list)
    server: LabSSHServer | None = None
    sshds: OpenSSHServers | None = None
    proxy: DelayProxy | None = None
    broker: SudoBroker | None = None


def _holder_plans(lab: Lab) -> list[HolderPlan]:
    keep = keep_visible_paths(_package_parent())
    tools = lab.directory / "tools"
    broker = lab.directory / SUDO_DIR if lab.sudo == "builtin" else None
    binds = {h.name: mount_plan(h, tools, keep, lab.directory, broker) for h in lab.hosts}
    targets = {b.target for b in next(iter(binds.values()), [])}
    remounts = readonly_remounts(targets)  # the same for every host
    for host in lab.hosts:
        for path in keep:
            host.path(path).mkdir(parents=True, exist_ok=True)
            if _under(path, "/root"):
                # The login user runs the tools too: it must pass through /root (not list it).
                os.chmod(host.path("/root"), 0o711)
    return [HolderPlan(h.name, tuple(binds[h.name]), remounts, h.home) for h in lab.hosts]


def _placeholder(host: LabHost) -> socket.socket:
    """A socket that makes the host's address refuse (bound, not listening) or stay silent."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.bind((host.address, host.port))  # no SO_REUSEADDR: another lab cannot take it
    except OSError as exc:
        sock.close()
        raise EnvironmentProblem(
            f"lab host {host.name}: {host.address}:{host.port} is taken ({exc.strerror})"
        ) from None
    if host.faults.get("unreachable") == "timeout":
        sock.listen(128)  # the kernel completes handshakes; nobody ever sends a banner
    return sock


def _routes(lab: Lab) -> list[Route]:
    routes = []
    for host in lab.hosts:
        if host.internal_port is None or host.faults.get("unreachable"):
            continue
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            listener.bind((host.address, host.port))
        except OSError as exc:
            listener.close()
            raise EnvironmentProblem(
                f"lab host {host.name}: {host.address}:{host.port} is taken ({exc.strerror})"
            ) from None
        listener.listen(128)
        target = (host.address, host.internal_port)
        routes.append(Route(host.name, listener, target, int(host.spec["delay_ms"])))
    return routes


def _served(lab: Lab, holders: Mapping[str, Holder]) -> list[ServedHost]:
    client_key = files.public_key_of(lab.directory / "id_ed25519")
    return [
        ServedHost(
            name=h.name,
            address=h.address,
            port=h.server_port,
            holder_pid=holders[h.name].proc.pid,
            user=h.user,
            uid=h.uid,
            gid=h.gid,
            home=h.home,
            host_key_path=str(h.path(HOST_KEY)),
            authorized_key=client_key,
            auth_refused=h.faults.get("auth") == "refused",
            drop=h.faults.get("drop"),
            drop_marker=str(h.path(DROPPED_MARK)),
        )
        for h in lab.hosts
        if not h.faults.get("unreachable")
    ]


def _broker_hosts(lab: Lab) -> list[BrokerHost]:
    return [
        BrokerHost(
            h.name, lab.holders[h.name].proc.pid, lab.holders[h.name].namespace, Path(h.root)
        )
        for h in lab.hosts
    ]


def _start_all(lab: Lab, running: _Running, log: Callable[[str], None]) -> Lab:
    plans = _holder_plans(lab)
    created = ensure_mountpoints(plans[0].binds) if plans else []
    _save(lab, {"mountpoints_created": created})
    running.holders = start_holders(plans)
    holders = {h.name: h for h in running.holders}
    lab = lab_with(lab, holders=holders)
    _save(lab)
    log(f"{len(holders)} holders started")
    if lab.sudo == "builtin":
        running.broker = SudoBroker(lab.directory / SUDO_DIR, _broker_hosts(lab), log)
        running.broker.start()
    running.placeholders = [_placeholder(h) for h in lab.hosts if h.faults.get("unreachable")]
    routes = _routes(lab)
    reachable = [h for h in lab.hosts if not h.faults.get("unreachable")]
    if lab.sshd == "paramiko":
        running.server = LabSSHServer(_served(lab, holders), log)
        running.server.bind()
        running.server.start()
    else:
        running.sshds = OpenSSHServers([(h, holders[h.name].proc.pid) for h in reachable], log)
        running.sshds.start()
        running.sshds.wait_listening(START_TIMEOUT)
        pids = {name: ProcRef.of(pid) for name, pid in running.sshds.pids().items()}
        lab = lab_with(lab, sshd_pids={k: v for k, v in pids.items() if v is not None})
    running.proxy = DelayProxy(routes, log)
    running.proxy.start()
    lab = lab_with(lab, state="running")
    _save(lab)
    return lab


def _teardown(lab: Lab, running: _Running, log: Callable[[str], None]) -> dict[str, Any]:
    """Stop servers and proxies, kill every process of every host, check what is left."""
    if running.proxy is not None:
        running.proxy.stop()
    if running.server is not None:
        running.server.stop()
    if running.broker is not None:
        running.broker.stop()
    for sock in running.placeholders:
        sock.close()
    left = clear_namespaces(running.holders)  # sshds, sessions, holders
    if running.sshds is not None:
        running.sshds.close()
    for holder in running.holders:
        _reap(holder.proc.pid)
    reap_orphans(set())
    result = {
        "processes_left": left,
        "listeners_left": listeners_on({h.address for h in lab.hosts}),
    }
    log(f"teardown: {result}")
    return result


def _signal_pipe() -> int:
    """SIGTERM/SIGINT/SIGHUP only write to a pipe: a stop request during start-up waits its turn."""
    read_end, write_end = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
    signal.set_wakeup_fd(write_end)
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, lambda *_: None)
    return read_end


def _wait_for_signal(read_end: int) -> None:
    while True:
        select.select([read_end], [], [])
        with contextlib.suppress(BlockingIOError):
            if os.read(read_end, 16):
                return


def serve(directory: Path, ready_fd: int) -> int:
    """The supervisor: start the lab, report ready on ``ready_fd``, serve until SIGTERM."""
    directory = directory.resolve()
    os.set_inheritable(ready_fd, False)  # holders and servers must not keep `lab up` waiting
    os.chdir("/")
    stop_requests = _signal_pipe()
    log = _logger(directory)
    lab = lab_with(load_lab(directory), supervisor=ProcRef.of(os.getpid()))
    _save(lab)
    _raise_fd_limit()
    _Syscalls().prctl(PR_SET_CHILD_SUBREAPER, 1)  # orphans of sessions come back to us
    threading.stack_size(512 * 1024)  # hundreds of connection threads; none recurses deeply
    # paramiko logs a traceback for every probe that closes before the banner; the server
    # logs one line per failed connection itself.
    logging.getLogger("paramiko").setLevel(logging.CRITICAL)
    running = _Running()
    try:
        lab = _start_all(lab, running, log)
    except Exception as exc:  # report any failure to `lab up`, then undo what started
        message = str(exc) if isinstance(exc, FleetError) else f"lab start failed: {exc!r}"
        log(message)
        _report(ready_fd, message)
        _teardown(lab, running, log)
        return 1
    _report(ready_fd, "ready")
    log(f"lab running: {len(lab.hosts)} hosts, sshd {lab.sshd}")
    _wait_for_signal(stop_requests)
    log("stopping")
    result = _teardown(lab, running, log)
    _save(lab_with(lab, state="stopped", teardown=result))
    return 0


def _report(fd: int, message: str) -> None:
    with contextlib.suppress(OSError):
        os.write(fd, message.encode())
        os.close(fd)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m fleet.lab.runtime")
    commands = parser.add_subparsers(dest="command", required=True)
    serve_parser = commands.add_parser(
        "serve", help="run a lab's supervisor (started by fleet lab up)"
    )
    serve_parser.add_argument("directory", type=Path)
    serve_parser.add_argument("--ready-fd", type=int, required=True)
    args = parser.parse_args(argv)
    return serve(args.directory, args.ready_fd)


if __name__ == "__main__":
    sys.exit(main())
