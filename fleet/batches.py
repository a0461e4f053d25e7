"""Batch planning (count, percentage, ramp) and the halt rule.

Both are pure functions so the scheduler never decides *how many* hosts to
touch or *when* to stop on its own: it asks :func:`plan_batches` once and
:func:`should_halt` after every finished host.  The semantics follow Ansible's
``serial`` and ``max_fail_percentage`` where users already know them, with the
two places Ansible surprises people made explicit here: percentages use exact
integer arithmetic (Ansible's float maths turns 29% of 100 hosts into 28), and
the failure threshold's denominator is written down (hosts attempted so far).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeVar

from fleet.errors import InputError

T = TypeVar("T")

_BATCH_FORMS = "write a count (5), a percentage (25%) or a ramp (1,5,25%)"
_FAILURE_FORMS = "write a count of hosts (0, 3) or a percentage (10%)"


@dataclass(frozen=True)
class BatchSize:
    """One item of ``--batch-size``: a number of hosts or a percentage of all hosts."""

    value: int
    percent: bool = False

    def hosts(self, total: int) -> int:
        """Hosts in a batch of this size, out of ``total`` selected hosts.

        Percentages round down but never below one host, so ``1%`` of 20 hosts
        still makes progress (Ansible's ``serial`` does the same).
        """
        if not self.percent:
            return self.value
        return max(1, self.value * total // 100)

    def __str__(self) -> str:
        return f"{self.value}%" if self.percent else str(self.value)


@dataclass(frozen=True)
class BatchSpec:
    """A parsed ``--batch-size``: one size, or a ramp whose last size repeats."""

    sizes: tuple[BatchSize, ...]

    def __post_init__(self) -> None:
        if not self.sizes:
            raise ValueError("a BatchSpec needs at least one size")

    def __str__(self) -> str:
        return ",".join(str(size) for size in self.sizes)


@dataclass(frozen=True)
class FailureLimit:
    """A parsed ``--max-failures``: how many hosts may fail before the rollout halts.

    The default, 0, halts after the first failed or unreachable host: a broken
    package or config stops at the canary instead of spreading through the fleet.
    """

    value: int = 0
    percent: bool = False

    def __str__(self) -> str:
        return f"{self.value}%" if self.percent else str(self.value)


def parse_batch_spec(text: str) -> BatchSpec:
    """Parse ``--batch-size``: ``5``, ``25%`` or a ramp such as ``1,5,25%``.

    Raises :class:`~fleet.errors.InputError` with a one-line message naming the
    flag, the value and the fix.
    """
    items = text.split(",")
    sizes = tuple(_parse_batch_item(item, text) for item in items)
    return BatchSpec(sizes)


def _parse_batch_item(item: str, text: str) -> BatchSize:
    where = f"--batch-size {text.strip() or repr(text)}"
    item = item.strip()
    if not item:
        raise InputError(f"{where}: empty item; {_BATCH_FORMS}")
    value, percent = _parse_number(item, where, _BATCH_FORMS)
    if percent and not 1 <= value <= 100:
        raise InputError(f"{where}: a percentage must be between 1% and 100%")
    if not percent and value < 1:
        raise InputError(f"{where}: a batch needs at least 1 host; {_BATCH_FORMS}")
    return BatchSize(value, percent)


def _parse_number(item: str, where: str, forms: str) -> tuple[int, bool]:
    """Split ``"25%"`` into ``(25, True)`` and ``"5"`` into ``(5, False)``."""
    percent = item.endswith("%")
    digits = item[:-1].strip() if percent else item
    sign = digits[:1] if digits[:1] in "+-" else ""
    if not digits[len(sign) :].isdigit() or not digits.isascii():
        raise InputError(f"{where}: {item!r} is not a whole number; {forms}")
    return int(digits), percent


def plan_batches(hosts: Sequence[T], spec: BatchSpec) -> list[list[T]]:
    """Split ``hosts`` into batches, in order, as ``spec`` asks.

    Sizes are taken from the spec in turn and the last one repeats until every
    host is placed (``1,5,25%`` = one canary, then five, then a quarter of the
    fleet at a time).  Percentages are of the total host count, not of the
    hosts left, so every ``25%`` batch is the same size.  The last batch holds
    whatever remains; no batch is ever empty.
    """
    total = len(hosts)
    batches: list[list[T]] = []
    start = 0
    while start < total:
        size = spec.sizes[min(len(batches), len(spec.sizes) - 1)].hosts(total)
        batches.append(list(hosts[start : start + size]))
        start += size
    return batches


def parse_max_failures(text: str) -> FailureLimit:
    """Parse ``--max-failures``: ``0``, ``3`` or ``10%``; an empty value means the default, 0."""
    where = f"--max-failures {text.strip() or repr(text)}"
    item = text.strip()
    if not item:
        return FailureLimit()
    value, percent = _parse_number(item, where, _FAILURE_FORMS)
    if percent and not 0 <= value <= 100:
        raise InputError(f"{where}: a percentage must be between 0% and 100%")
    if value < 0:
        raise InputError(f"{where}: the number of hosts must not be negative; {_FAILURE_FORMS}")
    return FailureLimit(value, percent)


def should_halt(failed: int, unreachable: int, total: int, limit: FailureLimit) -> bool:
    """Whether the rollout must stop before starting any more hosts.

    The rule, in one place: halt when ``failed + unreachable`` **exceeds** the
    limit.  Both counts and ``total`` cover every host attempted so far, in all
    batches up to now (hosts that finished, whatever their status; hosts never
    started do not count).

    - A count limit ``N`` allows ``N`` bad hosts; the ``N+1``-th halts.
      ``0`` halts on the first failure.
    - A percentage limit ``P%`` halts when bad hosts are more than ``P`` percent
      of the hosts attempted so far: ``bad * 100 > P * total``, in exact integer
      arithmetic.  ``0%`` halts on the first failure, ``100%`` never halts.
      Because the denominator grows as the rollout proceeds, a failed canary
      (1 of 1 attempted = 100%) halts any percentage below 100%.

    With nothing attempted (``total == 0``) there is nothing to halt for.
    """
    if min(failed, unreachable, total) < 0 or failed + unreachable > total:
        raise ValueError(
            f"impossible counts: failed={failed} unreachable={unreachable} total={total}"
        )
    bad = failed + unreachable
    if limit.percent:
        return bad * 100 > limit.value * total
    return bad > limit.value


def halt_reason(failed: int, unreachable: int, total: int, limit: FailureLimit) -> str:
    """One line for the report explaining why :func:`should_halt` stopped the rollout."""
    bad = failed + unreachable
    return (
        f"{bad} of {total} hosts attempted failed or were unreachable "
        f"(failed {failed}, unreachable {unreachable}), more than --max-failures {limit}"
    )
