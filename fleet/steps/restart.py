"""Restarting a runtime after its configuration changed, with rollback: one mechanism.

Both profiles restart a daemon whose file fleet may just have written (daemon.json,
config.toml).  If the daemon refuses to start, the previous file is put back (or the
file fleet created is removed), the daemon is started again, and the host's error
carries the daemon's own words from the journal and what was restored.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import PurePosixPath

ROLLBACK = "@@rollback="


@dataclass(frozen=True)
class Restartable:
    """A daemon and the configuration file fleet writes for it."""

    unit: str  # systemd unit name without .service: docker, containerd
    config: str  # the file fleet writes, restored on a failed start
    journal: str  # grep -E pattern of the journal lines worth reading
    markers: tuple[str, ...]  # where the daemon's own reason starts in such a line
    name: str  # as the error names it: "engine", "containerd"
    who: str  # as a sentence names it: "the engine", "containerd"
    error_mark: str = "@@engine-error"  # printed before the journal's lines

    @property
    def backup(self) -> str:
        return self.config + ".fleet-backup"

    @property
    def created_mark(self) -> str:
        return self.config + ".fleet-created"

    def script(self, rollback: bool) -> str:
        """Reload, restart; on failure print the journal's reason and, with ``rollback``,
        restore the previous file and start the daemon again."""
        restore = f"""
if [ -f {self.backup} ]; then cp -p {self.backup} {self.config}; r=1
elif [ -f {self.created_mark} ]; then rm -f {self.config}; r=1; fi
if [ -n "$r" ]; then systemctl daemon-reload
  if systemctl restart {self.unit}; then echo "{ROLLBACK}ok"; else echo "{ROLLBACK}failed"; fi
fi"""
        return f"""systemctl daemon-reload
systemctl restart {self.unit} && exit 0
echo "{self.error_mark}"
journalctl -u {self.unit} --no-pager -n 40 2>/dev/null | grep -E '{self.journal}' | tail -n 5
{restore if rollback else ""}
exit 1
"""

    def error(self, stdout: str, stderr: str) -> str:
        """The host's one-line error: the daemon's reason and what the rollback did."""
        _, _, tail = stdout.partition(self.error_mark)
        reason = ""
        for line in tail.splitlines():
            text = line.strip()
            for marker in self.markers:
                if marker in text:
                    reason = text[text.index(marker) :]
        if not reason:
            reason = (stderr.strip().splitlines() or [f"{self.unit}.service failed to start"])[-1]
        message = f"{self.name} refused to start: {reason}"
        file = PurePosixPath(self.config).name
        if f"{ROLLBACK}ok" in stdout:
            return message + f"; restored the previous {file} and {self.who} runs again"
        if f"{ROLLBACK}failed" in stdout:
            return message + f"; restored the previous {file} but {self.who} is STILL STOPPED"
        return message + f"; {self.who} is STOPPED"
