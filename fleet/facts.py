"""Host facts: what a host is, gathered in one round trip and parsed by pure functions.

One shell script prints every fact fleet needs between ``@@fleet:NAME`` markers;
:func:`parse_facts` turns that text into :class:`HostFacts`.  Steps plan from
these facts, so a host that needs nothing costs one command.  The script runs as
root (through sudo) because ``docker info`` and ``xfs_info`` need it.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from fleet.dockerinfo import DockerInfo, parse_docker_info
from fleet.nodefacts import NODE_SCRIPT, NodeFacts, parse_node_facts

EL_IDS = frozenset({"centos", "rhel", "rocky", "almalinux", "ol"})
# Every package any back end installs or checks (fleet.steps.packages).
WATCHED_PACKAGES = (
    "yum-utils",
    "device-mapper-persistent-data",
    "lvm2",
    "containerd.io",
    "docker-ce",
    "docker-ce-cli",
    "ca-certificates",
    "curl",
    "gnupg",
    "docker.io",
    "containerd",
)
APT_DOCKER_LIST = "/etc/apt/sources.list.d/docker.list"
DOCKER_REPO_ID = "docker-ce-stable"
DAEMON_JSON = "/etc/docker/daemon.json"
CONTAINERD_CONFIG = "/etc/containerd/config.toml"
DROPIN_DIR = "/etc/systemd/system/docker.service.d"
_MARK = "@@fleet:"
LOCK_FILE = "/run/lock/fleet.lock"
LOCKED = _MARK + "locked"
BUSY = _MARK + "busy"


@dataclass(frozen=True)
class HostFacts:
    """What a host is right now.  Fields are ``None`` where the host did not say."""

    os_id: str = ""
    os_version: str = ""
    os_name: str = ""
    os_like: tuple[str, ...] = ()
    kernel: str = ""
    os_codename: str = ""  # VERSION_CODENAME, for apt repositories
    package_manager: str | None = None  # "yum", "dnf" or "apt"
    uid: int | None = None
    packages: Mapping[str, str | None] = field(default_factory=dict)  # name -> version-release
    docker_repo: bool = False
    daemon_json: str | None = None  # file text; None when the file does not exist
    dropin_dir: bool = False
    dropins: Mapping[str, str] = field(default_factory=dict)  # file name -> text
    docker_active: str = "unknown"  # systemctl show: ActiveState
    docker_enabled: str = "unknown"  # UnitFileState
    docker_started_at: str = ""  # ActiveEnterTimestamp: tells a restart apart from none
    containerd_config: str | None = None  # /etc/containerd/config.toml; None when absent
    containerd_active: str = "unknown"
    containerd_enabled: str = "unknown"
    # Epoch seconds of containerd's start and of config.toml's last write: a daemon older
    # than its file runs another configuration than the file says.
    containerd_started: int | None = None
    containerd_config_written: int | None = None
    kubelet_active: str = "unknown"
    docker_info: DockerInfo | None = None  # None when no docker CLI is installed
    var_lib_docker_fs: str | None = None
    xfs_ftype: int | None = None
    free_mb: int | None = None
    node: NodeFacts = field(default_factory=NodeFacts)  # kubeadm's node prerequisites

    @property
    def os_major(self) -> int | None:
        match = re.match(r"\d+", self.os_version)
        return int(match.group()) if match else None

    @property
    def is_el(self) -> bool:
        return self.os_id in EL_IDS or bool({"rhel", "centos"} & set(self.os_like))

    @property
    def is_debian(self) -> bool:
        return self.os_id in ("debian", "ubuntu") or "debian" in self.os_like

    @property
    def pretty_os(self) -> str:
        return self.os_name or f"{self.os_id} {self.os_version}".strip() or "unknown OS"


def facts_script(packages: Sequence[str] = WATCHED_PACKAGES, *, node: bool = False) -> str:
    """The shell script whose output :func:`parse_facts` reads.  POSIX sh; never fails early.

    Only one package database is asked: rpm where yum or dnf is, dpkg where only
    apt-get is (the rule of :func:`_package_manager`).  ``node``: also what kubeadm's
    node prerequisites read (swap, modules, sysctls, SELinux, cgroup version): a
    handful more programs per host, so only for hosts whose steps include them.
    """
    names = " ".join(packages)
    return f"""
m() {{ printf '\\n{_MARK}%s\\n' "$1"; }}
m os_release; cat /etc/os-release 2>/dev/null
m kernel; uname -r
m uid; id -u
m pm; el=; for p in dnf yum apt-get; do command -v $p >/dev/null 2>&1 || continue
  echo $p; [ $p = apt-get ] || el=1; done
