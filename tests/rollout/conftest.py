"""Fixtures for end-to-end tests: a small lab per test, with each SSH server."""

from __future__ import annotations

from typing import Any

import pytest

from tests.labkit import RunningLab


@pytest.fixture(params=["paramiko", "openssh"])
def sshd(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def lab(lab_factory, sshd):
    def start(hosts: int, **overrides: Any) -> RunningLab:
        spec: dict[str, Any] = {"hosts": hosts, "defaults": {"os": "centos7"}}
        spec.update(overrides)
        return lab_factory(spec, sshd)

    return start
