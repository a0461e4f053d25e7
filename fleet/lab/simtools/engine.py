"""dockerd's start-up decisions: everything the running engine reports comes from its configuration.

Starting the engine reads /etc/docker/daemon.json and the ExecStart flags of the
unit systemd has loaded, in dockerd's order: flag parsing, JSON syntax, unknown
directives, flag/file conflicts, value types, cgroup driver, then the storage
driver (options, d_type).  The first failure is dockerd's error text, which
systemd writes to the journal; success records the effective configuration in
engine.json, which ``docker info`` reads.
"""

from __future__ import annotations

import sys
import time
from typing import Any

from fleet.lab.simtools import gojson, packages, versions
from fleet.lab.simtools.state import ENGINE, Host, is_root
from fleet.lab.simtools.versions import at_least

DAEMON_JSON = "/etc/docker/daemon.json"
CONFIG_PREFIX = "unable to configure the Docker daemon with file {path}: "

_FLAGS = (
    (("-H", "--host"), "host", "hosts", "list"),
    (("--containerd",), "containerd", "containerd", "str"),
    (("--exec-opt",), "exec-opt", "exec-opts", "list"),
    (("-s", "--storage-driver"), "storage-driver", "storage-driver", "str"),
    (("--storage-opt",), "storage-opt", "storage-opts", "list"),
    (("--log-driver",), "log-driver", "log-driver", "str"),
    (("--log-opt",), "log-opt", "log-opts", "map"),
    (("--data-root",), "data-root", "data-root", "str"),
    (("-g", "--graph"), "graph", "graph", "str"),
    (("-l", "--log-level"), "log-level", "log-level", "str"),
    (("-D", "--debug"), "debug", "debug", "bool"),
    (("--cgroup-parent",), "cgroup-parent", "cgroup-parent", "str"),
    (("--live-restore",), "live-restore", "live-restore", "bool"),
    (("--iptables",), "iptables", "iptables", "bool"),
    (("--selinux-enabled",), "selinux-enabled", "selinux-enabled", "bool"),
    (("--insecure-registry",), "insecure-registry", "insecure-registries", "list"),
    (("--registry-mirror",), "registry-mirror", "registry-mirrors", "list"),
    (("--bip",), "bip", "bip", "str"),
    (("--mtu",), "mtu", "mtu", "str"),
    (("--label",), "label", "labels", "list"),
    (("--config-file",), "config-file", None, "str"),
    (("--validate",), "validate", None, "bool"),
    (("-v", "--version"), "version", None, "bool"),
    (("-h", "--help"), "help", None, "bool"),
)
# spelling -> (flag name, daemon.json directive or None, kind)
_FLAG_TABLE: dict[str, tuple[str, str | None, str]] = {
    spelling: (flag, key, kind) for names, flag, key, kind in _FLAGS for spelling in names
}

# Directives dockerd accepts in daemon.json (a representative subset of its flags).
KNOWN_DIRECTIVES = frozenset(
    [
        "allow-nondistributable-artifacts",
        "api-cors-header",
        "authorization-plugins",
        "bip",
        "bridge",
        "builder",
        "cgroup-parent",
        "cluster-advertise",
        "cluster-store",
        "cluster-store-opts",
        "containerd",
        "containerd-namespace",
        "containerd-plugins-namespace",
        "cpu-rt-period",
        "cpu-rt-runtime",
        "data-root",
        "debug",
        "default-address-pools",
        "default-cgroupns-mode",
        "default-gateway",
        "default-gateway-v6",
        "default-ipc-mode",
        "default-runtime",
        "default-shm-size",
        "default-ulimits",
        "dns",
        "dns-opts",
        "dns-search",
        "exec-opts",
        "exec-root",
        "experimental",
        "features",
        "fixed-cidr",
        "fixed-cidr-v6",
        "graph",
        "group",
        "hosts",
        "icc",
        "init",
        "init-path",
        "insecure-registries",
        "ip",
        "ip-forward",
        "ip-masq",
        "ip6tables",
        "iptables",
        "ipv6",
        "labels",
        "live-restore",
        "log-driver",
        "log-format",
        "log-level",
        "log-opts",
        "max-concurrent-downloads",
        "max-concurrent-uploads",
        "max-download-attempts",
        "metrics-addr",
        "mtu",
        "no-new-privileges",
        "node-generic-resources",
        "oom-score-adjust",
        "pidfile",
        "proxies",
        "raw-logs",
        "registry-mirrors",
        "runtimes",
        "seccomp-profile",
        "selinux-enabled",
        "shutdown-timeout",
        "storage-driver",
        "storage-opts",
        "swarm-default-advertise-addr",
        "tls",
        "tlscacert",
        "tlscert",
        "tlskey",
        "tlsverify",
        "userland-proxy",
        "userland-proxy-path",
        "userns-remap",
    ]
)

