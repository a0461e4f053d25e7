"""Run the steps on one host and turn every outcome into a :class:`HostResult`.

:func:`run_host` never raises.  It opens the host's one connection, gathers
facts in one command, lets each step check and (in a rollout) act, and then
verifies the running engine with ``docker info``.  The scheduler calls it once
per host; it knows nothing about batches.  When the run is asked to stop
(:mod:`fleet.stopping`), the host stops between two steps, or its command in
flight is abandoned, and it is reported ``interrupted`` with where it stopped.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from enum import Enum

from fleet.containerdinfo import (
    VERIFY_DESCRIPTION,
    VERIFY_SCRIPT,
    RuntimeInfo,
    check_runtime,
    parse_verification,
)
from fleet.dockerinfo import DOCKER_INFO_COMMAND, DockerInfo, check_docker_info, parse_docker_info
from fleet.facts import (
    BUSY,
    LOCK_FILE,
    LOCKED,
    HostFacts,
    facts_script,
    locked_facts_command,
    parse_facts,
)
from fleet.inventory import Host
from fleet.results import DockerSummary, HostResult, RuntimeSummary, Status, StepResult
from fleet.settings import Settings
from fleet.steps.base import Action, Check, Step, StepContext, Unfinished, Verdict
from fleet.steps.node_prereqs import wanted as node_prereqs_wanted
from fleet.steps.profiles import steps_for
from fleet.stopping import LiveConnections, StopRequest
from fleet.transport import CommandLogger, CommandResult, Connector, HostConnection, TransportError


class Mode(str, Enum):
    ROLLOUT = "rollout"  # change what needs changing, then verify
    PLAN = "plan"  # say what would change; touch nothing
    VERIFY = "verify"  # read-only compliance audit


@dataclass(frozen=True)
class HostJob:
    host: Host
    batch: int
    settings: Settings
    mode: Mode = Mode.ROLLOUT
    force: bool = False


StepCallback = Callable[[str, StepResult], None]
MessageCallback = Callable[[str], None]


def run_host(
    job: HostJob,
    connector: Connector,
    steps: Sequence[Step] | None = None,
    *,
    log: CommandLogger | None = None,
    on_step: StepCallback | None = None,
    on_message: MessageCallback | None = None,
    stop: StopRequest | None = None,
    live: LiveConnections | None = None,
) -> HostResult:
    """Take one host through the steps.  Every failure becomes a status and a one-line error.

    ``stop`` is looked at between steps: once it is raised the host starts no other
    step.  When it abandons the commands in flight, the failure that follows is the
    interruption, not a fault of the host.  ``live`` holds the host's connection while
    it is open, so that the stop request can abandon it.
    """
    started = time.monotonic()
    stop = stop or StopRequest()
    steps = steps_for(job.settings) if steps is None else steps  # the host's runtime profile
    recorder = _Recorder(job, on_step, on_message, steps)
    connection: HostConnection | None = None
    try:
        connection = connector.connect(job.host, log)
        if live is not None:
            live.add(connection)
        recorder.enter(GATHERING)
        _checkpoint(stop)
        facts = _gather(connection, job.settings, lock=job.mode is Mode.ROLLOUT)
        _checkpoint(stop)
        _run_steps(connection, job, facts, steps, recorder, stop)
    except _Stopped:
        recorder.interrupt(abandoned=False)
    except TransportError as exc:
        if stop.abandoning and recorder.connected:
            recorder.interrupt(abandoned=True)
        else:
            recorder.fail(exc.message, Status(exc.status))
    except Exception as exc:  # a bug must fail one host, not the whole rollout
        recorder.fail(f"internal error: {type(exc).__name__}: {exc}", Status.FAILED)
    finally:
        if connection is not None:
            if live is not None:
                live.discard(connection)
            connection.close()
    return recorder.result(time.monotonic() - started)


GATHERING = "gathering facts"  # where a host is between connecting and its first step
VERIFY = "verify"


class _Stopped(Exception):
    """The run was asked to stop: this host starts no other step."""


def _checkpoint(stop: StopRequest) -> None:
    if stop.stopping:
        raise _Stopped


def _gather(connection: HostConnection, settings: Settings, lock: bool) -> HostFacts:
    """Facts in one round trip; for a rollout also the host's fleet lock, held until the end."""
    node = node_prereqs_wanted(settings)
    if lock:
        command, stdin = locked_facts_command(settings.lock_wait, node=node)
        result = connection.run(
            command,
            sudo=True,
            timeout=settings.lock_wait + settings.command_timeout,
            stdin=stdin,
            serve_after=LOCKED,
        )
        if BUSY in result.stdout:
            raise TransportError(
                f"another fleet run is changing this host (lock {LOCK_FILE} held for more than "
                f"{settings.lock_wait:g}s, by a run or by a command of one still running); "
                "try again when it has finished"
            )
    else:
        result = connection.run(
            facts_script(node=node), sudo=True, timeout=settings.command_timeout
        )
    if "@@fleet:end" not in result.stdout:
        raise TransportError(f"gathering facts failed: {result.error_line()}")
    return parse_facts(result.stdout)


