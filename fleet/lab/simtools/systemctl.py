"""``systemctl`` and ``journalctl -u`` of a lab host (systemd 219 on el7, 239/252 later).

Queries read state without locking; jobs (start/stop/restart/enable/...)
hold the state lock for their whole run, as systemd serialises jobs.
"""

from __future__ import annotations

import sys
import time
from typing import Any

from fleet.lab.simtools import services, units
from fleet.lab.simtools.state import Host, ago, is_root, journal_time, systemd_time

_JOBS = ("start", "stop", "restart", "try-restart", "reload-or-restart", "enable", "disable",
         "daemon-reload", "reset-failed")  # fmt: skip


def err(text: str) -> None:
    print(text, file=sys.stderr)


def run(tool: str, args: list[str], host: Host) -> int:
    if tool == "journalctl":
        return journalctl(host, args)
    options = [a for a in args if a.startswith("-")]
    words = [a for a in args if not a.startswith("-")]
    props = _properties(args)
    quiet = "-q" in options or "--quiet" in options
    if "--value" in options and host.profile.systemd_version < 230:
        err("systemctl: unrecognized option '--value'")
        return 1
    if "--version" in options:
        print(f"systemd {host.profile.systemd_version}\n+PAM +AUDIT +SELINUX +IMA -APPARMOR +SMACK "
              "+SYSVINIT +UTMP +LIBCRYPTSETUP +GCRYPT +GNUTLS +ACL +XZ +LZ4 -SECCOMP +BLKID +ELFUTILS "
              "+KMOD +IDN")  # fmt: skip
        return 0
    verb = words[0] if words else "list-units"
    names = [units.unit_name(w) for w in words[1:] if "=" not in w]
    if verb == "show" and props is not None:
        names = [n for n in names if n not in props]
    if verb in _JOBS:
        if not is_root():
            return _denied(verb, names)
        with host.locked():
            table = units.read_units(host)
            status = _job(host, table, verb, names, "--now" in options)
            units.write_units(host, table)
        return status
    table = units.read_units(host)
    if verb == "is-active":
        return _is_active(host, table, names, quiet)
    if verb == "is-enabled":
        return _is_enabled(host, names, quiet)
    if verb == "is-failed":
        states = [_active_state(host, table, n) for n in names]
        if not quiet:
            print("\n".join(states))
        return 0 if "failed" in states else 1
    if verb == "status":
        return _status(host, table, names)
    if verb == "show":
        return _show(host, table, names, props, "--value" in options)
    if verb == "cat":
        return _cat(host, names)
    if verb == "is-system-running":
        print("running")
        return 0
    err(
        f"Unknown operation '{verb}'."
        if host.profile.systemd_version < 230
        else f"Unknown command verb {verb}."
    )
    return 1


def _properties(args: list[str]) -> list[str] | None:
    props: list[str] = []
    for i, arg in enumerate(args):
        if arg in ("-p", "--property") and i + 1 < len(args):
            props += args[i + 1].split(",")
        elif arg.startswith("--property="):
            props += arg.split("=", 1)[1].split(",")
        elif arg.startswith("-p") and len(arg) > 2:
            props += arg[2:].split(",")
    return props or None


def _denied(verb: str, names: list[str]) -> int:
    if verb == "daemon-reload":
        err("Failed to reload daemon: Interactive authentication required.")
        return 1
    target = f"{names[0]}.service" if names else "unit"
    err(f"Failed to {verb} {target}: Interactive authentication required.")
    err(f"See system logs and 'systemctl status {target}' for details.")
    return 1


def _job(
    host: Host, table: dict[str, dict[str, Any]], verb: str, names: list[str], now: bool
) -> int:
    if verb == "daemon-reload":
        units.reload_all(host, table)
        return 0
    if not names:
        err("Too few arguments.")
        return 1
    status = 0
    for name in names:
        result = _one_job(host, table, verb, name, now)
        for line in result.stderr:
            err(line)
        status = status or result.status
    return status


