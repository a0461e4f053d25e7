"""The containerd runtime for Kubernetes nodes: containerd alone, CRI on, runc on systemd.

Since Kubernetes 1.24 the kubelet talks CRI, which Docker Engine does not serve, so a node
runs containerd.  The steps install ``containerd.io`` from Docker's repository (or the
distribution's ``containerd`` with ``package_source: distro``) through the same package
back ends as the docker profile, merge the CRI settings into the owner's
``/etc/containerd/config.toml`` (:mod:`fleet.containerdconfig`), and restart containerd
only after a change.  The preflight, prerequisites, repository and update steps are the
docker profile's, with the package list and the live-node rule of this runtime.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import ClassVar

from fleet import containerdconfig
from fleet.containerdconfig import CONFIG_TOML
from fleet.facts import HostFacts
from fleet.settings import CONTAINERD_DEFAULTS, Settings
from fleet.steps.base import Action, Check, StepContext, Unfinished
from fleet.steps.docker_ce import Preflight
from fleet.steps.packages import Backend, backend_for, same_version, upstream, version_key
from fleet.steps.restart import Restartable

CONTAINERD = Restartable(
    unit="containerd",
    config=CONFIG_TOML,
    journal="containerd",
    markers=("containerd: ",),
    name="containerd",
    who="containerd",
    error_mark="@@containerd-error",
)
BACKUP = CONTAINERD.backup
CREATED_MARK = CONTAINERD.created_mark
RESTART_CHANGES = frozenset({"containerd_packages", "containerd_config", "system_update"})
_EL_PREREQUISITES = ("yum-utils",)  # config-manager for the repository; nothing for storage


def containerd_backend(facts: HostFacts, settings: Settings) -> Backend | None:
    """The docker profile's back end for this host, installing containerd alone."""
    base = backend_for(facts, settings)
    if base is None:
        return None
    if base.pm == "apt" and settings.package_source == "distro":
        return replace(base, engine_names={"containerd": "containerd_version"})
    prerequisites = _EL_PREREQUISITES if base.pm in ("yum", "dnf") else base.prerequisites
    return replace(
        base, prerequisites=prerequisites, engine_names={"containerd.io": "containerd_version"}
    )


def os_family(facts: HostFacts) -> str | None:
    """``el7``, ``el8``, ``el9`` or ``debian`` (Ubuntu too): the keys of the pin table."""
    if facts.is_el and facts.os_major in (7, 8, 9):
        return f"el{facts.os_major}"
    return "debian" if facts.is_debian else None


def containerd_pin(settings: Settings, facts: HostFacts) -> str | None:
    """The containerd version to install: the user's, else the one Docker ships for the OS.

    None with ``package_source: distro`` and no version given: the distribution's own.
    """
    if "containerd_version" in settings.given:
        return settings.containerd_version
    if settings.package_source == "distro":
        return None
    family = os_family(facts)
    return CONTAINERD_DEFAULTS.get(family) if family else None


def running_version(settings: Settings, facts: HostFacts) -> str:
    """The containerd the host runs once the packages step is done (its config schema)."""
    backend = containerd_backend(facts, settings)
    name = next(iter(backend.engine_names)) if backend else "containerd.io"
    installed = facts.packages.get(name)
    pin = containerd_pin(settings, facts)
    if installed and (pin is None or same_version(installed, pin)):
        return upstream(installed)
    return pin or (upstream(installed) if installed else "1")


@dataclass(frozen=True)
class ContainerdPreflight(Preflight):
    """The docker profile's refusals; a live node is judged by containerd's cgroup driver."""

    @staticmethod
    def _live_node(facts: HostFacts, driver: str) -> str | None:
        if facts.kubelet_active != "active" or facts.containerd_active != "active":
            return None
        try:
            config = containerdconfig.parse(facts.containerd_config or "")
        except containerdconfig.ContainerdConfigError:
            return None  # the config step says what is wrong with the file
        current = "systemd" if containerdconfig.runc_systemd_cgroup(config) else "cgroupfs"
        if current == driver:
            return None
        return (
            f"kubelet is running and containerd's runc uses the {current} cgroup driver: "
            f"switching to {driver} under a live node breaks it (drain the node first)"
        )


@dataclass(frozen=True)
class ContainerdPrerequisites:
    name: str = "prerequisites"

    def check(self, ctx: StepContext) -> Check:
        backend = containerd_backend(ctx.facts, ctx.settings)
        if backend is None or not backend.prerequisites:
            return Check.skip("no prerequisite packages for this package source")
        missing = [p for p in backend.prerequisites if not ctx.facts.packages.get(p)]
        if not missing:
            return Check.ok(f"{', '.join(backend.prerequisites)} installed")
        return Check.change(
            f"install {', '.join(missing)}", backend.install(dict.fromkeys(missing), ctx.settings)
        )


