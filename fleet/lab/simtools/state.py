"""Where a lab host keeps its simulated state, and how it is read and written safely.

Every tool is a short-lived process and several may run at once (two ``sudo``
commands over two SSH channels), so state lives in small JSON files that are
replaced atomically (temp file + rename: a reader never sees half a file) and
mutated only under an exclusive ``fcntl`` lock.  Readers take no lock.

All absolute paths of the simulated host go through :func:`lab_path`, which
prefixes ``FLEETLAB_ROOT`` so the tools can run against a temporary directory
in unit tests and against the real (namespaced) paths inside a lab host.
"""

from __future__ import annotations

import fcntl
import json
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

STATE_DIR = "/var/lib/fleetlab"
HOST_JSON = f"{STATE_DIR}/host.json"
RPMDB = f"{STATE_DIR}/rpmdb.json"
UNITS = f"{STATE_DIR}/units.json"
ENGINE = f"{STATE_DIR}/engine.json"
YUMSTATE = f"{STATE_DIR}/yum.json"
JOURNAL = f"{STATE_DIR}/journal.log"
STATE_LOCK = f"{STATE_DIR}/state.lock"
YUM_LOCK = f"{STATE_DIR}/yum.lock"
YUM_PID = f"{STATE_DIR}/yum.pid"
DROPPED_MARK = f"{STATE_DIR}/dropped"  # the drop fault happened; it happens once per host
SSHD_PID = f"{STATE_DIR}/sshd.pid"
# The lab's built-in sudo runs a command as a child of the lab supervisor, not of the
# sudo that asked: SUDO_CALLERS/<command pid> holds that sudo's pid, so a walk up the
# process tree (the drop fault, "invoked by sudo") still finds the session above.
SUDO_CALLERS = f"{STATE_DIR}/sudo-callers"
# A drop fault under the lab's own SSH server: a tool prints this on its stderr and
# the server, seeing it in the session's output, cuts the connection.  No pid of
# the server is needed, and it works the same for commands run through a served
# root shell, whose commands the server never sees as exec requests.
CUT_REQUEST = b"@@fleet-lab:cut-this-connection@@"

DEFAULT_SPEC: dict[str, Any] = {
    "name": None,
    "os": "centos7",
    "user": "centos",
    "kernel": None,
    "engine": None,
    "kubelet": "absent",
    "daemon_json": None,
    "containerd_config": None,  # the owner's /etc/containerd/config.toml (text)
    "crictl": False,  # cri-tools installed
    "dropin": None,
    "var_lib_docker": {"fs": "xfs", "ftype": 1},
    "faults": {},
    "podman": False,
    "packages": (),
    # The node prerequisites' state at boot (fleet.lab.simtools.kernelstate).
    "swap": "on",  # on, off, or fstab (off now, still in /etc/fstab)
    "selinux": "enforcing",
    "cgroup": None,  # v1 or v2; None: the OS's own
    "modules": (),  # loaded at boot besides the base set
    "sysctl": {},  # values at boot besides the kernel's defaults
}


def lab_path(path: str, root: str | None = None) -> Path:
    """The real location of the simulated host's absolute ``path``.

    ``root`` is given only by :func:`~fleet.lab.simtools.seed`, which writes a
    host tree before any tool runs inside it; tools use ``FLEETLAB_ROOT``.
    """
    prefix = os.environ.get("FLEETLAB_ROOT", "") if root is None else root
    return Path(prefix.rstrip("/") + path)


def normalise_spec(raw: dict[str, Any] | None) -> dict[str, Any]:
    """The spec with every key present: the runtime validates, the tools only default."""
    spec = dict(DEFAULT_SPEC)
    spec.update({k: v for k, v in (raw or {}).items() if v is not None})
    spec["faults"] = dict(spec.get("faults") or {})
    vld = dict(DEFAULT_SPEC["var_lib_docker"])
    vld.update(spec.get("var_lib_docker") or {})
    spec["var_lib_docker"] = vld
    if isinstance(spec.get("engine"), str):
        spec["engine"] = {"version": spec["engine"]}
    return spec


