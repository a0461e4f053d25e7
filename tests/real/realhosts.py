"""Real test hosts: systemd-nspawn containers with real systemd, OpenSSH and Docker.

Each host boots a Debian root file system with ``systemd-nspawn --boot`` inside
its own network namespace, hangs off one bridge on this machine, and wears a
CentOS 7 personality (``/etc/os-release`` and the yum/rpm front-ends in
``tests/real/shims``) so that fleet treats it as the hosts it is written for.
Everything fleet does after the package step runs against the real engine.

The root file system is built once with debootstrap from the mirror this
machine's own apt configuration names, and cached under
``/var/cache/fleet-real``.  The engine packages are only downloaded into it
(``/var/lib/fleet-real/debs``): installing them is the rollout's job.

Hosts booted as ``native`` keep Debian's own identity instead (no front-ends,
Debian's ``/etc/os-release``), so that fleet takes its apt back end; their only
apt source is that package cache, made a flat repository with
``dpkg-scanpackages`` (:func:`ensure_local_repository`).

Why the unusual details:

- ``SYSTEMD_NSPAWN_API_VFS_WRITABLE=network``: nspawn 252 mounts ``/proc/sys``
  read-only when it is handed a network namespace by path, and dockerd then
  refuses to start ("open /proc/sys/net/ipv4/ip_forward: read-only file system").
- ``/var/lib/docker`` is a plain directory bound into the host, because overlay2
  cannot sit on the overlayfs that is each host's root.
- One lock serialises whole runs: the bridge, the address range and the names
  are fixed, so two runs on one machine would trip over each other.
"""

from __future__ import annotations

import contextlib
import fcntl
import gzip
import hashlib
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from email.utils import formatdate
from pathlib import Path
from typing import TextIO

from fleet.lab.simtools.profiles import CENTOS7_OS_RELEASE

SUITE = "bookworm"
BASE_PACKAGES = (
    "systemd",
    "systemd-sysv",
    "dbus",
    "openssh-server",
    "iproute2",
    "sudo",
    "ca-certificates",
)
ENGINE_DEBS = ("docker.io", "containerd", "runc")
# Bump when the build steps below change, so that a stale cached root is not reused.
RECIPE_VERSION = 1
DEB_CACHE = "var/lib/fleet-real/debs"
SHIMS = Path(__file__).resolve().parent / "shims"
SHIM_TOOLS = ("yum", "yum-config-manager", "rpm")
SHIM_LIBRARY = "rpmcompat.sh"
# A native host's one apt source: the package cache as a flat repository.  Unsigned
# (the index is made on this machine from files it downloaded), hence trusted=yes.
LOCAL_REPOSITORY_SOURCE = f"deb [trusted=yes] file:/{DEB_CACHE} ./\n"
LOCAL_REPOSITORY_INDEX = ("Packages", "Packages.gz", "Release")
LOGIN_USER = "centos"
LOGIN_UID = 1000

CACHE_DIR = Path(os.environ.get("FLEET_REAL_CACHE", "/var/cache/fleet-real"))
RUN_DIR = Path("/var/tmp/fleet-real")
RUN_LOCK = Path("/run/lock/fleet-real.lock")
SUBNET = "192.168.250"

BOOT_TIMEOUT_S = 120.0
STOP_TIMEOUT_S = 60.0


# Output of debootstrap or apt that means "the mirror cannot be reached" rather than a bug.
_UNREACHABLE = re.compile(
    r"Failed getting release file|Couldn't download|Failed to fetch|Temporary failure resolving"
    r"|Could not resolve|Could not connect|Connection failed|Network is unreachable",
)

Log = Callable[[str], None]


class Unavailable(Exception):
    """This machine cannot run real hosts; the message says why and what would fix it."""


# --------------------------------------------------------------------------- machine


def machine_problem() -> str | None:
    """Why this machine cannot boot real hosts, or None when it can."""
    if os.geteuid() != 0:
        return "needs root (network namespaces, mounts, systemd-nspawn)"
    for tool, package in (
        ("systemd-nspawn", "systemd-container"),
        ("debootstrap", "debootstrap"),
        ("ip", "iproute2"),
        ("ssh", "openssh-client"),
        ("ssh-keygen", "openssh-client"),
        ("dpkg-scanpackages", "dpkg-dev"),
    ):
        if shutil.which(tool) is None:
            return (
                f"no {tool} on this machine: run .ci/prepare-real-hosts (apt-get install {package})"
            )
    if "overlay" not in Path("/proc/filesystems").read_text():
        return "the kernel has no overlayfs (each host's root is an overlay of the cached one)"
    if not _bus_answers(Path("/run/dbus/system_bus_socket")):
        return "no system D-Bus running (systemd-nspawn needs one): run .ci/prepare-real-hosts"
    if not _is_mount(Path("/run/systemd/nspawn")):
        return "no tmpfs on /run/systemd/nspawn: run .ci/prepare-real-hosts"
    if not Path("/run/systemd/inaccessible/chr").exists():
        return "no /run/systemd/inaccessible nodes: run .ci/prepare-real-hosts"
    return None