# Go types of the directives whose values the engine uses (for "cannot unmarshal" errors).
_GO_TYPES = {
    "storage-driver": "string", "log-driver": "string", "log-level": "string",
    "data-root": "string", "containerd": "string", "cgroup-parent": "string", "bip": "string",
    "exec-opts": "[]string", "storage-opts": "[]string", "hosts": "[]string", "dns": "[]string",
    "insecure-registries": "[]string", "registry-mirrors": "[]string", "labels": "[]string",
    "log-opts": "map[string]string", "debug": "bool", "live-restore": "bool", "iptables": "bool",
    "ipv6": "bool", "selinux-enabled": "bool", "experimental": "bool", "icc": "bool", "mtu": "int",
}  # fmt: skip

_STORAGE_DRIVERS = ("overlay2", "overlay", "devicemapper", "vfs", "btrfs", "zfs", "aufs")


class EngineError(Exception):
    """dockerd refused to start; ``str()`` is its error line, ``status`` its exit code."""

    def __init__(self, message: str, status: int = 1) -> None:
        super().__init__(message)
        self.status = status


def parse_flags(argv: list[str]) -> dict[str, Any]:
    """dockerd's command line -> {flag name: value}; lists accumulate, like pflag."""
    flags: dict[str, Any] = {}
    i = 0
    while i < len(argv):
        arg = argv[i]
        i += 1
        spelling, eq, inline = arg.partition("=") if arg.startswith("--") else (arg, "", "")
        if spelling not in _FLAG_TABLE:
            raise EngineError(f"unknown flag: {spelling}\nSee 'dockerd --help'.", 125)
        name, _key, kind = _FLAG_TABLE[spelling]
        if kind == "bool":
            flags[name] = inline.lower() != "false" if eq else True
            continue
        if not eq:
            if i >= len(argv):
                raise EngineError(f"flag needs an argument: {spelling}\nSee 'dockerd --help'.", 125)
            inline = argv[i]
            i += 1
        if kind == "list":
            flags.setdefault(name, []).append(inline)
        elif kind == "map":
            k, _, v = inline.partition("=")
            flags.setdefault(name, {})[k] = v
        else:
            flags[name] = inline
    return flags


def _flag_text(value: Any) -> str:
    """pflag's ``Value.String()`` for the option kinds dockerd uses."""
    return gojson.go_format(value)


def flag_conflicts(flags: dict[str, Any], config: dict[str, Any]) -> str | None:
    """dockerd's "specified both as a flag and in the configuration file" message, or None.

    The lab's own reading of the rule; :func:`conflict_message` prefers
    fleet.daemonjson's, so the rollout and the simulated engine agree.
    """
    conflicts = []
    for name in sorted(flags):
        key = next((k for _n, k, _ in _FLAG_TABLE.values() if _n == name), None)
        if key is None or key not in config:
            continue
        conflicts.append(
            f"{key}: (from flag: {_flag_text(flags[name])}, from file: {gojson.go_format(config[key])})"
        )
    if not conflicts:
        return None
    return (
        "the following directives are specified both as a flag and in the configuration file: "
        + ", ".join(conflicts)
    )


