"""parallel-ssh peer: one command on every lab host with ParallelSSHClient.

Runs inside the pssh venv (``python pssh_run.py HOSTS.json COMMAND EXPECT POOL``)
and prints one JSON line: how many hosts exited 0 with ``EXPECT`` in their output.
parallel-ssh's native client does not check host keys; the others here do.
"""

from __future__ import annotations

import json
import sys

from pssh.clients import ParallelSSHClient
from pssh.config import HostConfig


def main(argv: list[str]) -> int:
    hosts_file, command, expect, pool = argv[1], argv[2], argv[3], int(argv[4])
    with open(hosts_file, encoding="utf-8") as handle:
        hosts = json.load(handle)
    client = ParallelSSHClient(
        [h["address"] for h in hosts],
        host_config=[
            HostConfig(port=h["port"], user=h["user"], private_key=h["key"]) for h in hosts
        ],
        pool_size=pool,
        num_retries=1,
    )
    output = client.run_command(command, stop_on_errors=False)
    client.join(output)
    ok = 0
    for host_output in output:
        text = "\n".join(host_output.stdout or ()) if host_output.exception is None else ""
        ok += int(host_output.exit_code == 0 and expect in text)
    print(json.dumps({"ok": ok, "hosts": len(hosts)}))
    return 0 if ok == len(hosts) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
