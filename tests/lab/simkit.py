"""Helpers shared by the simulated tools' tests."""

from __future__ import annotations

import subprocess

from fleet.lab.simtools.testing import SimHost

REPO_URL = "https://download.docker.com/linux/centos/docker-ce.repo"


def ok(host: SimHost, command: str) -> subprocess.CompletedProcess[str]:
    """Run a command on a simulated host and insist that it succeeded."""
    result = host.run(command)
    assert result.returncode == 0, (command, result.stdout, result.stderr)
    return result
