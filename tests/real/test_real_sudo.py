"""fleet reaches root through the login user's sudo, as on most fleets.

Every rollout of this tier logs in as ``centos`` and runs its commands through
the host's real ``sudo``; this test pins the parts that prove it: the facts are
gathered as root, and a password-less sudo is never asked for a password.
"""

from __future__ import annotations

import pytest

from tests.real.realhosts import RealFleet

pytestmark = pytest.mark.real

HOST = "real6"


def test_facts_are_gathered_as_root_through_sudo(real_fleet: RealFleet, run_fleet) -> None:
    assert real_fleet.ssh(HOST, "id -u").stdout.strip() == "1000"  # the login itself is not root

    run = run_fleet("plan", [HOST])

    assert run.exit_code == 0, run.explain()
    host = run.host(HOST)
    assert host["error"] is None
    steps = run.steps(HOST)
    assert steps["preflight"]["status"] == "ok", steps["preflight"]  # uid 0 through sudo
    assert steps["preflight"]["message"].startswith("CentOS Linux 7 (Core)")
    assert steps["engine_packages"]["status"] == "changed"  # plan: would install, touched nothing
    assert real_fleet.ssh(HOST, "rpm -q docker-ce", check=False).returncode == 1