def _bus_answers(path: Path) -> bool:
    """A socket file alone is not a bus: it outlives the daemon that made it."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        try:
            probe.connect(str(path))
        except OSError:
            return False
    return True


def _is_mount(path: Path) -> bool:
    return any(target == str(path) for target in _mount_targets())


def _mount_targets() -> list[str]:
    """Mount points of this mount namespace, octal escapes decoded (mountinfo field 5)."""
    text = Path("/proc/self/mountinfo").read_text()
    return [_unescape(line.split()[4]) for line in text.splitlines() if line.strip()]


def _unescape(text: str) -> str:
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), text)


def _run(
    args: Sequence[str],
    *,
    check: bool = True,
    env: dict[str, str] | None = None,
    timeout: float = 600,
    cwd: Path | None = None,
) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        list(args), capture_output=True, text=True, env=env, timeout=timeout, check=False, cwd=cwd
    )
    if check and result.returncode != 0:
        detail = (result.stderr.strip() or result.stdout.strip()).splitlines()[-3:]
        raise RuntimeError(f"{' '.join(args)} exited {result.returncode}: {' | '.join(detail)}")
    return result


@contextlib.contextmanager
def locked(path: Path, timeout_s: float, what: str) -> Iterator[None]:
    """Hold an exclusive lock on ``path``, waiting at most ``timeout_s`` for another run."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise Unavailable(f"{what} is held by another run ({path})") from None
                time.sleep(0.5)  # polling another process's lock; it has no event to wait on
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


# ------------------------------------------------------------------------- apt sources


@dataclass(frozen=True)
class AptSource:
    """One ``deb`` source of this machine's apt configuration."""

    uri: str
    suites: tuple[str, ...]
    components: tuple[str, ...]
    signed_by: str | None = None
    origin: str = ""


def read_apt_sources(apt_dir: Path = Path("/etc/apt")) -> list[AptSource]:
    """Every ``deb`` source in sources.list and sources.list.d (one-line and deb822 files)."""
    files = [apt_dir / "sources.list"]
    files += sorted((apt_dir / "sources.list.d").glob("*.list"))
    found: list[AptSource] = []
    for path in files:
        if path.is_file():
            found += parse_one_line_sources(path.read_text(), str(path))
    for path in sorted((apt_dir / "sources.list.d").glob("*.sources")):
        found += parse_deb822_sources(path.read_text(), str(path))
    return found


def parse_one_line_sources(text: str, origin: str = "") -> list[AptSource]:
    sources = []
    for line in text.splitlines():
        words = line.split("#", 1)[0].split()
        if len(words) < 3 or words[0] != "deb":
            continue
        options, words = _bracket_options(words[1:])
        sources.append(
            AptSource(words[0], (words[1],), tuple(words[2:]), options.get("signed-by"), origin)
        )
    return sources


def _bracket_options(words: list[str]) -> tuple[dict[str, str], list[str]]:
    if not words or not words[0].startswith("["):
        return {}, words
    end = next(i for i, w in enumerate(words) if w.endswith("]"))
    inner = " ".join(words[: end + 1]).strip("[]").split()
    options = dict(item.split("=", 1) for item in inner if "=" in item)
    return {k.lower(): v for k, v in options.items()}, words[end + 1 :]


def parse_deb822_sources(text: str, origin: str = "") -> list[AptSource]:
    sources = []
    for stanza in re.split(r"\n\s*\n", text):
        fields = _deb822_fields(stanza)
        if "deb" not in fields.get("types", "").split():
            continue
        if fields.get("enabled", "yes").lower() == "no":
            continue
        suites = tuple(fields.get("suites", "").split())
        components = tuple(fields.get("components", "").split())
        signed_by = fields.get("signed-by") or None
        for uri in fields.get("uris", "").split():
            sources.append(AptSource(uri, suites, components, signed_by, origin))
    return sources


def _deb822_fields(stanza: str) -> dict[str, str]:
    fields: dict[str, str] = {}
    key = ""
    for line in stanza.splitlines():
        if line.startswith("#") or not line.strip():
            continue
        if line[0] in " \t" and key:
            fields[key] += "\n" + line.strip()
            continue
        name, sep, value = line.partition(":")
        if sep:
            key = name.strip().lower()
            fields[key] = value.strip()
    return fields


def debian_mirror(sources: Sequence[AptSource], suite: str = SUITE) -> str | None:
    """The archive URI to bootstrap ``suite`` from: a source of that suite's main, else any main."""
    for source in sources:
        if suite in source.suites and "main" in source.components:
            return source.uri
    for source in sources:
        plain = [s for s in source.suites if "security" not in s and "/" not in s]
        if plain and "main" in source.components:
            return source.uri
    return None


# --------------------------------------------------------------------------- root fs


