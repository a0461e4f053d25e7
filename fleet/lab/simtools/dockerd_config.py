"""How dockerd reads daemon.json against its command line, and the errors that stop it.

Written from moby's sources, per release (tags v19.03.11 ... v28.5.2, docker-v29.7.2):

- ``daemon/config/config.go`` ``getConflictFreeConfiguration``: decode the file
  (a ``json.Decoder`` to 20.10; from 23.0 a byte order mark is dropped, blank
  text is an empty configuration and ``json.Unmarshal`` reads it), flatten it
  (``configValuesSet``), look for conflicts, decode it into the Config struct;
- ``findConfigurationConflicts``: first the directives no flag knows ("don't
  match any configuration option"), then every flag set on the command line
  (visited sorted by name, pflag's ``Visit``) whose directive the file also
  sets, printed ``name: (from flag: X, from file: Y)``;
- ``MergeDaemonConfigurations`` / ``Validate``: checks on the merged result;
- ``cmd/dockerd/daemon.go`` ``loadDaemonCliConfig``: the
  ``unable to configure the Docker daemon with file PATH: `` prefix.

Seen on real hosts: ``hosts: (from flag: [fd://], from file: [tcp://0.0.0.0:2376
unix:///var/run/docker.sock])``; ``debug: (from flag: true, from file: true), log-level: ...``
(GH moby/moby#41725); an empty file on 19.03.11 fails with ``EOF`` (GH moby/moby#41268).
"""

from __future__ import annotations

from typing import Any

from fleet.lab.simtools import gojson
from fleet.lab.simtools.dockerd_flags import Parsed, flag_set, value_text
from fleet.lab.simtools.versions import at_least

PREFIX = "unable to configure the Docker daemon with file {path}: "
MERGED = "merged configuration validation from file and command line flags failed: "
UNKNOWN = "the following directives don't match any configuration option: "
BOTH = "the following directives are specified both as a flag and in the configuration file: "


class ConfigError(Exception):
    """dockerd refused its configuration; ``str()`` is what it prints before exiting 1."""


def decode(data: bytes, version: str) -> dict[str, Any]:
    """daemon.json as ``map[string]interface{}``; raises :class:`gojson.GoJSONError`."""
    if not at_least(version, "23.0"):
        return gojson.decode_first_object(data)
    data = data.removeprefix(b"\xef\xbb\xbf").strip(b" \t\r\n\v\f")
    return gojson.unmarshal_object(data) if data else {}


def _flat_options(version: str) -> frozenset[str]:
    """Directives whose object values stay whole (config.go ``flatOptions``)."""
    names = {"cluster-store-opts", "log-opts", "runtimes", "default-ulimits", "features", "builder"}
    if at_least(version, "24.0"):
        names.add("default-network-opts")
    if at_least(version, "29.2"):
        names.add("nri-opts")
    return frozenset(names)


def _skip_validate(version: str) -> frozenset[str]:
    """Directives accepted without a flag (config.go ``skipValidateOptions``)."""
    names = {"features", "builder", "deprecated-key-path"}
    if at_least(version, "28.1"):
        names.add("allow-nondistributable-artifacts")
    if at_least(version, "29.0"):
        names.add("min-api-version")
    return frozenset(names)


def values_set(config: dict[str, Any], version: str) -> dict[str, Any]:
    """``configValuesSet``: an object value is merged into the top level unless it is flat.

    So ``{"proxies": {"http-proxy": ...}}`` sets ``http-proxy`` and ``{"tls": {...}}``
    sets whatever keys it holds.  Where a nested key repeats a top-level one,
    Go's map order decides; here the later one in the file wins.
    """
    flat_options = _flat_options(version)
    flat: dict[str, Any] = {}
    for key, value in config.items():
        if isinstance(value, dict) and key not in flat_options:
            flat.update(value)
        else:
            flat[key] = value
    return flat


