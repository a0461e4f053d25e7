"""Parse ``docker info`` output (JSON and the text layouts of <=18.09, 19.03, 20.10 and 24+).

A fact is a command plus a pure parser of its output (pyinfra's split): the
caller runs :data:`DOCKER_INFO_COMMAND` (or :data:`DOCKER_INFO_TEXT_COMMAND`
when the first one produced nothing usable, see :attr:`DockerInfo.is_empty`)
and hands stdout and stderr to :func:`parse_docker_info`.  The parser never
raises: output from a host is untrusted text, and a verify step must turn
whatever arrives into mismatch sentences, not a traceback.

Stream facts the parser relies on (docker/cli ``cli/command/system/info.go``):

- ``WARNING: ...`` lines go to stderr after the text; the daemon's d_type
  warning spans three lines, the later ones indented by nine spaces.
- Server errors are ``ERROR: <message>`` lines: on stdout with a 19.03 CLI,
  on stderr with newer ones.  A <=18.09 CLI prints the bare message on stderr.
  With ``--format`` the CLI exits 0 and still renders the template, with the
  message in the JSON's ``ServerErrors``; CLIs after 19.03 also print it bare
  on stderr.
- Over a pty both streams arrive interleaved on stdout, so both streams are
  scanned for warnings and errors.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

DOCKER_INFO_COMMAND = "docker info --format '{{json .}}'"
# For engines whose CLI rejects ``--format`` on ``docker info`` (before 1.13).
DOCKER_INFO_TEXT_COMMAND = "docker info"

# The containerd image store (default on fresh 29.0+ installs) reports this driver type.
CONTAINERD_SNAPSHOTTER = "io.containerd.snapshotter.v1"

# Bare stderr lines that mean "no answer from the daemon" (not warnings, not noise).
_DAEMON_ERROR = re.compile(
    r"Cannot connect to the Docker daemon"
    r"|permission denied while trying to connect to the Docker daemon"
    r"|error during connect"
    r"|Error response from daemon"
    r"|Is the docker daemon running\?"
    r"|docker: command not found",
    re.IGNORECASE,
)
# Printed by the CLI after ERROR lines; it restates them, so it is not a fact.
_PRETTY_PRINT_TRAILER = "errors pretty printing info"
# ``FATA[0000] Cannot connect ...`` from Docker 1.5-era clients.
_LOGRUS_PREFIX = re.compile(r"^(?:FATA|ERRO)\[\d+\]\s*")
_WARNING_START = re.compile(r"(?=WARNING:)")
_D_TYPE_WARNING = re.compile(
    r"WARNING: \S+: the backing (\S+) filesystem is formatted without d_type support"
)


@dataclass(frozen=True)
class DockerInfo:
    """The facts fleet needs from a running engine.  ``None`` means "not reported"."""

    server_version: str | None = None
    cgroup_driver: str | None = None
    storage_driver: str | None = None
    cgroup_version: str | None = None
    backing_filesystem: str | None = None
    supports_d_type: bool | None = None
    warnings: tuple[str, ...] = ()
    server_errors: tuple[str, ...] = ()  # e.g. "Cannot connect to the Docker daemon ..."
    # "io.containerd.snapshotter.v1" when images live in containerd (29.0+ fresh installs).
    storage_driver_type: str | None = None

    @property
    def has_server_facts(self) -> bool:
        """True when the engine answered with at least one of the facts fleet checks."""
        return any(
            value is not None
            for value in (
                self.server_version,
                self.cgroup_driver,
                self.storage_driver,
                self.cgroup_version,
            )
        )

    @property
    def is_empty(self) -> bool:
        """True when the output held no server facts and no error: try the text command."""
        return not self.has_server_facts and not self.server_errors


def parse_docker_info(stdout: str, stderr: str = "") -> DockerInfo:
    """Read ``docker info`` output in any known layout; never raises.

    JSON (``--format '{{json .}}'``) is used when stdout holds a JSON object;
    anything else is read as the text layout.  Garbage yields an all-``None``
    :class:`DockerInfo`.
    """
    stdout = stdout if isinstance(stdout, str) else ""
    stderr = stderr if isinstance(stderr, str) else ""
    document, rest = _json_document(stdout)
    if document is not None:
        fields = _fields_from_json(document)
        warnings = _json_strings(document.get("Warnings"))
        errors = _json_strings(document.get("ServerErrors"))
    else:
        fields = _fields_from_text(stdout)
        warnings, errors = [], []
    text_warnings, text_errors = _messages(rest, stderr)
    warnings = _unique([_one_line(w) for w in warnings] + text_warnings)
    errors = _unique([_one_line(e) for e in errors] + text_errors)
    fields = _with_d_type_from_warnings(fields, warnings)
    return DockerInfo(**fields, warnings=tuple(warnings), server_errors=tuple(errors))


def check_docker_info(info: DockerInfo, cgroup_driver: str, storage_driver: str) -> list[str]:
    """Mismatches between what the engine reports and what is required, as table sentences.

    An empty list means compliant.  Errors come first because, when the engine
    did not answer, the driver fields are only absent, not wrong.
    """
    problems = [_error_sentence(error) for error in info.server_errors]
    if not info.has_server_facts:
        return problems or ["engine reported nothing: docker info printed no server section"]
    problems.append(_driver_mismatch("cgroup driver", info.cgroup_driver, cgroup_driver))
    problems.append(_storage_mismatch(info, storage_driver))
    problems.append(_d_type_problem(info))
    return [p for p in problems if p]


# --- JSON layout -----------------------------------------------------------------------------


def _json_document(stdout: str) -> tuple[Mapping[str, Any] | None, str]:
    """The JSON object starting a line of stdout, and stdout without it.

    Only a line that *starts* with ``{`` (after a stray shell quote) counts, so
    a brace inside a text-layout value never switches the parser to JSON.  The
    rest of stdout is returned because a pty mixes stderr lines into it.
    """
    offset = 0
    for line in stdout.splitlines(keepends=True):
        body = line.lstrip().lstrip("'")
        if body.startswith("{"):
            start = offset + len(line) - len(body)
            document, end = _decode_object(stdout, start)
            if document is not None:
                return document, stdout[:offset] + stdout[end:].lstrip("'")
            return None, stdout
        offset += len(line)
    return None, stdout


def _decode_object(text: str, start: int) -> tuple[Mapping[str, Any] | None, int]:
    try:
        document, end = json.JSONDecoder().raw_decode(text, start)
    except (ValueError, RecursionError):
        return None, start
    return (document, end) if isinstance(document, dict) else (None, start)


def _fields_from_json(doc: Mapping[str, Any]) -> dict[str, Any]:
    status = _driver_status_from_json(doc.get("DriverStatus"))
    return {
        "server_version": _json_text(doc.get("ServerVersion")),
        "cgroup_driver": _json_text(doc.get("CgroupDriver")),
        "storage_driver": _json_text(doc.get("Driver")),
        # A string in the API ("1"/"2"), omitted before API 1.41 (Docker 20.10).
        "cgroup_version": _json_text(doc.get("CgroupVersion"), numbers=True),
        "backing_filesystem": _backing_fs(status.get("Backing Filesystem")),
        "supports_d_type": _boolean(status.get("Supports d_type")),
        "storage_driver_type": status.get("driver-type"),
    }


def _driver_status_from_json(value: Any) -> dict[str, str]:
    status: dict[str, str] = {}
    if not isinstance(value, list):
        return status
    for pair in value:
        if isinstance(pair, list) and len(pair) == 2 and all(isinstance(p, str) for p in pair):
            status.setdefault(pair[0], pair[1])
    return status


def _json_text(value: Any, numbers: bool = False) -> str | None:
    """A non-empty string field; the CLI renders an unreachable daemon as empty strings."""
    if numbers and isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not value.strip():
        return None
    return value.strip()


def _json_strings(value: Any) -> list[str]:
    if not isinstance(value, list):
        return []
    return [item for item in value if isinstance(item, str) and item.strip()]


# --- text layouts ----------------------------------------------------------------------------

# Labels are identical in every layout; only indentation and the Client/Server split differ.
_TEXT_LABELS = {
    "Server Version": "server_version",
    "Cgroup Driver": "cgroup_driver",
    "Storage Driver": "storage_driver",
    "Cgroup Version": "cgroup_version",
    "Backing Filesystem": "backing_filesystem",
    "Supports d_type": "supports_d_type",
    "driver-type": "storage_driver_type",
}


def _fields_from_text(stdout: str) -> dict[str, Any]:
    raw: dict[str, str] = {}
    for label, value in _labelled_lines(stdout):
        field = _TEXT_LABELS.get(label)
        if field and field not in raw:
            raw[field] = value
    fields: dict[str, Any] = {field: (raw.get(field) or None) for field in _TEXT_LABELS.values()}
    fields["backing_filesystem"] = _backing_fs(raw.get("backing_filesystem"))
    fields["supports_d_type"] = _boolean(raw.get("supports_d_type"))
    return fields


def _labelled_lines(text: str) -> Iterator[tuple[str, str]]:
    for line in text.splitlines():
        label, sep, value = line.strip().partition(":")
        if sep and not line.lstrip().startswith(("WARNING:", "ERROR:")):
            yield label.strip(), value.strip()


# --- warnings and errors ---------------------------------------------------------------------


def _messages(stdout: str, stderr: str) -> tuple[list[str], list[str]]:
    """WARNING and ERROR messages from both streams (a pty merges them onto stdout)."""
    warnings: list[str] = []
    errors: list[str] = []
    for stream in (stderr, stdout):
        stream_warnings, stream_errors = _scan(_lines(stream))
        warnings.extend(stream_warnings)
        errors.extend(stream_errors)
    return warnings, errors


def _lines(text: str) -> Iterator[str]:
    for line in text.splitlines():
        # A paste that lost its newlines glues warnings together: split them again.
        yield from (part for part in _WARNING_START.split(line.rstrip("\r")) if part)


def _scan(lines: Iterable[str]) -> tuple[list[str], list[str]]:
    warnings: list[str] = []
    errors: list[str] = []
    continuing = False
    for line in lines:
        stripped = line.strip()
        if stripped.startswith("WARNING:"):
            warnings.append(stripped)
            continuing = True
        elif continuing and line[:1].isspace() and stripped:
            # The d_type warning continues on lines indented by nine spaces.
            warnings[-1] = f"{warnings[-1]} {stripped}"
        else:
            continuing = False
            error = _error_from_line(stripped)
            if error:
                errors.append(error)
    return warnings, errors


def _error_from_line(line: str) -> str | None:
    if line.startswith("ERROR:"):
        return line[len("ERROR:") :].strip() or None
    line = _LOGRUS_PREFIX.sub("", line)
    if line and line != _PRETTY_PRINT_TRAILER and _DAEMON_ERROR.search(line):
        return line
    return None


def _one_line(message: str) -> str:
    """Join a multi-line message (the daemon's d_type warning) into one sentence."""
    return " ".join(part.strip() for part in message.splitlines() if part.strip())


def _unique(items: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(item for item in items if item))


def _with_d_type_from_warnings(fields: dict[str, Any], warnings: list[str]) -> dict[str, Any]:
    """Fill d_type facts from the daemon's own warning when the status lines were cut off."""
    if fields["supports_d_type"] is not None:
        return fields
    for warning in warnings:
        match = _D_TYPE_WARNING.match(warning)
        if match:
            backing = fields["backing_filesystem"] or _backing_fs(match.group(1))
            return {**fields, "supports_d_type": False, "backing_filesystem": backing}
    return fields


# --- values ----------------------------------------------------------------------------------


def _backing_fs(value: str | None) -> str | None:
    # 19.03.7 and 19.03.8 print "<unknown>" on every filesystem (moby/moby#40626).
    if not value or value == "<unknown>":
        return None
    return value


def _boolean(value: str | None) -> bool | None:
    if value is None:
        return None
    return {"true": True, "false": False}.get(value.strip().lower())


# --- check sentences -------------------------------------------------------------------------


def _error_sentence(error: str) -> str:
    if "Cannot connect to the Docker daemon" in error:
        return f"engine not running: {error}"
    if "permission denied" in error.lower():
        return f"engine not reachable: {error}"
    return f"engine error: {error}"


def _driver_mismatch(what: str, actual: str | None, expected: str) -> str | None:
    if actual is None:
        return f"{what} not reported, expected {expected}"
    if actual.casefold() != expected.strip().casefold():
        return f"{what} is {actual}, expected {expected}"
    return None


def _storage_mismatch(info: DockerInfo, expected: str) -> str | None:
    problem = _driver_mismatch("storage driver", info.storage_driver, expected)
    if problem and info.storage_driver_type == CONTAINERD_SNAPSHOTTER:
        # 29.0+ fresh installs keep images in containerd; the driver name alone misleads.
        driver = f"{info.storage_driver} (containerd image store)"
        return f"storage driver is {driver}, expected {expected}"
    return problem


def _d_type_problem(info: DockerInfo) -> str | None:
    if info.supports_d_type is not False:
        return None
    driver = info.storage_driver or "overlay2"
    backing = info.backing_filesystem
    if backing == "xfs":
        return f"{driver} without d_type support on xfs (reformat with ftype=1)"
    if backing == "extfs":
        return f"{driver} without d_type support on extfs (enable it with tune2fs -O filetype)"
    where = f"on {backing}" if backing else "(backing filesystem not reported)"
    return f"{driver} without d_type support {where}"