def _one_job(
    host: Host, table: dict[str, dict[str, Any]], verb: str, name: str, now: bool
) -> services.JobResult:
    if verb == "start":
        return services.start(host, table, name)
    if verb == "stop":
        return services.stop(host, table, name)
    if verb in ("restart", "reload-or-restart"):
        return services.restart(host, table, name, verb)
    if verb == "try-restart":
        return services.try_restart(host, table, name)
    if verb == "reset-failed":
        rec = table.get(name)
        if rec and rec.get("active") == "failed":
            rec["active"] = "inactive"
        return services.JobResult(0)
    if not units.exists(host, name):
        if host.profile.systemd_version < 230:
            return services.JobResult(
                1, ("Failed to execute operation: No such file or directory",)
            )
        return services.JobResult(
            1, (f"Failed to {verb} unit: Unit file {name}.service does not exist.",)
        )
    message = units.enable(host, name) if verb == "enable" else units.disable(host, name)
    notes = (message,) if message else ()
    if now:
        job = (
            services.start(host, table, name)
            if verb == "enable"
            else services.stop(host, table, name)
        )
        return services.JobResult(job.status, notes + job.stderr)
    return services.JobResult(0, notes)


def _active_state(host: Host, table: dict[str, dict[str, Any]], name: str) -> str:
    if not units.exists(host, name):
        return "unknown" if host.profile.systemd_version < 230 else "inactive"
    rec = table.get(name)
    if rec is None:
        return "inactive"
    return rec.get("active", "inactive")


def _is_active(host: Host, table: dict[str, dict[str, Any]], names: list[str], quiet: bool) -> int:
    states = [_active_state(host, table, n) for n in names]
    if not quiet:
        for state in states:
            print(state)
    return 0 if states and all(s == "active" for s in states) else 3


def _enabled_state(host: Host, name: str) -> str | None:
    if not units.exists(host, name):
        return None
    return "enabled" if units.is_enabled(host, name) else "disabled"


def _is_enabled(host: Host, names: list[str], quiet: bool) -> int:
    status = 0
    for name in names:
        state = _enabled_state(host, name)
        if state is None:
            err(f"Failed to get unit file state for {name}.service: No such file or directory")
            status = 1
            continue
        if not quiet:
            print(state)
        if state != "enabled":
            status = 1
    return status


def _status(host: Host, table: dict[str, dict[str, Any]], names: list[str]) -> int:
    status = 0
    for name in names or ["docker"]:
        if not units.exists(host, name):
            err(f"Unit {name}.service could not be found.")
            status = 4
            continue
        print(_status_block(host, table, name))
        if _active_state(host, table, name) != "active":
            status = status or 3
    return status


def _status_block(host: Host, table: dict[str, dict[str, Any]], name: str) -> str:
    rec = table.get(name, {})
    disk = units.load_from_disk(host, name)
    snapshot = rec.get("loaded") or disk
    enabled = "enabled" if units.is_enabled(host, name) else "disabled"
    state = rec.get("active", "inactive")
    lines = [f"\u25cf {name}.service - {units.description(name)}"]
    if snapshot.get("error"):
        lines.append("   Loaded: error (Reason: Invalid argument)")
    else:
        lines.append(
            f"   Loaded: loaded ({snapshot['fragment']}; {enabled}; vendor preset: disabled)"
        )
    if snapshot["dropins"]:
        folder = snapshot["dropins"][0].rsplit("/", 1)[0]
        lines.append(f"  Drop-In: {folder}")
        lines += [f"           \u2514\u2500{p.rsplit('/', 1)[1]}" for p in snapshot["dropins"]]
    since = rec.get("since")
    when = f" since {systemd_time(since)}; {ago(since)}" if since else ""
    argv = " ".join(rec.get("exec_start") or snapshot.get("exec_start") or [])
    if state == "active":
        lines.append(f"   Active: active (running){when}")
    elif state == "failed":
        lines.append(f"   Active: failed (Result: exit-code){when}")
    else:
        lines.append(f"   Active: inactive (dead){when}")
    if snapshot["source"] != disk["source"]:
        lines.append("Warning: Unit file changed on disk, 'systemctl daemon-reload' recommended.")
    if name == "docker":
        lines.append("     Docs: https://docs.docker.com")
    pid = rec.get("pid")
    if state == "active":
        prog = argv.split(" ")[0].rsplit("/", 1)[-1] if argv else name
        lines.append(f" Main PID: {pid} ({prog})")
        lines.append(f"   CGroup: /system.slice/{name}.service")
        lines.append(f"           \u2514\u2500{pid} {argv}")
    elif state == "failed":
        lines.append(f"  Process: {pid} ExecStart={argv} (code=exited, status=1/FAILURE)")
        lines.append(f" Main PID: {pid} (code=exited, status=1/FAILURE)")
    entries = host.journal_entries(name)[-10:]
    if entries:
        lines.append("")
        lines += [_journal_line(host, e) for e in entries]
    return "\n".join(lines)


