"""A lab host's sudo policy, read from its own files, and the command's environment.

The rules come from the host's ``/etc/sudoers.d`` (what the lab writes there:
``USER ALL=(ALL) NOPASSWD: ALL``, ``USER ALL=(ALL) ALL``, or no file for a host
whose user may not use sudo), the accounts from its ``/etc/passwd``,
``/etc/group`` and ``/etc/shadow``.  root is always allowed without a password:
every distribution's main ``/etc/sudoers`` has ``root ALL=(ALL) ALL``, and sudo
never asks root for a password (plugins/sudoers/check.c, check_user).  What
the built-in sudo does not have: ``Defaults`` lines (the defaults below are
sudo's compiled-in ones with Debian's ``secure_path``), command lists other than
``ALL``, host lists, and credential caching (real sudo remembers a password for
5 minutes per terminal; every built-in sudo asks again, which only matters to
interactive use).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from fleet.lab.sudo.args import Invocation

# Debian's /etc/sudoers: the lab's tools (/usr/local/bin) come first, as on the hosts' PATH.
SECURE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
# plugins/sudoers/env.c:174 (initial_checkenv_table) and :188 (initial_keepenv_table)
_CHECKED = ("COLORTERM", "LANG", "LANGUAGE", "LINGUAS", "TERM", "TZ")
_KEPT = (
    "COLORS",
    "DISPLAY",
    "HOSTNAME",
    "KRB5CCNAME",
    "LS_COLORS",
    "PS1",
    "PS2",
    "XAUTHORITY",
    "XAUTHORIZATION",
)


@dataclass(frozen=True)
class Account:
    """One line of a host's /etc/passwd."""

    name: str
    uid: int
    gid: int
    home: str
    shell: str


@dataclass(frozen=True)
class Rule:
    """``WHO HOSTS=(RUNAS) [NOPASSWD:] ALL``: who may run anything as whom."""

    who: str  # a user name, or %group
    runas: tuple[str, ...]  # ("ALL",) or user names
    nopasswd: bool


@dataclass(frozen=True)
class Decision:
    allowed: bool
    password: bool  # the caller must authenticate first
    has_rule: bool  # some rule names the caller (else: "not in the sudoers file")


def read_accounts(passwd_text: str) -> dict[str, Account]:
    accounts = {}
    for line in passwd_text.splitlines():
        fields = line.split(":")
        if len(fields) < 7 or not fields[2].isdigit() or not fields[3].isdigit():
            continue
        accounts[fields[0]] = Account(fields[0], int(fields[2]), int(fields[3]), *fields[5:7])
    return accounts


def read_groups(group_text: str) -> dict[str, tuple[int, tuple[str, ...]]]:
    """Group name -> (gid, members)."""
    groups = {}
    for line in group_text.splitlines():
        fields = line.split(":")
        if len(fields) >= 4 and fields[2].isdigit():
            groups[fields[0]] = (int(fields[2]), tuple(m for m in fields[3].split(",") if m))
    return groups


def shadow_hash(shadow_text: str, user: str) -> str:
    for line in shadow_text.splitlines():
        fields = line.split(":")
        if len(fields) >= 2 and fields[0] == user:
            return fields[1]
    return "*"


def sudoers_files(directory: Path) -> list[Path]:
    """The files ``#includedir`` reads: no name with a dot or ending in ``~`` (sudoers(5))."""
    if not directory.is_dir():
        return []
    names = sorted(p for p in directory.iterdir() if p.is_file())
    return [p for p in names if "." not in p.name and not p.name.endswith("~")]


def parse_rules(text: str) -> list[Rule]:
    """The ``ALL`` rules of a sudoers text; ``Defaults`` and other lines are not read."""
    rules = []
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip() if not raw.lstrip().startswith("#include") else ""
        if not line or line.startswith("Defaults"):
            continue
        rule = _parse_rule(line)
        if rule is not None:
            rules.append(rule)
    return rules


