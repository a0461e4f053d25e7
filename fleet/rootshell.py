"""One root shell on one channel, serving every later command of a host.

Each command fleet runs as root would otherwise cost the host an SSH session, a
sudo with its PAM stack, and a login shell.  The rollout's first command (facts
and the host lock) ends as a root shell that keeps reading its stdin; the
transport then frames each command onto that stdin and reads the command's
stdout, stderr and exit status back from the shell's one output stream.  A
rollout that changes a host thus costs it one session and one sudo instead of
one per command.

The framing is chosen so whatever a command prints passes through unchanged:

* request: ``__fleet_run TOKEN <<'@@fleet-TOKEN'``, then the base64 of the
  command, a ``.`` line, the base64 of its stdin, and the delimiter.  base64 has
  neither ``.`` nor anything the shell would interpret.
* reply: the command's stdout as is; each line of its stderr prefixed with RS
  (0x1e) by ``sed``, so both streams keep their order; control lines start with
  US (0x1f): ``rc TOKEN STATUS`` and ``done TOKEN`` (after the last stderr line).

A command whose stdout itself contains RS or US bytes would be misread; the
commands fleet runs print text (``docker info``'s JSON escapes control bytes).

The prelude defining ``__fleet_run`` is POSIX sh and needs only ``base64`` and
``sed``; a host without them answers ``noserve`` and gets one session per command.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field

RS = b"\x1e"  # starts a line of the command's stderr
US = b"\x1f"  # starts a control line
SERVING = "serving"
NOT_SERVING = "noserve"

PRELUDE = rb"""
if command -v base64 >/dev/null 2>&1 && command -v sed >/dev/null 2>&1; then
__fleet_e=$(printf '\036')
if sed -u q </dev/null >/dev/null 2>&1; then __fleet_u=-u; else __fleet_u=; fi
LC_ALL=C; export LC_ALL
__fleet_run() {
  __fleet_d=$(cat)
  __fleet_c=$(printf '%s' "${__fleet_d%%.*}" | base64 -d)
  __fleet_i=${__fleet_d#*.}
  { { if [ -n "$__fleet_i" ]; then printf '%s' "$__fleet_i" | base64 -d | sh -c "$__fleet_c"
      else sh -c "$__fleet_c" </dev/null; fi 2>&1 1>&3 3>&-
      printf '\037rc %s %s\n' "$1" "$?" >&3
    } | sed $__fleet_u "s/^/$__fleet_e/"
  } 3>&1
  printf '\037done %s\n' "$1"
}
printf '\037serving\n'
else printf '\037noserve\n'; fi
"""


def encode_request(token: int, command: str, stdin: bytes = b"") -> bytes:
    """The bytes that make the serving shell run ``command`` with ``stdin``."""
    delimiter = f"@@fleet-{token}"
    # No stdin: nothing after the "." line, and the command reads /dev/null.
    body = base64.encodebytes(command.encode()).decode() + ".\n"
    body += base64.encodebytes(stdin).decode()
    return f"__fleet_run {token} <<'{delimiter}'\n{body}{delimiter}\n".encode()


class ProtocolError(Exception):
    """The shell answered something fleet did not ask for."""


@dataclass
class Reply:
    """One command's reply, demultiplexed from the shell's output as it arrives.

    ``feed`` takes raw bytes in any pieces; a piece may end inside a control or
    stderr line, which is kept until the rest arrives.  ``token`` 0 reads the
    prelude's answer (``serving`` / ``noserve``) instead of a command's reply.
    """

    token: int
    stdout: bytearray = field(default_factory=bytearray)
    stderr: bytearray = field(default_factory=bytearray)
    status: int | None = None
    done: bool = False
    serving: bool | None = None
    _pending: bytes = b""

    def feed(self, data: bytes) -> bytes:
        """Consume ``data``; return what follows this reply's end (normally nothing)."""
        buffer = self._pending + data
        self._pending = b""
        position = 0
        while position < len(buffer) and not self.done:
            position = self._step(buffer, position)
            if position < 0:  # an unfinished stderr or control line: wait for more
                self._pending = buffer[-position - 1 :]
                return b""
        return buffer[position:]

    def _step(self, buffer: bytes, position: int) -> int:
        """Consume one piece at ``position``; return the next position, or -(start + 1)."""
        start = buffer[position : position + 1]
        if start not in (RS, US):
            end = _next_mark(buffer, position)
            self.stdout += buffer[position:end]
            return end
        newline = buffer.find(b"\n", position)
        if start == US:
            if newline < 0:
                return -(position + 1)
            self._control(buffer[position + 1 : newline].decode("utf-8", "replace"))
            return newline + 1
        # A stderr line ends at its newline, or unterminated where the next mark starts.
        end = _next_mark(buffer, position + 1)
        if newline >= 0 and newline < end:
            self.stderr += buffer[position + 1 : newline + 1]
            return newline + 1
        if end == len(buffer):
            return -(position + 1)
        self.stderr += buffer[position + 1 : end]
        return end

    def _control(self, line: str) -> None:
        words = line.split()
        if self.token == 0 and words in ([SERVING], [NOT_SERVING]):
            self.serving, self.done = words == [SERVING], True
        elif len(words) == 3 and words[0] == "rc" and words[1] == str(self.token):
            self.status = int(words[2]) if words[2].isdigit() else 255
        elif words == ["done", str(self.token)]:
            self.done = True
        else:
            raise ProtocolError(f"unexpected control line {line!r} (waiting for {self.token})")


def _next_mark(buffer: bytes, start: int) -> int:
    """Where the next RS or US is, or the buffer's end."""
    ends = [i for i in (buffer.find(RS, start), buffer.find(US, start)) if i >= 0]
    return min(ends) if ends else len(buffer)
