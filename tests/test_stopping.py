"""Stopping a run: the two stages of a stop request, the live connections it abandons,
what an interrupted host says, and what the CLI prints for each signal.

The end-to-end proof (real signals, real hosts) is tests/rollout/test_interrupts.py.
"""

from __future__ import annotations

import threading

import pytest

from fleet.cli import stop_line
from fleet.steps.runner import GATHERING, Interruption
from fleet.stopping import LiveConnections, Stage, StopRequest

WAIT_S = 10.0  # bound of every wait for another thread


class Connection:
    """Stands in for a host connection: all the registry may do with one is abandon it."""

    def __init__(self) -> None:
        self.abandoned = threading.Event()

    def abandon(self) -> None:
        self.abandoned.set()


def test_the_first_signal_stops_after_the_step_and_every_later_one_at_once():
    request = StopRequest()
    assert not request.stopping and not request.abandoning
    assert request.escalate() is Stage.AFTER_STEP
    assert request.stopping and not request.abandoning
    assert request.escalate() is Stage.AT_ONCE
    assert request.stopping and request.abandoning
    assert request.escalate() is Stage.AT_ONCE


def test_abandoning_closes_every_live_connection_and_any_added_later():
    request = StopRequest()
    running, finished, late = Connection(), Connection(), Connection()
    with LiveConnections(request) as live:
        live.add(running)
        live.add(finished)
        live.discard(finished)  # its host ended before the request
        request.escalate()
        assert not running.abandoned.is_set()  # the first stage abandons nothing
        request.escalate()
        assert running.abandoned.wait(WAIT_S)
        live.add(late)  # a host that was still connecting
        assert late.abandoned.wait(WAIT_S)
    assert not finished.abandoned.is_set()


def test_a_run_that_ends_unstopped_abandons_nothing_and_its_thread_ends():
    request = StopRequest()
    connection = Connection()
    with LiveConnections(request) as live:
        live.add(connection)
        watcher = next(t for t in threading.enumerate() if t.name == "fleet-stop")
    assert not watcher.is_alive()  # joined on the way out
    request.escalate()
    request.escalate()  # after the run: nothing is listening any more
    assert not connection.abandoned.is_set()


@pytest.mark.parametrize(
    ("interruption", "message"),
    [
        (
            Interruption(
                after="daemon_json",
                pending=("dropin_dir", "service", "verify"),
                unfinished=("/etc/docker/daemon.json written, docker not restarted yet",),
            ),
            "interrupted after daemon_json: /etc/docker/daemon.json written, docker not "
            "restarted yet; re-run to finish",
        ),
        (
            Interruption(after="repository", pending=("engine_packages", "service", "verify")),
            "interrupted after repository: engine_packages, service and verify not run; "
            "re-run to finish",
        ),
        (
            Interruption(after="service", pending=("verify",)),
            "interrupted after service: verify not run; re-run to finish",
        ),
        (
            Interruption(pending=("preflight", "verify")),
            "interrupted before preflight: nothing changed; re-run to finish",
        ),
        (
            Interruption(during=GATHERING, pending=("preflight", "verify")),
            "interrupted while gathering facts: nothing changed; re-run to finish",
        ),
        (
            Interruption(
                during="engine_packages",
                command="install docker-ce-19.03.11",
                pending=("daemon_json", "service", "verify"),
            ),
            "interrupted during engine_packages: install docker-ce-19.03.11 abandoned; "
            "re-run to finish",
        ),
        (
            Interruption(
                during="dropin_dir",
                command="create",
                pending=("service", "verify"),
                unfinished=("/etc/docker/daemon.json written, docker not restarted yet",),
            ),
            "interrupted during dropin_dir: create abandoned; /etc/docker/daemon.json "
            "written, docker not restarted yet; re-run to finish",
        ),
    ],
)
def test_an_interrupted_host_says_where_it_stopped_and_what_is_left(interruption, message):
    assert interruption.message() == message


def test_each_signal_says_what_happens_now():
    assert stop_line(Stage.AFTER_STEP, "SIGTERM") == (
        "fleet: stopping (SIGTERM): no new host starts; running hosts stop after their "
        "current step (Ctrl-C again abandons their commands)"
    )
    assert stop_line(Stage.AT_ONCE, "SIGINT") == (
        "fleet: stopping at once (SIGINT): abandoning the commands in flight; the report follows"
    )