def rootfs_key() -> str:
    """Names the cached root: changes whenever what goes into it changes."""
    recipe = f"{RECIPE_VERSION} {SUITE} {','.join(BASE_PACKAGES)} {','.join(ENGINE_DEBS)}"
    return hashlib.sha256(recipe.encode()).hexdigest()[:16]


def ensure_rootfs(cache_dir: Path = CACHE_DIR, log: Log = print) -> Path:
    """The cached root file system, built first if missing.  Raises Unavailable offline."""
    root = cache_dir / f"rootfs-{rootfs_key()}"
    done = cache_dir / f"rootfs-{rootfs_key()}.complete"
    with locked(cache_dir / ".lock", timeout_s=1200, what="the root file system cache"):
        if done.exists() and root.is_dir():
            return root
        sources = read_apt_sources()
        mirror = debian_mirror(sources)
        if mirror is None:
            raise Unavailable("no Debian mirror in /etc/apt/sources.list{,.d}: cannot debootstrap")
        building = cache_dir / f"building-{rootfs_key()}"
        shutil.rmtree(building, ignore_errors=True)
        shutil.rmtree(root, ignore_errors=True)
        started = time.monotonic()
        log(f"building the real-host root file system in {root} (one time, about 2 minutes)")
        try:
            _build_rootfs(building, mirror, sources, cache_dir / "build.log")
        except BaseException:
            shutil.rmtree(building, ignore_errors=True)
            raise
        building.rename(root)
        done.write_text(f"built in {time.monotonic() - started:.0f}s\n")
        return root


def _build_rootfs(target: Path, mirror: str, sources: Sequence[AptSource], log_file: Path) -> None:
    log_file.parent.mkdir(parents=True, exist_ok=True)
    with log_file.open("w") as log:
        logged_run(
            log,
            [
                "debootstrap",
                "--variant=minbase",
                f"--include={','.join(BASE_PACKAGES)}",
                SUITE,
                str(target),
                mirror,
            ],
        )
        _copy_apt_configuration(target, mirror, sources)
        shutil.copy2("/etc/resolv.conf", target / "etc/resolv.conf")
        _chroot(log, target, "apt-get", "update")
        _chroot(log, target, "apt-get", "clean")
        _download_engine(log, target)
        _chroot(log, target, "apt-get", "clean")
    _make_neutral(target)
    _add_login_user(target)


def logged_run(log: TextIO, args: Sequence[str], env: dict[str, str] | None = None) -> None:
    """Run a build command with its output in the build log; offline means Unavailable."""
    log.write(f"$ {' '.join(args)}\n")
    log.flush()
    result = subprocess.run(
        list(args), stdout=log, stderr=subprocess.STDOUT, env=env, timeout=1200, check=False
    )
    if result.returncode == 0:
        return
    log.flush()
    tail = Path(log.name).read_text().splitlines()[-40:]
    reason = next((ln for ln in reversed(tail) if _UNREACHABLE.search(ln)), None)
    if reason:
        raise Unavailable(f"the package mirror cannot be reached ({reason.strip()})")
    raise RuntimeError(f"{args[0]} failed (exit {result.returncode}); see {log.name}")


def _chroot(log: TextIO, root: Path, *args: str) -> None:
    env = {
        "PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
        "DEBIAN_FRONTEND": "noninteractive",
        "LC_ALL": "C",
    }
    logged_run(log, ["chroot", str(root), *args], env)


def _copy_apt_configuration(target: Path, mirror: str, sources: Sequence[AptSource]) -> None:
    """Give the chroot this machine's apt sources of the suite, their keyrings, and the
    machine's network settings for apt (proxies, validity checks of snapshot mirrors)."""
    (target / "etc/apt/sources.list").write_text(chroot_sources(sources, mirror))
    for source in sources:
        _copy_keyring(source.signed_by, target)
    for path in Path("/etc/apt/apt.conf.d").glob("*"):
        if path.is_file() and "Acquire::" in path.read_text(errors="replace"):
            shutil.copy2(path, target / "etc/apt/apt.conf.d" / path.name)


def chroot_sources(sources: Sequence[AptSource], mirror: str, suite: str = SUITE) -> str:
    """The chroot's sources.list: this machine's sources of ``suite`` and its updates and
    security suites.  Other repositories (another release, third parties) stay out: they
    would pull foreign packages or need keys the chroot lacks."""
    lines = []
    for source in sources:
        suites = [
            s for s in source.suites if s == suite or s.startswith((f"{suite}-", f"{suite}/"))
        ]
        if suites:
            options = f" [signed-by={source.signed_by}]" if source.signed_by else ""
            lines.append(
                f"deb{options} {source.uri} {' '.join(suites)} {' '.join(source.components)}"
            )
    return "\n".join(lines or [f"deb {mirror} {suite} main"]) + "\n"