def find_conflicts(config: dict[str, Any], parsed: Parsed, version: str) -> str | None:
    """``findConfigurationConflicts``: unknown directives first, then flag/file conflicts.

    Go collects unknown keys in a map, so with several the real order varies
    from run to run; this lists them sorted.
    """
    known = _all_flag_names(version) | _skip_validate(version)
    unknown = sorted(key for key in config if key not in known)
    if unknown:
        return UNKNOWN + ", ".join(unknown)
    conflicts = [
        c for name in sorted(parsed.values) if (c := _conflict(config, parsed, name, version))
    ]
    errors = _migrated(config, parsed, version, conflicts)
    if conflicts:
        errors.append(BOTH + ", ".join(conflicts))
    return "\n".join(errors) if errors else None


def _all_flag_names(version: str) -> set[str]:
    flags = flag_set(version).values()
    return {f.name for f in flags} | {f.key for f in flags if f.key}


def _conflict(config: dict[str, Any], parsed: Parsed, name: str, version: str) -> str | None:
    """One set flag against the file: by its NamedOption name, else by name or shorthand."""
    flag = parsed.flags[name]
    candidates = [flag.key] if flag.key else [n for n in (flag.name, flag.short) if n]
    for key in candidates:
        if key in config and key != "runtimes":  # skipDuplicates: runtimes merge
            return print_conflict(key, value_text(flag, parsed.values[name]), config[key], version)
    return None


def _migrated(
    config: dict[str, Any], parsed: Parsed, version: str, conflicts: list[str]
) -> list[str]:
    """28.0+ step 4: ``host-gateway-ip`` became the NamedOption ``host-gateway-ips``."""
    if not at_least(version, "28.0") or "host-gateway-ip" not in config:
        return []
    errors = []
    if "host-gateway-ips" in config:
        errors.append(
            "host-gateway-ip and host-gateway-ips must not both be specified in the config file"
        )
    if "host-gateway-ip" in parsed.values:
        text = value_text(parsed.flags["host-gateway-ip"], parsed.values["host-gateway-ip"])
        conflicts.append(
            print_conflict("host-gateway-ip", text, config["host-gateway-ip"], version)
        )
    return errors


def print_conflict(name: str, flag_text: str, file_value: Any, version: str) -> str:
    """``printConflict``: proxy URLs have their credentials masked from 23.0."""
    file_text = go_value(file_value)
    if name in ("http-proxy", "https-proxy") and at_least(version, "23.0"):
        flag_text, file_text = mask_credentials(flag_text), mask_credentials(file_text)
    return f"{name}: (from flag: {flag_text}, from file: {file_text})"


def mask_credentials(url: str) -> str:
    """``MaskCredentials``: a URL's user info becomes ``xxxxx:xxxxx``."""
    scheme, sep, rest = url.partition("://")
    if not sep or "@" not in rest.split("/", 1)[0]:
        return url
    return f"{scheme}://xxxxx:xxxxx@{rest.split('@', 1)[1]}"


def go_value(value: Any) -> str:
    """``fmt.Sprintf("%v", v)`` for a value decoded into ``interface{}`` (numbers are float64)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return go_float(float(value))
    if isinstance(value, list):
        return "[" + " ".join(go_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "map[" + " ".join(f"{k}:{go_value(value[k])}" for k in sorted(value)) + "]"
    if value is None:
        return "<nil>"
    return str(value)


def go_float(value: float) -> str:
    """strconv's shortest ``%g``: exponent form below 1e-4 and from 1e+06 (``1e+06``, ``1.5e-05``)."""
    if value == 0:
        return "-0" if str(value).startswith("-") else "0"
    minus = "-" if value < 0 else ""
    mantissa, _, exp_text = repr(abs(value)).partition("e")  # repr: the shortest digits too
    whole, _, frac = mantissa.partition(".")
    digits = (whole + frac).lstrip("0")
    point = len(whole) + int(exp_text or 0) - (len(whole + frac) - len(digits))
    digits = digits.rstrip("0")
    exp = point - 1
    if exp < -4 or exp >= 6:
        tail = "." + digits[1:] if len(digits) > 1 else ""
        return f"{minus}{digits[0]}{tail}e{'-' if exp < 0 else '+'}{abs(exp):02d}"
    if point <= 0:
        return f"{minus}0.{'0' * -point}{digits}"
    if point >= len(digits):
        return minus + digits + "0" * (point - len(digits))
    return f"{minus}{digits[:point]}.{digits[point:]}"
