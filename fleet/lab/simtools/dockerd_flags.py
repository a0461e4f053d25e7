"""dockerd's command line as its own flag parser (spf13/pflag under cobra) reads it.

The simulated engine needs three things from a command line: which flags were
set, their values as dockerd stores them, and each value's ``String()`` text,
because that text is what dockerd prints in a "from flag: ..." conflict.  The
table below is dockerd's Linux flag set per release, read from moby's sources:
``cmd/dockerd/config.go``, ``config_unix.go``, ``options.go`` and ``docker.go``
(``daemon/command/`` from 29.0) at the tags v19.03.0 ... v28.5.2, docker-v29.7.2.

A flag whose value is an ``opts.NamedOption`` (``-H`` -> ``hosts``, ``--exec-opt``
-> ``exec-opts``) is matched against daemon.json by that name; any other flag by
its own name (``storage-driver``, ``data-root``, ``graph``).
"""

from __future__ import annotations

from typing import Any, NamedTuple

from fleet.lab.simtools.versions import at_least

USAGE_LINE = "dockerd [OPTIONS]"
SHORT = "A self-sufficient runtime for containers."


class Flag(NamedTuple):
    """One dockerd flag: pflag name, shorthand, value kind, daemon.json name, releases."""

    name: str
    short: str
    kind: str  # bool | string | int | list | map | set | ipslice | text
    key: str  # the NamedOption name, "" when the flag is matched by its own name
    since: str = "0"
    until: str = ""  # first release without it


def _rows(kind: str, names: str, since: str = "0", until: str = "") -> list[Flag]:
    return [Flag(name, "", kind, "", since, until) for name in names.split()]


# (name, shorthand, kind, NamedOption name, since, until); `dockerd --help` lists them.
_NAMED = [
    Flag("host", "H", "list", "hosts"),
    Flag("exec-opt", "", "list", "exec-opts"),
    Flag("storage-opt", "", "list", "storage-opts"),
    Flag("log-opt", "", "map", "log-opts"),
    Flag("label", "", "list", "labels"),
    Flag("registry-mirror", "", "list", "registry-mirrors"),
    Flag("insecure-registry", "", "list", "insecure-registries"),
    Flag("allow-nondistributable-artifacts", "", "list", "allow-nondistributable-artifacts",
         until="29.0"),
    Flag("authorization-plugin", "", "list", "authorization-plugins"),
    Flag("dns-opt", "", "list", "dns-opts"),
    Flag("node-generic-resource", "", "list", "node-generic-resources"),
    Flag("add-runtime", "", "text", "runtimes"),
    Flag("default-ulimit", "", "text", "default-ulimits"),
    Flag("default-address-pool", "", "text", "default-address-pools"),
    Flag("cluster-store-opt", "", "map", "cluster-store-opts", until="24.0"),
    Flag("default-network-opt", "", "text", "default-network-opts", since="24.0"),
    Flag("cdi-spec-dir", "", "list", "cdi-spec-dirs", since="25.0"),
    Flag("feature", "", "set", "features", since="27.3"),
    Flag("nri-opts", "", "text", "nri-opts", since="29.2"),
    # --dns: ListOpts to 24.x, pflag IPSlice 25-28, a NamedIPListOpts "dns" from 29.0
    Flag("dns", "", "list", "", until="25.0"),
    Flag("dns", "", "ipslice", "", since="25.0", until="29.0"),
    Flag("dns", "", "list", "dns", since="29.0"),
    # --host-gateway-ip: a plain IP flag until 27.x, then the NamedOption host-gateway-ips
    Flag("host-gateway-ip", "", "text", "", since="20.10", until="28.0"),
    Flag("host-gateway-ip", "", "list", "host-gateway-ips", since="28.0"),
]  # fmt: skip
_SHORT = [
    Flag("debug", "D", "bool", ""),
    Flag("version", "v", "bool", ""),
    Flag("help", "h", "bool", ""),
    Flag("restart", "r", "bool", ""),
    Flag("log-level", "l", "string", ""),
    Flag("storage-driver", "s", "string", ""),
    Flag("group", "G", "string", ""),
    Flag("pidfile", "p", "string", ""),
    Flag("bridge", "b", "string", ""),
    Flag("graph", "g", "string", "", until="24.0"),
]
_PLAIN = [
    *_rows("bool", "cri-containerd experimental icc init ip-forward ip-masq iptables ipv6"),
    *_rows("bool", "live-restore no-new-privileges raw-logs rootless selinux-enabled"),
    *_rows("bool", "tls tlsverify userland-proxy"),
    *_rows("bool", "ip6tables", since="20.10"),
    *_rows("bool", "validate", since="23.0"),
    *_rows("bool", "ip-forward-no-drop", since="28.0"),
    *_rows("bool", "allow-direct-routing", since="28.2"),
    *_rows("string", "bip cgroup-parent config-file containerd containerd-namespace"),
    *_rows("string", "containerd-plugins-namespace data-root default-ipc-mode default-runtime"),
    *_rows("string", "exec-root fixed-cidr fixed-cidr-v6 init-path log-driver metrics-addr"),
    *_rows("string", "seccomp-profile swarm-default-advertise-addr tlscacert tlscert tlskey"),
    *_rows("string", "userland-proxy-path userns-remap default-gateway default-gateway-v6 ip"),
    *_rows("string", "api-cors-header", until="29.0"),
    *_rows("string", "cluster-advertise cluster-store", until="24.0"),
    *_rows("string", "default-cgroupns-mode", since="20.10"),
    *_rows("string", "http-proxy https-proxy no-proxy", since="23.0"),
    *_rows("string", "log-format", since="25.0"),
    *_rows("string", "bip6", since="28.0"),
    *_rows("string", "firewall-backend bridge-accept-fwmark", since="29.0"),
    *_rows("text", "default-shm-size"),
    *_rows("int", "cpu-rt-period cpu-rt-runtime max-concurrent-downloads max-concurrent-uploads"),
    *_rows("int", "mtu network-control-plane-mtu network-diagnostic-port shutdown-timeout"),
    *_rows("int", "max-download-attempts", since="20.10"),
    *_rows("int", "oom-score-adjust", until="26.0"),
    *_rows("int", "default-stop-timeout", since="29.7"),
]
FLAGS: tuple[Flag, ...] = (*_NAMED, *_SHORT, *_PLAIN)


