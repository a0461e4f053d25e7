"""The served root shell's framing, against a real ``sh`` on this machine.

The SSH side is covered in tests/test_transport.py; here the prelude and
:class:`Reply` are checked with every way the output can be cut into pieces.
"""

from __future__ import annotations

import subprocess

import pytest

from fleet import rootshell


def _serve(*requests: bytes) -> bytes:
    """Feed the prelude and ``requests`` to a real sh; its whole stdout."""
    done = subprocess.run(
        ["sh", "-s"],
        input=rootshell.PRELUDE + b"".join(requests),
        capture_output=True,
        timeout=60,
        check=True,
    )
    assert done.stderr == b""
    return done.stdout


def _replies(stream: bytes, tokens: range, piece: int) -> list[rootshell.Reply]:
    """Read ``stream`` as a greeting and one reply per token, ``piece`` bytes at a time."""
    replies = [rootshell.Reply(0), *(rootshell.Reply(t) for t in tokens)]
    current, rest = 0, b""
    for start in range(0, len(stream), piece):
        rest += stream[start : start + piece]
        while rest or replies[current].done:
            if replies[current].done:
                current += 1
                if current == len(replies):
                    assert rest == b""
                    return replies
            rest = replies[current].feed(rest)
            if not replies[current].done:
                break
    assert all(r.done for r in replies)
    return replies


COMMAND = "echo out; echo err >&2; printf part; echo e2 >&2; printf 'tail' >&2; exit 3"


@pytest.mark.parametrize("piece", [1, 2, 3, 7, 64, 1 << 20])
def test_streams_and_status_survive_any_split(piece):
    stream = _serve(
        rootshell.encode_request(1, COMMAND),
        rootshell.encode_request(2, "wc -c", b"x" * 70_000),
        rootshell.encode_request(3, "cat"),
    )
    hello, first, second, third = _replies(stream, range(1, 4), piece)
    assert hello.serving is True
    assert (first.status, bytes(first.stdout)) == (3, b"out\npart")
    assert bytes(first.stderr) == b"err\ne2\ntail"
    assert (second.status, bytes(second.stdout).strip()) == (0, b"70000")
    assert (third.status, bytes(third.stdout), bytes(third.stderr)) == (0, b"", b"")


def test_binary_stdin_and_shell_syntax_pass_through_unchanged():
    # Every byte but RS and US, which start the framing's own lines (see the module).
    payload = bytes(b for b in range(256) if bytes([b]) not in (rootshell.RS, rootshell.US)) * 40
    command = "cat; printf '%s\\n' '$HOME' \"a'b\" `echo x`"
    stream = _serve(rootshell.encode_request(1, command, payload))
    _, reply = _replies(stream, range(1, 2), 4096)
    assert reply.status == 0
    assert bytes(reply.stdout) == payload + b"$HOME\na'b\nx\n"


def test_a_reply_for_another_command_is_a_protocol_error():
    reply = rootshell.Reply(2)
    with pytest.raises(rootshell.ProtocolError):
        reply.feed(b"\x1frc 1 0\n")


def test_a_shell_without_base64_says_so(tmp_path):
    # PATH with sh and sed but no base64: the prelude must answer noserve, not fail later.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("sed", "cat", "printf"):
        path = subprocess.run(["sh", "-c", f"command -v {tool}"], capture_output=True, text=True)
        if path.stdout.startswith("/"):
            (bin_dir / tool).symlink_to(path.stdout.strip())
    done = subprocess.run(
        ["/bin/sh", "-s"],
        input=rootshell.PRELUDE,
        capture_output=True,
        env={"PATH": str(bin_dir)},
        timeout=60,
        check=True,
    )
    hello = rootshell.Reply(0)
    hello.feed(done.stdout)
    assert hello.done and hello.serving is False
