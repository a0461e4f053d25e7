"""Before ``lab up`` returns: every host answers as planned, a real handshake or its fault."""

from __future__ import annotations

import concurrent.futures
import socket
from collections.abc import Mapping, Sequence

import paramiko

from fleet.errors import EnvironmentProblem
from fleet.lab.files import LabHost


def _handshake(host: LabHost, expected_key: str, timeout: float) -> str | None:
    """A real SSH key exchange; None when the host answered with its own key, else the problem."""
    try:
        sock = socket.create_connection((host.address, host.port), timeout)
    except OSError as exc:
        return f"{host.name}: no TCP connection to {host.address}:{host.port} ({exc})"
    transport = paramiko.Transport(sock)
    try:
        transport.banner_timeout = timeout
        transport.start_client(timeout=timeout)
        key = transport.get_remote_server_key()
        if key.get_base64() != expected_key.split()[1]:
            return f"{host.name}: answered with a host key that is not in known_hosts"
        return None
    except (paramiko.SSHException, OSError, EOFError) as exc:
        return f"{host.name}: SSH handshake failed ({exc})"
    finally:
        transport.close()


def _check_fault_port(host: LabHost) -> str | None:
    """An unreachable host must be unreachable the way its spec says."""
    mode = host.faults.get("unreachable")
    try:
        with socket.create_connection((host.address, host.port), 5):
            return (
                None
                if mode == "timeout"
                else f"{host.name}: accepts connections but should refuse them"
            )
    except ConnectionRefusedError:
        return None if mode == "refused" else f"{host.name}: refuses connections"
    except OSError as exc:
        return f"{host.name}: {exc}"


def verify_hosts(hosts: Sequence[LabHost], host_keys: Mapping[str, str], workers: int = 16) -> None:
    """Every host answers as planned: a real handshake, or the planned refusal/silence."""

    def check(host: LabHost) -> str | None:
        if host.faults.get("unreachable"):
            return _check_fault_port(host)
        return _handshake(host, host_keys[host.name], 30.0)

    with concurrent.futures.ThreadPoolExecutor(workers) as pool:
        problems = [p for p in pool.map(check, hosts) if p]
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise EnvironmentProblem(f"lab host {problems[0]}{more}")