def _journal_line(host: Host, entry: dict[str, Any]) -> str:
    ident = f"{entry['ident']}[{entry['pid']}]" if entry.get("pid") else entry["ident"]
    return f"{journal_time(entry['t'])} {host.name} {ident}: {entry['msg']}"


def _show(
    host: Host,
    table: dict[str, dict[str, Any]],
    names: list[str],
    props: list[str] | None,
    value_only: bool,
) -> int:
    for i, name in enumerate(names or ["docker"]):
        if i:
            print()
        values = _show_values(host, table, name)
        keys = props if props is not None else list(values)
        for key in keys:
            if key not in values:
                continue
            print(values[key] if value_only else f"{key}={values[key]}")
    return 0


def _show_values(host: Host, table: dict[str, dict[str, Any]], name: str) -> dict[str, str]:
    exists = units.exists(host, name)
    rec = table.get(name, {})
    state = _active_state(host, table, name) if exists else "inactive"
    since = rec.get("since")
    active_since = since if state == "active" else None
    disk = units.load_from_disk(host, name) if exists else None
    snapshot = rec.get("loaded") or disk
    need_reload = bool(snapshot and disk and snapshot["source"] != disk["source"])
    values = {
        "Id": f"{name}.service",
        "LoadState": "loaded" if exists else "not-found",
        "ActiveState": state,
        "SubState": {"active": "running", "failed": "failed"}.get(state, "dead"),
        "UnitFileState": (_enabled_state(host, name) or "") if exists else "",
        "MainPID": str(rec.get("pid", 0) if state == "active" else 0),
        "ExecMainPID": str(rec.get("pid", 0)),
        "ActiveEnterTimestamp": systemd_time(active_since) if active_since else "",
        "ExecMainStartTimestamp": systemd_time(since) if since else "",
        "Result": rec.get("result", "success"),
        "ExecMainStatus": str(rec.get("exit_status", 0)),
        "NeedDaemonReload": "yes" if need_reload else "no",
        "FragmentPath": snapshot["fragment"] if snapshot else "",
        "DropInPaths": " ".join(snapshot["dropins"]) if snapshot else "",
        "Description": units.description(name),
    }
    if snapshot and snapshot.get("exec_start"):
        argv = snapshot["exec_start"]
        values["ExecStart"] = (
            f"{{ path={argv[0]} ; argv[]={' '.join(argv)} ; ignore_errors=no ; start_time=[n/a] ; "
            "stop_time=[n/a] ; pid=0 ; code=(null) ; status=0/0 }"
        )
    if host.profile.systemd_version >= 235:
        values["NRestarts"] = "0"
    return values


def _cat(host: Host, names: list[str]) -> int:
    status = 0
    for name in names:
        if not units.exists(host, name):
            err(f"No files found for {name}.service.")
            status = 1
            continue
        chunks = [f"# {path}\n{text.rstrip()}\n" for path, text in units.sources(host, name)]
        print("\n".join(chunks))
    return status


# -- journalctl -------------------------------------------------------------------------------


def journalctl(host: Host, args: list[str]) -> int:
    unit = None
    lines = None
    i = 0
    while i < len(args):
        arg = args[i]
        if arg in ("-u", "--unit") and i + 1 < len(args):
            unit = units.unit_name(args[i + 1])
            i += 1
        elif arg.startswith("--unit="):
            unit = units.unit_name(arg.split("=", 1)[1])
        elif arg in ("-n", "--lines") and i + 1 < len(args):
            lines = int(args[i + 1])
            i += 1
        elif arg.startswith("-n") and arg[2:].isdigit():
            lines = int(arg[2:])
        i += 1
    if not is_root():
        print("Hint: You are currently not seeing messages from other users and the system.\n"
              "      Users in groups 'adm', 'systemd-journal', 'wheel' can see all messages.\n"
              "      Pass -q to turn off this notice.")  # fmt: skip
        print("-- No entries --")
        return 0
    entries = host.journal_entries(unit)
    if lines is not None:
        entries = entries[-lines:] if lines else []
    if not entries:
        print("-- No entries --")
        return 0
    first, last = entries[0]["t"], entries[-1]["t"]
    print(
        f"-- Logs begin at {systemd_time(first)}, end at {systemd_time(max(last, time.time()))}. --"
    )
    for entry in entries:
        print(_journal_line(host, entry))
    return 0
