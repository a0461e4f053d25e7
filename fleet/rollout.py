"""The rollout scheduler: batches, a bounded worker pool, the halt rule, events.

Scheduling is the only thing this module does.  What happens on a host is
:func:`fleet.steps.runner.run_host`; what the user sees is whatever
:class:`Events` implementation the caller passes in.  The result is one frozen
:class:`~fleet.results.Report`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from fleet.batches import BatchSpec, FailureLimit, halt_reason, plan_batches, should_halt
from fleet.events import Events
from fleet.inventory import Host
from fleet.results import HostResult, Report, Status
from fleet.runlog import RunLog
from fleet.settings import Settings
from fleet.steps.base import Step
from fleet.steps.docker_ce import DOCKER_CE_STEPS
from fleet.steps.runner import HostJob, Mode, run_host
from fleet.transport import ConnectOptions, Connector


@dataclass(frozen=True)
class RolloutOptions:
    mode: Mode = Mode.ROLLOUT
    batch_size: BatchSpec | None = None  # None: every host in one batch
    max_failures: FailureLimit = field(default_factory=lambda: FailureLimit(0, False))
    keep_going: bool = False
    forks: int = 50
    force: bool = False
    run_dir: Path | None = None


def run_rollout(
    hosts: Sequence[Host],
    settings: Settings,
    connect: ConnectOptions,
    options: RolloutOptions,
    events: Events,
    stop: threading.Event | None = None,
    steps: Sequence[Step] = DOCKER_CE_STEPS,
) -> Report:
    """Run ``steps`` on ``hosts`` batch by batch and halt by the failure rule; never raise."""
    stop = stop or threading.Event()
    started_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
    started = time.monotonic()
    batches = plan_batches(list(hosts), options.batch_size) if options.batch_size else [list(hosts)]
    run_log = RunLog(options.run_dir) if options.run_dir else None
    connector = Connector(connect)
    state = _State(total=len(hosts))
    try:
        for number, batch in enumerate(batches, start=1):
            if state.halted or stop.is_set():
                state.add(_not_run(h, number) for h in batch)
                continue
            events.batch_started(number, [h.name for h in batch])
            job = _BatchJob(number, settings, options, connector, events, stop, steps, run_log)
            results = job.run(batch)
            state.add(results)
            events.batch_finished(number, _counts(results))
            if number < len(batches):  # after the last batch there is nothing left to halt
                _maybe_halt(state, options, events)
    finally:
        connector.close()
    order = {h.name: i for i, h in enumerate(hosts)}
    return Report(
        command=options.mode.value,
        hosts=tuple(sorted(state.results, key=lambda r: order[r.name])),
        halted=state.halted,
        interrupted=stop.is_set(),
        halt_reason=state.reason,
        batches=len(batches),
        started_at=started_at,
        duration_s=time.monotonic() - started,
        run_dir=str(options.run_dir) if options.run_dir else None,
    )


@dataclass
class _State:
    total: int
    results: list[HostResult] = field(default_factory=list)
    halted: bool = False
    reason: str | None = None

    def add(self, results: Iterable[HostResult]) -> None:
        self.results.extend(results)

    def attempted(self) -> int:
        return sum(1 for r in self.results if r.status is not Status.NOT_RUN)


def _maybe_halt(state: _State, options: RolloutOptions, events: Events) -> None:
    if options.mode is not Mode.ROLLOUT or options.keep_going:
        return
    failed = sum(1 for r in state.results if r.status is Status.FAILED)
    unreachable = sum(1 for r in state.results if r.status is Status.UNREACHABLE)
    attempted = state.attempted()
    if should_halt(failed, unreachable, attempted, options.max_failures):
        state.halted = True
        state.reason = halt_reason(failed, unreachable, attempted, options.max_failures)
        events.halted(state.reason)


def _counts(results: Sequence[HostResult]) -> dict[str, int]:
    return {status.value: sum(1 for r in results if r.status is status) for status in Status}


def _not_run(host: Host, batch: int, why: str | None = None) -> HostResult:
    return HostResult(host.name, host.address, batch, Status.NOT_RUN, error=why)


@dataclass
class _BatchJob:
    """One batch on a bounded pool: at most ``forks`` hosts at once."""

    number: int
    settings: Settings
    options: RolloutOptions
    connector: Connector
    events: Events
    stop: threading.Event
    steps: Sequence[Step]
    run_log: RunLog | None

    def run(self, batch: Sequence[Host]) -> list[HostResult]:
        workers = max(1, min(self.options.forks, len(batch)))
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="fleet-host") as pool:
            return list(pool.map(self._one, batch))

    def _one(self, host: Host) -> HostResult:
        if self.stop.is_set():
            result = _not_run(host, self.number, "interrupted before this host started")
            self.events.host_finished(result)
            return result
        self.events.host_started(host.name)
        settings = self.settings.merged(host.settings, host.origin)
        job = HostJob(host, self.number, settings, self.options.mode, self.options.force)
        logger: Callable | None = self.run_log.logger(host.name) if self.run_log else None
        result = run_host(
            job,
            self.connector,
            self.steps,
            log=logger,
            on_step=self.events.step_finished,
            on_message=self.events.message,
        )
        if self.run_log:
            result = self.run_log.finish(result)
        self.events.host_finished(result)
        return result
