"""The package catalogue (what the repositories offer) and the rpm database (what is installed).

Versions, releases and epochs follow the real builds: ``docker-ce`` has epoch 3
and ``docker-ce-cli`` epoch 1 (``3:19.03.11-3.el7``), ``containerd.io`` none;
el7/el8 docker builds up to 20.10 are release ``3``, later ones ``1``.  The
docker-ce repository exists for a host only once its ``.repo`` file does.
"""

from __future__ import annotations

import time
from typing import Any, NamedTuple

from fleet.lab.simtools.state import RPMDB, Host, version_key

DOCKER_REPO_ID = "docker-ce-stable"
DOCKER_PACKAGES = ("docker-ce", "docker-ce-cli", "containerd.io")


class Pkg(NamedTuple):
    name: str
    epoch: str  # "0" when the package has none
    version: str
    release: str
    arch: str
    repo: str
    size: str = "1.0 M"

    @property
    def nvra(self) -> str:
        """rpm -q's default form: no epoch."""
        return f"{self.name}-{self.version}-{self.release}.{self.arch}"

    @property
    def nevra(self) -> str:
        """yum's and dnf's ``name-epoch:version-release.arch`` (epoch only when set)."""
        return f"{self.name}-{self.evr}.{self.arch}"

    @property
    def envra(self) -> str:
        """yum 3's own ``epoch:name-version-release.arch`` (messages and transaction lines)."""
        prefix = f"{self.epoch}:" if self.epoch != "0" else ""
        return f"{prefix}{self.nvra}"

    @property
    def evr(self) -> str:
        prefix = f"{self.epoch}:" if self.epoch != "0" else ""
        return f"{prefix}{self.version}-{self.release}"

    @property
    def key(self) -> tuple[Any, ...]:
        return (int(self.epoch), version_key(self.version), version_key(self.release))

    def to_record(self) -> dict[str, Any]:
        return {**self._asdict(), "installtime": int(time.time())}

    @classmethod
    def from_record(cls, rec: dict[str, Any]) -> Pkg:
        return cls(*(rec[f] for f in cls._fields))


def _p(spec: str, repo: str, size: str = "1.0 M") -> Pkg:
    """Parse ``name epoch:version-release.arch`` (compact catalogue notation)."""
    name, evra = spec.split(" ")
    epoch, _, vra = evra.rpartition(":")
    vr, _, arch = vra.rpartition(".")
    version, _, release = vr.partition("-")
    return Pkg(name, epoch or "0", version, release, arch, repo, size)


# What a minimal install of each family has (yum list installed shows "@anaconda").
_BASE_INSTALLED = {
    "el7": """bash 4.2.46-34.el7.x86_64
kernel 3.10.0-1160.el7.x86_64
systemd 219-78.el7.x86_64
yum 3.4.3-168.el7.centos.noarch
rpm 4.11.3-45.el7.x86_64
python 2.7.5-89.el7.x86_64
openssh-server 7.4p1-21.el7.x86_64
sudo 1.8.23-10.el7.x86_64
openssl-libs 1:1.0.2k-19.el7.x86_64
xfsprogs 4.5.0-22.el7.x86_64
lvm2 7:2.02.187-6.el7.x86_64
device-mapper-persistent-data 0.8.5-3.el7.x86_64
firewalld 0.6.3-11.el7.noarch
audit 2.8.5-4.el7.x86_64""",
    "el8": """bash 4.4.20-2.el8.x86_64
kernel 4.18.0-348.el8.x86_64
systemd 239-51.el8.x86_64
dnf 4.7.0-4.el8.noarch
yum 4.7.0-4.el8.noarch
dnf-plugins-core 4.0.21-3.el8.noarch
rpm 4.14.3-19.el8.x86_64
python3-libs 3.6.8-41.el8.x86_64
openssh-server 8.0p1-10.el8.x86_64
sudo 1.8.29-7.el8.x86_64
openssl-libs 1:1.1.1k-4.el8.x86_64
xfsprogs 5.0.0-9.el8.x86_64
lvm2 8:2.03.12-10.el8.x86_64
firewalld 0.9.3-7.el8.noarch""",
    "el9": """bash 5.1.8-6.el9_1.x86_64
kernel 5.14.0-362.8.1.el9_3.x86_64
systemd 252-18.el9.x86_64
dnf 4.14.0-8.el9.noarch
yum 4.14.0-8.el9.noarch
dnf-plugins-core 4.3.0-11.el9.noarch
rpm 4.16.1.3-25.el9.x86_64
python3-libs 3.9.18-1.el9_3.x86_64
openssh-server 8.7p1-34.el9.x86_64
sudo 1.9.5p2-9.el9.x86_64
openssl-libs 1:3.0.7-24.el9.x86_64
xfsprogs 5.19.0-4.el9.x86_64
lvm2 9:2.03.21-3.el9.x86_64
firewalld 1.2.5-2.el9.noarch""",
}

