"""The served root shell at its edges, end to end: fleet's transport against lab hosts.

Each test holds a root shell the way a rollout does (a first command that ends as
``sh -s``) and sends it commands through :meth:`HostConnection.run`, behind both
SSH servers.  Every test checks that the commands really went through the one
shell: each is a child of the same process (``$PPID``) as the first.
docs/failures.md lists what each test proves.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Callable, Iterator

import pytest

from fleet.inventory import Host, load_inventory
from fleet.transport import (
    CommandAborted,
    CommandResult,
    CommandTimeout,
    ConnectOptions,
    Connector,
    HostConnection,
)

BIG = 50 * 1024 * 1024
EVERY_BYTE = bytes(range(256))
HANG_GUARD_S = 300  # a write that is not bounded fails the test here instead of hanging it
SHELL_PID = "echo $PPID"  # a command without stdin is a child of the served shell itself


def _octal(data: bytes) -> str:
    """``data`` as a printf format of octal escapes: any byte, NUL included."""
    return "".join(f"\\{byte:03o}" for byte in data)


@pytest.fixture(scope="module", params=["paramiko", "openssh"])
def lab_host(lab_factory, request: pytest.FixtureRequest) -> Host:
    lab = lab_factory({"hosts": 1, "defaults": {"os": "centos7"}}, request.param)
    return load_inventory(lab.inventory).hosts[0]


@pytest.fixture
def served(lab_host: Host) -> Iterator[HostConnection]:
    """A connection whose root commands go through one held shell, as in a rollout."""
    connection = Connector(ConnectOptions()).connect(lab_host)
    held = connection.run("echo ready; exec sh -s", sudo=True, serve_after="ready")
    assert held.stdout == "ready\n"
    try:
        yield connection
    finally:
        connection.close()


def _root(connection: HostConnection, command: str, **kwargs) -> CommandResult:
    return connection.run(command, sudo=True, **kwargs)


def _same_shell(connection: HostConnection) -> Callable[[], None]:
    """A check, to call after the test's commands, that they all ran in one served shell."""
    first = _root(connection, SHELL_PID).stdout
    assert first.strip().isdigit()
    return lambda: _assert_equal(_root(connection, SHELL_PID).stdout, first)


def _assert_equal(now: str, before: str) -> None:
    assert now == before, "the commands did not all go through one served shell"


def test_every_byte_value_arrives_exactly_on_each_stream(served):
    still_served = _same_shell(served)
    command = f"printf '{_octal(EVERY_BYTE)}'; printf '{_octal(EVERY_BYTE[::-1])}' >&2; exit 9"
    result = _root(served, command)
    assert result.exit_code == 9
    assert result.stdout_bytes == EVERY_BYTE
    assert result.stderr_bytes == EVERY_BYTE[::-1]
    echoed = _root(served, "cat; cat /proc/self/fd/0 >&2", stdin=EVERY_BYTE * 16)
    assert (echoed.stdout_bytes, echoed.stderr_bytes) == (EVERY_BYTE * 16, b"")
    still_served()


