"""Package back ends: yum/dnf for the EL family, apt for Debian and Ubuntu.

The steps ask a back end what to install and how; the back end is chosen from
the host's facts (its package manager) and the ``package_source`` setting:
``docker`` installs Docker's own docker-ce packages from Docker's repository,
``distro`` the distribution's engine (Debian/Ubuntu ``docker.io``) with no extra
repository.  Every install is confirmed by asking the package database
afterwards, because EL7's yum exits 0 after skipping a name it cannot find.
"""

from __future__ import annotations

import re
import shlex
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from fleet.daemonjson import engine_version_tuple
from fleet.facts import APT_DOCKER_LIST, HostFacts, parse_dpkg_query, parse_rpm_q
from fleet.settings import DOCKER_CE_REPO, Settings
from fleet.steps.base import Action

QUERY_MARK = "@@fleet:installed"
LOCK_WAIT_TEXTS = (
    "Another app is currently holding the yum lock",  # yum 3 (EL7)
    "Waiting for process with pid",  # dnf (EL8+)
    "Waiting for cache lock",  # apt 1.9+
)
APT_ENV = "DEBIAN_FRONTEND=noninteractive"


def same_version(installed: str, wanted: str) -> bool:
    """``3:19.03.11-3.el7``, ``5:20.10.24~3-0~debian-bookworm`` and ``20.10.24+dfsg1-1`` all
    match ``19.03.11`` / ``20.10.24``: the upstream version, without epoch and release."""
    return bool(installed) and upstream(installed) == upstream(wanted)


def upstream(version: str) -> str:
    match = re.match(r"(?:\d+:)?([0-9][0-9.]*[0-9]|[0-9])", version.strip())
    return match.group(1) if match else version.strip()


def version_key(version: str) -> tuple[int, ...]:
    return engine_version_tuple(version) or ()


class LockWait:
    """Tell the user when the package manager waits for another process's lock; bound it.

    yum waits forever; a rollout must not, so after ``limit`` seconds of waiting the
    command is aborted with a reason naming the lock.
    """

    def __init__(self, pm: str, limit: float, notify: Callable[[str], None]) -> None:
        self._pm, self._limit, self._notify = pm, limit, notify
        self._since: float | None = None

    def __call__(self, stdout: str, stderr: str) -> str | None:
        if self._since is None:
            if not any(text in stdout or text in stderr for text in LOCK_WAIT_TEXTS):
                return None
            self._since = time.monotonic()
            self._notify(
                f"waiting for the {self._pm} lock held by another process "
                f"(up to {self._limit:g}s, setting yum_lock_timeout)"
            )
        if time.monotonic() - self._since > self._limit:
            return (
                f"the {self._pm} lock was held by another process for more than {self._limit:g}s "
                "(setting yum_lock_timeout); try again when it is free"
            )
        return None


def package_error(stdout: str, stderr: str) -> str:
    """yum, dnf and apt put the useful line in different places; prefer their own wording."""
    lines = [ln.strip() for ln in (stderr + "\n" + stdout).splitlines() if ln.strip()]
    markers = ("No package", "No match for argument", "Unable to find a match", "Cannot find")
    for marker in (*markers, "E: "):
        for line in lines:
            if marker in line:
                return line
    errors = [ln for ln in lines if ln.startswith(("Error", "ERROR", "One of the configured"))]
    if errors:
        return errors[0]
    return lines[-1] if lines else "package manager failed"


