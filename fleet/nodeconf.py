"""The files kubeadm's node prerequisites change, as text in and text out.

Each function takes a file's current text and returns the text fleet writes, so a
step can show the diff in ``plan`` and a re-run finds nothing left to change.  Lines
fleet does not own are kept as they are: an owner's fstab entries, comments, other
modules and sysctl keys.  :func:`write_file_command` is the one way these files are
written on a host.
"""

from __future__ import annotations

import difflib
import re
import shlex
from collections.abc import Iterable

BACKUP_SUFFIX = ".fleet-backup"
_FSTAB_SWAP = re.compile(r"^\s*[^#\s]\S*\s+\S+\s+swap(\s|$)")
_SELINUX_ENFORCING = re.compile(r"^(\s*SELINUX\s*=\s*)[\"']?enforcing[\"']?\s*$", re.IGNORECASE)


def fstab_swap_lines(text: str) -> list[str]:
    """The active swap entries of an fstab: lines whose third field (the type) is ``swap``."""
    return [line for line in text.splitlines() if _FSTAB_SWAP.match(line)]


def comment_out_swap(text: str) -> str:
    """The fstab with every active swap entry commented out (``#`` prepended), nothing else."""
    lines = text.splitlines(keepends=True)
    return "".join("#" + line if _FSTAB_SWAP.match(line) else line for line in lines)


def with_modules(text: str | None, modules: Iterable[str]) -> str:
    """A modules-load.d file that also lists ``modules`` (one a line), the rest kept."""
    body = _with_newline(text or "")
    listed = {line.strip() for line in body.splitlines()}
    added = [name for name in modules if name not in listed]
    return body + "".join(f"{name}\n" for name in added)


def with_sysctls(text: str | None, settings: dict[str, str]) -> str:
    """A sysctl.d file where each key of ``settings`` is set once, to its value.

    An existing line for a key is replaced in place (the file's other lines kept);
    a key not there yet is appended.  Keys compare as sysctl reads them (``/`` as ``.``).
    """
    out: list[str] = []
    done: set[str] = set()
    for line in _with_newline(text or "").splitlines():
        key = _sysctl_key(line)
        if key in settings:
            if key not in done:
                out.append(f"{key} = {settings[key]}")
                done.add(key)
            continue
        out.append(line)
    out += [f"{key} = {value}" for key, value in settings.items() if key not in done]
    return "\n".join(out) + "\n"


def _sysctl_key(line: str) -> str | None:
    stripped = line.strip()
    if not stripped or stripped[0] in "#;" or "=" not in stripped:
        return None
    return stripped.split("=", 1)[0].strip().removeprefix("-").replace("/", ".")


def selinux_permissive(text: str) -> str:
    """/etc/selinux/config with ``SELINUX=enforcing`` made ``SELINUX=permissive``.

    ``disabled`` is left alone: turning a disabled system permissive would relabel
    the whole file system at the next boot.
    """
    lines = text.splitlines(keepends=True)
    out = []
    for line in lines:
        match = _SELINUX_ENFORCING.match(line.rstrip("\n"))
        out.append(f"{match.group(1)}permissive\n" if match else line)
    return "".join(out)


def unified_diff(path: str, old: str, new: str) -> str:
    return "".join(
        difflib.unified_diff(
            old.splitlines(keepends=True), new.splitlines(keepends=True), path, path + " (new)"
        )
    )


def write_file_command(path: str, mode: str = "0644") -> str:
    """Write stdin to ``path``: a temporary file beside it, the old file kept as a backup.

    The new file replaces the old one by rename, so no reader sees half a file.  A file
    that is a mount point of its own (a bind-mounted /etc/fstab in a container, or in a
    lab host) cannot be renamed over, and its folder may be read-only: the temporary
    file is then made in the usual temporary folder and the file rewritten in place,
    after the backup.
    """
    target = shlex.quote(path)
    folder = shlex.quote(path.rsplit("/", 1)[0] or "/")
    name = path.rsplit("/", 1)[-1]
    return f"""set -e
f={target}
mkdir -p {folder}
tmp=$(mktemp {folder}/.{name}.XXXXXX 2>/dev/null || mktemp)
trap 'rm -f "$tmp"' EXIT
cat > "$tmp"
chmod {mode} "$tmp"
if [ -f "$f" ]; then cp -p "$f" "$f{BACKUP_SUFFIX}"; fi
mv -f "$tmp" "$f" 2>/dev/null || cat "$tmp" > "$f"
"""


def _with_newline(text: str) -> str:
    return text if not text or text.endswith("\n") else text + "\n"
