"""A second, separate group of real hosts boots beside the session's and leaves no trace.

The session's own hosts are checked for leftovers at the end of the run (the
fixture fails its teardown if anything remains); this test proves the same
inside the run, where a failure is reported as a test result.
"""

from __future__ import annotations

import pytest

from tests.real.realhosts import RUN_DIR, SCRATCH_NETWORK, RealFleet, clear_stale, leftovers

pytestmark = pytest.mark.real


def test_teardown_removes_hosts_mounts_links_namespaces_and_cgroups(
    real_fleet: RealFleet,
) -> None:
    base = RUN_DIR / SCRATCH_NETWORK.prefix
    clear_stale(SCRATCH_NETWORK, base)  # what an interrupted earlier run may have left
    scratch = RealFleet(SCRATCH_NETWORK, real_fleet.rootfs, base)
    try:
        scratch.boot(["scratch1"], log=lambda _text: None)
        host = scratch.hosts["scratch1"]
        assert scratch.ssh("scratch1", "hostname").stdout.strip() == "scratch1"
        traces = leftovers(SCRATCH_NETWORK, base, scratch.hosts.values())
        # while it runs, every kind of trace is there to be found
        for kind in ("process", "mount", "netns", "link", "cgroup", "directory"):
            assert any(t.startswith(kind) for t in traces), (kind, traces)
    finally:
        problems = scratch.teardown()

    assert problems == []
    assert leftovers(SCRATCH_NETWORK, base, [host]) == []
    assert host.process is not None and host.process.returncode == 0  # a clean poweroff
    # the session's hosts on the other half of the range were not disturbed
    assert real_fleet.ssh("real1", "systemctl is-system-running").stdout.strip() == "running"