@dataclass(frozen=True)
class Backend:
    """What one package manager needs to install pinned engine packages."""

    pm: str  # yum | dnf | apt
    prerequisites: tuple[str, ...]
    engine_names: Mapping[str, str]  # package -> the setting that pins its version
    repository_needed: bool = True

    def engine(self, settings: Settings) -> dict[str, str]:
        return {name: getattr(settings, setting) for name, setting in self.engine_names.items()}

    def install(self, packages: Mapping[str, str | None], settings: Settings) -> Action:
        """Install ``packages`` (name -> version, None for any) and confirm they are there."""
        names = " ".join(packages)
        what = " ".join(f"{n}-{v}" if v else n for n, v in packages.items())
        command = f"{self._install_command(packages)} && echo {QUERY_MARK} && {self._query(names)}"
        return Action(
            f"install {what}",
            command,
            explain=package_error,
            confirm=lambda out, err: self._shortfall(out, err, packages),
            watcher=lambda notify: LockWait(self.pm, settings.yum_lock_timeout, notify),
        )

    def update(self, settings: Settings) -> Action:
        command = (
            f"{APT_ENV} apt-get update -q && {APT_ENV} apt-get upgrade -y -q"
            if self.pm == "apt"
            else f"{self.pm} update -y"
        )
        return Action(
            "update all packages",
            command,
            unchanged_marker="No packages marked for update"
            if self.pm == "yum"
            else "0 upgraded, 0 newly installed",
            explain=package_error,
            watcher=lambda notify: LockWait(self.pm, settings.yum_lock_timeout, notify),
        )

    def add_repository(self, facts: HostFacts, settings: Settings) -> Action:
        url = settings.repo_url
        if self.pm == "apt":
            return Action(f"add repository {url}", _apt_repository(facts, url))
        tool = "dnf config-manager" if self.pm == "dnf" else "yum-config-manager"
        return Action(f"add repository {url}", f"{tool} --add-repo {shlex.quote(url)}")

    def _install_command(self, packages: Mapping[str, str | None]) -> str:
        if self.pm != "apt":
            pins = [f"{n}-{v}" if v else n for n, v in packages.items()]
            return f"{self.pm} install -y {' '.join(shlex.quote(p) for p in pins)}"
        # apt wants the full Debian version (epoch, revision): pick the newest candidate
        # whose upstream version is the pin, and fail with apt's own wording if none is.
        picks = []
        for name, version in packages.items():
            if version:
                picks.append(
                    f"v=$(apt-cache madison {shlex.quote(name)} | awk -v w={shlex.quote(version)} "
                    '\'{v=$3; sub(/^[0-9]+:/, "", v); if (index(v, w) == 1 && substr(v, '
                    "length(w)+1, 1) !~ /[0-9]/) {print $3; exit}}'); "
                    f"[ -n \"$v\" ] || {{ echo \"E: Version '{version}' for '{name}' was not "
                    f'found" >&2; exit 100; }}; p="$p {name}=$v"'
                )
            else:
                picks.append(f'p="$p {name}"')
        return (
            f"p=; {APT_ENV} apt-get update -q >/dev/null && {'; '.join(picks)} && "
            f"{APT_ENV} apt-get install -y -q $p"
        )

    def _query(self, names: str) -> str:
        if self.pm == "apt":
            return f"dpkg-query -W -f='${{Package}} ${{Version}} ${{db:Status-Abbrev}}\\n' {names} 2>&1; true"
        return f"rpm -q {names}; true"

    def _shortfall(
        self, stdout: str, stderr: str, packages: Mapping[str, str | None]
    ) -> str | None:
        before, _, after = stdout.partition(QUERY_MARK)
        installed = parse_dpkg_query(after) if self.pm == "apt" else parse_rpm_q(after)
        missing = [
            f"{name}-{version}" if version else name
            for name, version in packages.items()
            if not installed.get(name)
            or (version and not same_version(installed[name] or "", version))
        ]
        if not missing:
            return None
        said = package_error(before, stderr)
        if any(m in said for m in ("No package", "No match", "not found")):
            return said
        return f"{', '.join(missing)} not installed after the package install ({said})"


def _apt_repository(facts: HostFacts, url: str) -> str:
    """Docker's apt repository: its key in /etc/apt/keyrings and one sources.list.d file.

    ``repo_url`` names the .repo file for yum; for apt it is the repository base
    (``URL/debian``, ``URL/ubuntu``), Docker's own unless set.
    """
    root = APT_DOCKER_BASE if url == DOCKER_CE_REPO else url
    base = f"{root.rstrip('/')}/{facts.os_id}"
    return (
        "set -e; install -m 0755 -d /etc/apt/keyrings; "
        f"curl -fsSL {shlex.quote(base + '/gpg')} -o /etc/apt/keyrings/docker.asc; "
        "chmod a+r /etc/apt/keyrings/docker.asc; "
        f'echo "deb [arch=$(dpkg --print-architecture) signed-by=/etc/apt/keyrings/docker.asc] '
        f'{base} {facts.os_codename} stable" > {APT_DOCKER_LIST}; '
        f"{APT_ENV} apt-get update -q"
    )


APT_DOCKER_BASE = "https://download.docker.com/linux"
DOCKER_PINS = {
    "containerd.io": "containerd_version",
    "docker-ce": "docker_version",
    "docker-ce-cli": "docker_version",
}


def backend_for(facts: HostFacts, settings: Settings) -> Backend | None:
    """The back end for this host, or None when fleet cannot install there."""
    if facts.package_manager in ("yum", "dnf"):
        if settings.package_source != "docker":
            return None
        return Backend(
            facts.package_manager,
            ("yum-utils", "device-mapper-persistent-data", "lvm2"),
            DOCKER_PINS,
        )
    if facts.package_manager == "apt":
        if settings.package_source == "distro":
            pins = {"containerd": "containerd_version", "docker.io": "docker_version"}
            return Backend("apt", (), pins, repository_needed=False)
        return Backend("apt", ("ca-certificates", "curl", "gnupg"), DOCKER_PINS)
    return None