def _run_steps(
    connection: HostConnection,
    job: HostJob,
    facts: HostFacts,
    steps: Sequence[Step],
    recorder: _Recorder,
    stop: StopRequest,
) -> None:
    ctx = StepContext(facts, job.settings, job.force)
    for number, step in enumerate(steps):
        if number:
            _checkpoint(stop)
        step_started = recorder.enter(step.name)
        check = step.check(ctx)
        status = _apply(connection, job, check, recorder, step.name, step_started)
        if status is None:
            return
        if status is Status.CHANGED:
            ctx = replace(ctx, changed=ctx.changed | {step.name})
    if job.mode is Mode.PLAN:
        return
    _checkpoint(stop)
    if job.settings.runtime == "containerd":
        started = recorder.enter(VERIFY, VERIFY_DESCRIPTION)
        result = connection.run(VERIFY_SCRIPT, sudo=True, timeout=job.settings.command_timeout)
        recorder.verify_runtime(parse_verification(result.stdout), job.settings, started)
        return
    started = recorder.enter(VERIFY, "docker info")
    info = facts.docker_info if not ctx.changed else _docker_info(connection, job.settings)
    recorder.verify(info, job.settings, started)


def _apply(
    connection: HostConnection,
    job: HostJob,
    check: Check,
    recorder: _Recorder,
    name: str,
    started: float,
) -> Status | None:
    """Act on one check; return the step's status, or None when the host must stop here."""
    if check.verdict is Verdict.FAIL:
        recorder.step(name, Status.FAILED, started, check.message)
        recorder.fail(f"{name}: {check.message}", Status.FAILED)
        return None
    if check.verdict is Verdict.REFUSE:
        recorder.step(name, Status.SKIPPED, started, check.message)
        recorder.refuse(check.message)
        return None
    if check.verdict in (Verdict.OK, Verdict.SKIP):
        status = Status.OK if check.verdict is Verdict.OK else Status.SKIPPED
        recorder.step(name, status, started, check.message)
        return status
    if job.mode is Mode.VERIFY:
        recorder.step(name, Status.FAILED, started, f"not compliant: would {check.message}")
        recorder.noncompliant(f"{name}: would {check.message}")
        return Status.OK
    if job.mode is Mode.PLAN:
        recorder.step(name, Status.CHANGED, started, f"would {check.message}", check.diff)
        return Status.CHANGED
    changed = False
    for action in check.actions:
        recorder.doing(action.description)
        result = connection.run(
            action.command,
            sudo=action.sudo,
            timeout=action.timeout,
            stdin=action.stdin,
            watch=action.watcher(recorder.notify) if action.watcher else None,
        )
        reason = _shortfall(action, result)
        if reason is not None:
            recorder.step(name, Status.FAILED, started, f"{action.description}: {reason}")
            recorder.fail(reason, Status.FAILED)
            return None
        changed = changed or not (
            action.unchanged_marker and action.unchanged_marker in result.stdout
        )
    status = Status.CHANGED if changed else Status.OK
    recorder.step(name, status, started, check.message, check.diff)
    return status


