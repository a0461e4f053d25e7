"""``docker info``: the daemon's Info (as JSON field names) and the CLI's text layouts.

The server half comes from the running engine's recorded configuration and
version (19.03: no CgroupVersion; 20.10 adds it and ``userxattr``; 24 adds
``Using metacopy``).  The client half depends on the installed CLI version
(19.03 bare ``Client:``; 20.10 adds Context/Plugins; 24 prints the platform
and version and drops the ``Registry:`` line).  Warnings go to stderr.
"""

from __future__ import annotations

import os
import uuid
import zlib
from typing import Any

from fleet.lab.simtools import profiles, versions
from fleet.lab.simtools.state import Host
from fleet.lab.simtools.versions import at_least

SOCKET = "unix:///var/run/docker.sock"
DAEMON_DOWN = f"Cannot connect to the Docker daemon at {SOCKET}. Is the docker daemon running?"
_B32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"


def engine_id(name: str, version: str) -> str:
    """Stable per host: 12 base32 groups before 24.0, a UUID from 24.0 on."""
    if at_least(version, "24.0"):
        return str(uuid.UUID(int=zlib.crc32(name.encode()) * (2**96) + 0x4000_8000_0000_0000))
    seed = zlib.crc32(name.encode())
    groups = []
    for i in range(12):
        seed = zlib.crc32(f"{seed}/{i}".encode())
        groups.append("".join(_B32[(seed >> (5 * k)) & 31] for k in range(4)))
    return ":".join(groups)


def _mem_total() -> int:
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 3_973_000_000


def human_size(n: float) -> str:
    """go-units BytesSize: four significant digits, binary units."""
    units = ["B", "KiB", "MiB", "GiB", "TiB"]
    i = 0
    while n >= 1024 and i < len(units) - 1:
        n /= 1024
        i += 1
    return f"{n:.4g}{units[i]}"


def _os_name(host: Host) -> str:
    try:
        text = host.path("/etc/os-release").read_text(encoding="utf-8")
    except OSError:
        return host.profile.pretty_name
    return profiles.pretty_name(text, host.profile.pretty_name)


def server_info(host: Host, record: dict[str, Any]) -> dict[str, Any]:
    """The daemon's /info response, in the API's field order."""
    version = record["version"]
    cfg = record["config"]
    containerd, runc = versions.containerd_commits(record.get("containerd"))
    overlay = cfg["storage_driver"].startswith("overlay")
    status = [
        ["Backing Filesystem", cfg["backing_fs"]],
        ["Supports d_type", str(cfg["d_type"]).lower()],
    ]
    if at_least(version, "24.0"):
        status.append(["Using metacopy", "false"])
    status.append(["Native Overlay Diff", "true"])
    if at_least(version, "20.10"):
        status.append(["userxattr", "false"])
    log_plugins = "awslogs fluentd gcplogs gelf journald json-file local logentries splunk syslog"
    if at_least(version, "25.0"):
        log_plugins = log_plugins.replace(" logentries", "")
    security = ["name=seccomp,profile=" + ("builtin" if at_least(version, "23.0") else "default")]
    if cfg["cgroup_version"] == 2 and at_least(version, "20.10"):
        security.append("name=cgroupns")
    info: dict[str, Any] = {
        "ID": engine_id(host.name, version),
        "Containers": 0, "ContainersRunning": 0, "ContainersPaused": 0, "ContainersStopped": 0,
        "Images": 0,
        "Driver": cfg["storage_driver"],
        "DriverStatus": status if overlay else [],
        "Plugins": {
            "Volume": ["local"],
            "Network": ["bridge", "host", "ipvlan", "macvlan", "null", "overlay"],
            "Authorization": None,
            "Log": log_plugins.split(),
        },
        "MemoryLimit": True, "SwapLimit": True, "KernelMemory": not at_least(version, "23.0"),
        "CpuCfsPeriod": True, "CpuCfsQuota": True, "CPUShares": True, "CPUSet": True,
        "PidsLimit": True, "IPv4Forwarding": True, "BridgeNfIptables": True,
        "BridgeNfIp6tables": True, "Debug": cfg["debug"], "NFd": 24, "OomKillDisable": True,
        "NGoroutines": 34, "SystemTime": _now_rfc3339(),
        "LoggingDriver": cfg["log_driver"],
        "CgroupDriver": cfg["cgroup_driver"],
        "CgroupVersion": str(cfg["cgroup_version"]),
        "NEventsListener": 0,
        "KernelVersion": host.kernel,
        "OperatingSystem": _os_name(host),
        "OSVersion": "",
        "OSType": "linux",
        "Architecture": "x86_64",
        "IndexServerAddress": "https://index.docker.io/v1/",
        "RegistryConfig": {
            "AllowNondistributableArtifactsCIDRs": None,
            "AllowNondistributableArtifactsHostnames": None,
            "InsecureRegistryCIDRs": ["127.0.0.0/8", *cfg["insecure_registries"]],
            "IndexConfigs": {"docker.io": {"Name": "docker.io", "Mirrors": cfg["registry_mirrors"],
                                           "Secure": True, "Official": True}},
            "Mirrors": cfg["registry_mirrors"],
        },
        "NCPU": os.cpu_count() or 2,
        "MemTotal": _mem_total(),
        "GenericResources": None,
        "DockerRootDir": cfg["data_root"],
        "HttpProxy": "", "HttpsProxy": "", "NoProxy": "",
        "Name": host.name,
        "Labels": cfg["labels"],
        "ExperimentalBuild": False,
        "ServerVersion": version,
        "Runtimes": {"runc": {"path": "runc"}},
        "DefaultRuntime": "runc",
        "Swarm": {"NodeID": "", "NodeAddr": "", "LocalNodeState": "inactive", "ControlAvailable": False,
                  "Error": "", "RemoteManagers": None},
        "LiveRestoreEnabled": cfg["live_restore"],
        "Isolation": "",
        "InitBinary": "docker-init",
        "ContainerdCommit": {"ID": containerd, "Expected": containerd},
        "RuncCommit": {"ID": runc, "Expected": runc},
        "InitCommit": {"ID": versions.init_commit(version), "Expected": versions.init_commit(version)},
        "SecurityOptions": security,
        "ProductLicense": "Community Engine",
        "Warnings": list(cfg["warnings"]) or None,
    }  # fmt: skip
    if not at_least(version, "20.10"):
        del info["CgroupVersion"]  # omitempty: 19.03 daemons do not report it
    if at_least(version, "20.10"):
        info["Runtimes"] = {"io.containerd.runc.v2": {"path": "runc"}, "runc": {"path": "runc"}}
        if not at_least(version, "23.0"):
            info["Runtimes"]["io.containerd.runtime.v1.linux"] = {"path": "runc"}
    return info


