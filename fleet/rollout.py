"""The rollout scheduler: batches, a bounded worker pool, the halt rule, events.

Scheduling is the only thing this module does.  What happens on a host is
:func:`fleet.steps.runner.run_host`; what the user sees is whatever
:class:`Events` implementation the caller passes in.  The result is one frozen
:class:`~fleet.results.Report`.
"""

from __future__ import annotations

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
from fleet.steps.runner import HostJob, Mode, run_host
from fleet.stopping import LiveConnections, StopRequest
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
    stop: StopRequest | None = None,
    steps: Sequence[Step] | None = None,
) -> Report:
    """Run ``steps`` on ``hosts`` batch by batch and halt by the failure rule; never raise.

    Without ``steps`` every host runs the profile its ``runtime`` setting names.

    ``stop`` may be raised at any time (a signal handler does): no host starts after
    it, and running hosts stop after their step or, at its second stage, at once,
    their connections closed through the run's :class:`LiveConnections`.
    """
    stop = stop or StopRequest()
    started_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
    started = time.monotonic()
    batches = plan_batches(list(hosts), options.batch_size) if options.batch_size else [list(hosts)]
    run_log = RunLog(options.run_dir) if options.run_dir else None
    connector = Connector(connect)
    state = _State(total=len(hosts))
    try:
        with LiveConnections(stop) as live:
            run = _Run(settings, options, connector, events, stop, live, steps, run_log)
            _run_batches(batches, state, run)
    finally:
        connector.close()
    order = {h.name: i for i, h in enumerate(hosts)}
    return Report(
        command=options.mode.value,
        hosts=tuple(sorted(state.results, key=lambda r: order[r.name])),
        halted=state.halted,
        interrupted=stop.stopping,
        halt_reason=state.reason,
        batches=len(batches),
        started_at=started_at,
        duration_s=time.monotonic() - started,
        run_dir=str(options.run_dir) if options.run_dir else None,
    )


@dataclass(frozen=True)
class _Run:
    """What every batch of one run shares."""

    settings: Settings
    options: RolloutOptions
    connector: Connector
    events: Events
    stop: StopRequest
    live: LiveConnections
    steps: Sequence[Step] | None = None  # None: each host's runtime profile
    run_log: RunLog | None = None


def _run_batches(batches: Sequence[Sequence[Host]], state: _State, run: _Run) -> None:
    for number, batch in enumerate(batches, start=1):
        if state.halted or run.stop.stopping:
            state.add(_not_run(h, number) for h in batch)
            continue
        run.events.batch_started(number, [h.name for h in batch])
        results = _BatchJob(number, run).run_batch(batch)
        state.add(results)
        run.events.batch_finished(number, _counts(results))
        if number < len(batches):  # after the last batch there is nothing left to halt
            _maybe_halt(state, run.options, run.events)


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


@dataclass(frozen=True)
class _BatchJob:
    """One batch on a bounded pool: at most ``forks`` hosts at once."""

    number: int
    run: _Run

    def run_batch(self, batch: Sequence[Host]) -> list[HostResult]:
        workers = max(1, min(self.run.options.forks, len(batch)))
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="fleet-host") as pool:
            return list(pool.map(self._one, batch))

    def _one(self, host: Host) -> HostResult:
        run = self.run
        if run.stop.stopping:
            result = _not_run(host, self.number, "interrupted before this host started")
            run.events.host_finished(result)
            return result
        run.events.host_started(host.name)
        settings = run.settings.merged(host.settings, host.origin)
        job = HostJob(host, self.number, settings, run.options.mode, run.options.force)
        logger: Callable | None = run.run_log.logger(host.name) if run.run_log else None
        result = run_host(
            job,
            run.connector,
            run.steps,
            log=logger,
            on_step=run.events.step_finished,
            on_message=run.events.message,
            stop=run.stop,
            live=run.live,
        )
        if run.run_log:
            result = run.run_log.finish(result)
        run.events.host_finished(result)
        return result
