"""The events a run emits while it goes: the contract between scheduler and displays.

The scheduler (:mod:`fleet.rollout`) calls these; live displays
(:mod:`fleet.report`) implement them.  Neither knows the other.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol

from fleet.results import HostResult, StepResult


class Events(Protocol):
    """What the scheduler tells its audience while a rollout runs."""

    def batch_started(self, batch_no: int, hosts: Sequence[str]) -> None: ...
    def host_started(self, name: str) -> None: ...
    def step_finished(self, name: str, step: StepResult) -> None: ...
    def host_finished(self, result: HostResult) -> None: ...
    def batch_finished(self, batch_no: int, counts: Mapping[str, int]) -> None: ...
    def halted(self, reason: str) -> None: ...
    def message(self, text: str) -> None: ...
