"""Errors that end a command with a one-line message and a documented exit code.

Anything a user can fix (a bad inventory, a bad flag, a lab that cannot start)
is raised as a subclass of :class:`FleetError`; the CLI prints ``fleet: <message>``
and exits with ``exit_code``.  Host-level problems never raise out of a rollout:
they become statuses in the report.
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """Exit codes of every fleet command (documented in the README)."""

    OK = 0  # every selected host compliant
    HOST_FAILURES = 1  # some hosts failed or were unreachable; the rollout ran to its end
    BAD_INPUT = 2  # inventory, flags or lab spec rejected; no host touched
    HALTED = 3  # the failure threshold stopped the rollout; later batches not run
    ENVIRONMENT = 4  # this machine cannot do what was asked (e.g. lab needs root)
    INTERRUPTED = 130  # Ctrl-C / SIGTERM; report still written


class FleetError(Exception):
    """An error with a one-line, user-facing message."""

    exit_code: ExitCode = ExitCode.BAD_INPUT

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class InputError(FleetError):
    """Bad input: an inventory, a flag, a spec.  The message names file:line or host and the fix."""

    exit_code = ExitCode.BAD_INPUT


class EnvironmentProblem(FleetError):
    """This machine cannot do what was asked (missing privilege, missing program)."""

    exit_code = ExitCode.ENVIRONMENT
