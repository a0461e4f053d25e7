"""Fixtures for the simulated tools' tests: one wrapper directory per module, fresh hosts per test."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.lab.simkit import SimHost, host_factory, shared_wrappers


@pytest.fixture(scope="module")
def tool_bin() -> Iterator[Path]:
    with shared_wrappers() as bin_dir:
        yield bin_dir


@pytest.fixture
def make_host(tool_bin: Path) -> Iterator[Callable[..., SimHost]]:
    with host_factory(tool_bin) as make:
        yield make