# Newer builds in the distribution's update repositories ("yum update" picks these up).
_BASE_UPDATES = {
    "el7": """kernel 3.10.0-1160.119.1.el7.x86_64 updates 52 M
systemd 219-78.el7_9.9.x86_64 updates 5.1 M
openssh-server 7.4p1-23.el7_9.x86_64 updates 459 k
sudo 1.8.23-10.el7_9.3.x86_64 updates 843 k
openssl-libs 1:1.0.2k-26.el7_9.x86_64 updates 1.2 M
python 2.7.5-94.el7_9.x86_64 updates 96 k""",
    "el8": """systemd 239-58.el8.x86_64 baseos 3.6 M
sudo 1.8.29-8.el8.x86_64 baseos 925 k
openssl-libs 1:1.1.1k-6.el8_5.x86_64 baseos 1.5 M""",
    "el9": """systemd 252-18.el9_3.3.x86_64 baseos 4.2 M
sudo 1.9.5p2-10.el9_3.x86_64 baseos 1.0 M
openssl-libs 1:3.0.7-25.el9_3.x86_64 baseos 2.2 M""",
}

# Packages the distribution repositories offer that a minimal install lacks.
_BASE_AVAILABLE = {
    "el7": """yum-utils 1.1.31-54.el7_8.noarch base 122 k
python-kitchen 1.1.1-5.el7.noarch base 267 k
python-chardet 2.2.1-3.el7.noarch base 227 k
libxml2-python 2.9.1-6.el7_9.6.x86_64 updates 247 k
container-selinux 2:2.119.2-1.911c772.el7_8.noarch extras 40 k
policycoreutils-python 2.5-34.el7.x86_64 base 457 k
audit-libs-python 2.8.5-4.el7.x86_64 base 76 k
checkpolicy 2.5-8.el7.x86_64 base 295 k
libsemanage-python 2.5-14.el7.x86_64 base 113 k
python-IPy 0.75-6.el7.noarch base 32 k
setools-libs 3.3.8-4.el7.x86_64 base 620 k
libcgroup 0.41-21.el7.x86_64 base 66 k
fuse-overlayfs 0.7.2-6.el7_8.x86_64 extras 54 k
slirp4netns 0.4.3-4.el7_8.x86_64 extras 81 k
fuse3-libs 3.6.1-4.el7.x86_64 extras 82 k
podman 1.6.4-36.el7_9.x86_64 extras 13 M""",
    "el8": """yum-utils 4.0.21-3.el8.noarch baseos 73 k
device-mapper-persistent-data 0.9.0-4.el8.x86_64 baseos 925 k
container-selinux 2:2.167.0-1.module_el8.5.0+911+f19012f9.noarch appstream 54 k
libcgroup 0.41-19.el8.x86_64 baseos 70 k
fuse-overlayfs 1.7.1-1.module_el8.5.0+890+6b136101.x86_64 appstream 73 k
slirp4netns 1.1.8-1.module_el8.5.0+890+6b136101.x86_64 appstream 51 k
fuse3-libs 3.2.1-12.el8.x86_64 baseos 94 k
podman 2.0.5-5.module_el8.3.0+512+b3b58dca.x86_64 appstream 12 M
runc 1.0.0-68.rc92.module_el8.3.0+475+c50ce30b.x86_64 appstream 3.2 M""",
    "el9": """yum-utils 4.3.0-11.el9.noarch baseos 36 k
device-mapper-persistent-data 0.9.0-13.el9.x86_64 baseos 1.0 M
container-selinux 3:2.221.0-1.el9.noarch appstream 55 k
libcgroup 0.42.2-5.el9.x86_64 baseos 64 k
fuse-overlayfs 1.12-1.el9.x86_64 appstream 66 k
slirp4netns 1.2.1-1.el9.x86_64 appstream 46 k
fuse3-libs 3.10.2-6.el9.x86_64 appstream 91 k
podman 2:4.6.1-5.el9.x86_64 appstream 16 M""",
}

