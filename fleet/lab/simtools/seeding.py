"""A lab host's state at boot, from its spec: release file, rpm database, units, running engine.

Seeding goes through the same modules the tools use (packages, units,
services), so a pre-installed engine is started exactly as ``systemctl start
docker`` would start it: with a broken owner daemon.json it is seeded
*failed*, as the real host would be.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from fleet.lab.simtools import kernelstate, packages, repo, services, units
from fleet.lab.simtools.packages import Pkg
from fleet.lab.simtools.state import HOST_JSON, STATE_DIR, Host, write_json, write_text

_DIRS = (
    "/etc/docker", "/etc/containerd", "/etc/yum.repos.d", "/etc/systemd/system/multi-user.target.wants",
    "/etc/sudoers.d", "/var/lib/docker", STATE_DIR,
)  # fmt: skip

_BASE_REPO = {
    "el7": ("CentOS-Base.repo", "[base]\nname=CentOS-$releasever - Base\nmirrorlist=http://mirrorlist.centos.org/?release=$releasever&arch=$basearch&repo=os&infra=$infra\ngpgcheck=1\n\n[updates]\nname=CentOS-$releasever - Updates\nmirrorlist=http://mirrorlist.centos.org/?release=$releasever&arch=$basearch&repo=updates&infra=$infra\ngpgcheck=1\n\n[extras]\nname=CentOS-$releasever - Extras\nmirrorlist=http://mirrorlist.centos.org/?release=$releasever&arch=$basearch&repo=extras&infra=$infra\ngpgcheck=1\n"),
    "el8": ("CentOS-Linux-BaseOS.repo", "[baseos]\nname=CentOS Linux $releasever - BaseOS\nmirrorlist=http://mirrorlist.centos.org/?release=$releasever&arch=$basearch&repo=BaseOS&infra=$infra\ngpgcheck=1\nenabled=1\n"),
    "el9": ("baseos.repo", "[baseos]\nname=BaseOS $releasever - $basearch\nmirrorlist=https://mirrors.example.invalid/mirrorlist?arch=$basearch&repo=BaseOS-$releasever\ngpgcheck=1\nenabled=1\n"),
}  # fmt: skip


def seed_host(root: Path, spec: dict[str, Any]) -> None:
    host = Host(spec, root=str(root))
    for directory in _DIRS:
        host.path(directory).mkdir(parents=True, exist_ok=True)
    os.chmod(host.path(STATE_DIR), 0o755)
    if not host.path(HOST_JSON).exists():
        write_json(host.path(HOST_JSON), host.spec)
    write_text(host.path("/etc/os-release"), host.profile.os_release)
    if not host.path("/etc/hostname").exists():
        write_text(host.path("/etc/hostname"), host.name + "\n")
    repo_name, repo_text = _BASE_REPO[host.profile.family]
    write_text(host.path(f"{repo.REPO_DIR}/{repo_name}"), repo_text)
    _seed_packages(host)
    _seed_files(host)
    kernelstate.seed_files(host)
    _seed_units(host)


def _catalogue_pick(host: Host, name: str, version: str | None) -> Pkg:
    """The catalogue build of ``name`` (newest, or of ``version``); made up if the repo lacks it."""
    offers = [p for p in packages.available(host.profile.family, True) if p.name == name]
    if version is not None:
        exact = [p for p in offers if p.version == version]
        if exact:
            return packages.newest(exact)
        epoch = {"docker-ce": "3", "docker-ce-cli": "1"}.get(name, "0")
        release = (
            f"3.{host.profile.family}"
            if name.startswith("docker")
            else f"3.1.{host.profile.family}"
        )
        return Pkg(name, epoch, version, release, "x86_64", packages.DOCKER_REPO_ID)
    return packages.newest(offers)


def _seed_packages(host: Host) -> None:
    family = host.profile.family
    pkgs = packages.base_installed(family)
    rel_name, rel_version, rel_release, rel_arch = host.profile.release_package
    pkgs.append(Pkg(rel_name, "0", rel_version, rel_release, rel_arch, "anaconda"))
    engine = host.spec.get("engine")
    if engine:
        version = str(engine.get("version", "19.03.11"))
        containerd = str(engine.get("containerd") or packages.containerd_for(version))
        pkgs += [
            _catalogue_pick(host, "docker-ce", version),
            _catalogue_pick(host, "docker-ce-cli", str(engine.get("cli_version") or version)),
            _catalogue_pick(host, "containerd.io", containerd),
        ]
        for dep in packages.engine_requires(version):
            if not any(p.name == dep for p in pkgs):
                pkgs += _with_deps(host, dep, pkgs)
        write_text(
            host.path(repo.DOCKER_REPO_FILE),
            repo.docker_repo_text("https://download.docker.com/linux/centos"),
        )
    if host.spec.get("kubelet", "absent") in ("running", "stopped"):
        pkgs.append(Pkg("kubelet", "0", "1.20.15", "0", "x86_64", "kubernetes"))
    if host.spec.get("crictl"):
        pkgs.append(Pkg("cri-tools", "0", "1.30.1", "150500.1.1", "x86_64", "kubernetes"))
    extra = list(host.spec.get("packages") or [])
    if host.spec.get("podman"):
        extra.append("podman")
    for name in extra:
        if not any(p.name == name for p in pkgs):
            pkgs += _with_deps(host, name, pkgs)
    packages.save_installed(host, pkgs)


def _with_deps(host: Host, name: str, have: list[Pkg]) -> list[Pkg]:
    """``name`` and its missing requirements, newest builds."""
    catalogue = packages.available(host.profile.family, True)
    chosen: list[Pkg] = []
    queue = [name]
    while queue:
        wanted = queue.pop()
        if any(p.name == wanted for p in have + chosen):
            continue
        offers = packages.match(wanted, catalogue)
        if not offers:
            continue
        pkg = packages.newest(offers)
        chosen.append(pkg)
        queue += list(packages.requires(pkg.name))
    return chosen


def _seed_files(host: Host) -> None:
    from fleet.lab.simtools.containerd import CONFIG, STUB

    config = host.spec.get("containerd_config")
    if config is not None:
        write_text(host.path(CONFIG), str(config))
    elif packages.installed_named(host, "containerd.io"):
        write_text(host.path(CONFIG), STUB)  # the package's own file
    owner = host.spec.get("daemon_json")
    if owner is not None:
        text = owner if isinstance(owner, str) else json.dumps(owner, indent=2) + "\n"
        write_text(host.path("/etc/docker/daemon.json"), text)
    dropin = host.spec.get("dropin")
    if dropin:
        write_text(host.path("/etc/systemd/system/docker.service.d/override.conf"), str(dropin))


def _seed_units(host: Host) -> None:
    table: dict[str, dict[str, Any]] = {}
    for name in units.BASE_ACTIVE:
        units.enable(host, name)
        services.start(host, table, name)
    engine = host.spec.get("engine")
    if engine:
        running = bool(engine.get("running", True))
        if bool(engine.get("enabled", running)):
            units.enable(host, "containerd")
            units.enable(host, "docker")
        if running:
            services.start(host, table, "docker")
    kubelet = host.spec.get("kubelet", "absent")
    if kubelet in ("running", "stopped"):
        units.enable(host, "kubelet")
        if kubelet == "running":
            services.start(host, table, "kubelet")
    units.reload_all(host, table)
    units.write_units(host, table)