def _shortfall(action: Action, result: CommandResult) -> str | None:
    """Why an action did not do its job, or None when it did."""
    if result.ok:
        return action.confirm(result.stdout, result.stderr) if action.confirm else None
    if action.explain:
        return action.explain(result.stdout, result.stderr)
    return result.error_line()


def _docker_info(connection: HostConnection, settings: Settings) -> DockerInfo:
    result = connection.run(DOCKER_INFO_COMMAND, sudo=True, timeout=settings.command_timeout)
    return parse_docker_info(result.stdout, result.stderr)


@dataclass(frozen=True)
class Interruption:
    """Where a host stopped when the run was stopped, and what that leaves on it.

    ``after`` is the last step finished when the host stopped between steps; ``during``
    the step (or :data:`GATHERING`) whose command was abandoned, with ``command`` saying
    what that command was doing.  ``unfinished`` holds the notes of changes whose
    completing step never ran.  :meth:`message` is the host's one-line error.
    """

    after: str | None = None
    during: str | None = None
    command: str = ""
    pending: tuple[str, ...] = ()
    unfinished: tuple[str, ...] = ()

    def message(self) -> str:
        if self.during == GATHERING:
            head = f"interrupted while {GATHERING}"
        elif self.during:
            head = f"interrupted during {self.during}: {self.command or 'its command'} abandoned"
        elif self.after:
            head = f"interrupted after {self.after}"
        else:
            head = f"interrupted before {self.pending[0] if self.pending else 'its first step'}"
        if self.unfinished:
            state = "; ".join(self.unfinished)
        elif self.during == GATHERING or not (self.after or self.during):
            state = "nothing changed"
        elif self.pending and not self.during:
            state = f"{_and(self.pending)} not run"
        else:
            state = ""
        separator = "; " if self.during and self.during != GATHERING else ": "
        middle = f"{separator}{state}" if state else ""
        return f"{head}{middle}; re-run to finish"


def _and(names: Sequence[str]) -> str:
    """``a``, ``a and b``, ``a, b and c``."""
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"