# Hard requirements the simulated resolver follows (unversioned: the newest provider wins,
# which is why pinning docker-ce alone pulls the newest docker-ce-cli, as on real hosts).
_REQUIRES = {
    "docker-ce": ("docker-ce-cli", "containerd.io", "container-selinux", "libcgroup"),
    "containerd.io": ("container-selinux",),
    "docker-ce-rootless-extras": ("fuse-overlayfs", "slirp4netns"),
    "fuse-overlayfs": ("fuse3-libs",),
    "yum-utils": ("python-kitchen", "libxml2-python"),
    "python-kitchen": ("python-chardet",),
    "container-selinux": ("policycoreutils-python",),
    "policycoreutils-python": (
        "audit-libs-python", "checkpolicy", "libsemanage-python", "python-IPy", "setools-libs",
    ),
    "podman": ("runc",),
}  # fmt: skip

# docker-ce builds per repository path; (version range generator, release).
_DOCKER_SERIES = {
    "el7": [("18.09", 9, "3"), ("19.03", 15, "3"), ("20.10", 24, "3"), ("23.0", 6, "1"),
            ("24.0", 9, "1"), ("25.0", 5, "1"), ("26.0", 2, "1"), ("26.1", 4, "1")],
    "el8": [("19.03", 15, "3", 13), ("20.10", 24, "3"), ("23.0", 6, "1"), ("24.0", 9, "1"),
            ("25.0", 5, "1"), ("26.0", 2, "1"), ("26.1", 3, "1")],
    "el9": [("20.10", 24, "3", 15), ("23.0", 6, "1"), ("24.0", 9, "1"), ("25.0", 5, "1"),
            ("26.0", 2, "1"), ("26.1", 4, "1"), ("27.0", 3, "1", 1), ("27.1", 2, "1"),
            ("27.2", 1, "1"), ("27.3", 1, "1"), ("27.4", 1, "1"), ("27.5", 1, "1")],
}  # fmt: skip

_CONTAINERD = {
    "el7": "1.2.0-3 1.2.2-3 1.2.2-3.3 1.2.4-3.1 1.2.5-3.1 1.2.6-3.3 1.2.10-3.2 1.2.13-3.1 "
    "1.2.13-3.2 1.3.7-3.1 1.3.9-3.1 1.4.3-3.1 1.4.3-3.2 1.4.4-3.1 1.4.6-3.1 1.4.8-3.1 "
    "1.4.9-3.1 1.4.10-3.1 1.4.11-3.1 1.4.12-3.1 1.4.13-3.1 1.5.10-3.1 1.5.11-3.1 "
    "1.6.4-3.1 1.6.9-3.1 1.6.18-3.1 1.6.21-3.1 1.6.28-3.1 1.6.31-3.1 1.6.33-3.1",
    "el8": "1.3.7-3.1 1.3.9-3.1 1.4.3-3.1 1.4.3-3.2 1.4.4-3.1 1.4.6-3.1 1.4.8-3.1 1.4.9-3.1 "
    "1.4.10-3.1 1.4.11-3.1 1.4.12-3.1 1.4.13-3.1 1.5.10-3.1 1.5.11-3.1 1.6.4-3.1 1.6.9-3.1 "
    "1.6.18-3.1 1.6.21-3.1 1.6.28-3.1 1.6.31-3.1 1.6.32-3.1",
    "el9": "1.6.4-3.1 1.6.9-3.1 1.6.18-3.1 1.6.21-3.1 1.6.22-3.1 1.6.28-3.1 1.6.31-3.1 "
    "1.6.33-3.1 1.7.19-3.1 1.7.22-3.1 1.7.25-3.1 1.7.27-3.1 1.7.28-1 1.7.28-2 2.1.5-1 "
    "2.2.0-1 2.2.1-1",
}
# The el7 builds end at 1.6.33 (CentOS 7's end, containerd-packaging 6bc9688) and the centos/8
# ones at 1.6.32 (CentOS Stream 8's end, containerd-packaging 93aab6e); el9 goes on with 1.7
# (1.7.27: containerd-packaging's last release; 1.7.28-1/-2: containerd #12484) and 2.x
# (2.1.5, "the oldest v2 version we shipped": docker-ce-packaging #1334; 2.2.1: lxc #4630).
# Release numbers after 1.7.27 are reconstructed.


def base_installed(family: str) -> list[Pkg]:
    return [_p(line, "anaconda") for line in _BASE_INSTALLED[family].splitlines()]


def _table(text: str) -> list[Pkg]:
    rows = []
    for line in text.splitlines():
        name, evra, repo, size, unit = line.split(" ")
        rows.append(_p(f"{name} {evra}", repo, f"{size} {unit}"))
    return rows


