"""Package back ends: yum/dnf for the EL family, apt for Debian and Ubuntu.

The steps ask a back end what to install and how; the back end is chosen from
the host's facts (its package manager) and the ``package_source`` setting:
``docker`` installs Docker's own docker-ce packages from Docker's repository,
``distro`` the distribution's engine (Debian/Ubuntu ``docker.io``) with no extra
repository.  Every install is confirmed by asking the package database
afterwards, because EL7's yum exits 0 after skipping a name it cannot find.

When the package manager refuses, :func:`describe_refusal` turns
:mod:`fleet.pkgerrors`' reading of its output into the host's one-line error:
every package it could not find, a conflict with dnf's own words and the way out
(remove what blocks, or the ``allow_erasing`` setting, which adds dnf's
``--allowerasing``), a failed repository with its cause.
"""

from __future__ import annotations

import re
import shlex
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from fleet.daemonjson import engine_version_tuple
from fleet.facts import APT_DOCKER_LIST, HostFacts, parse_dpkg_query, parse_rpm_q
from fleet.pkgerrors import Refusal, RepoFailure, clean_lines, parse_refusal
from fleet.settings import DOCKER_CE_REPO, Settings
from fleet.steps.base import Action

QUERY_MARK = "@@fleet:installed"
LOCK_WAIT_TEXTS = (
    "Another app is currently holding the yum lock",  # yum 3 (EL7)
    "Waiting for process with pid",  # dnf (EL8+)
    "Waiting for cache lock",  # apt 1.9+
)
APT_ENV = "DEBIAN_FRONTEND=noninteractive"
_LOCK_TEXT_TAIL = max(len(text) for text in LOCK_WAIT_TEXTS) - 1


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
        self._out = self._err = ""  # the ends of the output seen so far: a text cut in two

    def __call__(self, stdout: str, stderr: str) -> str | None:
        """``stdout``/``stderr``: what the command printed since the last call."""
        if self._since is None:
            self._out = self._out[-_LOCK_TEXT_TAIL:] + stdout
            self._err = self._err[-_LOCK_TEXT_TAIL:] + stderr
            if not any(text in self._out or text in self._err for text in LOCK_WAIT_TEXTS):
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


def describe_refusal(
    stdout: str,
    stderr: str,
    pm: str,
    *,
    short: Sequence[tuple[str, str | None]] = (),
    allow_erasing: bool = False,
) -> str:
    """One line saying why ``short`` (name, version) is not installed, in the tool's own words.

    Every missing package is named, a dependency problem comes with the tool's whole
    text and the way out, a failed repository with its cause.  Only when the output
    holds none of these does a lock, or the tool's error lines, stand in.  (Packages
    the tool did not name were refused with the rest: dnf and apt refuse the whole
    command, and yum 3 installs what it finds.)
    """
    refusal = parse_refusal(stdout, stderr)
    parts = [
        *_missing_part(refusal, pm),
        *_problem_part(refusal, pm, {name for name, _ in short}, allow_erasing),
        *(_repository_part(failure, pm) for failure in refusal.repositories),
    ]
    if not parts and refusal.lock:
        parts.append(f"the {pm} lock is held by another process ({pm}: {refusal.lock})")
    if parts:
        return "; ".join(parts)
    said = _fallback(refusal, stdout, stderr)
    if short:
        names = ", ".join(_spec(n, v) for n, v in short)
        return f"{names} not installed after the package install ({pm}: {said})"
    return said


def _spec(name: str, version: str | None) -> str:
    return f"{name}-{version}" if version else name


def _missing_part(refusal: Refusal, pm: str) -> list[str]:
    if not refusal.missing:
        return []
    said = "; ".join(refusal.missing_said)
    return [
        f"{', '.join(refusal.missing)} not available from the enabled repositories ({pm}: {said})"
    ]


def _problem_part(
    refusal: Refusal, pm: str, installing: set[str], allow_erasing: bool
) -> list[str]:
    """A dependency problem: what conflicts, the way out, then the tool's words and hint."""
    if not refusal.problems:
        return []
    words = [line for problem in refusal.problems for line in problem.said]
    if refusal.hint:
        words.append(refusal.hint)
    conflicts = refusal.conflicts
    clashes = [c for c in conflicts if c.verb == "conflicts with"] or list(conflicts)
    if not clashes:
        return [f"{pm} cannot resolve the dependencies ({pm}: {'; '.join(words)})"]
    lead = "; ".join(dict.fromkeys(c.sentence for c in clashes))
    blockers = [
        n
        for n in dict.fromkeys(
            package_name(p) for p in (*refusal.installed, *(c.provider for c in clashes))
        )
        if n not in installing
    ]
    way = _way_out(pm, blockers, allow_erasing, refusal)
    return [f"{lead}{': ' + way if way else ''} ({pm}: {'; '.join(words)})"]


