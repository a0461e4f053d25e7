"""Service jobs (start, stop, restart) as systemd runs them, shared by systemctl, yum and seed.

A job returns what systemctl would print and its exit status; the journal
gets systemd's and the daemon's own lines, so ``systemctl status`` and
``journalctl -u docker`` show why a start failed.  Call with the state lock held.
"""

from __future__ import annotations

import time
from typing import Any, NamedTuple

from fleet.lab.simtools import containerd, engine, units
from fleet.lab.simtools.state import Host


class JobResult(NamedTuple):
    status: int
    stderr: tuple[str, ...] = ()


def _journal_systemd(host: Host, name: str, message: str) -> None:
    host.journal("systemd", message, unit=name, pid=1)


def _changed_warning(name: str) -> str:
    return (
        f"Warning: {name}.service changed on disk. Run 'systemctl daemon-reload' to reload units."
    )


def start(
    host: Host, table: dict[str, dict[str, Any]], name: str, verb: str = "start"
) -> JobResult:
    if not units.exists(host, name):
        return JobResult(5, (f"Failed to {verb} {name}.service: Unit not found.",))
    loaded, changed = units.loaded(host, table, name)
    notes = (_changed_warning(name),) if changed else ()
    if loaded["error"]:
        return JobResult(1, notes + _bad_unit(host, name, verb))
    rec = units.record(table, name)
    if rec.get("active") == "active":
        return JobResult(0, notes)
    if name == "docker":
        start(host, table, "containerd")
    desc = units.description(name)
    _journal_systemd(host, name, f"Starting {desc}...")
    pid = host.next_pid()
    if name == "containerd" and containerd.installed_version(host):
        return _start_containerd(host, rec, pid, loaded["exec_start"], notes)
    if name != "docker":
        _mark_active(rec, pid)
        _journal_systemd(host, name, f"Started {desc}.")
        return JobResult(0, notes)
    try:
        cfg = engine.start(host, loaded["exec_start"], pid)["config"]
    except engine.EngineError as exc:
        _record_failure(host, rec, name, pid, str(exc), loaded["exec_start"])
        return JobResult(1, (*notes, _job_failed(name)))
    version = engine.read_engine(host)["version"]
    for line in engine.daemon_log_lines(version, cfg):
        host.journal("dockerd", line, unit=name, pid=pid)
    _mark_active(rec, pid)
    rec["exec_start"] = loaded["exec_start"]
    _journal_systemd(host, name, f"Started {desc}.")
    return JobResult(0, notes)


def _start_containerd(
    host: Host, rec: dict[str, Any], pid: int, argv: list[str], notes: tuple[str, ...]
) -> JobResult:
    """containerd reads config.toml as it starts; a refusal is its own line in the journal."""
    try:
        state = containerd.start(host, pid)
    except containerd.ContainerdError as exc:
        _record_failure(host, rec, "containerd", pid, f"containerd: {exc}", argv, "containerd")
        return JobResult(1, (*notes, _job_failed("containerd")))
    for line in containerd.journal_lines(state):
        host.journal("containerd", line, unit="containerd", pid=pid)
    _mark_active(rec, pid)
    rec["exec_start"] = argv
    _journal_systemd(host, "containerd", f"Started {units.description('containerd')}.")
    return JobResult(0, notes)


def _mark_active(rec: dict[str, Any], pid: int) -> None:
    rec.update(active="active", pid=pid, since=time.time(), result="success", exit_status=0)


def _job_failed(name: str) -> str:
    return (
        f"Job for {name}.service failed because the control process exited with error code. "
        f'See "systemctl status {name}.service" and "journalctl -xe" for details.'
    )


def _bad_unit(host: Host, name: str, verb: str) -> tuple[str, ...]:
    if host.profile.systemd_version < 230:
        _journal_systemd(
            host, name,
            f"{name}.service has more than one ExecStart= setting, which is only allowed for "
            "Type=oneshot services. Refusing.",
        )  # fmt: skip
        first = f"Failed to {verb} {name}.service: Unit is not loaded properly: Invalid argument."
    else:
        _journal_systemd(
            host, name,
            f"{name}.service: Service has more than one ExecStart= setting, which is only allowed "
            "for Type=oneshot services. Refusing.",
        )  # fmt: skip
        first = f"Failed to {verb} {name}.service: Unit {name}.service has a bad unit file setting."
    return (first, f"See system logs and 'systemctl status {name}.service' for details.")


def _record_failure(
    host: Host,
    rec: dict[str, Any],
    name: str,
    pid: int,
    error: str,
    argv: list[str],
    ident: str = "dockerd",
) -> None:
    for line in error.splitlines():
        host.journal(ident, line, unit=name, pid=pid)
    if host.profile.systemd_version < 230:
        lines = [
            f"{name}.service: main process exited, code=exited, status=1/FAILURE",
            f"Failed to start {units.description(name)}.",
            f"Unit {name}.service entered failed state.",
            f"{name}.service failed.",
        ]
    else:
        lines = [
            f"{name}.service: Main process exited, code=exited, status=1/FAILURE",
            f"{name}.service: Failed with result 'exit-code'.",
            f"Failed to start {units.description(name)}.",
        ]
    for line in lines:
        _journal_systemd(host, name, line)
    rec.update(active="failed", pid=pid, since=time.time(), result="exit-code", exit_status=1)
    rec["exec_start"] = argv


def stop(host: Host, table: dict[str, dict[str, Any]], name: str, verb: str = "stop") -> JobResult:
    if not units.exists(host, name) and name not in table:
        return JobResult(5, (f"Failed to {verb} {name}.service: Unit {name}.service not loaded.",))
    rec = units.record(table, name)
    if name == "containerd" and units.record(table, "docker").get("active") == "active":
        stop(host, table, "docker")  # BindsTo=containerd.service
    if rec.get("active") == "active":
        desc = units.description(name)
        _journal_systemd(host, name, f"Stopping {desc}...")
        if name == "docker":
            engine.stop(host)
        if name == "containerd":
            containerd.stop(host)
        _journal_systemd(host, name, f"Stopped {desc}.")
        rec.update(active="inactive", pid=0, since=time.time(), result="success")
    elif rec.get("active") == "failed" and verb == "stop":
        rec.update(active="inactive")
    return JobResult(0)


def restart(
    host: Host, table: dict[str, dict[str, Any]], name: str, verb: str = "restart"
) -> JobResult:
    if not units.exists(host, name):
        return JobResult(5, (f"Failed to {verb} {name}.service: Unit not found.",))
    if name == "docker" and host.faults.get("restart_noop") and _active(table, name):
        # the field case: the job "succeeds" but the old daemon keeps its old configuration
        return JobResult(0)
    _loaded, changed = units.loaded(host, table, name)
    stop(host, table, name, verb)
    result = start(host, table, name, verb)
    if changed and not any(line.startswith("Warning:") for line in result.stderr):
        return JobResult(result.status, (_changed_warning(name), *result.stderr))
    return result


def _active(table: dict[str, dict[str, Any]], name: str) -> bool:
    return table.get(name, {}).get("active") == "active"


def try_restart(host: Host, table: dict[str, dict[str, Any]], name: str) -> JobResult:
    """What an rpm upgrade scriptlet runs: restart only if it was running."""
    if _active(table, name):
        return restart(host, table, name)
    return JobResult(0)
