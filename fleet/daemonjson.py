"""daemon.json logic: parse an owner's file, merge fleet's settings in, adapt, render, diff.

Everything here is pure (text in, text or data out) so the rollout step and
the lab's simulated ``dockerd`` share one implementation of dockerd's rules:

- the owner's file is never overwritten silently: :func:`parse` refuses broken
  JSON with the file, line and column, and :func:`merge` never drops a key;
- :func:`adapt_for_engine` removes what a given engine refuses to start with;
- :func:`flag_conflicts` and :func:`conflict_error` reproduce dockerd's
  "specified both as a flag and in the configuration file" check, including
  its wording, because a drop-in ``ExecStart=`` with ``-H`` or ``--exec-opt``
  makes dockerd refuse any daemon.json that sets the same directive.
"""

from __future__ import annotations

import difflib
import json
import math
import re
import shlex
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit, urlunsplit

DAEMON_JSON_PATH = "/etc/docker/daemon.json"

# List options whose items are "name=value": one item per name, as dockerd reads them.
NAMED_LIST_OPTIONS = frozenset({"exec-opts", "storage-opts"})

OVERRIDE_KERNEL_CHECK = "overlay2.override_kernel_check"
# docker/cli docs/deprecated.md: deprecated in 19.03, removed in 24.0; the error is verbatim.
_OVERRIDE_KERNEL_CHECK_REMOVED = (24, 0)
_OVERRIDE_KERNEL_CHECK_ERROR = (
    "failed to start daemon: error initializing graphdriver: overlay2: "
    "unknown option overlay2.override_kernel_check: overlay2"
)


class DaemonJsonError(ValueError):
    """An owner's daemon.json that fleet cannot read; the message names the file and the problem."""


# --- parse -----------------------------------------------------------------------------------


def parse(text: str, path: str = DAEMON_JSON_PATH) -> dict[str, Any]:
    """The owner's settings, or :class:`DaemonJsonError` naming ``path`` and what is wrong.

    A whitespace-only file holds no settings, so it reads as ``{}``.  Duplicate
    keys and NaN/Infinity are refused: dockerd would silently keep one value or
    reject the file, and fleet must not guess which setting the owner meant.
    """
    text = text.removeprefix("\ufeff")  # dockerd accepts a UTF-8 byte order mark
    if not text.strip():
        return {}
    try:
        value = json.loads(text, object_pairs_hook=_refuse_duplicates, parse_constant=_refuse)
    except json.JSONDecodeError as exc:
        raise DaemonJsonError(
            f"{path}: line {exc.lineno} column {exc.colno}: invalid JSON ({exc.msg})"
        ) from None
    except _Refused as exc:
        raise DaemonJsonError(f"{path}: {exc}") from None
    except RecursionError:
        raise DaemonJsonError(f"{path}: invalid JSON (nested too deeply)") from None
    if not isinstance(value, dict):
        raise DaemonJsonError(f"{path}: not a JSON object (found {_json_kind(value)})")
    return value


class _Refused(Exception):
    """Valid JSON that fleet still refuses to read (never escapes :func:`parse`)."""


def _refuse_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    for key, value in pairs:
        if key in seen:
            raise _Refused(f'key "{key}" appears twice; keep one of them')
        seen[key] = value
    return seen


def _refuse(constant: str) -> Any:
    raise _Refused(f"{constant} is not valid JSON")


def _json_kind(value: Any) -> str:
    if isinstance(value, list):
        return "an array"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, bool):
        return "a boolean"
    if value is None:
        return "null"
    return "a number"


# --- merge -----------------------------------------------------------------------------------


def merge(existing: Mapping[str, Any], required: Mapping[str, Any]) -> dict[str, Any]:
    """The owner's settings plus fleet's required ones; no owner key is ever dropped.

    - scalars (and values of a different type) from ``required`` win;
    - ``exec-opts`` / ``storage-opts`` merge item-wise by option name, so
      ``native.cgroupdriver=systemd`` replaces ``native.cgroupdriver=cgroupfs``
      in place and the owner's other options stay;
    - objects (``log-opts``) merge key-wise, ``required`` winning;
    - other lists (``registry-mirrors``, ``insecure-registries``) keep the
      owner's items and add the missing required ones.

    Key order: the owner's keys in their order, then new keys in ``required``'s order.
    """
    merged = {key: _copy(value) for key, value in existing.items()}
    for key, value in required.items():
        merged[key] = _merge_value(key, merged.get(key), value)
    return merged