class Host:
    """One simulated host as seen by one tool invocation: its spec and its files."""

    def __init__(self, spec: dict[str, Any], root: str | None = None) -> None:
        self.root = root
        self.spec = normalise_spec(spec)
        from fleet.lab.simtools.profiles import profile_for

        self.profile = profile_for(self.spec["os"])

    @classmethod
    def load(cls) -> Host:
        """The host the current process runs in (spec from ``host.json``, defaults if absent)."""
        return cls(read_json(lab_path(HOST_JSON), {}))

    @property
    def name(self) -> str:
        return self.spec.get("name") or os.uname().nodename

    @property
    def kernel(self) -> str:
        return self.spec.get("kernel") or self.profile.kernel

    @property
    def faults(self) -> dict[str, Any]:
        return self.spec["faults"]

    def path(self, path: str) -> Path:
        return lab_path(path, self.root)

    def read(self, path: str, default: Any) -> Any:
        return read_json(self.path(path), default)

    def write(self, path: str, data: Any) -> None:
        write_json(self.path(path), data)

    @contextmanager
    def locked(self) -> Iterator[None]:
        """Serialise read-modify-write of the state files between concurrent tools."""
        with flocked(self.path(STATE_LOCK)):
            yield

    def journal(self, ident: str, message: str, unit: str = "", pid: int | None = None) -> None:
        """Append one journal entry (JSON line) as systemd-journald would record it."""
        entry = {"t": time.time(), "ident": ident, "pid": pid, "unit": unit, "msg": message}
        path = self.path(JOURNAL)
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(entry) + "\n")

    def journal_entries(self, unit: str | None = None) -> list[dict[str, Any]]:
        try:
            lines = self.path(JOURNAL).read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:
            return []
        entries = [json.loads(line) for line in lines if line.strip()]
        return [e for e in entries if unit is None or e.get("unit") == unit]

    def next_pid(self) -> int:
        """A plausible, increasing PID for a simulated process (call under the lock)."""
        counters = self.read(f"{STATE_DIR}/pids.json", {"next": 1000 + (os.getpid() % 500)})
        pid = int(counters["next"])
        counters["next"] = pid + 7 + pid % 13
        self.write(f"{STATE_DIR}/pids.json", counters)
        return pid


def read_json(path: Path, default: Any) -> Any:
    try:
        with open(path, encoding="utf-8") as fh:
            return json.load(fh)
    except FileNotFoundError:
        return default


def write_json(path: Path, data: Any) -> None:
    write_text(path, json.dumps(data, indent=1, sort_keys=True) + "\n")


def write_text(path: Path, text: str, mode: int = 0o644) -> None:
    """Replace ``path`` atomically; world-readable so the unprivileged login user can read state."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        os.fchmod(fd, mode)
        os.write(fd, text.encode("utf-8"))
    finally:
        os.close(fd)
    os.replace(tmp, path)


@contextmanager
def flocked(path: Path, blocking: bool = True) -> Iterator[int]:
    """Hold an exclusive lock on ``path`` (created if needed); yields the descriptor."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX if blocking else fcntl.LOCK_EX | fcntl.LOCK_NB)
        yield fd
    finally:
        os.close(fd)


def try_flock(path: Path) -> int | None:
    """Take an exclusive lock without waiting; the descriptor (keep it open) or None if held."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd


def systemd_time(ts: float) -> str:
    """Timestamps as ``systemctl show`` and ``status`` print them."""
    return time.strftime("%a %Y-%m-%d %H:%M:%S %Z", time.localtime(ts))


def journal_time(ts: float) -> str:
    return time.strftime("%b %d %H:%M:%S", time.localtime(ts))


def ago(ts: float, now: float | None = None) -> str:
    """systemd's relative time ("1min 10s ago")."""
    secs = max(0, int((now or time.time()) - ts))
    if secs < 60:
        return f"{secs}s ago"
    mins, secs = divmod(secs, 60)
    if mins < 60:
        return f"{mins}min {secs}s ago"
    hours, mins = divmod(mins, 60)
    return f"{hours}h {mins}min ago"


def version_key(version: str) -> tuple[Any, ...]:
    """Order version strings like rpm does for the common numeric cases (``1.2.13`` < ``1.2.2`` is wrong)."""
    parts: list[Any] = []
    for chunk in version.replace("-", ".").replace("~", ".").split("."):
        digits = "".join(ch for ch in chunk if ch.isdigit())
        parts.append((int(digits) if digits else -1, chunk))
    return tuple(parts)


def is_root() -> bool:
    return os.geteuid() == 0
