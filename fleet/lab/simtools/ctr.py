"""``ctr plugins ls`` and ``crictl info``: answers from what the running containerd started with.

Both ask the daemon over its socket, so they say nothing of the file until containerd is
restarted.  ``ctr plugins ls`` prints containerd's introspection list through a tabwriter
(minwidth 4, tabwidth 8, padding 4: cmd/ctr/commands/plugins/plugins.go); a disabled plugin
is not listed, one that failed is ``error`` (the 1.6.20 listings in tests/data/containerd).
``crictl info`` prints the CRI plugin's config as JSON (pkg/cri/server/status.go in 1.x,
internal/cri/server/status.go in 2.x); crictl comes with the cri-tools package.
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any

from fleet.lab.simtools import containerd, packages, units
from fleet.lab.simtools.state import Host, is_root

SOCKET = "/run/containerd/containerd.sock"
_PLUGINS_V1 = """io.containerd.content.v1 content - ok
io.containerd.snapshotter.v1 aufs linux/amd64 skip
io.containerd.snapshotter.v1 btrfs linux/amd64 skip
io.containerd.snapshotter.v1 devmapper linux/amd64 error
io.containerd.snapshotter.v1 native linux/amd64 ok
io.containerd.snapshotter.v1 overlayfs linux/amd64 ok
io.containerd.snapshotter.v1 zfs linux/amd64 skip
io.containerd.metadata.v1 bolt - ok
io.containerd.differ.v1 walking linux/amd64 ok
io.containerd.event.v1 exchange - ok
io.containerd.gc.v1 scheduler - ok
io.containerd.service.v1 introspection-service - ok
io.containerd.service.v1 containers-service - ok
io.containerd.service.v1 tasks-service - ok
io.containerd.grpc.v1 introspection - ok
io.containerd.internal.v1 restart - ok
io.containerd.grpc.v1 containers - ok
io.containerd.grpc.v1 tasks - ok
io.containerd.grpc.v1 version - ok
io.containerd.grpc.v1 cri linux/amd64 {cri}"""
_PLUGINS_V2 = """io.containerd.content.v1 content - ok
io.containerd.internal.v1 opt - ok
io.containerd.warning.v1 deprecations - ok
io.containerd.snapshotter.v1 native linux/amd64 ok
io.containerd.snapshotter.v1 overlayfs linux/amd64 ok
io.containerd.event.v1 exchange - ok
io.containerd.metadata.v1 bolt - ok
io.containerd.gc.v1 scheduler - ok
io.containerd.cri.v1 images - {cri}
io.containerd.cri.v1 runtime linux/amd64 {cri}
io.containerd.grpc.v1 introspection - ok
io.containerd.grpc.v1 cri - {cri}
io.containerd.grpc.v1 version - ok"""


def _running(host: Host) -> dict[str, Any] | None:
    state = containerd.read_state(host)
    active = units.read_units(host).get("containerd", {}).get("active") == "active"
    return state if state.get("running") and active else None


def _dial_error(tool: str) -> str:
    return (
        f'{tool}: failed to dial "{SOCKET}": connection error: desc = "transport: error while '
        f'dialing: dial unix {SOCKET}: connect: no such file or directory"'
    )


def run(tool: str, args: list[str], host: Host) -> int:
    if tool == "crictl":
        return crictl(host, args)
    if containerd.installed_version(host) is None:
        from fleet.lab.simtools.faults import command_not_found

        return command_not_found(tool)
    words = [a for a in args if not a.startswith("-")]
    if "--address" in args or "-a" in args:
        flag = "--address" if "--address" in args else "-a"
        words.remove(args[args.index(flag) + 1])
    if words[:2] not in (["plugins", "ls"], ["plugin", "ls"], ["plugins", "list"]):
        print(f"ctr: the lab's ctr only knows 'plugins ls', not {' '.join(words)!r}",
              file=sys.stderr)  # fmt: skip
        return 1
    state = _running(host) if is_root() else None
    if state is None:
        reason = _dial_error("ctr") if is_root() else (
            f'ctr: failed to dial "{SOCKET}": connection error: desc = "transport: error while '
            f'dialing: dial unix {SOCKET}: connect: permission denied"')  # fmt: skip
        print(reason, file=sys.stderr)
        return 1
    print(plugins_table(state))
    return 0


def plugins_table(state: dict[str, Any]) -> str:
    cri = state["config"]["cri"]
    text = _PLUGINS_V2 if containerd.is_v2(state["version"]) else _PLUGINS_V1
    rows = [["TYPE", "ID", "PLATFORMS", "STATUS"]]
    for line in text.format(cri=cri or "").splitlines():
        cells = line.split()
        if len(cells) == 4:  # a disabled plugin has no status and is not listed
            rows.append(cells)
    widths = [max(4, *(len(r[i]) for r in rows)) + 4 for i in range(4)]
    return "\n".join("".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows)


# -- crictl -------------------------------------------------------------------------------


def _fatal(message: str) -> int:
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    print(f'time="{stamp}" level=fatal msg="{message}"', file=sys.stderr)
    return 1


def crictl(host: Host, args: list[str]) -> int:
    if not packages.installed_named(host, "cri-tools"):
        from fleet.lab.simtools.faults import command_not_found

        return command_not_found("crictl")
    if "--version" in args or "-v" in args:
        print("crictl version v1.30.1")
        return 0
    words, i = [], 0
    while i < len(args):
        if args[i] in ("-r", "--runtime-endpoint", "-i", "--image-endpoint"):
            i += 2
            continue
        if not args[i].startswith("-"):
            words.append(args[i])
        i += 1
    if words[:1] != ["info"]:
        return _fatal(f"the lab's crictl only knows 'info', not {' '.join(words)!r}")
    endpoint = f'validate CRI v1 runtime API for endpoint \\"unix://{SOCKET}\\"'
    state = _running(host) if is_root() else None
    if state is None:
        return _fatal(
            f"validate service connection: {endpoint}: rpc error: code = Unavailable desc = "
            'connection error: desc = \\"transport: Error while dialing: dial unix '
            f'{SOCKET}: connect: {"no such file or directory" if is_root() else "permission denied"}\\"'
        )
    if state["config"]["cri"] != "ok":
        return _fatal(
            f"validate service connection: {endpoint}: rpc error: code = Unimplemented desc = "
            "unknown service runtime.v1.RuntimeService"
        )
    print(json.dumps(info(state), indent=2))
    return 0


def info(state: dict[str, Any]) -> dict[str, Any]:
    """``crictl info``: the CRI plugin's config as containerd marshals it (json tags)."""
    config, version = state["config"], state["version"]
    runc = {"runtimeType": config["runtime_type"], "runtimePath": "", "PodAnnotations": None,
            "ContainerAnnotations": None, "options": config["runc_options"],
            "privileged_without_host_devices": False, "baseRuntimeSpec": "",
            "cniConfDir": "", "cniMaxConfNum": 0, "snapshotter": ""}  # fmt: skip
    containerd_cfg: dict[str, Any] = {"defaultRuntimeName": "runc", "runtimes": {"runc": runc}}
    cri: dict[str, Any] = {"containerd": containerd_cfg,
                           "cni": {"binDir": "/opt/cni/bin", "confDir": "/etc/cni/net.d"}}  # fmt: skip
    if not containerd.is_v2(version):
        containerd_cfg["snapshotter"] = config["snapshotter"]
        cri.update(sandboxImage=config["sandbox"], systemdCgroup=False,
                   registry={"configPath": "", "mirrors": config["mirrors"] or None})  # fmt: skip
    cri.update(containerdRootDir=config["root"], containerdEndpoint=SOCKET,
               rootDir=f"{config['root']}/io.containerd.grpc.v1.cri",
               stateDir="/run/containerd/io.containerd.grpc.v1.cri")  # fmt: skip
    status = {"conditions": [
        {"type": "RuntimeReady", "status": True, "reason": "", "message": ""},
        {"type": "NetworkReady", "status": False, "reason": "NetworkPluginNotReady",
         "message": "Network plugin returns error: cni plugin not initialized"}]}  # fmt: skip
    last = ("cni config load failed: no network config found in /etc/cni/net.d: cni plugin "
            "not initialized: failed to load cni config")  # fmt: skip
    return {"status": status, "config": cri, "golang": "go1.23.11", "lastCNILoadStatus": last}
