"""The lab's built-in sudo, end to end: real SSH sessions, real shells, the real texts.

Three hosts, both SSH servers: node01 passwordless, node02 with a password,
node03 without any sudo rule.  Every expectation is what sudo 1.8.23 does.
"""

from __future__ import annotations

import os
import select
import socket
from pathlib import Path

import pytest

from fleet.cli import main
from fleet.lab import runtime
from fleet.lab.sudo import protocol, texts
from tests.labkit import RunningLab, connect, run, ssh_run

pytestmark = pytest.mark.lab

PASSWORD = "bu1lt-in-Pa55"
SPEC = {
    "hosts": 3,
    "sudo": "builtin",
    "defaults": {"os": "centos7"},
    "host": {
        "node02": {"sudo": "password", "sudo_password": PASSWORD},
        "node03": {"sudo": "none"},
    },
}
PROMPT = "[sudo] password for centos: "


@pytest.fixture(scope="module", params=("paramiko", "openssh"))
def lab(request: pytest.FixtureRequest, lab_factory) -> RunningLab:
    return lab_factory(SPEC, request.param)


def test_the_lab_runs_its_own_sudo(lab: RunningLab) -> None:
    assert lab.lab.sudo == "builtin"
    assert runtime.load_lab(lab.dir).sudo == "builtin"
    result = run(lab, "node01", "command -v sudo; sudo -V")
    assert result.stdout.splitlines() == ["/usr/local/bin/sudo", "Sudo version 1.8.23"]


@pytest.mark.parametrize("client", ["paramiko", "openssh"])
def test_passwordless_sudo_runs_as_root_inside_the_host(lab: RunningLab, client: str) -> None:
    result = ssh_run(
        lab,
        client,
        "node01",
        "cd /tmp && sudo -n -- sh -c 'id -u; hostname; pwd; cat /etc/sudoers.d/fleetlab'",
    )
    assert result.status == 0, result.stderr
    assert result.stdout.splitlines() == [
        "0",
        "node01",
        "/tmp",
        "# fleet lab: sudo for the login user of node01",
        "centos ALL=(ALL) NOPASSWD: ALL",
    ]


def test_what_ansible_and_pyinfra_send_works(lab: RunningLab) -> None:
    ansible = run(lab, "node01", "sudo -H -S -n  -u root /bin/sh -c 'echo BECOME-SUCCESS-x; id -u'")
    assert (ansible.status, ansible.stdout) == (0, "BECOME-SUCCESS-x\n0\n"), ansible.stderr
    pyinfra = run(lab, "node01", "sudo -H -n sh -c 'echo $HOME'")
    assert (pyinfra.status, pyinfra.stdout) == (0, "/root\n"), pyinfra.stderr


def test_environment_is_reset_with_secure_path(lab: RunningLab) -> None:
    result = run(
        lab,
        "node01",
        "export SECRET_TOKEN=x LANG=C; sudo -n env; echo ---; sudo -E -n env",
    )
    reset, preserved = result.stdout.split("---\n")
    env = dict(line.split("=", 1) for line in reset.splitlines())
    assert env["PATH"] == "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
    assert (env["HOME"], env["USER"], env["SUDO_USER"], env["LANG"]) == (
        "/root",
        "root",
        "centos",
        "C",
    )
    assert not {"SECRET_TOKEN", "SHLVL", "PWD", "OLDPWD"} & set(env)
    assert "SECRET_TOKEN=x" in preserved.splitlines()


def test_other_users_login_shells_and_exit_codes(lab: RunningLab) -> None:
    result = run(
        lab,
        "node01",
        "sudo -n -u nobody id -un; sudo -n -i pwd; sudo -n -s -- echo a b; "
        "sudo -n sh -c 'exit 7'; echo rc=$?; sudo -n no-such-program; echo rc=$?; "
        "sudo -n -u bob true; echo rc=$?; echo piped | sudo -n cat",
    )
    assert result.stdout.splitlines() == [
        "nobody",
        "/root",
        "a b",
        "rc=7",
        "rc=1",
        "rc=1",
        "piped",
    ]
    assert result.stderr.splitlines() == [
        "sudo: no-such-program: command not found",
        "sudo: unknown user: bob",
        "sudo: unable to initialize policy plugin",
    ]


@pytest.mark.parametrize("client", ["paramiko", "openssh"])
def test_password_texts_and_exit_codes_are_sudos(lab: RunningLab, client: str) -> None:
    denied = ssh_run(lab, client, "node02", "sudo -n true")
    assert (denied.status, denied.stderr) == (1, "sudo: a password is required\n")
    no_tty = ssh_run(lab, client, "node02", "sudo true")
    assert (no_tty.status, no_tty.stderr) == (1, f"sudo: {texts.NO_TTY}\n")
    three = ssh_run(lab, client, "node02", "sudo -S true", stdin="a\nb\nc\n")
    assert three.status == 1
    assert three.stderr == (
        f"{PROMPT}Sorry, try again.\n{PROMPT}Sorry, try again.\n{PROMPT}"
        "sudo: 3 incorrect password attempts\n"
    )
    one = ssh_run(lab, client, "node02", "sudo -S true", stdin="wrong\n")
    assert one.stderr == f"{PROMPT}Sorry, try again.\n{PROMPT}sudo: 1 incorrect password attempt\n"


