"""The supervisor process (``fleet.lab.runtime serve DIR``): owns a lab from ``up`` to ``down``.

``lab up`` starts it in its own session and waits on a pipe for ``ready`` (or the
error); it then serves until SIGTERM from ``lab down``, tears everything down and
records what was left.  Holders are forked (by ``start_all``) before any thread starts.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import resource
import select
import signal
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path

from fleet.errors import FleetError
from fleet.lab.procfs import ProcRef
from fleet.lab.runtime.namespaces import become_subreaper
from fleet.lab.runtime.services import Running, start_all, teardown
from fleet.lab.runtime.state import LOG_FILE, load_lab, save_lab


def _logger(directory: Path) -> Callable[[str], None]:
    handle = (directory / LOG_FILE).open("a", encoding="utf-8", buffering=1)
    lock = threading.Lock()

    def log(message: str) -> None:
        with lock:
            handle.write(f"{time.strftime('%H:%M:%S')} {message}\n")

    return log


def _raise_fd_limit() -> None:
    """Listening sockets, pipes and connections for hundreds of hosts exceed a 1024 soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or hard > soft:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(
                resource.RLIMIT_NOFILE, (hard if hard != resource.RLIM_INFINITY else 1 << 20, hard)
            )


def _signal_pipe() -> int:
    """SIGTERM/SIGINT/SIGHUP only write to a pipe: a stop request during start-up waits its turn."""
    read_end, write_end = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
    signal.set_wakeup_fd(write_end)
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, lambda *_: None)
    return read_end


def _wait_for_signal(read_end: int) -> None:
    while True:
        select.select([read_end], [], [])
        with contextlib.suppress(BlockingIOError):
            if os.read(read_end, 16):
                return


def serve(directory: Path, ready_fd: int) -> int:
    """The supervisor: start the lab, report ready on ``ready_fd``, serve until SIGTERM."""
    directory = directory.resolve()
    os.set_inheritable(ready_fd, False)  # holders and servers must not keep `lab up` waiting
    os.chdir("/")
    stop_requests = _signal_pipe()
    log = _logger(directory)
    lab = replace(load_lab(directory), supervisor=ProcRef.of(os.getpid()))
    save_lab(lab)
    _raise_fd_limit()
    become_subreaper()  # orphans of sessions come back to us
    threading.stack_size(512 * 1024)  # hundreds of connection threads; none recurses deeply
    # paramiko logs a traceback for every probe that closes before the banner; the server
    # logs one line per failed connection itself.
    logging.getLogger("paramiko").setLevel(logging.CRITICAL)
    running = Running()
    try:
        lab = start_all(lab, running, log)
    except Exception as exc:  # report any failure to `lab up`, then undo what started
        message = str(exc) if isinstance(exc, FleetError) else f"lab start failed: {exc!r}"
        log(message)
        _report(ready_fd, message)
        teardown(lab, running, log)
        return 1
    _report(ready_fd, "ready")
    log(f"lab running: {len(lab.hosts)} hosts, sshd {lab.sshd}")
    _wait_for_signal(stop_requests)
    log("stopping")
    result = teardown(lab, running, log)
    save_lab(replace(lab, state="stopped", teardown=result))
    return 0


def _report(fd: int, message: str) -> None:
    with contextlib.suppress(OSError):
        os.write(fd, message.encode())
        os.close(fd)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m fleet.lab.runtime")
    commands = parser.add_subparsers(dest="command", required=True)
    serve_parser = commands.add_parser(
        "serve", help="run a lab's supervisor (started by fleet lab up)"
    )
    serve_parser.add_argument("directory", type=Path)
    serve_parser.add_argument("--ready-fd", type=int, required=True)
    args = parser.parse_args(argv)
    return serve(args.directory, args.ready_fd)
