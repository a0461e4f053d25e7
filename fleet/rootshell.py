"""One root shell on one channel, serving every later command of a host.

Each command fleet runs as root would otherwise cost the host an SSH session, a
sudo with its PAM stack, and a login shell.  The rollout's first command (facts
and the host lock) ends as a root shell that keeps reading its stdin; the
transport then sends each command to that shell and reads the command's stdout,
stderr and exit status back.  A rollout that changes a host thus costs it one
session and one sudo instead of one per command.

Whatever a command prints, and for as long as anything it started keeps
printing, passes through unchanged and reaches the right command:

* request: a line ``TOKEN LINES STDIN_SIZE``, the command's lines, then its
  stdin.  The shell reads the lines with ``read`` (no process started) and
  hands the stdin to the command through ``head -c``, which reads no further
  than asked: stdin streams from the channel to the command and is never held
  by the shell.  The next request goes only after the last reply has ended.
* reply: the command's stdout on the channel's stdout and its stderr on the
  channel's stderr, each as is, between two control lines of the shell:
  ``MARK TOKEN start`` and ``MARK TOKEN rc STATUS`` (stdout) or
  ``MARK TOKEN end`` (stderr).  ``MARK`` is drawn at random for every shell
  (:func:`new_mark`), so no command's output can end a reply early.
* the command writes to two FIFOs of its own, in a private directory (made 16
  pairs at a time); one ``cat`` each copies them to the channel.  The shell
  waits for the command itself, not for the end of its output, so a background
  child that keeps stdout or stderr open does not hold the reply back: after
  the command ends the shell writes the closing lines into the FIFOs, behind
  all the command wrote.  Before the next command starts, copiers still running
  (their FIFO held by such a child) are stopped, once ``/proc`` shows the pid is
  still the shell's child; what they copied after the closing line comes before
  the next ``start`` and is dropped.  The child's later writes then fail, as
  they would once any SSH session ends.

Why this and not length prefixes or base64: docs/performance.md, "The served
shell's framing" (measured with benchmarks/served_shell.py).

The prelude defining the shell's loop is POSIX sh on Linux and needs ``head -c``
that reads no further than asked, ``mkfifo``, ``mktemp -d`` and ``/proc``; a host
without them answers ``noserve`` and gets one session per command.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field

SERVING = "serving"
NOT_SERVING = "noserve"
_LONGEST_CONTROL = 64  # bytes after the mark: a longer line is not the shell's

# The prelude, sent after the held command's own input.  Everything after it is read
# by ``read`` and ``head -c`` inside one function call, never parsed as script: dash
# reads its script in blocks and would swallow a request's stdin.  The greeting comes
# from inside that call, and fleet sends nothing before it, so the whole prelude has
# been read by then.  ``__fleet_stop`` signals a copier only while ``/proc`` shows it
# is still the shell's child: a pid the shell has reaped may belong to anyone.
PRELUDE_TEMPLATE = r"""
unset IFS
set +e +u
LC_ALL=C; export LC_ALL
__fleet_m=@MARK@
__fleet_n=0
__fleet_stop() {
  for __fleet_p in $__fleet_fw; do
    if read -r __fleet_s 2>/dev/null </proc/$__fleet_p/stat; then
      set -- ${__fleet_s##*) }
      [ "$2" = "$$" ] && kill $__fleet_p 2>/dev/null
    fi
    wait $__fleet_p 2>/dev/null
  done
  __fleet_fw=
}
__fleet_fifos() {
  rm -f "$__fleet_d"/[oe]*
  set -- 0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15
  for __fleet_p; do set -- "$@" "$__fleet_d/o$__fleet_p" "$__fleet_d/e$__fleet_p"; shift; done
  mkfifo "$@"
}
__fleet_run() {
  __fleet_stop
  __fleet_x=
  while [ "$2" -gt 0 ] && IFS= read -r __fleet_l; do
    __fleet_x="$__fleet_x$__fleet_l
"
    set -- "$1" $(($2 - 1)) "$3"
  done
  printf '%s %s start\n' "$__fleet_m" "$1"
  printf '%s %s start\n' "$__fleet_m" "$1" >&2
  [ "$__fleet_n" -eq 16 ] && __fleet_n=0
  if [ "$__fleet_n" -eq 0 ]; then __fleet_fifos || return 1; fi
  cat "$__fleet_d/o$__fleet_n" & __fleet_fw=$!
  cat "$__fleet_d/e$__fleet_n" >&2 & __fleet_fw="$__fleet_fw $!"
  exec 7>"$__fleet_d/o$__fleet_n" 8>"$__fleet_d/e$__fleet_n"
  __fleet_n=$((__fleet_n + 1))
  if [ "$3" -gt 0 ]; then
    head -c "$3" 7>&- 8>&- | {
      sh -c "$__fleet_x" >&7 2>&8 7>&- 8>&-; __fleet_s=$?; cat >/dev/null; exit $__fleet_s
    }
  else sh -c "$__fleet_x" </dev/null >&7 2>&8 7>&- 8>&-; fi
  __fleet_s=$?
  printf '%s %s rc %s\n' "$__fleet_m" "$1" "$__fleet_s" >&7
  printf '%s %s end\n' "$__fleet_m" "$1" >&8
  exec 7>&- 8>&-
}
__fleet_serve() {
  trap '__fleet_stop; rm -rf "$__fleet_d"' EXIT
  trap 'exit 129' HUP
  trap 'exit 141' PIPE
  trap 'exit 143' TERM
  printf '%s 0 serving\n' "$__fleet_m"
  while read -r __fleet_t __fleet_c __fleet_i; do
    case "$__fleet_t.$__fleet_c.$__fleet_i" in *[!0-9.]*|.*|*..*|*.) break ;; esac
    __fleet_run "$__fleet_t" "$__fleet_c" "$__fleet_i" || break
  done
  exit 0
}
if [ "$(printf abcd | { head -c 2 >/dev/null; cat; } 2>/dev/null)" = cd ] &&
  [ -r /proc/$$/stat ] && command -v mkfifo >/dev/null 2>&1 &&
  __fleet_d=$(mktemp -d "${TMPDIR:-/tmp}/fleet.XXXXXXXX" 2>/dev/null); then
  __fleet_serve
