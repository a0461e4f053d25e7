"""Messages between a lab host's sudo and the supervisor's broker.

Each message is a 4-byte big-endian length and a JSON object; the first one (the
request) carries the caller's stdin, stdout and stderr as SCM_RIGHTS descriptors.

client -> broker: ``{"argv", "cwd", "env", "command"}`` (the request), then
``{"password": str|null}`` answers and ``{"signal": N}`` relays.
broker -> client: ``{"ask": PROMPT, "how": "stdin"|"tty"|"askpass"}``,
then one of ``{"exit": N}`` / ``{"signal": N}``.
"""

from __future__ import annotations

import json
import socket
import struct
from typing import Any

SOCKET_DIR = "/run/fleetlab"  # inside a host; the broker's directory is bound here
SOCKET_NAME = "sudo.sock"
MAX_MESSAGE = 1 << 20  # a command line and an environment, nothing larger
_LENGTH = struct.Struct(">I")


class ProtocolError(Exception):
    """The other side sent something that is not a message, or went away."""


def send(sock: socket.socket, message: dict[str, Any], fds: list[int] | None = None) -> None:
    payload = json.dumps(message).encode()
    data = _LENGTH.pack(len(payload)) + payload
    if fds:
        sent = socket.send_fds(sock, [data], fds)
        if sent < len(data):
            sock.sendall(data[sent:])
    else:
        sock.sendall(data)


def receive(sock: socket.socket, with_fds: int = 0) -> tuple[dict[str, Any], list[int]]:
    """One message, and the descriptors that came with it (at most ``with_fds``)."""
    fds: list[int] = []
    if with_fds:
        data, fds, _flags, _addr = socket.recv_fds(sock, _LENGTH.size, with_fds)
        if not data:
            raise ProtocolError("connection closed")
        head = data + _exactly(sock, _LENGTH.size - len(data))
    else:
        head = _exactly(sock, _LENGTH.size)
    (length,) = _LENGTH.unpack(head)
    if length > MAX_MESSAGE:
        raise ProtocolError(f"message of {length} bytes")
    try:
        message = json.loads(_exactly(sock, length))
    except ValueError as exc:
        raise ProtocolError(f"not JSON: {exc}") from None
    if not isinstance(message, dict):
        raise ProtocolError("not a JSON object")
    return message, fds


def _exactly(sock: socket.socket, size: int) -> bytes:
    chunks, left = [], size
    while left:
        chunk = sock.recv(left)
        if not chunk:
            raise ProtocolError("connection closed")
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)