def _copy_keyring(signed_by: str | None, target: Path) -> None:
    if not signed_by or not signed_by.startswith("/"):
        return
    source, destination = Path(signed_by), target / signed_by.lstrip("/")
    if source.is_file() and not destination.exists():
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, destination)


def _download_engine(log: TextIO, root: Path) -> None:
    """Fetch the engine packages and their missing dependencies into the local cache only."""
    _chroot(
        log,
        root,
        "apt-get",
        "install",
        "-y",
        "--download-only",
        "--no-install-recommends",
        *ENGINE_DEBS,
    )
    cache = root / DEB_CACHE
    cache.mkdir(parents=True, exist_ok=True)
    debs = sorted((root / "var/cache/apt/archives").glob("*.deb"))
    names = {deb.name.split("_", 1)[0] for deb in debs}
    if not set(ENGINE_DEBS) <= names:
        raise RuntimeError(f"apt downloaded {sorted(names)}, not all of {ENGINE_DEBS}")
    for deb in debs:
        shutil.move(deb, cache / deb.name)


def _make_neutral(root: Path) -> None:
    """Drop what would make every host the same machine: keys, names, ids, this machine's DNS."""
    for key in (root / "etc/ssh").glob("ssh_host_*"):
        key.unlink()
    for name in ("etc/hostname", "etc/machine-id"):
        (root / name).unlink(missing_ok=True)
    (root / "etc/resolv.conf").unlink(missing_ok=True)
    (root / "etc/resolv.conf").write_text("# the test hosts have no DNS\n")
    shutil.rmtree(root / "var/lib/apt/lists", ignore_errors=True)
    (root / "var/lib/apt/lists/partial").mkdir(parents=True)


def ensure_local_repository(rootfs: Path) -> Path:
    """The apt index (Packages, Packages.gz, Release) of the cached root's engine packages,
    made once and reused while those .debs stay the same: hashing some 65 MB of packages
    takes seconds on a busy machine.

    Kept beside the root, not in it: running hosts have the root as their overlay's
    lower layer, which must not change under them."""
    index = rootfs.with_name(f"{rootfs.name}.apt-index")
    debs = rootfs / DEB_CACHE
    # A rebuilt root may hold other .debs under the same name; the index must follow them.
    listing = "".join(f"{p.name} {p.stat().st_size}\n" for p in sorted(debs.glob("*.deb")))
    with locked(rootfs.parent / ".lock", timeout_s=1200, what="the root file system cache"):
        made_from = index / "debs.txt"
        if made_from.is_file() and made_from.read_text() == listing:
            return index
        building = rootfs.with_name(f"{rootfs.name}.apt-index.building")
        shutil.rmtree(building, ignore_errors=True)
        building.mkdir()
        packages = _run(
            ["dpkg-scanpackages", "--multiversion", ".", "/dev/null"], cwd=debs
        ).stdout.encode()
        (building / "Packages").write_bytes(packages)
        (building / "Packages.gz").write_bytes(gzip.compress(packages, mtime=0))
        (building / "Release").write_text(flat_release(building))
        (building / "debs.txt").write_text(listing)
        shutil.rmtree(index, ignore_errors=True)
        building.rename(index)
        return index


def flat_release(index: Path) -> str:
    """A Release file for a flat repository's indexes, so that apt reads it without the
    "does not have a Release file" complaint; apt checks the listed sizes and hashes."""
    names = ("Packages", "Packages.gz")
    lines = ["Origin: fleet-real", "Label: fleet-real engine packages"]
    lines.append(f"Date: {formatdate(usegmt=True)}")
    for field_name, algorithm in (("MD5Sum", "md5"), ("SHA256", "sha256")):
        lines.append(f"{field_name}:")
        for name in names:
            data = (index / name).read_bytes()
            lines.append(f" {hashlib.new(algorithm, data).hexdigest()} {len(data)} {name}")
    return "\n".join(lines) + "\n"


def _add_login_user(root: Path) -> None:
    _run(
        ["chroot", str(root), "useradd", "-m", "-u", str(LOGIN_UID), "-s", "/bin/bash", LOGIN_USER]
    )
    sudoers = root / "etc/sudoers.d" / LOGIN_USER
    sudoers.write_text(f"{LOGIN_USER} ALL=(ALL) NOPASSWD: ALL\n")
    sudoers.chmod(0o440)


# ----------------------------------------------------------------------------- hosts


@dataclass(frozen=True)
class Network:
    """Names and addresses of one group of hosts; ``prefix`` must be unique per group."""

    prefix: str  # netns "<prefix>-<n>", host-side veth "<prefix>-<n>", bridge "<prefix>0"
    gateway: str  # this machine's address on the bridge, with its prefix length
    first_host: int  # the last octet of the first host

    @property
    def bridge(self) -> str:
        return f"{self.prefix}0"

    def address(self, index: int) -> str:
        return f"{SUBNET}.{self.first_host + index}"

    def netns(self, index: int) -> str:
        return f"{self.prefix}-{index + 1}"

    def veth(self, index: int) -> str:
        return f"{self.prefix}-{index + 1}"