def _merge_value(key: str, owner: Any, wanted: Any) -> Any:
    # A key the owner lacks goes through the same rules (from empty), so required items
    # that repeat are written once and merging the result again changes nothing.
    if isinstance(wanted, Mapping):
        return merge(owner if isinstance(owner, dict) else {}, wanted)
    if isinstance(wanted, (list, tuple)):
        base = owner if isinstance(owner, list) else []
        if key in NAMED_LIST_OPTIONS:
            return _merge_named_items(base, wanted)
        return _union(base, wanted)
    return _copy(wanted)


def _merge_named_items(owner: Sequence[Any], wanted: Sequence[Any]) -> list[Any]:
    """Replace each required option's name in place; keep the owner's other options."""
    replacements = {_option_name(item): item for item in wanted}  # dockerd: the last one wins
    result: list[Any] = []
    seen: set[str] = set()  # option names placed and owner items kept, by identity
    for item in owner:
        name = _option_name(item)
        if name in replacements:
            if name not in seen:
                result.append(_copy(replacements[name]))
                seen.add(name)
        elif _identity(item) not in seen:
            result.append(_copy(item))
            seen.add(_identity(item))
    result.extend(_copy(item) for name, item in replacements.items() if name not in seen)
    return result


def _option_name(item: Any) -> str:
    """dockerd's key for an option item: trimmed and case-folded (``parsers.ParseKeyValueOpt``)."""
    if isinstance(item, str):
        return item.partition("=")[0].strip().lower()
    return _identity(item)  # not a "name=value" item: the whole item is its name


def _identity(item: Any) -> str:
    """Equality as JSON sees it (Python's ``1 == True`` must not merge two owner items)."""
    return json.dumps(item, sort_keys=True, default=repr)


def _union(owner: Sequence[Any], wanted: Sequence[Any]) -> list[Any]:
    result = [_copy(item) for item in owner]
    present = {_identity(item) for item in owner}
    for item in wanted:
        if _identity(item) not in present:
            result.append(_copy(item))
            present.add(_identity(item))
    return result