def _now_rfc3339() -> str:
    import time

    return time.strftime("%Y-%m-%dT%H:%M:%S.000000000Z", time.gmtime())


def client_info(cli_version: str) -> dict[str, Any]:
    info: dict[str, Any] = {"Debug": False, "Context": "default", "Plugins": [], "Warnings": None}
    if at_least(cli_version, "24.0"):
        info = {"Debug": False, "Platform": {"Name": "Docker Engine - Community"},
                "Version": cli_version, "Context": "default", "Plugins": [], "Warnings": None}  # fmt: skip
    return info


def client_text(cli_version: str) -> list[str]:
    if at_least(cli_version, "24.0"):
        return ["Client: Docker Engine - Community", f" Version:    {cli_version}",
                " Context:    default", " Debug Mode: false"]  # fmt: skip
    if at_least(cli_version, "20.10"):
        lines = ["Client:", " Context:    default", " Debug Mode: false"]
        if not at_least(cli_version, "23.0"):
            lines += [" Plugins:", "  app: Docker App (Docker Inc., v0.9.1-beta3)",
                      "  buildx: Build with BuildKit (Docker Inc., v0.5.1-docker)"]  # fmt: skip
        return lines
    return ["Client:", " Debug Mode: false"]


def server_text(info: dict[str, Any], cli_version: str) -> list[str]:
    """The ``Server:`` section as the installed CLI prints it (docker/cli info.go)."""
    lines = [
        " Containers: 0", "  Running: 0", "  Paused: 0", "  Stopped: 0", " Images: 0",
        f" Server Version: {info['ServerVersion']}",
        f" Storage Driver: {info['Driver']}",
    ]  # fmt: skip
    lines += [f"  {k}: {v}" for k, v in info["DriverStatus"]]
    lines.append(f" Logging Driver: {info['LoggingDriver']}")
    lines.append(f" Cgroup Driver: {info['CgroupDriver']}")
    if info.get("CgroupVersion") and at_least(cli_version, "20.10"):
        lines.append(f" Cgroup Version: {info['CgroupVersion']}")
    plugins = info["Plugins"]
    lines += [
        " Plugins:",
        f"  Volume: {' '.join(plugins['Volume'])}",
        f"  Network: {' '.join(plugins['Network'])}",
        f"  Log: {' '.join(plugins['Log'])}",
        " Swarm: inactive",
        f" Runtimes: {' '.join(sorted(info['Runtimes'], key=_runtime_order))}",
        " Default Runtime: runc",
        " Init Binary: docker-init",
        f" containerd version: {info['ContainerdCommit']['ID']}",
        f" runc version: {info['RuncCommit']['ID']}",
        f" init version: {info['InitCommit']['ID']}",
        " Security Options:",
        "  seccomp",
        f"   Profile: {info['SecurityOptions'][0].rsplit('=', 1)[1]}",
    ]
    if "name=cgroupns" in info["SecurityOptions"]:
        lines.append("  cgroupns")
    lines += [
        f" Kernel Version: {info['KernelVersion']}",
        f" Operating System: {info['OperatingSystem']}",
        " OSType: linux",
        " Architecture: x86_64",
        f" CPUs: {info['NCPU']}",
        f" Total Memory: {human_size(info['MemTotal'])}",
        f" Name: {info['Name']}",
        f" ID: {info['ID']}",
        f" Docker Root Dir: {info['DockerRootDir']}",
        f" Debug Mode: {str(info['Debug']).lower()}",
    ]
    modern_cli = at_least(cli_version, "24.0")
    if not modern_cli:
        lines.append(" Registry: https://index.docker.io/v1/")
    if info["Labels"] or not modern_cli:
        lines.append(" Labels:")
        lines += [f"  {label}" for label in info["Labels"]]
    lines += [" Experimental: false", " Insecure Registries:"]
    lines += [f"  {cidr}" for cidr in info["RegistryConfig"]["InsecureRegistryCIDRs"]]
    if info["RegistryConfig"]["Mirrors"]:
        lines.append(" Registry Mirrors:")
        lines += [f"  {m}" for m in info["RegistryConfig"]["Mirrors"]]
    lines.append(f" Live Restore Enabled: {str(info['LiveRestoreEnabled']).lower()}")
    return lines


def _runtime_order(name: str) -> tuple[int, str]:
    return (1 if name == "runc" else 0, name)
