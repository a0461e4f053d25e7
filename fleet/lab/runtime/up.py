"""``fleet lab up``: write the lab's files, start its supervisor, return when every host answers.

On any failure everything started is stopped again (``lab down``) and the error names
what failed.
"""

from __future__ import annotations

import contextlib
import os
import select
import socket
import sys
from collections.abc import Mapping
from pathlib import Path

from fleet.errors import EnvironmentProblem, FleetError, InputError
from fleet.lab import files
from fleet.lab.runtime.addresses import address_reservation
from fleet.lab.runtime.down import lab_down
from fleet.lab.runtime.mounts import package_parent
from fleet.lab.runtime.prepare import (
    install_tools,
    plan_hosts,
    prepare_builtin_sudo,
    prepare_hosts,
    write_client_files,
)
from fleet.lab.runtime.requirements import default_sudo, require_programs, require_root
from fleet.lab.runtime.services import START_TIMEOUT
from fleet.lab.runtime.state import LOG_FILE, STATE_FILE, Lab, load_lab, remove_state, save_lab
from fleet.lab.runtime.verify import verify_hosts
from fleet.lab.spec import LabSpec, resolve_hosts


def _check_directory(directory: Path) -> None:
    state = directory / STATE_FILE
    if state.exists():
        lab = load_lab(directory)
        running = lab.supervisor is not None and lab.supervisor.alive()
        what = "is running" if running else "was left behind by a stopped lab"
        raise InputError(f"{directory}: a lab {what}; run: fleet lab down --dir {directory}")
    if directory.exists() and any(p.name != LOG_FILE for p in directory.iterdir()):
        raise InputError(f"{directory}: directory is not empty; choose another --dir or empty it")


def _spawn_supervisor(directory: Path) -> tuple[int, int]:
    """Start the supervisor (``fleet.lab.runtime serve DIR``) in its own session; (pid, ready pipe)."""
    read_end, write_end = os.pipe()
    os.set_inheritable(write_end, True)
    log = os.open(directory / LOG_FILE, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    # Not ``-m``: that puts the working directory first on sys.path, and a ``fleet``
    # folder there (a source tree) would replace the package the hosts' tools run.
    bootstrap = (
        f"import sys; sys.path[0] = {str(package_parent())!r}; "
        "from fleet.lab.runtime import main; sys.exit(main(sys.argv[1:]))"
    )
    argv = [sys.executable, "-c", bootstrap, "serve", str(directory), "--ready-fd", str(write_end)]
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(
            filter(None, [str(package_parent()), os.environ.get("PYTHONPATH")])
        ),
    }
    try:
        pid = os.posix_spawn(
            sys.executable,
            argv,
            env,
            file_actions=[
                (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
                (os.POSIX_SPAWN_DUP2, log, 1),
                (os.POSIX_SPAWN_DUP2, log, 2),
            ],
            setsid=True,
        )
    finally:
        os.close(write_end)
        os.close(log)
    return pid, read_end


def _await_ready(pid: int, ready: int, directory: Path, timeout: float) -> None:
    """Block until the supervisor says ready or fails (its pipe closes either way)."""
    with os.fdopen(ready, "rb") as pipe:
        if not select.select([pipe], [], [], timeout)[0]:
            raise EnvironmentProblem(
                f"the lab did not start within {timeout:g}s; see {directory / LOG_FILE}"
            )
        message = pipe.read().decode(errors="replace").strip()
    if message == "ready":
        return
    if not message:
        message = f"the supervisor (pid {pid}) exited without a word; see {directory / LOG_FILE}"
    raise EnvironmentProblem(message)


def lab_up(
    directory: str | Path,
    spec: LabSpec | None = None,
    *,
    hosts: int | None = None,
    sshd: str | None = None,
    sudo: str | None = None,
) -> Lab:
    """Start a lab and return when every host answers SSH (or fails as its faults say).

    ``hosts``, ``sshd`` and ``sudo`` override the spec's.  On any failure everything started is
    stopped again and the error names what failed.
    """
    require_root()
    spec = spec or LabSpec()
    count = hosts or spec.hosts
    if not count:
        raise InputError("how many hosts? give --hosts N (or hosts: N in the --spec file)")
    mode = sshd or spec.sshd or "paramiko"
    privilege = sudo or spec.sudo or default_sudo()
    require_programs(mode, privilege)
    directory = Path(directory).resolve()
    _check_directory(directory)
    specs = resolve_hosts(spec, count)
    directory.mkdir(parents=True, exist_ok=True)
    with address_reservation():
        planned, passwords = plan_hosts(directory, specs)
        lab = Lab(
            directory, mode, tuple(planned), dict(spec.groups), supervisor=None, sudo=privilege
        )
        try:
            return _start(lab, passwords)
        except BaseException:
            with contextlib.suppress(FleetError, OSError):
                if (directory / STATE_FILE).exists():
                    lab_down(directory, keep_log=True)
                else:
                    remove_state(lab, keep_log=True)
            raise


def _start(lab: Lab, passwords: Mapping[str, str]) -> Lab:
    directory = lab.directory
    files.write_key_pair(directory / "id_ed25519", f"fleet-lab@{socket.gethostname()}")
    (directory / "tools").mkdir(exist_ok=True)
    with_tools = install_tools(directory / "tools")
    if lab.sudo == "builtin":
        prepare_builtin_sudo(lab)
    host_keys = prepare_hosts(directory, list(lab.hosts), passwords, with_tools)
    write_client_files(directory, list(lab.hosts), lab.groups, host_keys, passwords)
    save_lab(lab)
    pid, ready = _spawn_supervisor(directory)
    _await_ready(pid, ready, directory, START_TIMEOUT + len(lab.hosts) * 0.5)
    running = load_lab(directory)
    verify_hosts(running.hosts, host_keys)
    return running