def conflict_message(
    argv: list[str], flags: dict[str, Any], config: dict[str, Any], path: str
) -> str | None:
    """The complete start-up error for flag/file conflicts, or None (the one swap point)."""
    try:
        from fleet import daemonjson
    except ImportError:
        message = flag_conflicts(flags, config)
        return CONFIG_PREFIX.format(path=path) + message if message else None
    conflicts = daemonjson.flag_conflicts(config, argv)
    return daemonjson.conflict_error(conflicts, path) if conflicts else None


def _type_error(config: dict[str, Any]) -> str | None:
    """The first ``json: cannot unmarshal`` error in document order, as Go reports it."""
    go_names = {"[]string": "array", "map[string]string": "object", "string": "string",
                "bool": "bool", "int": "number"}  # fmt: skip
    for key, value in config.items():
        want = _GO_TYPES.get(key)
        if want is None or value is None:
            continue
        kind = gojson.go_kind(value)
        if kind != go_names[want]:
            return f"json: cannot unmarshal {kind} into Go struct field Config.{key} of type {want}"
        inner = "string" if want in ("[]string", "map[string]string") else None
        items = value if kind == "array" else list(value.values()) if kind == "object" else []
        for item in items:
            if inner and gojson.go_kind(item) != "string":
                return (
                    f"json: cannot unmarshal {gojson.go_kind(item)} into Go struct field "
                    f"Config.{key} of type string"
                )
    return None


def read_config_file(host: Host, path: str, explicit: bool) -> dict[str, Any] | None:
    """daemon.json as dockerd decodes it; None when the default file is absent."""
    try:
        data = host.path(path).read_bytes()
    except FileNotFoundError:
        if explicit:
            raise EngineError(
                CONFIG_PREFIX.format(path=path) + f"open {path}: no such file or directory"
            ) from None
        return None
    try:
        return gojson.unmarshal_object(data)
    except gojson.GoJSONError as exc:
        raise EngineError(CONFIG_PREFIX.format(path=path) + str(exc)) from None


def validate(host: Host, argv: list[str]) -> tuple[dict[str, Any], dict[str, Any]]:
    """What ``dockerd --validate`` checks: flags, JSON, directives, conflicts, types."""
    flags = parse_flags(argv)
    path = flags.get("config-file", DAEMON_JSON)
    config = read_config_file(host, path, "config-file" in flags) or {}
    prefix = CONFIG_PREFIX.format(path=path)
    unknown = sorted(k for k in config if k not in KNOWN_DIRECTIVES)
    if unknown:
        raise EngineError(
            prefix
            + "the following directives don't match any configuration option: "
            + ", ".join(unknown)
        )
    conflict = conflict_message(argv, flags, config, path)
    if conflict:
        raise EngineError(conflict)
    type_error = _type_error(config)
    if type_error:
        raise EngineError(prefix + type_error)
    return flags, config


def _setting(flags: dict[str, Any], config: dict[str, Any], flag: str, key: str) -> Any:
    return flags[flag] if flag in flags else config.get(key)


def cgroup_driver(host: Host, version: str, exec_opts: list[str]) -> str:
    """native.cgroupdriver, or the default (systemd on cgroup v2 from 20.10, else cgroupfs)."""
    chosen = ""
    for opt in exec_opts:
        key, _, value = opt.partition("=")
        if key.strip().lower() == "native.cgroupdriver":
            chosen = value.strip()
    if chosen in ("", "cgroupfs", "systemd"):
        if chosen:
            return chosen
        v2 = host.profile.cgroup_version == 2 and at_least(version, "20.10")
        return "systemd" if v2 else "cgroupfs"
    if chosen == "none":
        raise EngineError(
            f"failed to start daemon: native.cgroupdriver option {chosen} is internally used "
            "and cannot be specified manually"
        )
    raise EngineError(f"failed to start daemon: native.cgroupdriver option {chosen} not supported")


def backing_fs(host: Host) -> str:
    """dockerd's name for the file system under /var/lib/docker (ext4 is "extfs")."""
    fs = str(host.spec["var_lib_docker"].get("fs", "xfs"))
    return "extfs" if fs.startswith("ext") else fs