def _copy(value: Any) -> Any:
    """A plain JSON value detached from the caller's (possibly immutable) mappings."""
    if isinstance(value, Mapping):
        return {key: _copy(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_copy(item) for item in value]
    return value


# --- engine rules ----------------------------------------------------------------------------


def engine_version_tuple(text: str | None) -> tuple[int, ...] | None:
    """``19.03.11``, ``3:19.03.11-3.el7``, ``5:19.03.11~3-0~ubuntu-focal``, ``v24.0.7`` -> ints.

    The epoch (``N:``) and everything from the first ``-`` or ``~`` (the package
    release) are dropped.  ``None`` for text that does not start with a version.
    """
    if not isinstance(text, str):
        return None
    version = re.sub(r"^\s*\d+:", "", text).strip()
    match = re.match(r"v?(\d+(?:\.\d+)*)(?:$|[-~+.a-zA-Z])", version)
    if not match:
        return None
    return tuple(int(part) for part in match.group(1).split("."))


def adapt_for_engine(
    required: Mapping[str, Any], engine_version: str | None
) -> tuple[dict[str, Any], list[str]]:
    """``required`` minus the options the target engine refuses, and a note per removal.

    ``overlay2.override_kernel_check`` goes for engines >= 24.0, where dockerd
    fails to start with it.  An unknown version changes nothing: the option is
    harmless (ignored) from 19.03.7 to 23.x and fleet pins the version it installs.
    Apply it to the merged file too, so an owner's obsolete option does not
    stop the upgraded engine.
    """
    adapted = _copy(required)
    version = engine_version_tuple(engine_version)
    if version is None or version < _OVERRIDE_KERNEL_CHECK_REMOVED:
        return adapted, []
    return _drop_override_kernel_check(adapted, ".".join(map(str, version)))


def _drop_override_kernel_check(
    cfg: dict[str, Any], engine: str
) -> tuple[dict[str, Any], list[str]]:
    items = cfg.get("storage-opts")
    if not isinstance(items, list):
        return cfg, []
    removed = [item for item in items if _option_name(item) == OVERRIDE_KERNEL_CHECK]
    if not removed:
        return cfg, []
    kept = [item for item in items if _option_name(item) != OVERRIDE_KERNEL_CHECK]
    if kept:
        cfg["storage-opts"] = kept
    else:
        del cfg["storage-opts"]  # an empty list would still be a directive dockerd reads
    notes = [
        f"removed storage-opts {item}: Docker Engine {engine} refuses it "
        f"({_OVERRIDE_KERNEL_CHECK_ERROR})"
        for item in removed
    ]
    return cfg, notes


# --- render and diff -------------------------------------------------------------------------


def render(cfg: Mapping[str, Any]) -> str:
    """JSON with 2-space indent and a trailing newline; same input, same bytes.

    Key order is kept (not sorted) so the owner's layout survives; "unchanged"
    is then a byte compare of the rendered text with the file on the host.
    """
    return json.dumps(_copy(cfg), indent=2, ensure_ascii=False, allow_nan=False) + "\n"


def unified_diff(old_text: str | None, new_text: str, path: str = DAEMON_JSON_PATH) -> str:
    """``diff -u`` of the file; ``""`` when equal; from ``/dev/null`` when there was no file.

    ``None`` and ``""`` both mean "nothing there before": an empty file has no
    settings to lose, and the diff reads the same either way.
    """
    old_text = old_text or ""
    if old_text == new_text:
        return ""
    lines = difflib.unified_diff(
        old_text.splitlines(keepends=True),
        new_text.splitlines(keepends=True),
        fromfile=path if old_text else "/dev/null",
        tofile=path,
    )
    return "".join(_terminated(line) for line in lines)


def _terminated(line: str) -> str:
    if line.endswith("\n"):
        return line
    return line + "\n\\ No newline at end of file\n"


# --- dockerd flags vs daemon.json ------------------------------------------------------------


@dataclass(frozen=True)
class _Flag:
    """A dockerd flag that has a daemon.json twin; ``kind`` decides how dockerd prints it."""

    key: str  # the daemon.json directive (dockerd's NamedOption name or flag name)
    long: str  # pflag name: dockerd visits set flags sorted by it
    short: str | None
    kind: str  # "list" | "map" | "string" | "bool"


_FLAGS: tuple[_Flag, ...] = (
    _Flag("hosts", "host", "H", "list"),
    _Flag("exec-opts", "exec-opt", None, "list"),
    _Flag("storage-driver", "storage-driver", "s", "string"),
    _Flag("storage-opts", "storage-opt", None, "list"),
    _Flag("log-driver", "log-driver", None, "string"),
    _Flag("log-opts", "log-opt", None, "map"),
    _Flag("data-root", "data-root", None, "string"),
    # Pre-23 dockerd names -g "graph"; it sets the same directory as data-root.
    _Flag("data-root", "graph", "g", "string"),
    _Flag("cgroup-parent", "cgroup-parent", None, "string"),
    _Flag("live-restore", "live-restore", None, "bool"),
    _Flag("containerd", "containerd", None, "string"),
    _Flag("debug", "debug", "D", "bool"),
    _Flag("log-level", "log-level", "l", "string"),
    _Flag("labels", "label", None, "list"),
    _Flag("dns", "dns", None, "list"),
    _Flag("insecure-registries", "insecure-registry", None, "list"),
    _Flag("registry-mirrors", "registry-mirror", None, "list"),
    _Flag("selinux-enabled", "selinux-enabled", None, "bool"),
    _Flag("iptables", "iptables", None, "bool"),
    _Flag("bip", "bip", None, "string"),
    _Flag("group", "group", "G", "string"),
    _Flag("pidfile", "pidfile", "p", "string"),
    _Flag("exec-root", "exec-root", None, "string"),
    _Flag("http-proxy", "http-proxy", None, "string"),
    _Flag("https-proxy", "https-proxy", None, "string"),
    _Flag("no-proxy", "no-proxy", None, "string"),
    *(
        _Flag(name, name, None, "bool")
        for name in (
            "experimental",
            "icc",
            "init",
            "ip-forward",
            "ip-masq",
            "ip6tables",
            "ipv6",
            "no-new-privileges",
            "raw-logs",
            "tls",
            "tlsverify",
            "userland-proxy",
        )
    ),
)
_BY_LONG = {flag.long: flag for flag in _FLAGS}
_BY_SHORT = {flag.short: flag for flag in _FLAGS if flag.short}
# dockerd masks proxy credentials in this message (config.go printConflict); so must fleet.
_MASKED = frozenset({"http-proxy", "https-proxy"})


def parse_execstart(line: str) -> list[str]:
    """argv of a systemd ``ExecStart=`` value (the ``ExecStart=`` prefix is optional).

    systemd's executable prefixes (``-``, ``@``, ``+``, ``!``, ``!!``) are
    dropped and backslash-newline continuations joined.  An empty value (the
    drop-in idiom that resets ExecStart) gives ``[]``.  Never raises: text with
    unbalanced quotes falls back to splitting on whitespace.
    """
    value = line.strip()
    if value.startswith("ExecStart"):
        value = value[len("ExecStart") :].lstrip().removeprefix("=")
    value = value.replace("\\\n", " ").strip()
    try:
        argv = shlex.split(value)
    except ValueError:
        argv = value.split()
    if argv:
        argv[0] = argv[0].lstrip("-@+!")
    return [arg for arg in argv if arg]


def flag_conflicts(cfg: Mapping[str, Any], dockerd_args: Sequence[str]) -> list[str]:
    """Directives set both as dockerd flags and in ``cfg``, each in dockerd's own wording.

    e.g. ``exec-opts: (from flag: [native.cgroupdriver=cgroupfs], from file:
    [native.cgroupdriver=systemd])``, in dockerd's order (flags sorted by name).
    ``dockerd_args`` may start with the program itself (``parse_execstart``'s argv).
    """
    conflicts = []
    for flag, values in sorted(_set_flags(dockerd_args).items(), key=lambda kv: kv[0].long):
        for key in _file_keys(flag):
            if key in cfg:
                flag_text = _flag_value_text(flag, values)
                file_text = _go_value(cfg[key])
                if key in _MASKED:
                    flag_text, file_text = (
                        _mask_credentials(flag_text),
                        _mask_credentials(file_text),
                    )
                conflicts.append(f"{key}: (from flag: {flag_text}, from file: {file_text})")
                break
    return conflicts


def conflict_error(conflicts: Iterable[str], path: str = DAEMON_JSON_PATH) -> str:
    """dockerd's start-up error for ``conflicts`` (what it prints before exiting 1)."""
    return (
        f"unable to configure the Docker daemon with file {path}: "
        "the following directives are specified both as a flag and in the configuration file: "
        + ", ".join(conflicts)
    )


def _file_keys(flag: _Flag) -> tuple[str, ...]:
    # dockerd also matches a non-named flag by its own name or shorthand (e.g. "graph").
    names = [flag.key, flag.long] + ([flag.short] if flag.short else [])
    return tuple(dict.fromkeys(names))


def _set_flags(args: Sequence[str]) -> dict[_Flag, list[str]]:
    """Known flags that ``args`` set, with every value given (in order)."""
    found: dict[_Flag, list[str]] = {}
    index = 0
    while index < len(args):
        arg = args[index]
        if arg == "--":
            break
        parsed, index = _next_flag(args, index)
        for flag, value in parsed:
            found.setdefault(flag, []).append(value)
    return found


def _next_flag(args: Sequence[str], index: int) -> tuple[list[tuple[_Flag, str]], int]:
    arg = args[index]
    if arg.startswith("--"):
        return _long_flag(args, index)
    if arg.startswith("-") and len(arg) > 1:
        return _short_flags(args, index)
    return [], index + 1  # the program itself, or an unexpanded "$OPTIONS"


def _long_flag(args: Sequence[str], index: int) -> tuple[list[tuple[_Flag, str]], int]:
    name, has_value, value = args[index][2:].partition("=")
    flag = _BY_LONG.get(name)
    if has_value or (flag is not None and flag.kind == "bool"):
        return ([(flag, value if has_value else "true")] if flag else []), index + 1
    value, next_index = _following_value(args, index, known=flag is not None)
    return ([(flag, value)] if flag else []), next_index


def _short_flags(args: Sequence[str], index: int) -> tuple[list[tuple[_Flag, str]], int]:
    """``-H fd://``, ``-Hfd://``, ``-H=fd://`` and bool clusters such as ``-D``."""
    cluster = args[index][1:]
    found: list[tuple[_Flag, str]] = []
    for position, letter in enumerate(cluster):
        flag = _BY_SHORT.get(letter)
        rest = cluster[position + 1 :]
        if flag is not None and flag.kind == "bool":
            found.append((flag, "true"))
            continue
        if rest:
            value = rest.removeprefix("=")
            return found + ([(flag, value)] if flag else []), index + 1
        value, next_index = _following_value(args, index, known=flag is not None)
        return found + ([(flag, value)] if flag else []), next_index
    return found, index + 1


def _following_value(args: Sequence[str], index: int, known: bool) -> tuple[str, int]:
    """The next word as the flag's value (dockerd takes no positional arguments).

    pflag gives a known flag the next word whatever it looks like; for a flag
    fleet does not know (maybe a bool) a following ``-...`` word is the next flag.
    """
    if index + 1 >= len(args):
        return "", index + 1
    following = args[index + 1]
    if not known and following.startswith("-"):
        return "", index + 1
    return following, index + 2


def _flag_value_text(flag: _Flag, values: list[str]) -> str:
    """How pflag prints the flag's value (``Value.String()``)."""
    if flag.kind == "list":
        return "[" + " ".join(values) + "]"
    if flag.kind == "map":
        pairs = dict(value.partition("=")[::2] for value in values)
        return "map[" + " ".join(f"{k}:{v}" for k, v in sorted(pairs.items())) + "]"
    if flag.kind == "bool":
        return _go_bool_text(values[-1])
    return values[-1]


def _go_bool_text(value: str) -> str:
    # strconv.ParseBool; an unparsable value would stop dockerd earlier, print it as given.
    if value in {"1", "t", "T", "TRUE", "true", "True"}:
        return "true"
    if value in {"0", "f", "F", "FALSE", "false", "False"}:
        return "false"
    return value


def _go_value(value: Any) -> str:
    """Go's ``fmt.Sprintf("%v", v)`` of a value decoded from JSON into ``interface{}``."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "<nil>"
    if isinstance(value, (int, float)):
        return _go_float(float(value))
    if isinstance(value, Mapping):
        items = sorted((str(k), _go_value(v)) for k, v in value.items())
        return "map[" + " ".join(f"{k}:{v}" for k, v in items) + "]"
    if isinstance(value, (list, tuple)):
        return "[" + " ".join(_go_value(item) for item in value) + "]"
    return str(value)


def _go_float(number: float) -> str:
    """``%v`` of a float64 (``strconv`` 'g', shortest): exponent form when it is < -4 or >= 6."""
    if math.isnan(number):
        return "NaN"
    if math.isinf(number):
        return "+Inf" if number > 0 else "-Inf"
    if number == 0:
        return "-0" if math.copysign(1.0, number) < 0 else "0"
    sign, digits, exponent = Decimal(repr(number)).normalize().as_tuple()
    text = "".join(str(d) for d in digits)
    point = len(text) + int(exponent)  # digits before the decimal point
    if not -4 <= point - 1 < 6:
        mantissa = text[0] + ("." + text[1:] if len(text) > 1 else "")
        body = f"{mantissa}e{point - 1:+03d}"
    elif point <= 0:
        body = "0." + "0" * -point + text
    elif point >= len(text):
        body = text + "0" * (point - len(text))
    else:
        body = text[:point] + "." + text[point:]
    return ("-" if sign else "") + body


def _mask_credentials(raw: str) -> str:
    """config.MaskCredentials: ``http://user:pass@proxy`` -> ``http://xxxxx:xxxxx@proxy``."""
    try:
        parts = urlsplit(raw)
    except ValueError:
        return raw
    if "@" not in parts.netloc:
        return raw
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"xxxxx:xxxxx@{host}"))
