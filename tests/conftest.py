"""Shared fixtures: ``lab_factory(spec_dict, sshd)`` starts a real lab, stopped at module end.

One lab per module keeps the suite fast; labs are small (3-5 hosts).  Without root
the fixture skips with the reason (shown by ``pytest -ra``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.labkit import RunningLab, lab_skip_reason, openssh_skip_reason, start_lab, stop_lab

LabFactory = Callable[..., RunningLab]


@pytest.fixture(scope="module")
def lab_factory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabFactory]:
    """``lab_factory({"hosts": 3, ...}, "paramiko")`` -> RunningLab (dir, inventory, hosts)."""
    reason = lab_skip_reason()
    if reason:
        pytest.skip(reason)
    started: list[RunningLab] = []

    def factory(spec: dict[str, Any], sshd: str = "paramiko") -> RunningLab:
        if sshd == "openssh" and (why := openssh_skip_reason()):
            pytest.skip(why)
        lab = start_lab(tmp_path_factory.mktemp("lab") / "lab", spec, sshd)
        started.append(lab)
        return lab

    yield factory
    problems = []
    for lab in started:
        try:
            report = stop_lab(lab)
        except Exception as exc:  # stop the other labs anyway
            problems.append(f"{lab.dir}: {exc!r}")
            continue
        if not report.clean:
            problems.append(f"{lab.dir}: {report}")
    assert not problems, f"labs not cleanly stopped: {problems}"