def test_the_password_is_read_a_byte_at_a_time(lab: RunningLab) -> None:
    """The rest of stdin is the command's: fleet sends the password, then the command's input."""
    result = run(lab, "node02", "sudo -S -p '' sh -c 'id -u; cat'", stdin=f"{PASSWORD}\nline two\n")
    assert (result.status, result.stdout, result.stderr) == (0, "0\nline two\n", "")


def test_a_user_without_a_rule_is_not_in_the_sudoers_file(lab: RunningLab) -> None:
    node02 = lab.host("node02").path("/etc/sudoers.d/fleetlab")
    rule = node02.read_text()
    node02.unlink()  # the host's owner took the rule away
    try:
        result = run(lab, "node02", "sudo -S -p '' id -u", stdin=f"{PASSWORD}\n")
    finally:
        node02.write_text(rule)
    assert (result.status, result.stdout) == (1, "")
    assert result.stderr == (
        "centos is not in the sudoers file.  This incident will be reported.\n"
    )
    none = run(lab, "node03", "sudo -n true")
    assert (none.status, none.stderr) == (1, "sudo: a password is required\n")


def test_a_signal_reaches_the_command_and_sudo_dies_by_it(lab: RunningLab) -> None:
    result = run(
        lab,
        "node01",
        "mkfifo ready; sudo -n sh -c 'echo $$ > ready; exec sleep 4711' & pid=$!; "
        "read command < ready; kill -TERM $pid; wait $pid; echo rc=$?; "
        "ps -p $command >/dev/null && echo alive || echo gone",
    )
    assert result.stdout.splitlines() == ["rc=143", "gone"], result.stderr


def test_a_dropped_connection_leaves_nothing_running(lab: RunningLab) -> None:
    client = connect(lab, "node01")
    channel = client.get_transport().open_session()
    channel.exec_command("sudo -n sh -c 'echo $$; exec sleep 4712'")
    pid = int(channel.makefile("rb").readline())
    pidfd = os.pidfd_open(pid)
    try:
        client.close()  # the connection goes away without a word to the command
        gone = select.select([pidfd], [], [], 60)[0]
    finally:
        os.close(pidfd)
    assert gone, f"sudo's command {pid} still runs after its connection was cut"


def _ask_broker(lab: RunningLab, uid: int) -> tuple[dict, bytes, Path]:
    """Talk to the broker as a process of this machine (not of any host) running as ``uid``."""
    witness = lab.dir / f"outsider-{uid}"
    read_err, write_err = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - runs in the forked child
        try:
            os.close(read_err)
            # The lab folder's parents may be closed to this uid: keep a handle on the socket's
            # folder, then connect as that uid (the kernel records credentials at connect).
            folder = os.open(lab.dir / "sudo", os.O_PATH)
            os.setgid(uid)
            os.setuid(uid)
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.connect(f"/proc/self/fd/{folder}/{protocol.SOCKET_NAME}")
            request = {
                "argv": ["-n", "touch", str(witness)],
                "cwd": "/",
                "env": {},
                "command": "/usr/bin/touch",
                "tty": False,
            }
            protocol.send(sock, request, [0, 1, write_err])
            reply, _ = protocol.receive(sock)
            os._exit(int(reply.get("exit", 99)))
        except BaseException:
            os._exit(98)
    os.close(write_err)
    _, status = os.waitpid(child, 0)
    with os.fdopen(read_err, "rb") as err:
        said = err.read()
    return {"exit": os.waitstatus_to_exitcode(status)}, said, witness


@pytest.mark.parametrize("uid", [0, 1000])
def test_a_process_outside_the_hosts_is_refused_whatever_its_uid(lab: RunningLab, uid) -> None:
    reply, said, witness = _ask_broker(lab, uid)
    assert reply == {"exit": 1}
    assert said == f"sudo: {texts.OUTSIDE_HOST}\n".encode()
    assert not witness.exists()


def test_the_socket_is_not_writable_from_inside_a_host(lab: RunningLab) -> None:
    result = run(lab, "node01", "sudo -n rm -f /run/fleetlab/sudo.sock; echo rc=$?")
    assert "rc=1" in result.stdout and "Read-only file system" in result.stderr
    assert run(lab, "node01", "sudo -n true").status == 0


def test_lab_status_names_the_sudo(lab: RunningLab, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["lab", "status", "--dir", str(lab.dir)]) == 0
    assert f"sshd {lab.sshd}, sudo builtin," in capsys.readouterr().out