def supports_d_type(host: Host) -> bool:
    vld = host.spec["var_lib_docker"]
    return not (backing_fs(host) == "xfs" and int(vld.get("ftype", 1)) == 0)


def storage(host: Host, version: str, driver: str | None, opts: list[str]) -> tuple[str, list[str]]:
    """The storage driver and its warnings; raises dockerd's graphdriver errors."""
    explicit = bool(driver)
    driver = driver or "overlay2"
    prefix = "failed to start daemon: error initializing graphdriver: "
    if driver not in _STORAGE_DRIVERS or (
        driver in ("overlay", "aufs") and at_least(version, "24.0")
    ):
        raise EngineError(prefix + "driver not supported")
    log: list[str] = []
    for opt in opts:
        key = opt.partition("=")[0].strip().lower()
        if not key.startswith(driver + "."):
            raise EngineError(prefix + f"{driver}: unknown option {key}: {driver}")
        if key == "overlay2.override_kernel_check":
            if at_least(version, "24.0"):
                raise EngineError(prefix + f"overlay2: unknown option {key}: overlay2")
            if at_least(version, "23.0"):
                log.append(
                    'level=warning msg="overlay2: the overlay2.override_kernel_check option '
                    'is deprecated and has no effect" storage-driver=overlay2'
                )
        elif key not in ("overlay2.size", "overlay2.mountopt"):
            raise EngineError(prefix + f"{driver}: unknown option {key}: {driver}")
    if driver.startswith("overlay") and not supports_d_type(host):
        fs = backing_fs(host)
        base = (
            f"{driver}: the backing {fs} filesystem is formatted without d_type support, "
            "which leads to incorrect behavior."
        )
        hint = (
            " Reformat the filesystem with ftype=1 to enable d_type support." if fs == "xfs" else ""
        )
        if explicit or at_least(version, "23.0"):
            raise EngineError(
                prefix
                + base
                + hint
                + " Backing filesystems without d_type support are not supported."
            )
        log.append(
            f'level=warning msg="{base}{hint} Running without d_type support will not be '
            f'supported in future releases." storage-driver={driver}'
        )
    return driver, log


def d_type_warning(driver: str, fs: str) -> str:
    """The multi-line WARNING ``docker info`` prints (daemon/info.go fillDriverWarnings)."""
    msg = (
        f"WARNING: {driver}: the backing {fs} filesystem is formatted without d_type support, "
        "which leads to incorrect behavior.\n"
    )
    if fs == "xfs":
        msg += "         Reformat the filesystem with ftype=1 to enable d_type support.\n"
    return msg + "         Running without d_type support will not be supported in future releases."


def configure(host: Host, version: str, argv: list[str]) -> dict[str, Any]:
    """The configuration a dockerd ``version`` started with ``argv`` would run with."""
    fail = host.faults.get("engine_fails")
    if fail:
        raise EngineError(str(fail))
    flags, config = validate(host, argv)
    exec_opts = list(_setting(flags, config, "exec-opt", "exec-opts") or [])
    driver = cgroup_driver(host, version, exec_opts)
    storage_opts = list(_setting(flags, config, "storage-opt", "storage-opts") or [])
    sdriver, log = storage(
        host, version, _setting(flags, config, "storage-driver", "storage-driver"), storage_opts
    )
    warnings = []
    if sdriver.startswith("overlay") and not supports_d_type(host):
        warnings.append(d_type_warning(sdriver, backing_fs(host)))
    return {
        "cgroup_driver": driver,
        "cgroup_version": host.profile.cgroup_version,
        "storage_driver": sdriver,
        "storage_opts": storage_opts,
        "backing_fs": backing_fs(host),
        "d_type": supports_d_type(host),
        "log_driver": _setting(flags, config, "log-driver", "log-driver") or "json-file",
        "log_opts": _setting(flags, config, "log-opt", "log-opts") or {},
        "registry_mirrors": list(
            _setting(flags, config, "registry-mirror", "registry-mirrors") or []
        ),
        "insecure_registries": list(
            _setting(flags, config, "insecure-registry", "insecure-registries") or []
        ),
        "labels": list(_setting(flags, config, "label", "labels") or []),
        "live_restore": bool(_setting(flags, config, "live-restore", "live-restore")),
        "debug": bool(_setting(flags, config, "debug", "debug")),
        "data_root": _setting(flags, config, "data-root", "data-root") or "/var/lib/docker",
        "exec_start": argv,
        "daemon_json": config,
        "warnings": warnings,
        "log": log,
    }