# Two groups may exist at once (the session's hosts and a teardown test's own),
# each in one half of 192.168.250.0/24 so that their routes do not overlap.
SESSION_NETWORK = Network("fleetreal", f"{SUBNET}.1/25", 11)
SCRATCH_NETWORK = Network("fleetrealx", f"{SUBNET}.129/25", 140)


@dataclass
class RealHost:
    name: str
    address: str
    netns: str
    veth: str
    base: Path  # everything of this host on this machine lives under here
    process: subprocess.Popen[bytes] | None = None
    host_key: str = ""  # "ssh-ed25519 AAAA..."
    native: bool = False  # Debian as it is (apt), not the CentOS personality
    cgroups: list[Path] = field(default_factory=list)

    @property
    def root(self) -> Path:
        return self.base / "root"

    @property
    def upper(self) -> Path:
        return self.base / "upper"

    @property
    def docker_dir(self) -> Path:
        return self.base / "var-lib-docker"

    @property
    def console_log(self) -> Path:
        return self.base / "console.log"


@dataclass
class RealFleet:
    """Booted hosts and the files to reach them; :meth:`teardown` removes every trace."""

    network: Network
    rootfs: Path
    base: Path
    hosts: dict[str, RealHost] = field(default_factory=dict)

    @property
    def client_key(self) -> Path:
        return self.base / "client_ed25519"

    @property
    def known_hosts(self) -> Path:
        return self.base / "known_hosts"

    # ---- reaching the hosts

    def ssh(
        self, name: str, command: str, *, check: bool = True, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        """Run ``command`` on a host with OpenSSH's client, independent of fleet's transport."""
        result = subprocess.run(
            [*self._ssh_args(self.hosts[name].address), command],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if check and result.returncode != 0:
            raise AssertionError(
                f"{name}: {command!r} exited {result.returncode}: "
                f"{result.stderr.strip() or result.stdout.strip()}"
            )
        return result

    def _ssh_args(self, address: str) -> list[str]:
        return [
            "ssh",
            "-F",
            "/dev/null",
            "-i",
            str(self.client_key),
            "-o",
            f"UserKnownHostsFile={self.known_hosts}",
            "-o",
            "StrictHostKeyChecking=yes",
            "-o",
            "BatchMode=yes",
            "-o",
            "ConnectTimeout=5",
            "-o",
            "LogLevel=ERROR",
            f"{LOGIN_USER}@{address}",
        ]

    def write_inventory(self, path: Path, names: Sequence[str], user: str = LOGIN_USER) -> Path:
        """A fleet inventory (docs/inventory.md) of the named hosts, in this order."""
        lines = [
            "fleet: 1",
            "defaults:",
            f"  user: {user}",
            f"  identity_file: {self.client_key}",
            f"  known_hosts: {self.known_hosts}",
            "hosts:",
        ]
        lines += [f"  {name}:\n    address: {self.hosts[name].address}" for name in names]
        path.write_text("\n".join(lines) + "\n")
        return path

    # ---- life cycle

    def boot(self, names: Sequence[str], log: Log = print, native: Collection[str] = ()) -> None:
        """Prepare and boot every host, then wait until each one's systemd reports running.
        Hosts named in ``native`` stay plain Debian, with the local repository as apt source."""
        self.base.mkdir(parents=True, exist_ok=True)
        repository = ensure_local_repository(self.rootfs) if native else None
        _run(
            [
                "ssh-keygen",
                "-q",
                "-t",
                "ed25519",
                "-N",
                "",
                "-C",
                "fleet-real",
                "-f",
                str(self.client_key),
            ]
        )
        _network_up(self.network)
        for index, name in enumerate(names):
            host = RealHost(
                name,
                self.network.address(index),
                self.network.netns(index),
                self.network.veth(index),
                self.base / name,
                native=name in native,
            )
            self.hosts[name] = host
            _prepare_host(host, self.rootfs, self.client_key.with_suffix(".pub"))
            if repository is not None and host.native:
                _local_apt_sources(host.root, repository)
            else:
                _centos_personality(host.root)
            _attach(host, self.network)
            host.cgroups = cgroup_dirs(self.network.prefix, name)
            make_cgroups(host.cgroups)
            host.process = _start(host, host.cgroups)
        self.known_hosts.write_text(
            "".join(f"{h.address} {h.host_key}\n" for h in self.hosts.values())
        )
        started = time.monotonic()
        for host in self.hosts.values():
            self._wait_until_running(host)
        log(f"booted {len(names)} real hosts in {time.monotonic() - started:.1f}s")

    def _wait_until_running(self, host: RealHost) -> None:
        deadline = time.monotonic() + BOOT_TIMEOUT_S
        _wait_for_port(host, 22, deadline)
        result = self.ssh(
            host.name, "systemctl is-system-running --wait", check=False, timeout=BOOT_TIMEOUT_S
        )
        state = result.stdout.strip()
        if state != "running":
            failed = self.ssh(host.name, "systemctl --failed --no-legend --plain", check=False)
            raise RuntimeError(
                f"{host.name} booted to {state or result.stderr.strip()!r}, not 'running'; "
                f"failed units: {failed.stdout.strip() or '-'}"
            )

    def teardown(self) -> list[str]:
        """Stop and remove every host, the bridge and the files; return what could not be."""
        problems: list[str] = []
        for host in self.hosts.values():
            problems += _stop(host)
            problems += _detach(host)
        problems += _quietly(["ip", "link", "del", self.network.bridge])
        shutil.rmtree(self.base, ignore_errors=True)
        return problems + leftovers(self.network, self.base, self.hosts.values())


def _network_up(network: Network) -> None:
    _require_free_subnet(network)
    _run(["ip", "link", "add", network.bridge, "type", "bridge"])
    _run(["ip", "addr", "add", network.gateway, "dev", network.bridge])
    _run(["ip", "link", "set", network.bridge, "up"])


def _require_free_subnet(network: Network) -> None:
    """Refuse to share the test range with anything else on this machine."""
    text = _run(["ip", "-o", "-4", "addr", "show"]).stdout
    for line in text.splitlines():
        words = line.split()
        if f" {SUBNET}." in f" {words[3]}" and words[1] not in (
            SESSION_NETWORK.bridge,
            SCRATCH_NETWORK.bridge,
        ):
            raise Unavailable(f"{SUBNET}.0/24 is already used on this machine by {words[1]}")


def _prepare_host(host: RealHost, rootfs: Path, client_pub: Path) -> None:
    """An overlay of the cached root with this host's identity on top."""
    for path in (host.root, host.upper, host.base / "work", host.docker_dir):
        path.mkdir(parents=True)
    _run(
        [
            "mount",
            "-t",
            "overlay",
            "overlay",
            "-o",
            f"lowerdir={rootfs},upperdir={host.upper},workdir={host.base / 'work'}",
            str(host.root),
        ]
    )
    root = host.root
    (root / "etc/hostname").write_text(f"{host.name}\n")
    (root / "etc/hosts").write_text(
        f"127.0.0.1\tlocalhost\n127.0.1.1\t{host.name}\n::1\tlocalhost ip6-localhost ip6-loopback\n"
    )
    (root / "etc/machine-id").write_text(secrets.token_hex(16) + "\n")
    host.host_key = _host_key(root, host.name)
    _authorize(root, client_pub)


def _host_key(root: Path, name: str) -> str:
    key = root / "etc/ssh/ssh_host_ed25519_key"
    _run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", str(key)])
    (root / "etc/ssh/sshd_config.d/fleet-real.conf").write_text(
        "HostKey /etc/ssh/ssh_host_ed25519_key\nPasswordAuthentication no\nUseDNS no\n"
    )
    return " ".join(key.with_suffix(".pub").read_text().split()[:2])


def _authorize(root: Path, client_pub: Path) -> None:
    """The test's key opens the login user's account; root is reached through sudo."""
    ssh_dir = root / "home" / LOGIN_USER / ".ssh"
    ssh_dir.mkdir(mode=0o700, exist_ok=True)
    keys = ssh_dir / "authorized_keys"
    keys.write_text(client_pub.read_text())
    keys.chmod(0o600)
    for path in (ssh_dir, keys):
        os.chown(path, LOGIN_UID, LOGIN_UID)


def _centos_personality(root: Path) -> None:
    """CentOS 7's os-release and the yum/rpm front-ends; Debian stays underneath."""
    os_release = root / "etc/os-release"
    os_release.unlink(missing_ok=True)  # a symlink into /usr/lib in Debian
    os_release.write_text(CENTOS7_OS_RELEASE)
    (root / "etc/yum.repos.d").mkdir(exist_ok=True)
    for tool in SHIM_TOOLS:
        shutil.copy2(SHIMS / tool, root / "usr/local/bin" / tool)
        (root / "usr/local/bin" / tool).chmod(0o755)
    library = root / "usr/local/lib/fleet-real"
    library.mkdir(parents=True, exist_ok=True)
    shutil.copy2(SHIMS / SHIM_LIBRARY, library / SHIM_LIBRARY)


def _local_apt_sources(root: Path, index: Path) -> None:
    """apt's only source is the package cache, indexed in place: the host has no route out,
    and an apt-get update that tried the build's mirror would fail the rollout."""
    for name in LOCAL_REPOSITORY_INDEX:
        shutil.copy2(index / name, root / DEB_CACHE / name)
    (root / "etc/apt/sources.list").write_text(LOCAL_REPOSITORY_SOURCE)
    for path in (root / "etc/apt/sources.list.d").iterdir():
        path.unlink()


def _attach(host: RealHost, network: Network) -> None:
    """The host's own network namespace, wired to the bridge by a veth pair."""
    address = f"{host.address}/{network.gateway.split('/')[1]}"
    _run(["ip", "netns", "add", host.netns])
    _run(
        [
            "ip",
            "link",
            "add",
            host.veth,
            "type",
            "veth",
            "peer",
            "name",
            "host0",
            "netns",
            host.netns,
        ]
    )
    _run(["ip", "link", "set", host.veth, "master", network.bridge, "up"])
    _run(["ip", "-n", host.netns, "addr", "add", address, "dev", "host0"])
    _run(["ip", "-n", host.netns, "link", "set", "host0", "up"])
    _run(["ip", "-n", host.netns, "link", "set", "lo", "up"])


def _start(host: RealHost, cgroups: Sequence[Path]) -> subprocess.Popen[bytes]:
    """Boot the host.  A small shell first moves itself into the host's own cgroups, then
    becomes nspawn: hosts sharing one cgroup would fight over each other's units."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"),
        "SYSTEMD_NSPAWN_API_VFS_WRITABLE": "network",
    }
    enter = 'while [ "$1" != -- ]; do echo $$ > "$1" || exit 125; shift; done; shift; exec "$@"'
    procs = [str(c / "cgroup.procs") for c in cgroups]
    with host.console_log.open("wb") as console:
        return subprocess.Popen(
            [
                "sh",
                "-c",
                enter,
                "enter-cgroups",
                *procs,
                "--",
                "systemd-nspawn",
                "--quiet",
                "--register=no",
                "--keep-unit",
                "--capability=all",
                "--console=pipe",
                "--resolv-conf=off",
                "--timezone=off",
                "--link-journal=no",
                f"--network-namespace-path=/run/netns/{host.netns}",
                f"--bind={host.docker_dir}:/var/lib/docker",
                f"--machine={host.name}",
                f"--directory={host.root}",
                "--boot",
            ],
            stdin=subprocess.DEVNULL,
            stdout=console,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,  # a Ctrl-C meant for pytest must not kill hosts mid-teardown
        )


# ----------------------------------------------------------------------------- cgroups


def cgroup_dirs(group: str, host: str) -> list[Path]:
    """One cgroup per host in every mounted hierarchy, below this process's own cgroup
    (so the machine's limits still apply).  ``group`` keeps groups of hosts apart."""
    own = _own_cgroups()
    dirs = []
    for mount_point, key in _cgroup_mounts():
        if key in own:
            dirs.append(Path(mount_point) / own[key].lstrip("/") / f"fleet-real-{group}" / host)
    return dirs


def _own_cgroups() -> dict[str, str]:
    """``/proc/self/cgroup`` as {sorted controller list (\"\" for cgroup2): path}."""
    found = {}
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        found[",".join(sorted(controllers.split(","))) if controllers else ""] = path
    return found


def _cgroup_mounts() -> list[tuple[str, str]]:
    """(mount point, controller key) of each cgroup hierarchy mounted on this machine."""
    mounts = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        fields = line.split()
        dash = fields.index("-")
        fstype, options = fields[dash + 1], fields[dash + 3].split(",")
        if fstype == "cgroup2":
            mounts.append((_unescape(fields[4]), ""))
        elif fstype == "cgroup":
            controllers = [o for o in options if _is_controller(o)]
            mounts.append((_unescape(fields[4]), ",".join(sorted(controllers))))
    return mounts


def _is_controller(option: str) -> bool:
    if option.startswith("name="):
        return True
    return "=" not in option and option not in _NOT_CONTROLLERS


_NOT_CONTROLLERS = frozenset({"rw", "ro", "noprefix", "clone_children", "xattr", "cpuset_v2_mode"})


def make_cgroups(dirs: Sequence[Path]) -> None:
    for path in dirs:
        for level in (path.parent, path):
            level.mkdir(exist_ok=True)
            _inherit_cpuset(level)


def _inherit_cpuset(path: Path) -> None:
    """A new cgroup-v1 cpuset starts with no CPUs and refuses processes until given some."""
    for name in ("cpuset.cpus", "cpuset.mems"):
        mine = path / name
        if mine.exists() and not mine.read_text().strip():
            mine.write_text((path.parent / name).read_text())


def remove_cgroups(dirs: Sequence[Path]) -> list[str]:
    """Remove the host's cgroups, deepest first (the host's systemd leaves its own inside)."""
    problems = []
    for path in dirs:
        if not path.exists():
            continue
        for child in sorted(
            (p for p in path.rglob("*") if p.is_dir()), key=lambda p: -len(p.parts)
        ):
            with contextlib.suppress(OSError):
                child.rmdir()
        try:
            path.rmdir()
            with contextlib.suppress(OSError):
                path.parent.rmdir()  # the group's directory, once its last host is gone
        except OSError as exc:
            problems.append(f"cgroup {path}: {exc.strerror}")
    return problems


def _wait_for_port(host: RealHost, port: int, deadline: float) -> None:
    """Poll until the host accepts TCP on ``port``; fail early if its nspawn exited."""
    while True:
        if host.process is not None and host.process.poll() is not None:
            tail = host.console_log.read_text(errors="replace").splitlines()[-15:]
            raise RuntimeError(
                f"{host.name}: systemd-nspawn exited {host.process.returncode}: " + " | ".join(tail)
            )
        try:
            with socket.create_connection((host.address, port), timeout=1):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"{host.name}: no SSH on {host.address}:{port} after boot"
                ) from None
            time.sleep(0.2)  # polling a port the host opens when its sshd starts


def _stop(host: RealHost) -> list[str]:
    """Power the host off cleanly (SIGTERM makes nspawn shut its systemd down), else kill it."""
    process = host.process
    if process is None or process.poll() is not None:
        return []
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=STOP_TIMEOUT_S)
        return []
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=STOP_TIMEOUT_S)
        return [f"{host.name} did not power off within {STOP_TIMEOUT_S:.0f}s and was killed"]


