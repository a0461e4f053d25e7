"""fleet's raw fan-out: one command on every host through fleet.transport, nothing else.

What ``fleet verify`` costs minus facts, steps and reports: a bounded pool of
``--forks`` threads, one ``Connector`` sharing parsed keys and known_hosts, one
connection per host, ``HostConnection.run`` with sudo.  Prints one JSON line:
how many hosts answered with ``--expect`` in their output.

    python benchmarks/fleet_fanout.py -i LAB/inventory.yml --forks 50
"""

from __future__ import annotations

import argparse
import json
import sys
import traceback
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fleet.inventory import Host, load_inventory, select_hosts
from fleet.transport import ConnectOptions, Connector, TransportError

COMMAND = "docker info --format '{{json .}}'"


def one(connector: Connector, host: Host, command: str, expect: str) -> str | None:
    """None when the host answered as expected, else a one-line reason."""
    try:
        connection = connector.connect(host)
    except TransportError as exc:
        return exc.message
    except Exception:  # a bug fails one host, and says where, as run_host does
        return _internal(host)
    try:
        result = connection.run(command, sudo=True)
    except TransportError as exc:
        return exc.message
    except Exception:
        return _internal(host)
    finally:
        connection.close()
    return None if result.ok and expect in result.stdout else f"{host.name}: {result.error_line()}"


def _internal(host: Host) -> str:
    traceback.print_exc()
    return f"{host.name}: internal error: {traceback.format_exc(limit=-1).splitlines()[-1]}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-i", "--inventory", required=True)
    parser.add_argument("--forks", type=int, default=50)
    parser.add_argument("--command", default=COMMAND)
    parser.add_argument("--expect", default='"CgroupDriver"')
    args = parser.parse_args(argv)
    hosts = select_hosts(load_inventory(args.inventory), None)
    connector = Connector(ConnectOptions())
    try:
        with ThreadPoolExecutor(max_workers=max(1, min(args.forks, len(hosts)))) as pool:
            problems = list(pool.map(lambda h: one(connector, h, args.command, args.expect), hosts))
    finally:
        connector.close()
    failed = [p for p in problems if p]
    print(json.dumps({"ok": len(hosts) - len(failed), "hosts": len(hosts), "errors": failed[:3]}))
    return 0 if not failed else 1


if __name__ == "__main__":
    sys.exit(main())
