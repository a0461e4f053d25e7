"""Parse ``docker info`` output (JSON and the text layouts of 19.03, 20.10 and 24+)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class DockerInfo:
    """The facts fleet needs from a running engine.  ``None`` means "not reported"."""

    server_version: str | None = None
    cgroup_driver: str | None = None
    storage_driver: str | None = None
    cgroup_version: str | None = None
    backing_filesystem: str | None = None
    supports_d_type: bool | None = None
    warnings: tuple[str, ...] = ()
    server_errors: tuple[str, ...] = ()  # e.g. "Cannot connect to the Docker daemon ..."
