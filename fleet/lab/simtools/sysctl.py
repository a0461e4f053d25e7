"""``sysctl`` (procps-ng 3.3, as EL7-EL9 ship it) over the host's own kernel parameters.

Written from procps-ng's sysctl.c: a word with ``=`` (or any word under ``-w``) is a
write, others are reads, each in turn; a key the kernel lacks is ``cannot stat
/proc/sys/KEY: No such file or directory`` and counts -1 in the exit status (255 for one).
``-n`` prints values only, ``-q`` silences writes, ``-e`` ignores unknown keys.  ``-p``
loads files (``/etc/sysctl.conf`` by default), skipping blank lines and ``#``/``;``
comments; a ``-`` before a key ignores its failure.  ``--system`` loads every ``*.conf``
of /run/sysctl.d, /etc/sysctl.d, /usr/local/lib/sysctl.d, /usr/lib/sysctl.d and
/lib/sysctl.d, a name in an earlier directory hiding the same name in a later one, in
the order of their names, then /etc/sysctl.conf; it ignores unknown keys (it sets
IgnoreError) and prints ``* Applying FILE ...`` before each file.

The ``net.bridge`` keys exist only while ``br_netfilter`` is loaded, at the kernel's
default of 1.  The vendor directories are the simulated OS's, not the machine's: EL7's
systemd ships /usr/lib/sysctl.d/00-system.conf, which turns the bridge keys off (as
quoted in kubernetes/kubeadm#312).
"""

from __future__ import annotations

import sys
from pathlib import Path

from fleet.lab.simtools import kernelstate
from fleet.lab.simtools.state import Host, is_root

# key -> value at boot, for the keys this kernel has.
KEYS: dict[str, str] = {
    "net.ipv4.ip_forward": "0",
    "net.ipv4.conf.all.forwarding": "0",
    "net.ipv6.conf.all.forwarding": "0",
    "net.ipv6.conf.default.forwarding": "0",
    "vm.swappiness": "30",
    "vm.overcommit_memory": "0",
    "kernel.panic": "0",
    "fs.inotify.max_user_watches": "8192",
}
BRIDGE_KEYS: dict[str, str] = {
    "net.bridge.bridge-nf-call-iptables": "1",
    "net.bridge.bridge-nf-call-ip6tables": "1",
    "net.bridge.bridge-nf-call-arptables": "1",
}
SYSTEM_DIRS = (
    "/run/sysctl.d",
    "/etc/sysctl.d",
    "/usr/local/lib/sysctl.d",
    "/usr/lib/sysctl.d",
    "/lib/sysctl.d",
)
HOST_DIRS = ("/run/sysctl.d", "/etc/sysctl.d")  # private per host; the others are the OS's
VENDOR_FILES: dict[str, dict[str, str]] = {
    "el7": {
        "/usr/lib/sysctl.d/00-system.conf": (
            "# Kernel sysctl configuration file\n#\n"
            "# For binary values, 0 is disabled, 1 is enabled.  See sysctl(8) and\n"
            "# sysctl.conf(5) for more details.\n\n"
            "# Disable netfilter on bridges.\n"
            "net.bridge.bridge-nf-call-ip6tables = 0\n"
            "net.bridge.bridge-nf-call-iptables = 0\n"
            "net.bridge.bridge-nf-call-arptables = 0\n"
        ),
    },
}


