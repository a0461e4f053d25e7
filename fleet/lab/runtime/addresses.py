"""Lab addresses: host *i* at 127.77.B.i, the first block whose ports are all free.

A lab picks its block by probing which ports are free, and only its supervisor binds
them; the address lock lets one lab at a time go from probing to listening.
"""

from __future__ import annotations

import contextlib
import fcntl
import socket
from collections.abc import Iterator
from pathlib import Path

from fleet.errors import EnvironmentProblem

ADDRESS_NET = "127.77"
SSH_PORT = 22
INTERNAL_PORT = 2222  # where a delayed host's server listens, behind its proxy
ADDRESS_LOCK = Path("/run/lock/fleet-lab-addresses.lock")  # see address_reservation


def address_of(block: int, index: int) -> str:
    """Host ``index`` (0-based) of the lab that starts at 127.77.<block>.1."""
    return f"{ADDRESS_NET}.{block + index // 254}.{index % 254 + 1}"


def port_free(address: str, port: int, strict: bool = False) -> bool:
    """True if nothing listens on (or holds) address:port.

    The probe sets SO_REUSEADDR, so a TIME_WAIT leftover does not count as taken, while a
    listener, or another lab's bound-but-closed placeholder (bound without SO_REUSEADDR),
    does.  ``strict`` probes as a placeholder binds: without SO_REUSEADDR.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        if not strict:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((address, port))
        except OSError:
            return False
    return True


def allocate_addresses(count: int, internal: set[int], placeholders: set[int]) -> list[str]:
    """The first block of ``count`` consecutive loopback addresses whose ports are all free.

    ``internal``: hosts that also need INTERNAL_PORT (a delay proxy sits in front);
    ``placeholders``: hosts whose port is held by a placeholder socket (unreachable faults).
    """

    def free(index: int, address: str) -> bool:
        if not port_free(address, SSH_PORT, strict=index in placeholders):
            return False
        return index not in internal or port_free(address, INTERNAL_PORT)

    for block in range(256 - (count - 1) // 254):
        addresses = [address_of(block, i) for i in range(count)]
        if all(free(i, a) for i, a in enumerate(addresses)):
            return addresses
    raise EnvironmentProblem(
        f"no free block of {count} addresses with port {SSH_PORT} free under {ADDRESS_NET}.0.0/16 "
        "(is a server listening on 0.0.0.0:22? stop it or run fewer labs)"
    )


@contextlib.contextmanager
def address_reservation() -> Iterator[None]:
    """Let one lab at a time go from picking free addresses to listening on them.

    A lab picks its address block by probing which ports are free, and only its
    supervisor binds them; two labs starting at the same moment (parallel test
    runs, benchmarks) would otherwise pick the same block and one would fail.
    """
    ADDRESS_LOCK.parent.mkdir(parents=True, exist_ok=True)
    with ADDRESS_LOCK.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield
