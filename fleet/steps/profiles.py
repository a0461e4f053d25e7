"""Runtime profiles: each an explicit tuple of steps, picked per host by the runtime setting.

``docker`` is the reference Docker CE sequence, unchanged.  ``containerd`` is containerd
alone with its CRI plugin on: the same preflight, prerequisites, repository and update
steps (with this runtime's package list and live-node rule), kubeadm's node prerequisites,
then containerd's packages, config.toml and service.  One runner serves both; ``fleet
plan`` shows every step of the host's profile.
"""

from __future__ import annotations

from collections.abc import Mapping

from fleet.settings import Settings
from fleet.steps.base import Step
from fleet.steps.containerd import (
    ContainerdConfig,
    ContainerdPackages,
    ContainerdPreflight,
    ContainerdPrerequisites,
    ContainerdService,
)
from fleet.steps.docker_ce import DOCKER_CE_STEPS, Repository, SystemUpdate

CONTAINERD_PREFLIGHT: tuple[Step, ...] = (
    ContainerdPreflight(),
    ContainerdPrerequisites(),
    Repository(),
    SystemUpdate(),
)
# kubeadm's node prerequisites (swap, kernel modules, sysctls, SELinux, cgroup version)
# go here: fleet/steps/node_prereqs.py's NODE_PREREQ_STEPS, chosen by a node_prereqs
# setting (on by default with this runtime).  That module does not exist yet, so the
# containerd profile has none.
NODE_PREREQ_STEPS: tuple[Step, ...] = ()
CONTAINERD_STEPS_REST: tuple[Step, ...] = (
    ContainerdPackages(),
    ContainerdConfig(),
    ContainerdService(),
)
CONTAINERD_STEPS: tuple[Step, ...] = (
    *CONTAINERD_PREFLIGHT,
    *NODE_PREREQ_STEPS,
    *CONTAINERD_STEPS_REST,
)

PROFILES: Mapping[str, tuple[Step, ...]] = {
    "docker": DOCKER_CE_STEPS,
    "containerd": CONTAINERD_STEPS,
}


def steps_for(settings: Settings) -> tuple[Step, ...]:
    """The host's profile: the tuple its ``runtime`` setting names."""
    return PROFILES[settings.runtime]