def _way_out(pm: str, blockers: list[str], allow_erasing: bool, refusal: Refusal) -> str:
    """Remove what blocks the install first, or (dnf only) let dnf erase it."""
    remove = f"remove {' and '.join(blockers)} first ({pm} remove {' '.join(blockers)})"
    if pm == "yum":
        return (
            remove + "; " if blockers else ""
        ) + "allow_erasing does not apply here: yum 3 (EL7) has no --allowerasing"
    if (
        pm != "dnf"
        or allow_erasing
        or (refusal.hint and "--allowerasing" not in refusal.suggestions)
    ):
        return remove if blockers else ""
    erase = (
        "set allow_erasing (allow_erasing: true in the inventory, or --allow-erasing true) "
        "to let dnf erase them"
    )
    return f"{remove}, or {erase}" if blockers else erase


def package_name(nevra: str) -> str:
    """``podman`` from ``podman-2.0.5-5.module_el8.3.0+512+b3b58dca.x86_64`` (yum 3 puts the
    epoch first: ``2:docker-1.13.1-209.el7.x86_64``)."""
    text = re.sub(r"^\d+:", "", nevra)
    parts = text.rsplit("-", 2)
    return parts[0] if len(parts) == 3 and parts[1][:1].isdigit() else text


def _repository_part(failure: RepoFailure, pm: str) -> str:
    if not failure.said:
        return f"repository {failure.repo} failed"
    return f"repository {failure.repo} unavailable ({pm}: {'; '.join(failure.said)})"


def _fallback(refusal: Refusal, stdout: str, stderr: str) -> str:
    """No reason the parser knows: the tool's error lines, else its last line."""
    errors = [e for e in refusal.errors if e.rstrip(":").strip() not in ("Error", "E")]
    if errors:
        return "; ".join(dict.fromkeys(errors))
    lines = clean_lines(f"{stdout}\n{stderr}")
    return lines[-1] if lines else "the package manager gave no reason"


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
        what = " ".join(_spec(n, v) for n, v in packages.items())
        install = self._install_command(packages, settings.allow_erasing)
        command = f"{install} && echo {QUERY_MARK} && {self._query(names)}"
        return Action(
            f"install {what}",
            command,
            explain=lambda out, err: (
                self._shortfall(out, err, packages, settings)
                or describe_refusal(out, err, self.pm, allow_erasing=settings.allow_erasing)
            ),
            confirm=lambda out, err: self._shortfall(out, err, packages, settings),
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
            explain=lambda out, err: describe_refusal(out, err, self.pm),
            watcher=lambda notify: LockWait(self.pm, settings.yum_lock_timeout, notify),
        )

    def add_repository(self, facts: HostFacts, settings: Settings) -> Action:
        url = settings.repo_url
        if self.pm == "apt":
            return Action(f"add repository {url}", _apt_repository(facts, url))
        tool = "dnf config-manager" if self.pm == "dnf" else "yum-config-manager"
        return Action(f"add repository {url}", f"{tool} --add-repo {shlex.quote(url)}")

    def _install_command(self, packages: Mapping[str, str | None], allow_erasing: bool) -> str:
        if self.pm != "apt":
            pins = " ".join(shlex.quote(_spec(n, v)) for n, v in packages.items())
            # yum 3 (EL7) has no --allowerasing; the error of a conflict says so instead
            erasing = "--allowerasing " if allow_erasing and self.pm == "dnf" else ""
            return f"{self.pm} install -y {erasing}{pins}"
        # apt wants the full Debian version (epoch, revision): pick the newest candidate
        # whose upstream version is the pin, and fail with apt's own wording for every
        # pin that has none (all of them, not just the first).
        picks = [_apt_pick(name, version) for name, version in packages.items()]
        return (
            f"p=; f=; {APT_ENV} apt-get update -q >/dev/null || exit 100; {'; '.join(picks)}; "
            f'[ -z "$f" ] || exit 100; {APT_ENV} apt-get install -y -q $p'
        )

    def _query(self, names: str) -> str:
        if self.pm == "apt":
            return f"dpkg-query -W -f='${{Package}} ${{Version}} ${{db:Status-Abbrev}}\\n' {names} 2>&1; true"
        return f"rpm -q {names}; true"

    def _shortfall(
        self, stdout: str, stderr: str, packages: Mapping[str, str | None], settings: Settings
    ) -> str | None:
        """Why the pinned packages are not all installed (the package database decides)."""
        before, marked, after = stdout.partition(QUERY_MARK)
        installed = parse_dpkg_query(after) if self.pm == "apt" else parse_rpm_q(after)
        short = [
            (name, version)
            for name, version in packages.items()
            if not installed.get(name)
            or (version and not same_version(installed[name] or "", version))
        ]
        if marked and not short:
            return None
        return describe_refusal(
            before,
            stderr,
            self.pm,
            short=short or list(packages.items()),
            allow_erasing=settings.allow_erasing,
        )


def _apt_pick(name: str, version: str | None) -> str:
    """Shell that adds ``name=<full version>`` to ``$p``, or says apt's line and sets ``$f``."""
    if not version:
        return f'p="$p {name}"'
    return (
        f"v=$(apt-cache madison {shlex.quote(name)} | awk -v w={shlex.quote(version)} "
        '\'{v=$3; sub(/^[0-9]+:/, "", v); if (index(v, w) == 1 && substr(v, '
        "length(w)+1, 1) !~ /[0-9]/) {print $3; exit}}'); "
        f'if [ -n "$v" ]; then p="$p {name}=$v"; else '
        f"echo \"E: Version '{version}' for '{name}' was not found\" >&2; f=1; fi"
    )


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
