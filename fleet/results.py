"""Results as plain, immutable data: what happened on each host and in the whole run.

The scheduler produces these; the renderers in :mod:`fleet.report` only read
them.  Nothing here knows about SSH or rich.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from enum import Enum
from typing import Any


class Status(str, Enum):
    """Outcome of a step or a host, in the order the summary counts and recap columns use."""

    OK = "ok"  # already as required; nothing changed
    CHANGED = "changed"  # fleet changed something and the result verified
    FAILED = "failed"  # reached, but a step failed or verification did not pass
    UNREACHABLE = "unreachable"  # could not connect or authenticate at the SSH level
    # deliberately not done: a step not needed, or a host refused by preflight policy
    SKIPPED = "skipped"
    # stopped by Ctrl-C or SIGTERM: after a step (its later steps not_run), or during one
    # whose command was abandoned; the error says where and what is left half done
    INTERRUPTED = "interrupted"
    NOT_RUN = "not_run"  # never started: the rollout halted or was interrupted first

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class StepResult:
    name: str
    status: Status
    duration_s: float = 0.0
    message: str = ""  # one line: why it changed, why it failed
    diff: str = ""  # e.g. the daemon.json unified diff; empty when nothing to show


@dataclass(frozen=True)
class DockerSummary:
    """What the running engine reported in ``docker info``."""

    server_version: str | None = None
    cgroup_driver: str | None = None
    storage_driver: str | None = None
    cgroup_version: str | None = None
    backing_filesystem: str | None = None
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class RuntimeSummary:
    """The container runtime a kubelet would talk to, as the running daemon reported it.

    For the containerd profile it comes from ``crictl info`` (or ``ctr plugins ls`` and
    ``containerd config dump``); for the docker profile it is read off ``docker info``.
    """

    name: str  # "containerd" or "docker"
    version: str | None = None
    cgroup_driver: str | None = None
    snapshotter: str | None = None  # containerd's snapshotter; the engine's storage driver
    cri: bool | None = None  # serves the Kubernetes CRI (containerd's CRI plugin loaded)
    sandbox_image: str | None = None

    @classmethod
    def of_docker(cls, docker: DockerSummary) -> RuntimeSummary:
        """Docker Engine has served no CRI since dockershim left Kubernetes (1.24)."""
        return cls(
            "docker", docker.server_version, docker.cgroup_driver, docker.storage_driver, False
        )


@dataclass(frozen=True)
class HostResult:
    name: str
    address: str
    batch: int  # 1-based batch number
    status: Status
    steps: tuple[StepResult, ...] = ()
    docker: DockerSummary | None = None
    error: str | None = None  # root cause, one line, never a traceback
    duration_s: float = 0.0
    log_path: str | None = None
    runtime: RuntimeSummary | None = None  # the containerd profile's; docker's is derived

    @property
    def runtime_summary(self) -> RuntimeSummary | None:
        if self.runtime is not None:
            return self.runtime
        return RuntimeSummary.of_docker(self.docker) if self.docker else None

    @property
    def changed_steps(self) -> tuple[str, ...]:
        return tuple(s.name for s in self.steps if s.status is Status.CHANGED)

    @property
    def compliant(self) -> bool:
        return self.status in (Status.OK, Status.CHANGED)


@dataclass(frozen=True)
class Report:
    """The whole run: per-host results in inventory order, and whether the rollout halted."""

    command: str  # "rollout", "verify" or "plan"
    hosts: tuple[HostResult, ...]
    halted: bool = False
    interrupted: bool = False
    halt_reason: str | None = None
    batches: int = 0
    started_at: str = ""  # ISO 8601, UTC
    duration_s: float = 0.0
    run_dir: str | None = None
    meta: Mapping[str, Any] = field(default_factory=dict)

    def count(self, status: Status, batch: int | None = None) -> int:
        return sum(
            1 for h in self.hosts if h.status is status and (batch is None or h.batch == batch)
        )

    def summary(self) -> dict[str, int]:
        counts = {status.value: self.count(status) for status in Status}
        counts["total"] = len(self.hosts)
        return counts

    def to_dict(self) -> dict[str, Any]:
        """The JSON report: a stable, documented shape (see README, "Report")."""
        hosts = []
        for h in self.hosts:
            hosts.append(
                {
                    "name": h.name,
                    "address": h.address,
                    "batch": h.batch,
                    "status": h.status.value,
                    "steps": [
                        {
                            "name": s.name,
                            "status": s.status.value,
                            "duration_s": round(s.duration_s, 3),
                            "message": s.message,
                            **({"diff": s.diff} if s.diff else {}),
                        }
                        for s in h.steps
                    ],
                    "docker": asdict(h.docker) if h.docker else None,
                    "runtime": asdict(runtime) if (runtime := h.runtime_summary) else None,
                    "error": h.error,
                    "duration_s": round(h.duration_s, 3),
                    "log": h.log_path,
                }
            )
        return {
            "command": self.command,
            "halted": self.halted,
            "interrupted": self.interrupted,
            "halt_reason": self.halt_reason,
            "batches": self.batches,
            "started_at": self.started_at,
            "duration_s": round(self.duration_s, 3),
            "run_dir": self.run_dir,
            "hosts": hosts,
            "summary": self.summary(),
        }