class Sysctl:
    """One sysctl run: its options and the kernel state it reads and writes."""

    def __init__(self, host: Host, state: dict) -> None:
        self.host = host
        self.state = state
        self.values_only = self.quiet = self.ignore = self.write_mode = False

    def known(self) -> dict[str, str]:
        keys = dict(KEYS)
        if "br_netfilter" in self.state["modules"]:
            keys.update(BRIDGE_KEYS)
        return keys

    def read(self, name: str) -> int:
        key = name.replace("/", ".")
        known = self.known()
        if key not in known:
            if self.ignore:
                return 0
            _warn(f"cannot stat /proc/sys/{key.replace('.', '/')}: No such file or directory")
            return -1
        value = self.state["sysctl"].get(key, known[key])
        print(value if self.values_only else f"{key} = {value}")
        return 0

    def write(self, setting: str) -> int:
        name, sep, value = setting.partition("=")
        if not sep:
            _warn(f'"{setting}" must be of the form name=value')
            return -1
        ignore_failure = name.startswith("-")
        key = name.removeprefix("-").strip().replace("/", ".")
        if key not in self.known():
            if self.ignore:
                return 0
            _warn(f"cannot stat /proc/sys/{key.replace('.', '/')}: No such file or directory")
            return 0 if ignore_failure else -1
        if not is_root():
            suffix = ", ignoring" if ignore_failure else ""
            _warn(f'permission denied on key "{key}"{suffix}')
            return 0 if ignore_failure else -1
        if not value.strip().lstrip("-").isdigit():
            _warn(f'setting key "{key}": Invalid argument')
            return -1
        self.state["sysctl"][key] = value.strip()
        if not self.quiet:
            print(value if self.values_only else f"{key} = {value}")
        return 0

    def preload(self, path: str) -> int:
        text = self._text(path)
        if text is None:
            _warn(f'cannot open "{path}": No such file or directory')
            return -1
        status = 0
        for number, line in enumerate(text.splitlines(), start=1):
            stripped = line.strip()
            if len(stripped) < 2 or stripped[0] in "#;":
                continue
            name, sep, value = stripped.partition("=")
            if not sep or not name.strip() or not value.strip():
                _warn(f"{path}({number}): invalid syntax, continuing...")
                continue
            status |= self.write(f"{name.strip()}={value.strip()}")
        return status

    def system(self) -> int:
        self.ignore = True
        chosen: dict[str, str] = {}
        for folder in SYSTEM_DIRS:
            for name in self._conf_names(folder):
                chosen.setdefault(name, f"{folder}/{name}")
        status = 0
        for name in sorted(chosen):
            if not self.quiet:
                print(f"* Applying {chosen[name]} ...")
            status |= self.preload(chosen[name])
        if self.host.path(kernelstate.SYSCTL_CONF).is_file():
            if not self.quiet:
                print(f"* Applying {kernelstate.SYSCTL_CONF} ...")
            status |= self.preload(kernelstate.SYSCTL_CONF)
        return status

    def _conf_names(self, folder: str) -> list[str]:
        if folder in HOST_DIRS:
            try:
                return [p.name for p in self.host.path(folder).iterdir() if p.suffix == ".conf"]
            except FileNotFoundError:
                return []
        vendor = VENDOR_FILES.get(self.host.profile.family, {})
        return [path.rsplit("/", 1)[1] for path in vendor if path.rsplit("/", 1)[0] == folder]

    def _text(self, path: str) -> str | None:
        vendor = VENDOR_FILES.get(self.host.profile.family, {})
        if path in vendor:
            return vendor[path]
        try:
            return Path(self.host.path(path)).read_text(encoding="utf-8")
        except (FileNotFoundError, IsADirectoryError):
            return None


def _warn(message: str) -> None:
    print(f"sysctl: {message}", file=sys.stderr)


def run(tool: str, args: list[str], host: Host) -> int:
    with kernelstate.changing(host) as state:
        return _main(Sysctl(host, state), args) & 0xFF


def _main(run_: Sysctl, args: list[str]) -> int:
    words: list[str] = []
    load: list[str] | None = None
    for arg in args:
        if arg == "--system":
            return run_.system()
        if arg in ("-p", "--load", "-f"):
            load = []
        elif arg.startswith(("--load=", "-p")) and load is None:
            load = [arg.split("=", 1)[1] if arg.startswith("--load=") else arg[2:]]
        elif arg.startswith("-") and len(arg) > 1 and not arg.startswith("--"):
            for flag in arg[1:]:
                if flag not in "neqw":
                    _warn(f"fleetlab simulates no sysctl option -{flag}")
                    return 1
                run_.values_only |= flag == "n"
                run_.ignore |= flag == "e"
                run_.quiet |= flag == "q"
                run_.write_mode |= flag == "w"
        else:
            words.append(arg)
    if load is not None:
        status = 0
        for path in (load + words) or [kernelstate.SYSCTL_CONF]:
            status |= run_.preload(path)
        return status
    if not words:
        _warn("no variables specified")
        return 1
    status = 0
    for word in words:
        status += run_.write(word) if run_.write_mode or "=" in word else run_.read(word)
    return status
