"""``sudo`` on a lab host with the built-in privilege path (installed as DIR/tools/sudo).

It runs as the calling user inside the host.  It reads the command line (to
answer ``-V``/``-h`` and usage errors itself, and to find the command on this
host's ``secure_path``), hands its standard descriptors and the request to the
lab supervisor, answers password questions from the place sudo would read them
(``-S``: stdin, one byte at a time so the rest stays the command's; ``-A``: the
askpass program; else the terminal), relays the signals it receives, and ends as
the command ended: with its exit status, or killed by the same signal.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import socket
import stat
import subprocess
import sys

from fleet.lab.sudo import args, protocol, texts
from fleet.lab.sudo.policy import SECURE_PATH

# The signals real sudo relays to the command (src/exec.c, sudo_handler / signals[]).
RELAYED = (
    signal.SIGHUP,
    signal.SIGINT,
    signal.SIGQUIT,
    signal.SIGTERM,
    signal.SIGUSR1,
    signal.SIGUSR2,
    signal.SIGALRM,
    signal.SIGCONT,
    signal.SIGWINCH,
)
_MAX_PASSWORD = 255  # SUDO_CONV_REPL_MAX


def main(argv: list[str]) -> int:
    try:
        invocation = args.parse(argv[1:])
    except args.UsageError as error:
        os.write(2, error.output())
        return 1
    if invocation.version:
        os.write(1, f"Sudo version {texts.VERSION}\n".encode())
        return 0
    if invocation.help:
        os.write(1, "".join(f"{line}\n" for line in texts.USAGE).encode())
        return 0
    path = os.path.join(protocol.SOCKET_DIR, protocol.SOCKET_NAME)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.connect(path)
    except OSError as exc:
        os.write(2, texts.warning(texts.NO_BROKER.format(path=path, reason=exc.strerror)))
        return 1
    return _converse(sock, invocation, argv[1:])


def _request(invocation: args.Invocation, argv: list[str]) -> dict[str, object]:
    command = find_command(invocation.command[0]) if invocation.command else None
    return {
        "argv": argv,
        "cwd": _cwd(),
        "env": dict(os.environ),
        "command": command,
        "tty": _has_tty(),
    }


def _converse(sock: socket.socket, invocation: args.Invocation, argv: list[str]) -> int:
    try:
        # A signal that comes before the request is sent waits for it, then is relayed:
        # the command may already run (and tell others so) before this returns.
        signal.pthread_sigmask(signal.SIG_BLOCK, RELAYED)
        _relay_signals(sock)
        protocol.send(sock, _request(invocation, argv), [0, 1, 2])
        signal.pthread_sigmask(signal.SIG_UNBLOCK, RELAYED)
        while True:
            message = _next_message(sock)
            if "ask" in message:
                answer = read_password(str(message["ask"]), str(message.get("how")))
                protocol.send(sock, {"password": answer})
            elif "signal" in message:
                return _die_by(int(message["signal"]))
            else:
                return int(message.get("exit", 1))
    except (protocol.ProtocolError, OSError):
        os.write(2, texts.warning(texts.LOST_BROKER))
        return 1


def _next_message(sock: socket.socket) -> dict[str, object]:
    """The broker's next word; meanwhile, a reader of our output going away is a hang-up.

    Without a terminal nothing tells a command that its SSH connection was cut
    until it writes; the lab promises that nothing is left running, so when the
    reading end of stdout or stderr closes, the command gets SIGHUP.
    """
    poller = select.poll()
    poller.register(sock, select.POLLIN)
    watched = {fd for fd in (1, 2) if _is_pipe_or_socket(fd)}
    for fd in watched:
        poller.register(fd, 0)  # only POLLERR / POLLHUP: the reader has gone
    while True:
        events = dict(poller.poll())
        if sock.fileno() in events:
            message, _ = protocol.receive(sock)
            return message
        for fd in watched & set(events):
            poller.unregister(fd)
            watched.discard(fd)
            protocol.send(sock, {"signal": int(signal.SIGHUP)})


def _is_pipe_or_socket(fd: int) -> bool:
    try:
        mode = os.fstat(fd).st_mode
    except OSError:
        return False
    return stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode)


def _relay_signals(sock: socket.socket) -> None:
    def relay(signum: int, _frame: object) -> None:
        with contextlib.suppress(OSError):
            protocol.send(sock, {"signal": signum})

    for sig in RELAYED:
        signal.signal(sig, relay)


def _die_by(signum: int) -> int:
    """src/sudo.c: a command killed by a signal makes sudo kill itself the same way."""
    signal.signal(signum, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, [signum])
    os.kill(os.getpid(), signum)
    return 128 + signum


def find_command(name: str) -> str | None:
    """The command as sudo finds it: a path as given, else the first match on secure_path."""
    candidates = [name] if "/" in name else [os.path.join(d, name) for d in SECURE_PATH.split(":")]
    for candidate in candidates:
        if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return os.path.abspath(candidate) if "/" in name else candidate
    return None


def _cwd() -> str:
    try:
        return os.getcwd()
    except OSError:
        return "/"


def _has_tty() -> bool:
    try:
        os.close(os.open("/dev/tty", os.O_RDWR))
    except OSError:
        return False
    return True


def read_password(prompt: str, how: str) -> str | None:
    """One password as sudo reads it (src/tgetpass.c); None when none was given (EOF)."""
    if how == "askpass":
        return _askpass(prompt)
    if how == "tty":
        return _from_tty(prompt)
    if prompt:
        os.write(2, prompt.encode())
    return _line(0)


def _line(fd: int) -> str | None:
    """getln(): up to a newline or carriage return, a byte at a time; EOF with nothing is None."""
    data = bytearray()
    while len(data) < _MAX_PASSWORD:
        byte = os.read(fd, 1)
        if not byte:
            return None if not data else data.decode(errors="replace")
        if byte in (b"\n", b"\r"):
            break
        data += byte
    return data.decode(errors="replace")


def _from_tty(prompt: str) -> str | None:
    import termios

    fd = os.open("/dev/tty", os.O_RDWR)
    try:
        saved = termios.tcgetattr(fd)
        quiet = list(saved)
        quiet[3] &= ~(termios.ECHO | termios.ECHONL)
        termios.tcsetattr(fd, termios.TCSAFLUSH, quiet)
        try:
            os.write(fd, prompt.encode())
            return _line(fd)
        finally:
            termios.tcsetattr(fd, termios.TCSAFLUSH, saved)
            os.write(fd, b"\n")
    finally:
        os.close(fd)


def _askpass(prompt: str) -> str | None:
    program = os.environ.get("SUDO_ASKPASS")
    if not program:
        os.write(2, texts.warning(texts.NO_ASKPASS))
        return None
    try:
        answer = subprocess.run(
            [program, prompt], stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, check=False
        ).stdout
    except OSError:
        return None
    line = answer.split(b"\n", 1)[0]
    return line.decode(errors="replace") if answer else None


if __name__ == "__main__":
    sys.exit(main(sys.argv))