m rpm; [ -n "$el" ] && command -v rpm >/dev/null 2>&1 && rpm -q {names} 2>&1
m repo; grep -ls '^\\[{DOCKER_REPO_ID}\\]' /etc/yum.repos.d/*.repo 2>/dev/null
m repo_apt; [ -f {APT_DOCKER_LIST} ] && echo {APT_DOCKER_LIST}
m dpkg; [ -z "$el" ] && command -v dpkg-query >/dev/null 2>&1 && dpkg-query -W \\
  -f='${{Package}} ${{Version}} ${{db:Status-Abbrev}}\\n' {names} 2>&1
m daemon_json; [ -f {DAEMON_JSON} ] && base64 < {DAEMON_JSON} | tr -d '\\n'
m dropin_dir; [ -d {DROPIN_DIR} ] && echo yes
m dropins; for f in {DROPIN_DIR}/*.conf; do [ -f "$f" ] && printf '%s %s\\n' \
  "$(basename "$f")" "$(base64 < "$f" | tr -d '\\n')"; done
m units; systemctl show -p Id -p LoadState -p ActiveState -p UnitFileState \\
  -p ActiveEnterTimestamp docker.service kubelet.service containerd.service 2>/dev/null
m containerd_config; [ -f {CONTAINERD_CONFIG} ] && base64 < {CONTAINERD_CONFIG} | tr -d '\\n'
m containerd_times; stat -c %Y {CONTAINERD_CONFIG} 2>/dev/null || echo -
t=$(systemctl show -p ActiveEnterTimestamp containerd.service 2>/dev/null | cut -d= -f2-)
[ -n "$t" ] && {{ date -d "$t" +%s 2>/dev/null || date -d "${{t% *}}" +%s 2>/dev/null; }}
m docker_info; e=$(mktemp 2>/dev/null || echo /tmp/.fleet-err.$$)
if command -v docker >/dev/null 2>&1; then o=$(docker info --format '{{{{json .}}}}' 2>"$e"); r=$?
  if [ $r -eq 127 ]; then : > "$e"
  elif [ $r -ne 0 ] && grep -qE 'unknown flag|not defined' "$e"; then docker info 2>"$e"
  else printf '%s\n' "$o"; fi; fi
m docker_info_err; cat "$e" 2>/dev/null; rm -f "$e"
m fs; d=/var/lib/docker; [ -d "$d" ] || d=/var/lib
set -- $(findmnt -n -o FSTYPE,TARGET -T "$d" 2>/dev/null); echo "$*"
m xfs; [ "$1" = xfs ] && xfs_info "$2" 2>/dev/null | grep -o 'ftype=[01]'
m df; df -Pk "$d" 2>/dev/null | tail -n 1
{NODE_SCRIPT.strip() if node else ""}
m end
"""


def locked_facts_command(
    wait_s: float, script: str | None = None, *, node: bool = False
) -> tuple[str, bytes]:
    """A command and its stdin that take the host's fleet lock, then print the facts.

    The lock (``flock`` on :data:`LOCK_FILE`) is held by a shell reading its
    commands from stdin: it prints the facts, then :data:`LOCKED`, and then goes
    on reading, so the transport can keep it as the host's root shell for the
    rest of the run.  The lock lives exactly as long as the SSH connection, so a
    crashed controller never leaves a stale lock.  Another run waits up to
    ``wait_s`` seconds, then gets :data:`BUSY`.  The script is fed on stdin to
    avoid any quoting.
    """
    body = script if script is not None else facts_script(node=node)
    stdin = f"{{\n{body}\n}} </dev/null\necho {LOCKED}\n"
    command = (
        f"if command -v flock >/dev/null 2>&1; then mkdir -p {LOCK_FILE.rsplit('/', 1)[0]}; "
        f"flock -w {wait_s:g} {LOCK_FILE} sh -s || echo {BUSY}; else sh -s; fi"
    )
    return command, stdin.encode()


def split_sections(text: str) -> dict[str, str]:
    """Split script output into ``{section: body}``; bodies keep inner newlines, not the edges."""
    sections: dict[str, str] = {}
    name: str | None = None
    lines: list[str] = []
    for line in text.splitlines():
        if line.startswith(_MARK):
            if name is not None:
                sections[name] = "\n".join(lines).strip("\n")
            name, lines = line[len(_MARK) :].strip(), []
        elif name is not None:
            lines.append(line)
    if name is not None:
        sections[name] = "\n".join(lines).strip("\n")
    return sections


def parse_facts(text: str) -> HostFacts:
    """Build :class:`HostFacts` from the output of :func:`facts_script`."""
    s = split_sections(text)
    os_release = parse_os_release(s.get("os_release", ""))
    pm = _package_manager(s.get("pm", "").split(), os_release)
    apt = pm == "apt"
    units = parse_systemctl_show(s.get("units", ""))
    docker, kubelet = units.get("docker.service", {}), units.get("kubelet.service", {})
    containerd = units.get("containerd.service", {})
    written, started = [*s.get("containerd_times", "").split(), "", ""][:2]
    return HostFacts(
        os_id=os_release.get("ID", "").lower(),
        os_version=os_release.get("VERSION_ID", ""),
        os_name=os_release.get("PRETTY_NAME", os_release.get("NAME", "")),
        os_like=tuple(os_release.get("ID_LIKE", "").lower().split()),
        kernel=s.get("kernel", "").strip(),
        os_codename=os_release.get("VERSION_CODENAME", ""),
        package_manager=pm,
        uid=_int(s.get("uid", "")),
        packages=parse_dpkg_query(s.get("dpkg", "")) if apt else parse_rpm_q(s.get("rpm", "")),
        docker_repo=bool(s.get("repo_apt" if apt else "repo", "").strip()),
        daemon_json=_b64(s["daemon_json"]) if s.get("daemon_json", "").strip() else None,
        dropin_dir=s.get("dropin_dir", "").strip() == "yes",
        dropins=_dropins(s.get("dropins", "")),
        docker_active=docker.get("ActiveState") or "unknown",
        docker_enabled=docker.get("UnitFileState") or "unknown",
        docker_started_at=docker.get("ActiveEnterTimestamp", ""),
        containerd_config=_b64(s["containerd_config"])
        if s.get("containerd_config", "").strip()
        else None,
        containerd_active=containerd.get("ActiveState") or "unknown",
        containerd_enabled=containerd.get("UnitFileState") or "unknown",
        containerd_started=_int(started),
        containerd_config_written=_int(written),
        kubelet_active=kubelet.get("ActiveState") or "unknown",
        docker_info=_docker_info(s),
        var_lib_docker_fs=(s.get("fs", "").split() or [None])[0],
        xfs_ftype=_int(s.get("xfs", "").strip().removeprefix("ftype=")),
        free_mb=_free_mb(s.get("df", "")),
        node=parse_node_facts(s),
    )


def parse_os_release(text: str) -> dict[str, str]:
    values: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep and key.strip().isidentifier():
            values[key.strip()] = value.strip().strip("\"'")
    return values


def parse_systemctl_show(text: str) -> dict[str, dict[str, str]]:
    """``systemctl show -p Id -p ... UNIT...`` -> ``{unit id: {property: value}}``.

    systemd prints one block of ``Key=value`` lines per unit, blocks separated by a
    blank line, properties in its own order; the ``Id`` line names the block.  A
    unit that does not exist still gets a block (``LoadState=not-found``).
    """
    units: dict[str, dict[str, str]] = {}
    for block in re.split(r"\n\s*\n", text.strip()):
        values = dict(line.partition("=")[::2] for line in block.splitlines() if "=" in line)
        values = {key.strip(): value.strip() for key, value in values.items()}
        if values.get("Id"):
            units[values["Id"]] = values
    return units


def parse_rpm_q(text: str) -> dict[str, str | None]:
    """``rpm -q NAME...`` output -> ``{name: "version-release" | None}``.

    rpm prints one line per name in argument order: a NEVRA such as
    ``docker-ce-19.03.11-3.el7.x86_64`` or ``package lvm2 is not installed``.
    """
    found: dict[str, str | None] = {}
    for line in text.splitlines():
        line = line.strip()
        missing = re.fullmatch(r"package (\S+) is not installed", line)
        if missing:
            found[missing.group(1)] = None
            continue
        nevra = re.fullmatch(r"(.+)-([^-]+)-([^-]+)\.([^.]+)", line)
        if nevra:
            name, version, release, _arch = nevra.groups()
            found[name] = f"{version}-{release}"
    return found


def _package_manager(found: Sequence[str], os_release: Mapping[str, str]) -> str | None:
    """dnf from EL8 on (where yum is only its alias), yum on EL7 even if a dnf is lying
    around, apt where neither exists."""
    major = re.match(r"\d+", os_release.get("VERSION_ID", ""))
    if "dnf" in found and (major is None or int(major.group()) >= 8 or "yum" not in found):
        return "dnf"
    if "yum" in found:
        return "yum"
    return "apt" if "apt-get" in found else None


def parse_dpkg_query(text: str) -> dict[str, str | None]:
    """``dpkg-query -W -f='${Package} ${Version} ${db:Status-Abbrev}\\n'`` -> versions.

    Only ``ii`` (installed) and ``hi`` (held) count; ``un``/``rc`` are known but absent.
    """
    found: dict[str, str | None] = {}
    for line in text.splitlines():
        missing = re.search(r"no packages found matching (\S+)", line)
        if missing:
            found[missing.group(1)] = None
            continue
        parts = line.split()
        if len(parts) >= 2:
            installed = len(parts) >= 3 and parts[2][:2] in ("ii", "hi")
            found[parts[0]] = parts[1] if installed else None
    return found


def _docker_info(sections: Mapping[str, str]) -> DockerInfo | None:
    out, err = sections.get("docker_info", ""), sections.get("docker_info_err", "")
    if not out.strip() and not err.strip():
        return None
    return parse_docker_info(out, err)


def _dropins(text: str) -> dict[str, str]:
    result = {}
    for line in text.splitlines():
        name, _, encoded = line.partition(" ")
        if name:
            result[name] = _b64(encoded)
    return result


def _b64(text: str) -> str:
    try:
        return base64.b64decode(text.strip()).decode("utf-8", "replace")
    except ValueError:
        return ""


def _int(text: str) -> int | None:
    text = text.strip()
    return int(text) if text.lstrip("-").isdigit() else None


def _free_mb(df_line: str) -> int | None:
    parts = df_line.split()
    return int(parts[3]) // 1024 if len(parts) >= 4 and parts[3].isdigit() else None