class _Recorder:
    """Collects step results for one host and decides the host's final status."""

    def __init__(
        self,
        job: HostJob,
        on_step: StepCallback | None,
        on_message: MessageCallback | None,
        steps: Sequence[Step] = (),
    ) -> None:
        self._job = job
        self._on_step = on_step
        self._on_message = on_message
        self._steps: list[StepResult] = []
        self._status: Status | None = None
        self._error: str | None = None
        self._docker: DockerSummary | None = None
        self._runtime: RuntimeSummary | None = None
        self._noncompliant: list[str] = []
        self._sequence = [step.name for step in steps]
        if job.mode is not Mode.PLAN:
            self._sequence.append(VERIFY)
        self._unfinished: dict[str, Unfinished] = {
            step.name: note for step in steps if (note := getattr(step, "unfinished", None))
        }
        self._where: str | None = None  # None until connected; then GATHERING or a step name
        self._entered = time.monotonic()
        self._command = ""

    @property
    def connected(self) -> bool:
        return self._where is not None

    def enter(self, where: str, command: str = "") -> float:
        """The host moves on to ``where``; returns when it did, for the step's duration."""
        self._where, self._command = where, command
        self._entered = time.monotonic()
        return self._entered

    def doing(self, command: str) -> None:
        """What the command about to run does, for a host whose command gets abandoned."""
        self._command = command

    def interrupt(self, abandoned: bool) -> None:
        """The run was stopped: record where, mark the steps left as not run."""
        done = {step.name for step in self._steps}
        during = self._where if abandoned and self._where not in done else None
        if during is not None and during != GATHERING:
            self.step(during, Status.INTERRUPTED, self._entered, f"abandoned: {self._command}")
        pending = tuple(name for name in self._sequence if name not in done and name != during)
        for name in pending:
            self._steps.append(StepResult(name, Status.NOT_RUN, message="run interrupted first"))
        interruption = Interruption(
            after=None if during else self._last_done(),
            during=during,
            command=self._command if during else "",
            pending=pending,
            unfinished=self._unfinished_notes(pending),
        )
        self.fail(interruption.message(), Status.INTERRUPTED)

    def _last_done(self) -> str | None:
        done = [s.name for s in self._steps if s.status not in (Status.NOT_RUN, Status.INTERRUPTED)]
        return done[-1] if done else None

    def _unfinished_notes(self, pending: Sequence[str]) -> tuple[str, ...]:
        """Notes of changes made in this run whose completing step has not run at all."""
        if self._job.mode is not Mode.ROLLOUT:
            return ()
        return tuple(
            note.note
            for step in self._steps
            if step.status is Status.CHANGED
            and (note := self._unfinished.get(step.name))
            and note.until in pending
        )

    def step(
        self, name: str, status: Status, started: float, message: str = "", diff: str = ""
    ) -> None:
        result = StepResult(name, status, time.monotonic() - started, message, diff)
        self._steps.append(result)
        if self._on_step is not None:
            self._on_step(self._job.host.name, result)

    def notify(self, text: str) -> None:
        if self._on_message is not None:
            self._on_message(f"{self._job.host.name}: {text}")

    def fail(self, error: str, status: Status) -> None:
        if self._status is None:
            self._status, self._error = status, error

    def refuse(self, message: str) -> None:
        self.fail(message, Status.SKIPPED)

    def noncompliant(self, reason: str) -> None:
        self._noncompliant.append(reason)

    def verify(self, info: DockerInfo | None, settings: Settings, started: float) -> None:
        if info is None:
            self.step("verify", Status.FAILED, started, "docker is not installed")
            self.fail("docker is not installed", Status.FAILED)
            return
        self._docker = DockerSummary(
            server_version=info.server_version,
            cgroup_driver=info.cgroup_driver,
            storage_driver=info.storage_driver,
            cgroup_version=info.cgroup_version,
            backing_filesystem=info.backing_filesystem,
            warnings=tuple(info.warnings),
        )
        mismatches = check_docker_info(info, settings.cgroup_driver, settings.storage_driver)
        if mismatches:
            self.step("verify", Status.FAILED, started, "; ".join(mismatches))
            self.fail("; ".join(mismatches), Status.FAILED)
        else:
            self.step("verify", Status.OK, started, f"{info.cgroup_driver} / {info.storage_driver}")

    def verify_runtime(self, info: RuntimeInfo, settings: Settings, started: float) -> None:
        """The containerd profile's proof, read from the running daemon."""
        self._runtime = RuntimeSummary(
            "containerd",
            info.version,
            info.cgroup_driver,
            info.snapshotter,
            info.cri,
            info.sandbox_image,
        )
        problems = check_runtime(info, settings.cgroup_driver)
        if problems:
            self.step(VERIFY, Status.FAILED, started, "; ".join(problems))
            self.fail("; ".join(problems), Status.FAILED)
        else:
            self.step(
                VERIFY, Status.OK, started, f"CRI on, runc {info.cgroup_driver} ({info.source})"
            )

    def result(self, duration: float) -> HostResult:
        status, error = self._status, self._error
        if status is None and self._noncompliant:
            status, error = Status.FAILED, "; ".join(self._noncompliant)
        if status is None:
            changed = any(s.status is Status.CHANGED for s in self._steps)
            status = Status.CHANGED if changed else Status.OK
        return HostResult(
            name=self._job.host.name,
            address=self._job.host.address,
            batch=self._job.batch,
            status=status,
            steps=tuple(self._steps),
            docker=self._docker,
            runtime=self._runtime,
            error=error,
            duration_s=duration,
        )