def test_fifty_megabytes_of_output_arrive_whole(served):
    still_served = _same_shell(served)
    line = bytes(b for b in range(1, 256) if b != 0x0A)  # yes(1) adds the newline
    result = _root(served, f"yes \"$(printf '{_octal(line)}')\" | head -c {BIG}")
    expected = ((line + b"\n") * (BIG // len(line) + 1))[:BIG]
    assert (result.exit_code, len(result.stdout_bytes), result.stderr_bytes) == (0, BIG, b"")
    assert hashlib.sha256(result.stdout_bytes).digest() == hashlib.sha256(expected).digest()
    still_served()


def test_a_stdin_of_many_megabytes_reaches_the_command_whole(served):
    still_served = _same_shell(served)
    payload = os.urandom(12 * 1024 * 1024)
    result = _root(served, "sha256sum -b", stdin=payload)
    assert result.exit_code == 0
    assert result.stdout.split()[0] == hashlib.sha256(payload).hexdigest()
    still_served()


@pytest.mark.parametrize("through", ["served shell", "own session"])
def test_a_command_that_reads_part_of_a_large_stdin_ends_normally(served, through):
    payload = os.urandom(12 * 1024 * 1024)
    result = served.run("head -c 5", sudo=through == "served shell", stdin=payload)
    assert (result.exit_code, result.stdout_bytes) == (0, payload[:5])
    assert _root(served, "echo next").stdout == "next\n"  # the rest was not taken for a request


def test_large_interleaved_writes_keep_each_stream_whole(served):
    still_served = _same_shell(served)
    command = (
        "yes o | head -c 6000000 & yes e | head -c 6000000 >&2 & "
        "i=0; while [ $i -lt 20 ]; do head -c 100000 /dev/zero | tr '\\0' O; "
        "head -c 100000 /dev/zero | tr '\\0' E >&2; i=$((i + 1)); done; wait"
    )
    result = _root(served, command)
    out, err = result.stdout_bytes, result.stderr_bytes
    assert (result.exit_code, len(out), len(err)) == (0, 8_000_000, 8_000_000)
    assert out.replace(b"o\n", b"").replace(b"O", b"") == b""
    assert err.replace(b"e\n", b"").replace(b"E", b"") == b""
    assert (out.count(b"O"), err.count(b"E")) == (2_000_000, 2_000_000)
    still_served()


def test_a_background_child_keeping_the_streams_open_does_not_hold_the_reply(served):
    still_served = _same_shell(served)
    # A daemon started without redirecting its output: it keeps the command's stdout
    # and stderr, and writes to them later (when the gate opens).
    started = _root(
        served,
        "rm -f /tmp/gate; mkfifo /tmp/gate; "
        "nohup sh -c 'read go </tmp/gate; echo late; echo late >&2' & echo started; exit 3",
        timeout=120,  # the reply must come without waiting for the daemon
    )
    assert (started.exit_code, started.stdout, started.stderr) == (3, "started\n", "")
    after = _root(served, "echo go >/tmp/gate; rm /tmp/gate; echo next")
    assert (after.exit_code, after.stdout, after.stderr) == (0, "next\n", "")
    still_served()


def test_a_watcher_abort_closes_the_shell(served):
    shell_pid = _root(served, SHELL_PID).stdout
    seen: list[str] = []

    def watch(out: str, _err: str) -> str | None:
        seen.append(out)
        return "the watcher had seen enough" if "waiting" in "".join(seen) else None

    with pytest.raises(CommandAborted) as aborted:
        _root(served, "echo waiting; exec sleep 600", watch=watch)
    assert aborted.value.message.startswith("the watcher had seen enough on ")
    # The shell, and the lock it would hold, are gone: the next command gets its own session.
    assert _root(served, SHELL_PID).stdout != shell_pid


def _bounded(call: Callable[[], CommandResult]) -> BaseException:
    """Run ``call`` in a thread; it must raise, and return at all."""
    raised: list[BaseException] = []

    def target() -> None:
        try:
            call()
        except BaseException as exc:  # handed to the test thread
            raised.append(exc)

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(HANG_GUARD_S)
    assert not thread.is_alive(), "the write to a host that reads nothing was not bounded"
    assert raised, "the command returned although the host read nothing"
    return raised[0]


@pytest.mark.parametrize("through", ["served shell", "own session"])
def test_a_deadline_bounds_the_write_to_a_host_that_reads_nothing(served, through):
    # sleep never reads its stdin: the host's window shuts long before 32 MB are sent.
    payload = b"x" * (32 * 1024 * 1024)
    sudo = through == "served shell"
    error = _bounded(lambda: served.run("exec sleep 600", sudo=sudo, stdin=payload, timeout=3))
    assert isinstance(error, CommandTimeout), error
    assert error.message.startswith("command timed out after 3s on ")


@pytest.mark.parametrize("through", ["served shell", "own session"])
def test_a_deadline_bounds_a_command_whose_output_never_stops(served, through):
    sudo = through == "served shell"
    command = "while :; do echo more output; done"
    error = _bounded(lambda: served.run(command, sudo=sudo, timeout=2))
    assert isinstance(error, CommandTimeout), error
    assert error.message.startswith("command timed out after 2s on ")