def _detach(host: RealHost) -> list[str]:
    problems = []
    if _is_mount(host.root):
        problems += _quietly(["umount", str(host.root)])
    problems += _quietly(["ip", "link", "del", host.veth], missing_ok=True)
    problems += _quietly(["ip", "netns", "del", host.netns], missing_ok=True)
    return problems + remove_cgroups(host.cgroups)


def _quietly(args: Sequence[str], missing_ok: bool = True) -> list[str]:
    result = _run(args, check=False)
    if result.returncode == 0:
        return []
    text = result.stderr.strip()
    if missing_ok and ("Cannot find device" in text or "No such file" in text):
        return []
    return [f"{' '.join(args)}: {text}"]


def leftovers(network: Network, base: Path, hosts: Iterable[RealHost] = ()) -> list[str]:
    """Every trace of a group of hosts still on this machine (empty after a clean teardown)."""
    found = []
    for host in hosts:
        if host.process is not None and host.process.poll() is None:
            found.append(f"process {host.process.pid} (systemd-nspawn of {host.name}) still runs")
    found += [f"mount {t}" for t in _mount_targets() if t == str(base) or t.startswith(f"{base}/")]
    netns = _run(["ip", "netns", "list"]).stdout.split()
    found += [f"netns {n}" for n in netns if n.startswith(f"{network.prefix}-")]
    links = _run(["ip", "-o", "link", "show"]).stdout
    for line in links.splitlines():
        name = line.split(":")[1].strip().split("@")[0]
        if name == network.bridge or name.startswith(f"{network.prefix}-"):
            found.append(f"link {name}")
    found += [f"cgroup {path}" for path in _group_cgroups(network) if path.exists()]
    if base.exists():
        found.append(f"directory {base}")
    return found