class FlagError(Exception):
    """A command line dockerd refuses; ``str()`` is what it prints before exiting 1."""


def flag_set(version: str) -> dict[str, Flag]:
    """The flags of dockerd ``version`` by name (what ``flags.Lookup(name)`` finds)."""
    return {
        f.name: f
        for f in FLAGS
        if at_least(version, f.since) and not (f.until and at_least(version, f.until))
    }


def _status_error(message: str) -> FlagError:
    # cmd/dockerd cobra.go FlagErrorFunc wraps the pflag error in a StatusError whose
    # Error() is "Status: %s, Code: %d"; main() prints err and exits 1 (docker.go).
    return FlagError(f"Status: {message}\nSee 'dockerd --help'., Code: 125")


def no_args_error() -> FlagError:
    """cmd/dockerd required.go NoArgs: dockerd takes no positional arguments."""
    return FlagError(
        "\"dockerd\" accepts no argument(s).\nSee 'dockerd --help'.\n\n"
        f"Usage:  {USAGE_LINE}\n\n{SHORT}"
    )


class Parsed(NamedTuple):
    """The flags set on a command line (pflag's ``actual``) and the leftover arguments."""

    values: dict[str, Any]
    flags: dict[str, Flag]
    args: list[str]


def parse(argv: list[str], version: str) -> Parsed:
    """pflag ``FlagSet.Parse`` (flag.go parseArgs/parseLongArg/parseShortArg) over ``argv``."""
    known = flag_set(version)
    shorts = {f.short: f for f in known.values() if f.short}
    values: dict[str, Any] = {}
    args: list[str] = []
    rest = list(argv)
    while rest:
        arg = rest.pop(0)
        if len(arg) < 2 or not arg.startswith("-"):
            args.append(arg)
        elif arg == "--":
            args.extend(rest)
            break
        elif arg.startswith("--"):
            _long(arg, rest, known, values)
        else:
            _shorts(arg, rest, shorts, values)
    return Parsed(values, {name: known[name] for name in values}, args)


