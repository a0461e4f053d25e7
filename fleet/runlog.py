"""Per-host logs of every command and its output, in one folder per run.

A run folder holds ``hosts/NAME.log`` for each host, and the CLI adds
``report.json`` and ``failed-hosts.txt`` next to them.  Standard input of a
command is never logged: it is where sudo passwords and file contents travel.
"""

from __future__ import annotations

import threading
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path

from fleet.results import HostResult
from fleet.transport import CommandLogger, CommandResult


def new_run_dir(base: Path, command: str) -> Path:
    """A fresh, time-stamped run folder such as ``fleet-runs/20261201T031740Z-rollout``."""
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    path = base / f"{stamp}-{command}"
    suffix = 1
    while path.exists():
        suffix += 1
        path = base / f"{stamp}-{command}-{suffix}"
    (path / "hosts").mkdir(parents=True)
    return path


class RunLog:
    def __init__(self, run_dir: Path) -> None:
        self.run_dir = run_dir
        (run_dir / "hosts").mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()

    def path(self, host: str) -> Path:
        safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in host)
        return self.run_dir / "hosts" / f"{safe}.log"

    def logger(self, host: str) -> CommandLogger:
        path = self.path(host)

        def log(result: CommandResult, stdin_sent: bool) -> None:
            lines = [f"$ {result.command.strip()}"]
            if stdin_sent:
                lines.append("(input sent on stdin, not logged)")
            lines.append(f"[exit {result.exit_code}, {result.duration_s:.2f}s]")
            if result.stdout.strip():
                lines += ["--- stdout", result.stdout.rstrip()]
            if result.stderr.strip():
                lines += ["--- stderr", result.stderr.rstrip()]
            with path.open("a", encoding="utf-8") as fh:
                fh.write("\n".join(lines) + "\n\n")

        return log

    def finish(self, result: HostResult) -> HostResult:
        path = self.path(result.name)
        with path.open("a", encoding="utf-8") as fh:
            fh.write(f"== {result.name}: {result.status.value}")
            fh.write(f" ({result.error})\n" if result.error else "\n")
        return replace(result, log_path=str(path))
