"""The lab runtime: namespaces, hosts and the supervisor behind ``fleet lab up/status/down``.

A lab host is a *holder* process (``fleet-lab-holder``, an exec'd ``sleep``) in
its own mount and UTS namespaces, with the host's private tree bind-mounted over
the paths a rollout touches and everything else of the machine mounted
read-only, so a write on one host can reach neither another host nor the
machine.  A *supervisor* process (``fleet.lab.runtime serve DIR``), started by
``lab up``, owns the holders, the SSH servers and the delay proxies; ``lab down``
stops it and then checks, from ``/proc``, that no process, mount or listener of
the lab is left.

One module per part: requirements (root, programs, which sudo), addresses,
mounts (a host's mount plan), namespaces (holders; the lab's namespaces and their
members), state (lab.json), prepare (the files ``up`` writes), verify (hosts answer
as planned), up, status, down, services (what the supervisor starts and tears down)
and supervisor (its process).  This package re-exports what callers use.
"""

from fleet.lab.files import LabHost
from fleet.lab.procfs import ProcRef, listeners_on, namespace_members, reap_orphans, wait_gone
from fleet.lab.runtime.addresses import (
    ADDRESS_LOCK,
    ADDRESS_NET,
    INTERNAL_PORT,
    SSH_PORT,
    address_of,
    allocate_addresses,
    port_free,
)
from fleet.lab.runtime.down import STOP_TIMEOUT, DownReport, LabNotStopped, lab_down
from fleet.lab.runtime.mounts import (
    Bind,
    ensure_mountpoints,
    keep_visible_paths,
    lab_mounts,
    mount_plan,
    readonly_remounts,
)
from fleet.lab.runtime.namespaces import (
    HOLDER_NAME,
    Holder,
    HolderPlan,
    clear_namespaces,
    lab_namespaces,
    start_holders,
)
from fleet.lab.runtime.requirements import default_sudo, machine_has_sudo, require_root
from fleet.lab.runtime.services import START_TIMEOUT
from fleet.lab.runtime.state import (
    CLIENT_FILES,
    LOG_FILE,
    STATE_FILE,
    SUDO_DIR,
    Lab,
    load_lab,
)
from fleet.lab.runtime.status import HostStatus, LabStatus, faults_text, lab_status
from fleet.lab.runtime.supervisor import main, serve
from fleet.lab.runtime.up import lab_up
from fleet.lab.runtime.verify import verify_hosts

__all__ = [
    "ADDRESS_LOCK",
    "ADDRESS_NET",
    "CLIENT_FILES",
    "HOLDER_NAME",
    "INTERNAL_PORT",
    "LOG_FILE",
    "SSH_PORT",
    "START_TIMEOUT",
    "STATE_FILE",
    "STOP_TIMEOUT",
    "SUDO_DIR",
    "Bind",
    "DownReport",
    "Holder",
    "HolderPlan",
    "HostStatus",
    "Lab",
    "LabHost",
    "LabNotStopped",
    "LabStatus",
    "ProcRef",
    "address_of",
    "allocate_addresses",
    "clear_namespaces",
    "default_sudo",
    "ensure_mountpoints",
    "faults_text",
    "keep_visible_paths",
    "lab_down",
    "lab_mounts",
    "lab_namespaces",
    "lab_status",
    "lab_up",
    "listeners_on",
    "load_lab",
    "machine_has_sudo",
    "main",
    "mount_plan",
    "namespace_members",
    "port_free",
    "readonly_remounts",
    "reap_orphans",
    "require_root",
    "serve",
    "start_holders",
    "verify_hosts",
    "wait_gone",
]