def _long(arg: str, rest: list[str], known: dict[str, Flag], values: dict[str, Any]) -> None:
    name, eq, inline = arg[2:].partition("=")
    if not name or name[0] in "-=":
        raise _status_error(f"bad flag syntax: {arg}")
    flag = known.get(name)
    if flag is None:
        raise _status_error(f"unknown flag: --{name}")
    if eq:
        value = inline
    elif flag.kind == "bool":
        value = "true"  # NoOptDefVal
    elif rest:
        value = rest.pop(0)
    else:
        raise _status_error(f"flag needs an argument: {arg}")
    _set(flag, value, values)


def _shorts(arg: str, rest: list[str], shorts: dict[str, Flag], values: dict[str, Any]) -> None:
    letters = arg[1:]
    while letters:
        c = letters[0]
        flag = shorts.get(c)
        if flag is None:
            raise _status_error(f"unknown shorthand flag: '{c}' in -{arg[1:]}")
        if len(letters) > 2 and letters[1] == "=":
            value, letters = letters[2:], ""
        elif flag.kind == "bool":
            value, letters = "true", letters[1:]
        elif len(letters) > 1:
            value, letters = letters[1:], ""
        elif rest:
            value, letters = rest.pop(0), ""
        else:
            raise _status_error(f"flag needs an argument: '{c}' in -{arg[1:]}")
        _set(flag, value, values)


_TRUE = ("1", "t", "T", "TRUE", "true", "True")
_FALSE = ("0", "f", "F", "FALSE", "false", "False")


def _set(flag: Flag, value: str, values: dict[str, Any]) -> None:
    """``Value.Set``: lists append, maps and sets add a key, everything else is replaced."""
    kind = flag.kind
    if kind == "bool":
        if value not in _TRUE + _FALSE:
            raise _invalid(flag, value, f'strconv.ParseBool: parsing "{value}": invalid syntax')
        values[flag.name] = value in _TRUE
    elif kind == "int":
        values[flag.name] = _parse_int(flag, value)
    elif kind == "list":
        values.setdefault(flag.name, []).append(value)
    elif kind == "ipslice":
        values.setdefault(flag.name, []).extend(v.strip() for v in value.split(","))
    elif kind == "map":
        key, _, item = value.partition("=")
        values.setdefault(flag.name, {})[key] = item
    elif kind == "set":
        key, eq, item = value.partition("=")
        values.setdefault(flag.name, {})[key] = (item in _TRUE) if eq else True
    else:
        values[flag.name] = value


def _parse_int(flag: Flag, value: str) -> int:
    """``strconv.ParseInt(s, 0, 64)``: decimal, 0x, 0o, 0b, a leading 0 for octal, underscores."""
    digits = value.lstrip("+-")
    try:
        if value != value.strip() or not digits:
            raise ValueError(value)
        if len(digits) > 1 and digits[0] == "0" and digits[1] in "01234567_":
            return int(value, 8)  # Go reads "017" as 15; Python's base 0 refuses it
        return int(value, 0)
    except ValueError:
        raise _invalid(
            flag, value, f'strconv.ParseInt: parsing "{value}": invalid syntax'
        ) from None


def _invalid(flag: Flag, value: str, why: str) -> FlagError:
    spelled = f"-{flag.short}, --{flag.name}" if flag.short else f"--{flag.name}"
    return _status_error(f'invalid argument "{value}" for "{spelled}" flag: {why}')


def value_text(flag: Flag, value: Any) -> str:
    """The flag value's ``String()``, the "from flag: ..." half of a conflict.

    ListOpts: ``[a b]`` (``""`` when empty); MapOpts and SetOpts: ``map[k:v]`` with
    sorted keys (fmt sorts map keys); pflag's ipSlice: ``[a,b]``; bools and ints as
    strconv formats them.  ``text`` kinds (ulimits, pools, runtimes, sizes) print the
    text as given, which is close to, not always equal to, dockerd's rendering.
    """
    if flag.kind == "bool":
        return "true" if value else "false"
    if flag.kind == "int":
        return str(value)
    if flag.kind == "list":
        return "[" + " ".join(value) + "]" if value else ""
    if flag.kind == "ipslice":
        return "[" + ",".join(value) + "]"
    if flag.kind in ("map", "set"):
        return "map[" + " ".join(f"{k}:{_scalar(value[k])}" for k in sorted(value)) + "]"
    return str(value)


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
