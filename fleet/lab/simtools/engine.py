"""dockerd's start-up decisions: everything the running engine reports comes from its configuration.

Starting the engine reads /etc/docker/daemon.json and the ExecStart flags of the
unit systemd has loaded, in dockerd's order: flag parsing, JSON syntax, unknown
directives, flag/file conflicts, value types (dockerd_load, from dockerd's own
sources), then the cgroup driver and the storage driver (options, d_type).  The first failure is dockerd's error text, which
systemd writes to the journal; success records the effective configuration in
engine.json, which ``docker info`` reads.
"""

from __future__ import annotations

import sys
import time
from typing import Any

from fleet.lab.simtools import dockerd_flags, dockerd_load, packages, versions
from fleet.lab.simtools.state import ENGINE, Host, is_root
from fleet.lab.simtools.versions import at_least

DAEMON_JSON = "/etc/docker/daemon.json"

_STORAGE_DRIVERS = ("overlay2", "overlay", "devicemapper", "vfs", "btrfs", "zfs", "aufs")


class EngineError(Exception):
    """dockerd refused to start; ``str()`` is its error line, ``status`` its exit code."""

    def __init__(self, message: str, status: int = 1) -> None:
        super().__init__(message)
        self.status = status


def validate(host: Host, version: str, argv: list[str]) -> tuple[dict[str, Any], dict[str, Any]]:
    """dockerd's flags and daemon.json, as ``dockerd --validate`` checks them.

    The rules are dockerd's own, read from its sources (dockerd_flags,
    dockerd_config, dockerd_load), not the rollout's: a rollout that
    misjudges a conflict meets the engine's refusal here.
    """
    try:
        parsed = dockerd_flags.parse(argv, version)
        if parsed.args:
            raise dockerd_flags.no_args_error()
        path = parsed.values.get("config-file", DAEMON_JSON)
        config = dockerd_load.load(parsed, _read_bytes(host, path), path, version)
    except (dockerd_flags.FlagError, dockerd_load.ConfigError) as exc:
        raise EngineError(str(exc)) from None
    return parsed.values, config


def _read_bytes(host: Host, path: str) -> bytes | None:
    try:
        return host.path(path).read_bytes()
    except FileNotFoundError:
        return None


def _setting(flags: dict[str, Any], config: dict[str, Any], flag: str, key: str) -> Any:
    return flags[flag] if flag in flags else config.get(key)


def _data_root(flags: dict[str, Any], config: dict[str, Any]) -> str:
    """``--data-root``, or the ``-g``/``graph`` spelling that set the same directory to 23.x."""
    for value in (flags.get("data-root"), flags.get("graph")):
        if value:
            return str(value)
    return str(config.get("data-root") or config.get("graph") or "/var/lib/docker")


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
    flags, config = validate(host, version, argv)
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
        "data_root": _data_root(flags, config),
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
    try:
        parsed = dockerd_flags.parse(args, version)
    except dockerd_flags.FlagError as exc:
        print(exc, file=sys.stderr)
        return 1
    if parsed.values.get("help"):
        print(f"Usage:\t{dockerd_flags.USAGE_LINE}\n\n{dockerd_flags.SHORT}")
        return 0
    if parsed.values.get("version"):
        print(f"Docker version {version}, build {versions.git_commit(version, True)[:7]}")
        return 0
    if parsed.values.get("validate"):
        return _validate_command(host, version, args)
    try:
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
    """``dockerd --validate`` (23.0+; older engines have no such flag and refuse it).

    It loads the configuration and stops: the drivers are checked only on a
    real start.  "configuration OK" goes to stderr, like ``nginx -t`` (cmd/dockerd/docker.go).
    """
    try:
        validate(host, version, args)
    except EngineError as exc:
        print(exc, file=sys.stderr)
        return exc.status
    print("configuration OK", file=sys.stderr)
    return 0
