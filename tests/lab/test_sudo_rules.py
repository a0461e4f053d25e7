"""The built-in sudo's pure parts: command line, sudoers rules, prompt, environment.

No root needed: these are the decisions the broker makes, tested as tables.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fleet.lab.sudo import args, policy, texts
from fleet.lab.sudo.args import Invocation, UsageError

CENTOS = policy.Account("centos", 1000, 1000, "/home/centos", "/bin/bash")
ROOT = policy.Account("root", 0, 0, "/root", "/bin/bash")
NOBODY = policy.Account("nobody", 65534, 65534, "/nonexistent", "/usr/sbin/nologin")


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["-n", "--", "env", "LC_ALL=C"], Invocation(("env", "LC_ALL=C"), non_interactive=True)),
        (["-S", "-p", "", "--", "id"], Invocation(("id",), prompt="", stdin_password=True)),
        (["-nS", "id"], Invocation(("id",), non_interactive=True, stdin_password=True)),
        (["-uroot", "id"], Invocation(("id",), user="root")),
        (["--user=nobody", "id"], Invocation(("id",), user="nobody")),
        (["--user", "nobody", "id"], Invocation(("id",), user="nobody")),
        (["-H", "-S", "-n", "-u", "root", "/bin/sh", "-c", "echo x"],
         Invocation(("/bin/sh", "-c", "echo x"), user="root", non_interactive=True,
                    stdin_password=True, set_home=True)),
        (["-H", "-A", "-k", "sh", "-c", "x"],
         Invocation(("sh", "-c", "x"), set_home=True, askpass=True, reset_timestamp=True)),
        (["-E", "FOO=bar", "id", "-u"],
         Invocation(("id", "-u"), preserve_env=True, assignments=(("FOO", "bar"),))),
        (["--preserve-env=A,B", "id"], Invocation(("id",), preserve_vars=("A", "B"))),
        (["-i"], Invocation(login=True)),
        (["-s", "echo", "hi"], Invocation(("echo", "hi"), shell=True)),
        (["id", "-n"], Invocation(("id", "-n"))),  # options end at the command
        (["-K"], Invocation(remove_timestamp=True)),
        (["-k"], Invocation(reset_timestamp=True)),
        (["-v"], Invocation(validate=True)),
        (["-V"], Invocation(version=True)),
    ],
)  # fmt: skip
def test_command_lines_parse_as_sudo_reads_them(argv: list[str], expected: Invocation) -> None:
    assert args.parse(argv) == expected


@pytest.mark.parametrize(
    ("argv", "first_line"),
    [
        (["-x", "id"], "sudo: invalid option -- 'x'"),
        (["-u"], "sudo: option requires an argument -- 'u'"),
        (["--bogus"], "sudo: unrecognized option '--bogus'"),
        (["-i", "-s"], "sudo: you may not specify both the `-i' and `-s' options"),
        (["-i", "-E"], "sudo: you may not specify both the `-i' and `-E' options"),
        (["-K", "-v"], "sudo: " + texts.EXCLUSIVE),
        ([], "usage: sudo -h | -K | -k | -V"),
        (["-n"], "usage: sudo -h | -K | -k | -V"),
    ],
)
def test_bad_command_lines_get_sudo_usage(argv: list[str], first_line: str) -> None:
    with pytest.raises(UsageError) as caught:
        args.parse(argv)
    lines = caught.value.output().decode().splitlines()
    assert lines[0] == first_line
    assert lines[-1].startswith("usage: sudo -e")


@given(st.lists(st.text(max_size=8), max_size=6))
def test_any_command_line_parses_or_is_a_usage_error(argv: list[str]) -> None:
    try:
        args.parse(argv)
    except UsageError as error:
        assert error.output().endswith(b"file ...\n")


@pytest.mark.parametrize(
    ("text", "caller", "target", "expected"),
    [
        ("centos ALL=(ALL) NOPASSWD: ALL", CENTOS, ROOT, (True, False, True)),
        ("centos ALL=(ALL) ALL", CENTOS, ROOT, (True, True, True)),
        ("centos ALL=(ALL) ALL", CENTOS, CENTOS, (True, False, True)),  # as oneself: no password
        ("centos ALL=(ALL:ALL) NOPASSWD: ALL", CENTOS, NOBODY, (True, False, True)),
        ("centos ALL=(root) NOPASSWD: ALL", CENTOS, NOBODY, (False, True, True)),
        ("%wheel ALL=(ALL) NOPASSWD: ALL", CENTOS, ROOT, (True, False, True)),
        ("# fleet lab: none", CENTOS, ROOT, (False, True, False)),
        ("", ROOT, NOBODY, (True, False, True)),  # root needs no rule and no password
        ("centos ALL=(ALL) NOPASSWD: ALL\ncentos ALL=(ALL) ALL", CENTOS, ROOT, (True, True, True)),
        ("centos ALL=(ALL) NOPASSWD: /usr/bin/id", CENTOS, ROOT, (False, True, False)),
    ],
)
def test_the_last_matching_rule_decides(text, caller, target, expected) -> None:
    decision = policy.decide(caller, target, policy.parse_rules(text), ["centos", "wheel"])
    assert (decision.allowed, decision.password, decision.has_rule) == expected


def test_prompt_escapes_expand_as_sudo_does() -> None:
    assert policy.expand_prompt(texts.DEFAULT_PROMPT, "centos", "root", "node01.lab") == (
        "[sudo] password for centos: "
    )
    assert policy.expand_prompt("%u>%U@%h/%H 100%% %x%", "a", "b", "n1.lab") == (
        "a>b@n1/n1.lab 100% %x%"
    )


def test_environment_is_reset_to_the_target_and_secure_path() -> None:
    caller_env = {
        "PATH": "/home/centos/bin:/usr/bin",
        "HOME": "/home/centos",
        "LANG": "C",
        "LC_ALL": "C",
        "TERM": "xterm",
        "SECRET_TOKEN": "x",
        "LD_PRELOAD": "/tmp/evil.so",
        "TZ": "../../etc/shadow",  # a checked variable with a slash is dropped (env.c)
    }
    env = policy.environment(caller_env, Invocation(("id",)), CENTOS, ROOT, "/usr/bin/id")
    assert env["PATH"] == policy.SECURE_PATH
    assert (env["HOME"], env["USER"], env["LOGNAME"], env["SHELL"]) == (
        "/root",
        "root",
        "root",
        "/bin/bash",
    )
    assert (env["SUDO_USER"], env["SUDO_UID"], env["SUDO_GID"]) == ("centos", "1000", "1000")
    assert env["SUDO_COMMAND"] == "/usr/bin/id"
    assert (env["LANG"], env["LC_ALL"], env["TERM"]) == ("C", "C", "xterm")
    assert not {"SECRET_TOKEN", "LD_PRELOAD", "TZ"} & set(env)


def test_preserve_env_keeps_the_callers_variables_but_not_its_path() -> None:
    caller_env = {"PATH": "/home/centos/bin", "HOME": "/home/centos", "SECRET_TOKEN": "x"}
    keep = Invocation(("id",), preserve_env=True)
    env = policy.environment(caller_env, keep, CENTOS, ROOT, "/usr/bin/id")
    assert (env["SECRET_TOKEN"], env["HOME"], env["PATH"]) == (
        "x",
        "/home/centos",
        policy.SECURE_PATH,
    )
    home = Invocation(("id",), preserve_env=True, set_home=True)
    assert policy.environment(caller_env, home, CENTOS, ROOT, "/usr/bin/id")["HOME"] == "/root"


def test_login_and_shell_commands_escape_words_as_sudo_does() -> None:
    assert policy.login_command("/bin/bash", ()) == ["/bin/bash"]
    assert policy.login_command("/bin/bash", ("echo", "a b", "$HOME", "x;y")) == [
        "/bin/bash",
        "-c",
        "echo a\\ b $HOME x\\;y",
    ]


def test_account_files_are_read_as_written() -> None:
    accounts = policy.read_accounts(
        "root:x:0:0:root:/root:/bin/bash\ncentos:x:1000:1000::/home/centos:/bin/bash\nbad\n"
    )
    assert accounts == {"root": ROOT, "centos": CENTOS}
    groups = policy.read_groups("root:x:0:\nwheel:x:10:centos,ops\ncentos:x:1000:\n")
    assert policy.groups_of("centos", 1000, groups) == ["wheel", "centos"]
    assert policy.shadow_hash("root:*:1::::::\ncentos:$6$s$h:1::::::\n", "centos") == "$6$s$h"
    assert policy.shadow_hash("", "centos") == "*"