def _docker_builds(family: str) -> list[Pkg]:
    rows: list[Pkg] = []
    for series in _DOCKER_SERIES[family]:
        minor, last, release = series[0], series[1], series[2]
        first = series[3] if len(series) > 3 else 0
        for patch in range(first, last + 1):
            version = f"{minor}.{patch}"
            rel = f"{release}.{family}"
            rows.append(Pkg("docker-ce", "3", version, rel, "x86_64", DOCKER_REPO_ID, "24 M"))
            rows.append(Pkg("docker-ce-cli", "1", version, rel, "x86_64", DOCKER_REPO_ID, "38 M"))
            if version_key(version) >= version_key("20.10"):
                rows.append(
                    Pkg(
                        "docker-ce-rootless-extras",
                        "0",
                        version,
                        rel,
                        "x86_64",
                        DOCKER_REPO_ID,
                        "9.1 M",
                    )
                )
    for vr in _CONTAINERD[family].split():
        version, release = vr.split("-")
        rows.append(
            Pkg(
                "containerd.io",
                "0",
                version,
                f"{release}.{family}",
                "x86_64",
                DOCKER_REPO_ID,
                "25 M",
            )
        )
    return rows


def available(
    family: str, docker_repo: bool, missing: list[str] | tuple[str, ...] = ()
) -> list[Pkg]:
    """Everything the enabled repositories offer, minus packages a fault says are missing.

    A ``missing`` entry is ``NAME`` (the whole package) or ``NAME-VERSION`` (one build).
    """
    rows = _table(_BASE_UPDATES[family]) + _table(_BASE_AVAILABLE[family])
    if docker_repo:
        rows += _docker_builds(family)
    gone = set(missing)
    return [
        p
        for p in rows
        if p.name not in gone and f"{p.name}-{p.version}" not in gone and p.nvra not in gone
    ]


def requires(name: str) -> tuple[str, ...]:
    return _REQUIRES.get(name, ())


def engine_requires(version: str) -> tuple[str, ...]:
    """docker-ce 20.10 and later also pull docker-ce-rootless-extras."""
    extra = ("docker-ce-rootless-extras",) if version_key(version) >= version_key("20.10") else ()
    return requires("docker-ce") + extra


def containerd_for(engine_version: str) -> str:
    """The containerd.io build shipped alongside an engine series (what seed installs)."""
    table = [("20.10", "1.2.13"), ("23.0", "1.4.6"), ("25.0", "1.6.21"), ("99", "1.6.28")]
    for limit, containerd in table:
        if version_key(engine_version) < version_key(limit):
            return containerd
    return "1.6.28"


def match(arg: str, pkgs: list[Pkg]) -> list[Pkg]:
    """Packages ``arg`` names the way yum reads install arguments.

    ``docker-ce``, ``docker-ce-19.03.11``, ``docker-ce-19.03.11-3.el7``,
    ``docker-ce-3:19.03.11-3.el7.x86_64``; the longest package name wins, so
    ``docker-ce-cli-19.03.11`` is docker-ce-cli, not a docker-ce version.
    """
    if arg.endswith((".x86_64", ".noarch")):
        arg = arg.rsplit(".", 1)[0]
    found = [p for p in pkgs if p.name == arg]
    if found:
        return found
    for p in sorted(pkgs, key=lambda q: -len(q.name)):
        if not arg.startswith(p.name + "-"):
            continue
        rest = arg[len(p.name) + 1 :]
        if ":" in rest:
            epoch, rest = rest.split(":", 1)
            if epoch != p.epoch:
                continue
        if rest in (p.version, f"{p.version}-{p.release}"):
            found.append(p)
    return found


def newest(pkgs: list[Pkg]) -> Pkg:
    return max(pkgs, key=lambda p: p.key)


# -- the installed database -------------------------------------------------------------


def installed(host: Host) -> list[Pkg]:
    return [Pkg.from_record(r) for r in host.read(RPMDB, [])]


def installed_named(host: Host, name: str) -> list[Pkg]:
    return [p for p in installed(host) if p.name == name]


def save_installed(host: Host, pkgs: list[Pkg]) -> None:
    """Write the database; packages already installed keep their install time."""
    since = {
        r["name"] + r["version"] + r["release"]: r["installtime"] for r in host.read(RPMDB, [])
    }
    records = []
    for pkg in sorted(pkgs, key=lambda p: (p.name, p.key)):
        record = pkg.to_record()
        record["installtime"] = since.get(
            pkg.name + pkg.version + pkg.release, record["installtime"]
        )
        records.append(record)
    host.write(RPMDB, records)


def engine_version(host: Host) -> str | None:
    """The installed docker-ce version (the daemon binary a start would run)."""
    found = installed_named(host, "docker-ce")
    return found[0].version if found else None


def cli_version(host: Host) -> str | None:
    found = installed_named(host, "docker-ce-cli")
    return found[0].version if found else None