@dataclass(frozen=True)
class ContainerdPackages:
    """containerd.io at the pin (or the distribution's containerd); never a downgrade."""

    name: str = "containerd_packages"

    def check(self, ctx: StepContext) -> Check:
        backend = containerd_backend(ctx.facts, ctx.settings)
        if backend is None:
            return Check.fail(
                f"package_source {ctx.settings.package_source} is not available on "
                f"{ctx.facts.pretty_os} (EL ships no containerd of its own); use "
                "package_source docker"
            )
        name = next(iter(backend.engine_names))
        pin = containerd_pin(ctx.settings, ctx.facts)
        installed = ctx.facts.packages.get(name)
        if installed and (pin is None or same_version(installed, pin)):
            return Check.ok(f"{name} {upstream(installed)} installed")
        if installed and pin and version_key(installed) > version_key(pin):
            return Check.fail(
                f"{name} {installed} is newer than the pinned {pin}; fleet does not downgrade "
                "containerd: set containerd_version to the installed version"
            )
        action = backend.install({name: pin}, ctx.settings)
        return Check.change(action.description, action)


@dataclass(frozen=True)
class ContainerdConfig:
    """Merge the CRI settings into the owner's config.toml; never drop the owner's keys."""

    name: str = "containerd_config"
    # containerd reads config.toml only when it starts: until the service step restarts it.
    unfinished: ClassVar[Unfinished] = Unfinished(
        "containerd_service", f"{CONFIG_TOML} written, containerd not restarted yet"
    )

    def check(self, ctx: StepContext) -> Check:
        version = running_version(ctx.settings, ctx.facts)
        old_text = ctx.facts.containerd_config
        try:
            existing = containerdconfig.parse(old_text) if old_text is not None else {}
            merged = containerdconfig.merge(existing, version, ctx.settings.sandbox_image)
        except containerdconfig.ContainerdConfigError as exc:
            return Check.fail(str(exc))
        if old_text is not None and merged.config == existing:
            return Check.ok(f"config.toml (version {merged.version}) has the CRI settings")
        new_text = containerdconfig.render(merged.config)
        notes = ", ".join(merged.notes)
        message = f"write {CONFIG_TOML} (version {merged.version}{': ' + notes if notes else ''})"
        return Check.change(
            message,
            Action(message, _write_config(), stdin=new_text.encode(), explain=_refused),
            diff=containerdconfig.diff(old_text, new_text),
        )


REFUSED = "@@containerd-refused"


def _write_config() -> str:
    """Write stdin to config.toml atomically, after containerd itself read it; keep a backup."""
    return f"""set -e
f={CONFIG_TOML}
mkdir -p /etc/containerd
tmp=$(mktemp /etc/containerd/.config.toml.XXXXXX)
trap 'rm -f "$tmp"' EXIT
cat > "$tmp"
chmod 0644 "$tmp"
if command -v containerd >/dev/null 2>&1 && ! containerd --config "$tmp" config dump >/dev/null 2>"$tmp.err"
then echo {REFUSED}; sed "s|$tmp|$f|g" "$tmp.err"; rm -f "$tmp.err"; exit 3; fi
rm -f "$tmp.err"
if [ -f "$f" ]; then cp -p "$f" {BACKUP}; rm -f {CREATED_MARK}
else rm -f {BACKUP}; : > {CREATED_MARK}; fi
mv -f "$tmp" "$f"
"""


def _refused(stdout: str, stderr: str) -> str:
    _, marked, said = stdout.partition(REFUSED)
    lines = [line.strip() for line in (said if marked else stderr).splitlines() if line.strip()]
    reason = lines[-1] if lines else "no reason given"
    if marked:
        return f"containerd refused the new config.toml, left unchanged: {reason}"
    return reason


@dataclass(frozen=True)
class ContainerdService:
    """Restart only after a change (or when containerd is down or older than its file);
    always leave it enabled."""

    name: str = "containerd_service"

    def check(self, ctx: StepContext) -> Check:
        actions = []
        if ctx.changed & RESTART_CHANGES or _needs_restart(ctx.facts):
            rollback = "containerd_config" in ctx.changed
            actions.append(
                Action("restart containerd", CONTAINERD.script(rollback), explain=CONTAINERD.error)
            )
        if ctx.facts.containerd_enabled != "enabled":
            actions.append(Action("enable containerd", "systemctl enable containerd"))
        if not actions:
            return Check.ok("containerd active and enabled")
        return Check.change(", ".join(a.description for a in actions), *actions)


def _needs_restart(facts: HostFacts) -> bool:
    """Down, or started before its config.toml was last written (a file never applied)."""
    if facts.containerd_active != "active":
        return True
    started, written = facts.containerd_started, facts.containerd_config_written
    return started is not None and written is not None and started < written