def read_engine(host: Host) -> dict[str, Any]:
    return host.read(ENGINE, {"running": False})


def start(host: Host, argv: list[str], pid: int) -> dict[str, Any]:
    """Start the installed engine (call under the state lock); raises EngineError on failure."""
    version = packages.engine_version(host)
    if version is None:
        raise EngineError("docker-ce is not installed")
    containerd = packages.installed_named(host, "containerd.io")
    cfg = configure(host, version, argv[1:])
    record = {
        "running": True,
        "version": version,
        "containerd": containerd[0].version if containerd else None,
        "pid": pid,
        "started_at": time.time(),
        "config": cfg,
    }
    host.write(ENGINE, record)
    return record


def stop(host: Host) -> None:
    record = read_engine(host)
    if record.get("running"):
        record.update(running=False, stopped_at=time.time())
        host.write(ENGINE, record)


def daemon_log_lines(version: str, cfg: dict[str, Any]) -> list[str]:
    """What a successful start logs (logrus text format, as journalctl shows dockerd)."""
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()) + ".000000000Z"
    commit = versions.git_commit(version, server=True)[:7]
    lines = [f'time="{stamp}" level=info msg="Starting up"']
    lines += [f'time="{stamp}" {entry}' for entry in cfg.get("log", [])]
    lines.append(
        f'time="{stamp}" level=info msg="Docker daemon" commit={commit} '
        f"graphdriver(s)={cfg['storage_driver']} version={version}"
    )
    lines.append(f'time="{stamp}" level=info msg="Daemon has completed initialization"')
    lines.append(f'time="{stamp}" level=info msg="API listen on /var/run/docker.sock"')
    return lines


# -- the dockerd command -----------------------------------------------------------------


def run(tool: str, args: list[str], host: Host) -> int:
    version = packages.engine_version(host)
    if version is None:
        from fleet.lab.simtools.faults import command_not_found

        return command_not_found(tool)
    if args and args[0] in ("-v", "--version"):
        print(f"Docker version {version}, build {versions.git_commit(version, True)[:7]}")
        return 0
    if "--validate" in args or any(a.startswith("--validate=") for a in args):
        return _validate_command(host, version, args)
    try:
        flags = parse_flags(args)
        if flags.get("help"):
            print("Usage:\tdockerd [OPTIONS]\n\nA self-sufficient runtime for containers.")
            return 0
        configure(host, version, args)
    except EngineError as exc:
        print(exc, file=sys.stderr)
        return exc.status
    if not is_root():
        print("dockerd needs to be started with root privileges. To run dockerd in rootless mode as "
              "an unprivileged user, see https://docs.docker.com/go/rootless/", file=sys.stderr)  # fmt: skip
        return 1
    if read_engine(host).get("running"):
        print("failed to start daemon: pid file found, ensure docker is not running or delete "
              "/var/run/docker.pid", file=sys.stderr)  # fmt: skip
        return 1
    print("failed to start daemon: the lab runs dockerd only through systemctl", file=sys.stderr)
    return 1


def _validate_command(host: Host, version: str, args: list[str]) -> int:
    """``dockerd --validate``: 23.0 and later only; older engines reject the flag."""
    if not at_least(version, "23.0"):
        print("unknown flag: --validate\nSee 'dockerd --help'.", file=sys.stderr)
        return 125
    rest = [a for a in args if a != "--validate" and not a.startswith("--validate=")]
    try:
        validate(host, rest)
    except EngineError as exc:
        print(exc, file=sys.stderr)
        return exc.status
    print("configuration OK")
    return 0