else printf '%s 0 noserve\n' "$__fleet_m"; fi
"""


def new_mark() -> bytes:
    """A mark for one shell's control lines: random, so no command can print it by chance."""
    return b"@@fleet-" + secrets.token_hex(16).encode()


def prelude(mark: bytes) -> bytes:
    """The shell code that makes a root shell serve commands, answering with ``mark``."""
    return PRELUDE_TEMPLATE.replace("@MARK@", mark.decode()).encode()


def encode_request(token: int, command: str, stdin_size: int) -> bytes:
    """The bytes that start command ``token``; its ``stdin_size`` bytes of stdin follow.

    The command goes as lines, read by the shell's ``read`` (no process started),
    counted in the request's first line.
    """
    text = command.encode()
    if b"\0" in text:
        raise ValueError("a command cannot hold a NUL byte")
    if not text.endswith(b"\n"):
        text += b"\n"
    lines = text.count(b"\n")
    return f"{token} {lines} {stdin_size}\n".encode() + text


class ProtocolError(Exception):
    """The shell answered something fleet did not ask for."""


_BEFORE, _INSIDE, _ENDED = "before", "inside", "ended"


@dataclass
class Stream:
    """One of the shell's two output streams, as far as it concerns one command.

    ``feed`` takes raw bytes in any pieces.  Bytes before the command's ``start``
    line are dropped (output of an earlier command's background child); bytes
    between it and the closing line are the command's, and what follows the
    closing line is dropped too.  A piece may end inside the mark or a control
    line, which is kept until the rest arrives.
    """

    mark: bytes
    token: int
    closing: tuple[str, ...]  # the words that end it: ("rc",) on stdout, ("end",) on stderr
    state: str = _BEFORE
    data: bytearray = field(default_factory=bytearray)
    said: list[str] = field(default_factory=list)  # the closing line's words
    _held: bytes = b""

    @property
    def ended(self) -> bool:
        return self.state == _ENDED

    def feed(self, data: bytes) -> None:
        buffer = self._held + data if self._held else data
        self._held = b""
        position = 0
        while position < len(buffer) and self.state != _ENDED:
            mark = buffer.find(self.mark, position)
            if mark < 0:
                partial = _partial_mark(buffer, position, self.mark)
                self._take(buffer, position, partial)
                self._held = buffer[partial:]
                return
            self._take(buffer, position, mark)
            newline = buffer.find(b"\n", mark, mark + len(self.mark) + _LONGEST_CONTROL)
            if newline < 0:
                if len(buffer) - mark > len(self.mark) + _LONGEST_CONTROL:
                    raise ProtocolError("a control line of the shell without its end")
                self._held = buffer[mark:]
                return
            self._control(buffer[mark + len(self.mark) : newline].decode("ascii", "replace"))
            position = newline + 1

    def _take(self, buffer: bytes, start: int, end: int) -> None:
        if self.state == _INSIDE and end > start:
            self.data += buffer[start:end]

    def _control(self, line: str) -> None:
        words = line.split()
        if words[:1] == [str(self.token)]:
            if self.state == _BEFORE and words[1:] == ["start"]:
                self.state = _INSIDE
                return
            if self.state == _INSIDE and words[1:2] and words[1] in self.closing:
                self.said, self.state = words[1:], _ENDED
                return
        raise ProtocolError(f"unexpected control line {line!r} (waiting for {self.token})")


def _partial_mark(buffer: bytes, start: int, mark: bytes) -> int:
    """Where a tail of ``buffer`` that may be the beginning of ``mark`` starts, else its end."""
    position = buffer.find(mark[:1], max(start, len(buffer) - len(mark) + 1))
    while position >= 0:
        if mark.startswith(buffer[position:]):
            return position
        position = buffer.find(mark[:1], position + 1)
    return len(buffer)


class Reply:
    """One command's reply: its stdout and stderr, each cut from its own stream.

    ``token`` 0 reads the prelude's answer (``serving`` / ``noserve``) instead: a
    closing line with no ``start``, on stdout only.
    """

    def __init__(self, mark: bytes, token: int) -> None:
        self.token = token
        if token == 0:
            self.out = Stream(mark, 0, (SERVING, NOT_SERVING), state=_INSIDE)
            self.err = Stream(mark, 0, (), state=_ENDED)
        else:
            self.out = Stream(mark, token, ("rc",))
            self.err = Stream(mark, token, ("end",))

    @property
    def stdout(self) -> bytearray:
        return self.out.data

    @property
    def stderr(self) -> bytearray:
        return self.err.data

    @property
    def done(self) -> bool:
        return self.out.ended and self.err.ended

    @property
    def status(self) -> int | None:
        """The command's exit status, once its stdout ended (255 if the shell said nonsense)."""
        said = self.out.said
        if self.token == 0 or not said:
            return None
        return int(said[1]) if len(said) == 2 and said[1].isdigit() else 255

    @property
    def serving(self) -> bool | None:
        """For the greeting: does the shell serve commands?"""
        return self.out.said == [SERVING] if self.token == 0 and self.out.ended else None
