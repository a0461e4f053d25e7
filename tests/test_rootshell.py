"""The served root shell's framing, against a real ``sh`` (and ``bash``) on this machine.

The SSH side is covered in tests/test_transport.py and tests/rollout/test_served_shell.py;
here the prelude and :class:`Reply` are checked over plain pipes: every byte value
on each stream, large and interleaved output, streamed stdin, a background child
that keeps the command's streams open, and every way the output can be cut into
pieces.
"""

from __future__ import annotations

import hashlib
import os
import select
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from fleet import rootshell


def _shells() -> list[str]:
    """sh, and each of dash and bash that is not sh already (EL's sh is bash, Debian's dash)."""
    found: dict[str, str] = {}
    for name in ("sh", "dash", "bash"):
        path = shutil.which(name)
        if path:
            found.setdefault(os.path.realpath(path), name)
    return list(found.values())


SHELLS = _shells()
BIG = 50 * 1024 * 1024
EVERY_BYTE = bytes(range(256))
HANG_GUARD_S = 120  # a broken framing fails here instead of hanging the suite


def _octal(data: bytes) -> str:
    """``data`` as a printf format of octal escapes: any byte, NUL included."""
    return "".join(f"\\{byte:03o}" for byte in data)


class LocalShell:
    """A served shell over pipes: the client side of :mod:`fleet.transport`, without SSH."""

    def __init__(self, shell: str = "sh") -> None:
        self.mark = rootshell.new_mark()
        self.process = subprocess.Popen(
            [shell, "-s"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        self.token = 0
        self.raw: dict[str, bytearray] = {"out": bytearray(), "err": bytearray()}
        self._send(rootshell.prelude(self.mark))
        hello = rootshell.Reply(self.mark, 0)
        self._read(hello)
        self.serving = hello.serving

    def run(self, command: str, stdin: bytes = b"") -> rootshell.Reply:
        self.token += 1
        reply = rootshell.Reply(self.mark, self.token)
        self._send(rootshell.encode_request(self.token, command, len(stdin)) + stdin, reply)
        self._read(reply)
        return reply

    def close(self) -> int:
        assert self.process.stdin is not None
        self.process.stdin.close()
        return self.process.wait(HANG_GUARD_S)

    def _send(self, data: bytes, reply: rootshell.Reply | None = None) -> None:
        """Write while reading, as the transport does: a command may answer before it has read."""
        assert self.process.stdin is not None
        view = memoryview(data)
        stdin = self.process.stdin.fileno()
        while view:
            readable, writable, _ = select.select(self._outputs(), [stdin], [], HANG_GUARD_S)
            assert readable or writable, "the shell neither read nor wrote"
            if reply is not None:
                self._take(readable, reply)
            if writable:
                view = view[os.write(stdin, view[: 1 << 16]) :]

    def _read(self, reply: rootshell.Reply) -> None:
        while not reply.done:
            readable, _, _ = select.select(self._outputs(), [], [], HANG_GUARD_S)
            assert readable, "no reply from the shell"
            self._take(readable, reply)

    def _outputs(self) -> list[int]:
        assert self.process.stdout is not None and self.process.stderr is not None
        return [self.process.stdout.fileno(), self.process.stderr.fileno()]

    def _take(self, readable: list[int], reply: rootshell.Reply) -> None:
        assert self.process.stdout is not None
        for fd in readable:
            data = os.read(fd, 1 << 16)
            assert data, "the shell ended"
            stream = "out" if fd == self.process.stdout.fileno() else "err"
            self.raw[stream] += data
            (reply.out if stream == "out" else reply.err).feed(data)


@pytest.fixture(params=SHELLS)
def shell(request: pytest.FixtureRequest) -> Iterator[LocalShell]:
    served = LocalShell(request.param)
    assert served.serving is True
    yield served
    assert served.close() == 0


def test_every_byte_value_passes_on_each_stream_separately(shell):
    command = f"printf '{_octal(EVERY_BYTE)}'; printf '{_octal(EVERY_BYTE[::-1])}' >&2; exit 7"
    reply = shell.run(command)
    assert reply.status == 7
    assert bytes(reply.stdout) == EVERY_BYTE
    assert bytes(reply.stderr) == EVERY_BYTE[::-1]
    # stdin too: every byte value, echoed back on both streams
    reply = shell.run("cat; printf '%s' ok >&2", EVERY_BYTE * 64)
    assert (reply.status, bytes(reply.stdout), bytes(reply.stderr)) == (0, EVERY_BYTE * 64, b"ok")


def test_the_next_command_after_binary_output_is_unaffected(shell):
    shell.run(f"printf '{_octal(EVERY_BYTE * 4)}'; printf '{_octal(EVERY_BYTE)}' >&2")
    reply = shell.run("echo out; echo err >&2; printf part; exit 3")
    assert (reply.status, bytes(reply.stdout), bytes(reply.stderr)) == (3, b"out\npart", b"err\n")


@pytest.mark.parametrize("stream", ["stdout", "stderr"])
def test_fifty_megabytes_arrive_whole(shell, stream):
    line = bytes(b for b in range(1, 256) if b != 0x0A)  # yes(1) adds the newline
    redirect = ">&2" if stream == "stderr" else ""
    reply = shell.run(f"yes \"$(printf '{_octal(line)}')\" | head -c {BIG} {redirect}")
    expected = ((line + b"\n") * (BIG // len(line) + 1))[:BIG]
    data = bytes(reply.stdout if stream == "stdout" else reply.stderr)
    other = reply.stderr if stream == "stdout" else reply.stdout
    assert (reply.status, len(data), bytes(other)) == (0, BIG, b"")
    assert hashlib.sha256(data).hexdigest() == hashlib.sha256(expected).hexdigest()


def test_stdin_of_many_megabytes_streams_to_the_command(shell):
    payload = os.urandom(12 * 1024 * 1024)
    reply = shell.run("sha256sum -b; echo read >&2", payload)
    assert reply.status == 0
    assert bytes(reply.stdout).split()[0].decode() == hashlib.sha256(payload).hexdigest()
    assert bytes(reply.stderr) == b"read\n"
    # A command that reads part of its stdin: the rest is drained, not taken for a request.
    reply = shell.run("head -c 5", payload)
    assert (reply.status, bytes(reply.stdout)) == (0, payload[:5])
    assert bytes(shell.run("echo next").stdout) == b"next\n"


def test_large_interleaved_writes_keep_each_stream_whole(shell):
    # Two writers at once, one per stream, each write far past PIPE_BUF.
    command = (
        "yes o | head -c 6000000 & yes e | head -c 6000000 >&2 & "
        "i=0; while [ $i -lt 20 ]; do head -c 100000 /dev/zero | tr '\\0' O; "
        "head -c 100000 /dev/zero | tr '\\0' E >&2; i=$((i + 1)); done; wait"
    )
    reply = shell.run(command)
    assert reply.status == 0
    out, err = bytes(reply.stdout), bytes(reply.stderr)
    assert (len(out), len(err)) == (8_000_000, 8_000_000)
    assert out.replace(b"o\n", b"").replace(b"O", b"") == b""
    assert err.replace(b"e\n", b"").replace(b"E", b"") == b""
    assert (out.count(b"O"), err.count(b"E")) == (2_000_000, 2_000_000)


def test_a_background_child_holding_the_streams_neither_stalls_nor_leaks(shell, tmp_path):
    gate, ack = tmp_path / "gate", tmp_path / "ack"
    os.mkfifo(gate)
    os.mkfifo(ack)
    # The child keeps the command's stdout and stderr; it writes to them only when told to.
    child = f"(read go <{gate}; echo late; echo late >&2; echo wrote >{ack}) &"
    reply = shell.run(f"{child} echo started; echo warn >&2; exit 5")
    assert (reply.status, bytes(reply.stdout), bytes(reply.stderr)) == (5, b"started\n", b"warn\n")
    _let_child_write(gate, ack)  # its output now trails the reply: it belongs to no command
    reply = shell.run("echo next; echo next >&2")
    assert (reply.status, bytes(reply.stdout), bytes(reply.stderr)) == (0, b"next\n", b"next\n")
    assert b"late" in shell.raw["out"] + shell.raw["err"]  # it came, and was dropped


def test_output_of_a_background_child_after_the_next_start_goes_nowhere(shell, tmp_path):
    gate, ack = tmp_path / "gate", tmp_path / "ack"
    os.mkfifo(gate)
    os.mkfifo(ack)
    # The child outlives its writes' failure (no SIGPIPE) to say it tried.
    child = f"(trap '' PIPE; read go <{gate}; echo late; echo late >&2; echo tried >{ack}) &"
    assert shell.run(f"{child} exit 4").status == 4
    # The next command lets the child write, and waits until it has: its copiers are gone.
    reply = shell.run(f"echo go >{gate}; cat {ack}; echo next")
    assert (reply.status, bytes(reply.stdout), bytes(reply.stderr)) == (0, b"tried\nnext\n", b"")
    assert b"late" not in shell.raw["out"] + shell.raw["err"]


def _let_child_write(gate: Path, ack: Path) -> None:
    with gate.open("w") as opened:
        opened.write("go\n")
    assert ack.read_text() == "wrote\n"


@pytest.mark.parametrize("piece", [1, 2, 3, 7, 64, 1 << 20])
def test_streams_and_status_survive_any_split(piece):
    served = LocalShell()
    served.run("echo out; echo err >&2; printf part; printf 'tail' >&2; exit 3")
    served.run("wc -c", b"x" * 70_000)
    served.run("cat")
    # Output ending in what could be the start of the mark: held back, then given as data.
    prefix = served.mark[:12]
    served.run(f"printf '{_octal(prefix)}'; printf '{_octal(prefix[:3])}' >&2")
    assert served.close() == 0
    first, second, third, fourth = _replay(served, 4, piece)
    assert (first.status, bytes(first.stdout), bytes(first.stderr)) == (
        3,
        b"out\npart",
        b"err\ntail",
    )
    assert (second.status, bytes(second.stdout).strip()) == (0, b"70000")
    assert (third.status, bytes(third.stdout), bytes(third.stderr)) == (0, b"", b"")
    assert (fourth.status, bytes(fourth.stdout), bytes(fourth.stderr)) == (0, prefix, prefix[:3])


def _replay(served: LocalShell, count: int, piece: int) -> list[rootshell.Reply]:
    """Read the recorded streams again, ``piece`` bytes at a time, one reply per command."""
    replies = [rootshell.Reply(served.mark, token) for token in range(count + 1)]
    for name in ("out", "err"):
        data, start = bytes(served.raw[name]), 0
        for reply in replies:
            stream = reply.out if name == "out" else reply.err
            end = _end_of_reply(data, served.mark, reply.token) if not stream.ended else start
            for cut in range(start, end, piece):
                stream.feed(data[cut : min(cut + piece, end)])
            assert stream.ended, (name, reply.token)
            start = end
        assert start == len(data)
    assert replies[0].serving is True
    return replies[1:]


def _end_of_reply(data: bytes, mark: bytes, token: int) -> int:
    """Where the stream's closing line for ``token`` ends."""
    for word in (b"serving", b"rc", b"end"):
        start = data.find(mark + b" %d " % token + word)
        if start >= 0:
            return data.index(b"\n", start) + 1
    raise AssertionError(f"no closing line for {token}")


def test_a_control_line_for_another_command_is_a_protocol_error():
    mark = rootshell.new_mark()
    reply = rootshell.Reply(mark, 2)
    with pytest.raises(rootshell.ProtocolError):
        reply.out.feed(mark + b" 1 start\n")
    reply = rootshell.Reply(mark, 2)
    reply.err.feed(mark + b" 2 start\nsome error\n")
    with pytest.raises(rootshell.ProtocolError):
        reply.err.feed(mark + b" 2 rc 0\n")


def test_marks_differ_between_shells():
    assert len({rootshell.new_mark() for _ in range(100)}) == 100


@pytest.mark.parametrize("missing", ["mkfifo", "head", "mktemp"])
def test_a_shell_without_what_the_framing_needs_says_noserve(tmp_path, missing):
    # PATH with everything the prelude uses but one: it must answer noserve, not fail later.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("cat", "rm", "mkfifo", "head", "mktemp", "printf"):
        found = shutil.which(tool)
        if tool != missing and found:
            (bin_dir / tool).symlink_to(found)
    mark = rootshell.new_mark()
    done = subprocess.run(
        ["/bin/sh", "-s"],
        input=rootshell.prelude(mark),
        capture_output=True,
        env={"PATH": str(bin_dir)},
        timeout=HANG_GUARD_S,
        check=True,
    )
    hello = rootshell.Reply(mark, 0)
    hello.out.feed(done.stdout)
    assert hello.done and hello.serving is False


def test_the_private_directory_goes_when_the_shell_ends():
    before = set(Path(os.environ.get("TMPDIR", "/tmp")).glob("fleet.*"))
    served = LocalShell()
    served.run("true")
    made = set(Path(os.environ.get("TMPDIR", "/tmp")).glob("fleet.*")) - before
    assert len(made) == 1
    assert served.close() == 0
    assert not any(path.exists() for path in made)


def test_commands_keep_their_text_exactly():
    served = LocalShell()
    text = "a\\b \\\\ 'q' \"d\" $HOME `x` \t tab  \r\n\n  lead\\\ntrail \\"
    reply = served.run(f"cat <<'EOF'\n{text}\nEOF")
    assert bytes(reply.stdout) == (text + "\n").encode()
    lines = "".join(f"echo {n}\n" for n in range(300))  # no line lost or joined
    assert bytes(served.run(lines).stdout) == "".join(f"{n}\n" for n in range(300)).encode()
    assert served.close() == 0
