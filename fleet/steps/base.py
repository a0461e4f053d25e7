"""The one step shape every host step uses.

A step looks at the host's facts and the settings and returns a :class:`Check`:
either "already so" (no actions), "needs these actions", "skip" or "fail".
``check`` is a pure function, so ``fleet plan`` shows exactly what ``fleet
rollout`` would run, and re-running a converged host runs nothing.  Executing the
actions is the runner's job, not the step's.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum
from typing import Protocol

from fleet.facts import HostFacts
from fleet.settings import Settings
from fleet.transport import OutputWatcher


class Verdict(str, Enum):
    OK = "ok"  # already as required
    CHANGE = "change"  # run the actions
    SKIP = "skip"  # not applicable here (e.g. system update not asked for)
    FAIL = "fail"  # cannot proceed on this host; message says why and how to fix
    REFUSE = "refuse"  # proceeding would be unsafe without --force; the host is skipped


@dataclass(frozen=True)
class Action:
    """One remote command a step runs.  Commands are idempotent where the shell allows."""

    description: str
    command: str
    sudo: bool = True
    stdin: bytes = b""
    timeout: float | None = None
    # The command ran fine but changed nothing when its output contains this text
    # (e.g. yum's "No packages marked for update").
    unchanged_marker: str | None = None
    # Turns a failed result into a one-line reason; default: the most telling output line.
    explain: Callable[[str, str], str] | None = field(default=None, compare=False)
    # For commands that can exit 0 without doing their job (yum on EL7 skips package
    # names it cannot find): returns why the result is not what was asked, or None.
    confirm: Callable[[str, str], str | None] | None = field(default=None, compare=False)
    # Builds a watcher of the live output, given a way to tell the user something
    # (e.g. "waiting for the yum lock"); the watcher may abort the command.
    watcher: Callable[[Callable[[str], None]], OutputWatcher] | None = field(
        default=None, compare=False
    )


@dataclass(frozen=True)
class Check:
    verdict: Verdict
    message: str = ""
    actions: tuple[Action, ...] = ()
    diff: str = ""

    @classmethod
    def ok(cls, message: str = "") -> Check:
        return cls(Verdict.OK, message)

    @classmethod
    def change(cls, message: str, *actions: Action, diff: str = "") -> Check:
        return cls(Verdict.CHANGE, message, tuple(actions), diff)

    @classmethod
    def skip(cls, message: str) -> Check:
        return cls(Verdict.SKIP, message)

    @classmethod
    def fail(cls, message: str) -> Check:
        return cls(Verdict.FAIL, message)

    @classmethod
    def refuse(cls, message: str) -> Check:
        return cls(Verdict.REFUSE, message)


@dataclass(frozen=True)
class Unfinished:
    """What a change by a step leaves half done until a later step has run.

    A step may declare one as its ``unfinished`` attribute.  A host stopped in between
    (Ctrl-C after daemon.json was written, before the engine was restarted) says so in
    its error, because the host then holds a configuration its engine does not run yet.
    """

    until: str  # the step that completes the change
    note: str  # e.g. "/etc/docker/daemon.json written, docker not restarted yet"


@dataclass(frozen=True)
class StepContext:
    """Everything a step may look at.  ``changed`` names the steps that changed (or would)."""

    facts: HostFacts
    settings: Settings
    force: bool = False
    changed: frozenset[str] = frozenset()


class Step(Protocol):
    """A named, idempotent piece of host configuration."""

    name: str

    def check(self, ctx: StepContext) -> Check: ...