def _group_cgroups(network: Network) -> list[Path]:
    return [path.parent for path in cgroup_dirs(network.prefix, "-")]


def _cgroup_pids(groups: Sequence[Path]) -> set[int]:
    pids: set[int] = set()
    for group in groups:
        for procs in group.rglob("cgroup.procs"):
            with contextlib.suppress(OSError):
                pids.update(int(pid) for pid in procs.read_text().split())
    return pids


def _stale_group_cgroups(network: Network) -> list[Path]:
    """The group's cgroups wherever an earlier run made them: that run's own cgroup (and
    so the parent of these) may differ from this one's."""
    name = f"fleet-real-{network.prefix}"
    found = []
    for mount_point, _ in _cgroup_mounts():
        for top, dirs, _files in os.walk(mount_point):
            if name in dirs:
                found.append(Path(top) / name)
                dirs.remove(name)
            if len(Path(top).relative_to(mount_point).parts) >= 3:
                dirs.clear()  # the tier's groups sit at most a few levels down
    return found


def clear_stale(network: Network, base: Path) -> None:
    """Remove what an interrupted earlier run of the same group left behind.

    Only processes in this group's own cgroups are ended: the nspawn processes
    and hosts that such a run started, nothing else on the machine."""
    stale = _stale_group_cgroups(network)
    for pid in _cgroup_pids(stale):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + STOP_TIMEOUT_S
    while _cgroup_pids(stale) and time.monotonic() < deadline:
        time.sleep(0.1)  # polling: the kernel reaps killed processes on its own time
    netns = _run(["ip", "netns", "list"]).stdout.split()
    for target in sorted(
        (t for t in _mount_targets() if t.startswith(f"{base}/")), key=len, reverse=True
    ):
        _run(["umount", "-l", target], check=False)
    for name in (n for n in netns if n.startswith(f"{network.prefix}-")):
        _run(["ip", "link", "del", name], check=False)
        _run(["ip", "netns", "del", name], check=False)
    _run(["ip", "link", "del", network.bridge], check=False)
    for group in stale:
        remove_cgroups(sorted(p for p in group.iterdir() if p.is_dir()))
        with contextlib.suppress(OSError):
            group.rmdir()
    shutil.rmtree(base, ignore_errors=True)