def _parse_rule(line: str) -> Rule | None:
    who, _, rest = line.partition(" ")
    hosts, equals, spec = rest.strip().partition("=")
    if not equals or hosts.strip() != "ALL":
        return None
    spec = spec.strip()
    runas: tuple[str, ...] = ("root",)
    if spec.startswith("("):
        inside, _, spec = spec[1:].partition(")")
        users = inside.split(":", 1)[0]
        runas = tuple(u.strip() for u in users.split(",") if u.strip()) or ("root",)
        spec = spec.strip()
    nopasswd = False
    for tag in ("NOPASSWD:", "PASSWD:"):
        if spec.startswith(tag):
            nopasswd = tag == "NOPASSWD:"
            spec = spec[len(tag) :].strip()
    if spec != "ALL":
        return None
    return Rule(who, runas, nopasswd)


def decide(
    caller: Account, target: Account, rules: Iterable[Rule], groups: Iterable[str]
) -> Decision:
    """sudoers semantics: the last rule that matches the caller and target wins."""
    if caller.uid == 0:
        return Decision(allowed=True, password=False, has_rule=True)
    member_of = {f"%{g}" for g in groups}
    mine = [r for r in rules if r.who == caller.name or r.who in member_of]
    matching = [r for r in mine if "ALL" in r.runas or target.name in r.runas]
    if not matching:
        return Decision(allowed=False, password=True, has_rule=bool(mine))
    # check.c: no password to run something as oneself
    password = not matching[-1].nopasswd and caller.uid != target.uid
    return Decision(allowed=True, password=password, has_rule=True)


def groups_of(user: str, gid: int, groups: Mapping[str, tuple[int, tuple[str, ...]]]) -> list[str]:
    return [name for name, (g, members) in groups.items() if g == gid or user in members]


def expand_prompt(prompt: str, caller: str, target: str, host: str) -> str:
    """plugins/sudoers/check.c (expand_prompt): %p %u %U %h %H and %%."""
    codes = {"p": caller, "u": caller, "U": target, "h": host.split(".")[0], "H": host, "%": "%"}
    out, index = [], 0
    while index < len(prompt):
        char = prompt[index]
        code = prompt[index + 1] if index + 1 < len(prompt) else ""
        if char == "%" and code in codes:
            out.append(codes[code])
            index += 2
        else:
            out.append(char)
            index += 1
    return "".join(out)


def environment(
    caller_env: Mapping[str, str],
    invocation: Invocation,
    caller: Account,
    target: Account,
    command_line: str,
) -> dict[str, str]:
    """plugins/sudoers/env.c (rebuild_env) for ``env_reset`` (the default) and ``-E``.

    ``command_line``: what SUDO_COMMAND says, the command's full path and its arguments.
    """
    if invocation.preserve_env:
        env = dict(caller_env)
    else:
        env = {k: v for k, v in caller_env.items() if _kept(k, v, invocation.preserve_vars)}
    if not invocation.preserve_env or invocation.set_home or invocation.login:
        env["HOME"] = target.home  # always_set_home, as RHEL's and Debian's sudoers set it
    env.update(
        {
            "PATH": SECURE_PATH,
            "SHELL": target.shell,
            "LOGNAME": target.name,
            "USER": target.name,
            "USERNAME": target.name,
            "MAIL": f"/var/mail/{target.name}",
            "SUDO_COMMAND": command_line[:4096],
            "SUDO_USER": caller.name,
            "SUDO_UID": str(caller.uid),
            "SUDO_GID": str(caller.gid),
        }
    )
    env.update(dict(invocation.assignments))
    return env


def _kept(name: str, value: str, extra: tuple[str, ...]) -> bool:
    if name in _KEPT or name in extra:
        return True
    if name in _CHECKED or name.startswith("LC_"):
        return "/" not in value and "%" not in value  # env.c: sudo_env_check
    return False


def login_command(shell: str, command: tuple[str, ...]) -> list[str]:
    """``-i``/``-s`` run a shell: with a command, ``SHELL -c`` of its escaped words.

    src/parse_args.c escapes every character that is not alphanumeric, ``_``,
    ``-`` or ``$`` with a backslash and joins the words with spaces.
    """
    if not command:
        return [shell]
    escaped = " ".join(
        "".join(c if c.isalnum() or c in "_-$" else "\\" + c for c in word) for word in command
    )
    return [shell, "-c", escaped]
