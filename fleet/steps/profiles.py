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
from fleet.steps.node_prereqs import NODE_PREREQ_STEPS
from fleet.steps.node_prereqs import wanted as node_prereqs_wanted

CONTAINERD_PREFLIGHT: tuple[Step, ...] = (
    ContainerdPreflight(),
    ContainerdPrerequisites(),
    Repository(),
    SystemUpdate(),
)
# kubeadm's node prerequisites (swap, kernel modules, sysctls, SELinux, cgroup version):
# fleet/steps/node_prereqs.py, chosen by the node_prereqs setting (on by default with
# this runtime; with node_prereqs: false they are skipped).  They follow the preflight
# directly: a host they refuse (cgroup v1 under a 1.35+ kubelet) is left untouched.
CONTAINERD_STEPS_REST: tuple[Step, ...] = (
    ContainerdPackages(),
    ContainerdConfig(),
    ContainerdService(),
)
CONTAINERD_STEPS: tuple[Step, ...] = (
    CONTAINERD_PREFLIGHT[0],
    *NODE_PREREQ_STEPS,
    *CONTAINERD_PREFLIGHT[1:],
    *CONTAINERD_STEPS_REST,
)

# The docker profile with the node prerequisites after its preflight likewise, for
# node_prereqs: true (opt-in); without it the reference sequence runs unchanged.
DOCKER_NODE_PREREQ_STEPS: tuple[Step, ...] = (
    DOCKER_CE_STEPS[0],
    *NODE_PREREQ_STEPS,
    *DOCKER_CE_STEPS[1:],
)

PROFILES: Mapping[str, tuple[Step, ...]] = {
    "docker": DOCKER_CE_STEPS,
    "containerd": CONTAINERD_STEPS,
}


def steps_for(settings: Settings) -> tuple[Step, ...]:
    """The host's profile: the tuple its ``runtime`` setting names."""
    if settings.runtime == "docker" and node_prereqs_wanted(settings):
        return DOCKER_NODE_PREREQ_STEPS
    return PROFILES[settings.runtime]
