"""What sudo says, word for word, with where each text comes from.

Lab hosts are mostly CentOS/RHEL 7, so the texts are those of sudo 1.8.23 as
built by distributions (``--with-passprompt='[sudo] password for %p: '``, see
``mkpkg`` lines 206 and 278 of that release).  Paths and lines refer to the
``SUDO_1_8_23`` tag of the sudo-project/sudo repository.
"""

from __future__ import annotations

PROGRAM = "sudo"
VERSION = "1.8.23"

# configure.ac:167 (badpass_message) and 173 (passwd_tries)
BAD_PASSWORD = "Sorry, try again."
PASSWORD_TRIES = 3
# mkpkg:206, the prompt distributions configure (plugins/sudoers/po/*.po msgid)
DEFAULT_PROMPT = "[sudo] password for %p: "

# plugins/sudoers/logging.c:375 (log_auth_failure, FLAG_NON_INTERACTIVE)
PASSWORD_REQUIRED = "a password is required"


def incorrect_attempts(tries: int) -> str:
    """plugins/sudoers/logging.c:438 (INCORRECT_PASSWORD_ATTEMPT, with ngettext)."""
    return f"{tries} incorrect password attempt" + ("" if tries == 1 else "s")


def not_in_sudoers(user: str) -> str:
    """plugins/sudoers/logging.c:283, printed without the ``sudo:`` prefix (sudo_printf)."""
    return f"{user} is not in the sudoers file.  This incident will be reported."


def not_allowed(user: str, command: str, target: str, host: str) -> str:
    """plugins/sudoers/logging.c:290 (a rule exists, but not for this target)."""
    return f"Sorry, user {user} is not allowed to execute '{command}' as {target} on {host}."


# src/tgetpass.c:107: no terminal, no -S, no askpass
NO_TTY = "no tty present and no askpass program specified"
# src/tgetpass.c (sudo_askpass): -A without SUDO_ASKPASS
NO_ASKPASS = "no askpass program specified, try setting SUDO_ASKPASS"


def unknown_user(user: str) -> str:
    """plugins/sudoers/sudoers.c:1166, followed by :data:`POLICY_INIT` (src/sudo.c:214)."""
    return f"unknown user: {user}"


POLICY_INIT = "unable to initialize policy plugin"


def unknown_uid(uid: int) -> str:
    """plugins/sudoers/sudoers.c (init_vars): the caller's uid has no passwd entry."""
    return f"unknown uid {uid}: who are you?"


def command_not_found(command: str) -> str:
    """plugins/sudoers/sudoers.c:474."""
    return f"{command}: command not found"


def invalid_option(option: str) -> str:
    """getopt_long's text, as sudo's src/parse_args.c prints it before the usage."""
    return f"invalid option -- '{option}'"


def missing_argument(option: str) -> str:
    return f"option requires an argument -- '{option}'"


# src/sudo_usage.h.in (SUDO_USAGE1..5), without the BSD auth, SELinux and login class parts
USAGE = (
    "usage: sudo -h | -K | -k | -V",
    "usage: sudo -v [-AknS] [-g group] [-h host] [-p prompt] [-u user]",
    "usage: sudo -l [-AknS] [-g group] [-h host] [-p prompt] [-U user] [-u user] [command]",
    "usage: sudo [-AbEHknPS] [-C num] [-g group] [-h host] [-p prompt] [-T timeout] [-u user] "
    "[VAR=value] [-i|-s] [<command>]",
    "usage: sudo -e [-AknS] [-C num] [-g group] [-h host] [-p prompt] [-T timeout] [-u user] "
    "file ...",
)
# src/parse_args.c (usage_excl)
EXCLUSIVE = "Only one of the -e, -h, -i, -K, -l, -s, -v or -V options may be specified"

# The broker's own refusal: not sudo's, because real sudo has no such path.
OUTSIDE_HOST = "this lab's built-in sudo serves only processes inside a lab host"
LOST_BROKER = "lost contact with the lab supervisor (is the lab still running?)"
NO_BROKER = "cannot reach the lab supervisor at {path}: {reason} (is the lab running?)"


def warning(text: str) -> bytes:
    """``sudo: TEXT`` as sudo_warnx prints it on stderr."""
    return f"{PROGRAM}: {text}\n".encode()
