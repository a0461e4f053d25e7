"""The Docker CE sequence for Kubernetes nodes, as data-driven idempotent steps.

The reference sequence (DEVELOPERS.md) is: prerequisite packages, the docker-ce
repository, an optional whole-system update, pinned engine packages,
``/etc/docker/daemon.json``, the ``docker.service.d`` drop-in directory, a
restart of the engine and ``systemctl enable``.  Each step below checks the
host's facts first and asks for commands only when something is missing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from fleet import daemonjson
from fleet.facts import DAEMON_JSON, DROPIN_DIR, HostFacts
from fleet.steps.base import Action, Check, Step, StepContext, Unfinished
from fleet.steps.packages import backend_for, same_version, version_key
from fleet.steps.restart import Restartable

DOCKER = Restartable(
    unit="docker",
    config=DAEMON_JSON,
    journal="dockerd|daemon",
    markers=("failed to start daemon", "unable to configure", "Error starting daemon"),
    name="engine",
    who="the engine",
)
BACKUP = DOCKER.backup
CREATED_MARK = DOCKER.created_mark
RESTART_CHANGES = frozenset({"engine_packages", "daemon_json", "system_update"})
SUPPORTED_EL = range(7, 10)
SUPPORTED_DEBIAN = {"debian": 10, "ubuntu": 18}


def _kernel_key(text: str) -> tuple[int, ...]:
    parts = []
    for piece in text.replace("-", ".").split("."):
        if not piece.isdigit():
            break
        parts.append(int(piece))
    return tuple(parts)


@dataclass(frozen=True)
class Preflight:
    """Refuse hosts fleet cannot or must not change, before anything is changed."""

    name: str = "preflight"

    def check(self, ctx: StepContext) -> Check:
        facts, settings = ctx.facts, ctx.settings
        problems = [
            self._os(facts),
            self._privilege(facts),
            self._kernel(facts, settings.min_kernel),
            self._d_type(facts),
            self._disk(facts, settings.min_free_disk_mb),
        ]
        problems = [p for p in problems if p]
        if problems:
            return Check.fail("; ".join(problems))
        live = self._live_node(facts, settings.cgroup_driver)
        if live and not ctx.force:
            return Check.refuse(live + "; re-run with --force to switch it anyway")
        return Check.ok(f"{facts.pretty_os}, kernel {facts.kernel}")

    @staticmethod
    def _os(facts: HostFacts) -> str | None:
        supported = (facts.is_el and facts.os_major in SUPPORTED_EL) or (
            facts.is_debian and (facts.os_major or 0) >= SUPPORTED_DEBIAN.get(facts.os_id, 10)
        )
        if not supported:
            return (
                f"unsupported OS {facts.pretty_os!r}: fleet supports CentOS/RHEL/Rocky/Alma 7-9, "
                "Debian 10+ and Ubuntu 18.04+"
            )
        if facts.package_manager is None:
            return "no package manager (yum, dnf or apt-get) found on the host"
        return None

    @staticmethod
    def _privilege(facts: HostFacts) -> str | None:
        if facts.uid != 0:
            return "commands did not run as root: check that sudo works for the login user"
        return None

    @staticmethod
    def _kernel(facts: HostFacts, minimum: str) -> str | None:
        if facts.os_major == 7 and _kernel_key(facts.kernel) < _kernel_key(minimum):
            return f"kernel {facts.kernel} is older than {minimum}, too old for overlay2"
        return None

    @staticmethod
    def _d_type(facts: HostFacts) -> str | None:
        if facts.var_lib_docker_fs == "xfs" and facts.xfs_ftype == 0:
            return (
                "/var/lib/docker is on xfs formatted with ftype=0 (no d_type): overlay2 needs "
                "ftype=1; reformat it with mkfs.xfs -n ftype=1 or mount another filesystem there"
            )
        return None

    @staticmethod
    def _disk(facts: HostFacts, minimum_mb: int) -> str | None:
        if facts.free_mb is not None and facts.free_mb < minimum_mb:
            return f"only {facts.free_mb} MiB free under /var/lib, {minimum_mb} MiB required"
        return None

    @staticmethod
    def _live_node(facts: HostFacts, driver: str) -> str | None:
        info = facts.docker_info
        current = info.cgroup_driver if info else None
        if facts.kubelet_active == "active" and current and current != driver:
            return (
                f"kubelet is running and the engine uses the {current} cgroup driver: switching "
                f"to {driver} under a live node breaks it (drain the node first)"
            )
        return None


@dataclass(frozen=True)
class Prerequisites:
    name: str = "prerequisites"

    def check(self, ctx: StepContext) -> Check:
        backend = backend_for(ctx.facts, ctx.settings)
        if backend is None or not backend.prerequisites:
            return Check.skip("no prerequisite packages for this package source")
        missing = [p for p in backend.prerequisites if not ctx.facts.packages.get(p)]
        if not missing:
            return Check.ok(f"{', '.join(backend.prerequisites)} installed")
        action = backend.install(dict.fromkeys(missing), ctx.settings)
        return Check.change(f"install {', '.join(missing)}", action)


@dataclass(frozen=True)
class Repository:
    name: str = "repository"

    def check(self, ctx: StepContext) -> Check:
        backend = backend_for(ctx.facts, ctx.settings)
        if backend is None or not backend.repository_needed:
            return Check.skip("the distribution's own repositories are used")
        if ctx.facts.docker_repo:
            return Check.ok("docker-ce repository configured")
        action = backend.add_repository(ctx.facts, ctx.settings)
        return Check.change(action.description, action)


@dataclass(frozen=True)
class SystemUpdate:
    name: str = "system_update"

    def check(self, ctx: StepContext) -> Check:
        backend = backend_for(ctx.facts, ctx.settings)
        if not ctx.settings.system_update or backend is None:
            return Check.skip("whole-system update not requested (system_update: false)")
        return Check.change("update all packages", backend.update(ctx.settings))


@dataclass(frozen=True)
class EnginePackages:
    name: str = "engine_packages"

    def check(self, ctx: StepContext) -> Check:
        backend = backend_for(ctx.facts, ctx.settings)
        if backend is None:
            return Check.fail(
                f"package_source {ctx.settings.package_source} is not available on "
                f"{ctx.facts.pretty_os}; use package_source docker"
            )
        todo: dict[str, str | None] = {}
        for name, version in backend.engine(ctx.settings).items():
            installed = ctx.facts.packages.get(name)
            if installed and same_version(installed, version):
                continue
            if installed and version_key(installed) > version_key(version):
                return Check.fail(
                    f"{name} {installed} is newer than the pinned {version}; fleet does not "
                    f"downgrade engines: set {backend.engine_names[name]} to the installed version"
                )
            todo[name] = version
        if not todo:
            return Check.ok(f"engine {ctx.settings.docker_version} installed")
        action = backend.install(todo, ctx.settings)
        return Check.change(action.description, action)


@dataclass(frozen=True)
class DaemonJson:
    """Merge the required settings into the owner's daemon.json; never drop the owner's keys."""

    name: str = "daemon_json"
    # The engine reads daemon.json only when it starts: until the service step restarts it.
    unfinished: ClassVar[Unfinished] = Unfinished(
        "service", f"{DAEMON_JSON} written, docker not restarted yet"
    )

    def check(self, ctx: StepContext) -> Check:
        required, notes = daemonjson.adapt_for_engine(
            ctx.settings.daemon_json, ctx.settings.docker_version
        )
        old_text = ctx.facts.daemon_json
        try:
            existing = daemonjson.parse(old_text) if old_text is not None else {}
        except daemonjson.DaemonJsonError as exc:
            return Check.fail(f"{exc}; fix or move the file: fleet does not overwrite it")
        # Adapting the merged file, not just fleet's part, also removes an owner's
        # option that the target engine refuses (dockerd >= 24 fails on it).
        merged, owner_notes = daemonjson.adapt_for_engine(
            daemonjson.merge(existing, required), ctx.settings.docker_version
        )
        notes = list(dict.fromkeys([*notes, *owner_notes]))
        if old_text is not None and merged == existing:
            return Check.ok("daemon.json has the required settings")
        conflicts = daemonjson.flag_conflicts(merged, _dropin_flags(ctx.facts))
        if conflicts:
            return Check.fail(
                "a docker.service drop-in sets dockerd flags that daemon.json also sets, so "
                f"dockerd would refuse to start ({'; '.join(conflicts)}): remove the flags "
                "from the drop-in"
            )
        new_text = daemonjson.render(merged)
        message = "write /etc/docker/daemon.json" + "".join(f" ({note})" for note in notes)
        validate = version_key(ctx.settings.docker_version) >= (23,)
        return Check.change(
            message,
            Action(message, _write_daemon_json(validate), stdin=new_text.encode()),
            diff=daemonjson.unified_diff(old_text or "", new_text),
        )


def _dropin_flags(facts: HostFacts) -> list[str]:
    """dockerd arguments from the last ``ExecStart=`` of the drop-ins (systemd's override rule)."""
    flags: list[str] = []
    for name in sorted(facts.dropins):
        for line in facts.dropins[name].splitlines():
            key, sep, value = line.strip().partition("=")
            if sep and key.strip() == "ExecStart":
                flags = daemonjson.parse_execstart(value)[1:] if value.strip() else []
    return flags


def _write_daemon_json(validate: bool) -> str:
    """Write stdin to daemon.json atomically, keeping the previous file as a backup."""
    check = 'dockerd --validate --config-file "$tmp" >/dev/null || exit 3\n' if validate else ""
    return f"""set -e
f={DAEMON_JSON}
mkdir -p /etc/docker
tmp=$(mktemp /etc/docker/.daemon.json.XXXXXX)
trap 'rm -f "$tmp"' EXIT
cat > "$tmp"
chmod 0644 "$tmp"
{check}if [ -f "$f" ]; then cp -p "$f" {BACKUP}; rm -f {CREATED_MARK}
else rm -f {BACKUP}; : > {CREATED_MARK}; fi
mv -f "$tmp" "$f"
"""


@dataclass(frozen=True)
class DropinDirectory:
    name: str = "dropin_dir"

    def check(self, ctx: StepContext) -> Check:
        if ctx.facts.dropin_dir:
            return Check.ok(f"{DROPIN_DIR} exists")
        return Check.change(f"create {DROPIN_DIR}", Action("create", f"mkdir -p {DROPIN_DIR}"))


@dataclass(frozen=True)
class Service:
    """Restart only when something changed (or the engine is down); always leave it enabled."""

    name: str = "service"

    def check(self, ctx: StepContext) -> Check:
        actions = []
        if ctx.changed & RESTART_CHANGES or _engine_needs_restart(ctx):
            rollback = "daemon_json" in ctx.changed
            actions.append(
                Action(
                    "restart docker",
                    DOCKER.script(rollback),
                    explain=DOCKER.error,
                )
            )
        if ctx.facts.docker_enabled != "enabled":
            actions.append(Action("enable docker", "systemctl enable docker"))
        if not actions:
            return Check.ok("docker active and enabled")
        return Check.change(", ".join(a.description for a in actions), *actions)


def _engine_needs_restart(ctx: StepContext) -> bool:
    """Down, or running with drivers other than required (a config never applied)."""
    if ctx.facts.docker_active != "active":
        return True
    info = ctx.facts.docker_info
    if info is None or not info.has_server_facts:
        return False
    return (info.cgroup_driver, info.storage_driver) != (
        ctx.settings.cgroup_driver,
        ctx.settings.storage_driver,
    )


DOCKER_CE_STEPS: tuple[Step, ...] = (
    Preflight(),
    Prerequisites(),
    Repository(),
    SystemUpdate(),
    EnginePackages(),
    DaemonJson(),
    DropinDirectory(),
    Service(),
)
