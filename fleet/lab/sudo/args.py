"""sudo's command line, read as sudo 1.8.23 reads it (src/parse_args.c).

``getopt_long`` with ``+``: options stop at the first word that is not one, or
at ``--``; short options combine (``-nS``, ``-uroot``); long options take
``--opt=value`` or ``--opt value``.  ``VAR=value`` words right after the options
are environment assignments, the rest is the command.  Both the client (to find
the command on the host) and the broker (to decide) call :func:`parse`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from fleet.lab.sudo import texts

# option letter -> takes an argument ("h" takes an optional one: -h alone is help)
_SHORT = {
    "A": False,
    "b": False,
    "C": True,
    "E": False,
    "e": False,
    "g": True,
    "H": False,
    "i": False,
    "K": False,
    "k": False,
    "l": False,
    "n": False,
    "P": False,
    "p": True,
    "S": False,
    "s": False,
    "T": True,
    "U": True,
    "u": True,
    "V": False,
    "v": False,
}
_LONG = {
    "askpass": "A",
    "background": "b",
    "close-from": "C",
    "preserve-env": "E",
    "edit": "e",
    "group": "g",
    "set-home": "H",
    "help": "h",
    "login": "i",
    "remove-timestamp": "K",
    "reset-timestamp": "k",
    "list": "l",
    "non-interactive": "n",
    "preserve-groups": "P",
    "prompt": "p",
    "stdin": "S",
    "shell": "s",
    "command-timeout": "T",
    "other-user": "U",
    "user": "u",
    "version": "V",
    "validate": "v",
}
# Modes only one of which may be given (src/parse_args.c, usage_excl).
_EXCLUSIVE = frozenset("ehKlvV")
# Options the lab has no use for; refused in so many words rather than ignored.
UNSUPPORTED = frozenset("begClTU")


class UsageError(Exception):
    """A command line sudo would refuse with its usage text (exit 1)."""

    def __init__(self, message: str | None, *, exclusive: bool = False) -> None:
        super().__init__(message or "")
        self.message = message
        self.exclusive = exclusive

    def output(self) -> bytes:
        lines = [texts.warning(self.message)] if self.message else []
        if self.exclusive:
            lines.append(texts.warning(texts.EXCLUSIVE))
        lines += [f"{line}\n".encode() for line in texts.USAGE]
        return b"".join(lines)


@dataclass(frozen=True)
class Invocation:
    """One sudo command line, parsed."""

    command: tuple[str, ...] = ()
    user: str | None = None  # -u: the target user (default root)
    prompt: str | None = None  # -p
    non_interactive: bool = False  # -n
    stdin_password: bool = False  # -S
    askpass: bool = False  # -A
    preserve_env: bool = False  # -E
    preserve_vars: tuple[str, ...] = ()  # --preserve-env=A,B
    set_home: bool = False  # -H
    login: bool = False  # -i
    shell: bool = False  # -s
    reset_timestamp: bool = False  # -k
    remove_timestamp: bool = False  # -K
    validate: bool = False  # -v
    version: bool = False  # -V
    help: bool = False  # -h
    assignments: tuple[tuple[str, str], ...] = field(default_factory=tuple)  # VAR=value

    @property
    def runs_command(self) -> bool:
        return not (self.version or self.help or self.remove_timestamp or self.validate) and bool(
            self.command or self.login or self.shell
        )

    @property
    def target(self) -> str:
        return self.user or "root"


def parse(argv: list[str]) -> Invocation:
    """``argv`` without the program name; raises :class:`UsageError` as sudo would."""
    values: dict[str, object] = {}
    modes: list[str] = []
    assignments: list[tuple[str, str]] = []
    index = 0
    while index < len(argv):
        word = argv[index]
        if word == "--":
            index += 1
            break
        if word.startswith("--"):
            index = _long_option(argv, index, values, modes)
        elif word.startswith("-") and word != "-":
            index = _short_options(argv, index, values, modes)
        elif _is_assignment(word):  # VAR=value may stand among the options
            assignments.append(tuple(word.split("=", 1)))  # type: ignore[arg-type]
            index += 1
        else:
            break
    invocation = _build(values, tuple(argv[index:]), tuple(assignments))
    _check(invocation, modes)
    return invocation


def _is_assignment(word: str) -> bool:
    name, equals, _ = word.partition("=")
    return bool(equals and name) and name.replace("_", "a").isalnum() and not name[0].isdigit()


def _long_option(argv: list[str], index: int, values: dict[str, object], modes: list[str]) -> int:
    name, has_value, value = argv[index][2:].partition("=")
    letter = _LONG.get(name)
    if letter is None:
        raise UsageError(f"unrecognized option '--{name}'")
    if letter == "E":
        values["E"] = value if has_value else True
        return index + 1
    if _SHORT.get(letter):
        if not has_value:
            if index + 1 >= len(argv):
                raise UsageError(f"option '--{name}' requires an argument")
            value = argv[index + 1]
            index += 1
        _set(letter, value, values, modes)
    else:
        if has_value:
            raise UsageError(f"option '--{name}' doesn't allow an argument")
        _set(letter, True, values, modes)
    return index + 1


def _short_options(argv: list[str], index: int, values: dict[str, object], modes: list[str]) -> int:
    word = argv[index]
    position = 1
    while position < len(word):
        letter = word[position]
        if letter == "h":
            # -h takes an optional argument glued to it only: -hHOST is a host, -h is help.
            _set("h", word[position + 1 :] or True, values, modes)
            return index + 1
        if letter not in _SHORT:
            raise UsageError(texts.invalid_option(letter))
        if not _SHORT[letter]:
            _set(letter, True, values, modes)
            position += 1
            continue
        value = word[position + 1 :]
        if not value:
            if index + 1 >= len(argv):
                raise UsageError(texts.missing_argument(letter))
            index += 1
            value = argv[index]
        _set(letter, value, values, modes)
        return index + 1
    return index + 1


def _set(letter: str, value: object, values: dict[str, object], modes: list[str]) -> None:
    if letter in UNSUPPORTED:
        raise UsageError(f"option -{letter} is not supported by the lab's built-in sudo")
    if letter == "h" and value is not True:
        raise UsageError("option -h HOST is not supported by the lab's built-in sudo")
    if letter in _EXCLUSIVE and letter not in modes:
        modes.append(letter)
    if value == "" and letter in "guU":  # src/parse_args.c: an empty -u, -g or -U is usage(1)
        raise UsageError(None)
    values[letter] = value


def _build(
    values: dict[str, object], command: tuple[str, ...], assignments: tuple[tuple[str, str], ...]
) -> Invocation:
    preserve = values.get("E")
    return Invocation(
        command=command,
        user=_text(values.get("u")),
        prompt=_text(values.get("p")),
        non_interactive="n" in values,
        stdin_password="S" in values,
        askpass="A" in values,
        preserve_env=preserve is True,
        preserve_vars=tuple(v for v in str(preserve).split(",") if v)
        if isinstance(preserve, str)
        else (),
        set_home="H" in values,
        login="i" in values,
        shell="s" in values,
        reset_timestamp="k" in values,
        remove_timestamp="K" in values,
        validate="v" in values,
        version="V" in values,
        help="h" in values,
        assignments=assignments,
    )


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _check(invocation: Invocation, modes: list[str]) -> None:
    """The combinations sudo refuses (src/parse_args.c)."""
    if len(modes) > 1:
        raise UsageError(None, exclusive=True)
    if "l" in modes:
        raise UsageError("option -l is not supported by the lab's built-in sudo")
    if invocation.remove_timestamp and invocation.command:
        raise UsageError(None, exclusive=True)
    if invocation.login and invocation.shell:
        raise UsageError("you may not specify both the `-i' and `-s' options")
    if invocation.login and invocation.preserve_env:
        raise UsageError("you may not specify both the `-i' and `-E' options")
    quiet = invocation.version or invocation.help or invocation.remove_timestamp
    if quiet or invocation.validate or invocation.reset_timestamp:
        return
    if not (invocation.command or invocation.login or invocation.shell):
        raise UsageError(None)
