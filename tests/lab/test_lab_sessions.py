"""Real SSH sessions into lab hosts, with both servers and both clients.

One lab per server kind for the whole module (5 hosts):
node01 clean (drop fault on a marker nobody else sends), node02 sudo with a password
behind a delay proxy, node03 rejects the key, node04 refuses TCP, node05 never sends
a banner.
"""

from __future__ import annotations

import socket
import subprocess
from pathlib import Path

import paramiko
import pytest

from fleet.inventory import load_inventory
from fleet.lab import runtime
from tests.labkit import RunningLab, connect, openssh_client_skip_reason, run, ssh_run

pytestmark = pytest.mark.lab

PASSWORD = "lab-pass-7f3c"
DROP = "FLEET-LAB-CUT-HERE"
SPEC = {
    "hosts": 5,
    "defaults": {"os": "centos7"},
    "host": {
        "node01": {"faults": {"drop": DROP}},
        "node02": {"sudo": "password", "sudo_password": PASSWORD, "delay_ms": 20},
        "node03": {"faults": {"auth": "refused"}},
        "node04": {"faults": {"unreachable": "refused"}},
        "node05": {"faults": {"unreachable": "timeout"}},
    },
    "groups": {"web": ["node01", "node02"]},
}
CLIENTS = ("paramiko", "openssh")


@pytest.fixture(scope="module", params=("paramiko", "openssh"))
def lab(request: pytest.FixtureRequest, lab_factory) -> RunningLab:
    return lab_factory(SPEC, request.param)


@pytest.mark.parametrize("client", CLIENTS)
def test_command_runs_as_login_user_in_bash(lab: RunningLab, client: str) -> None:
    result = ssh_run(
        lab,
        client,
        "node01",
        'echo "$(id -un) $(id -u) $(hostname) $PWD ${BASH_VERSION:+bash}"; echo oops >&2; exit 3',
    )
    assert result.status == 3
    assert result.stdout == "centos 1000 node01 /home/centos bash\n"
    assert result.stderr.endswith("oops\n")


@pytest.mark.parametrize("client", CLIENTS)
def test_stdin_reaches_the_command(lab: RunningLab, client: str) -> None:
    result = ssh_run(lab, client, "node01", "tr a-z A-Z", stdin="hello lab\n")
    assert (result.status, result.stdout) == (0, "HELLO LAB\n")


def test_session_environment_is_clean(lab: RunningLab) -> None:
    env = dict(
        line.split("=", 1) for line in run(lab, "node01", "env").stdout.splitlines() if "=" in line
    )
    assert env["PATH"] == "/usr/local/bin:/usr/bin:/bin"
    assert (env["HOME"], env["USER"], env["LOGNAME"]) == ("/home/centos", "centos", "centos")
    assert (env["SHELL"], env["LANG"]) == ("/bin/bash", "C")
    assert env["SSH_CONNECTION"].split()[2:] == [lab.host("node01").address, "22"]
    assert "FLEETLAB_ROOT" not in env


@pytest.mark.parametrize("client", CLIENTS)
def test_sudo_without_password(lab: RunningLab, client: str) -> None:
    result = ssh_run(lab, client, "node01", "sudo -n id -u; sudo -n cat /etc/sudoers.d/fleetlab")
    assert result.status == 0, result.stderr
    assert result.stdout.splitlines() == [
        "0",
        "# fleet lab: sudo for the login user of node01",
        "centos ALL=(ALL) NOPASSWD: ALL",
    ]


@pytest.mark.parametrize("client", CLIENTS)
def test_sudo_with_password_through_pam(lab: RunningLab, client: str) -> None:
    assert lab.password("node02") == PASSWORD
    denied = ssh_run(lab, client, "node02", "sudo -n true")
    assert denied.status == 1
    assert "a password is required" in denied.stderr
    wrong = ssh_run(lab, client, "node02", "sudo -K; sudo -S -p '' id -u", stdin="not-it\n")
    assert wrong.status == 1
    assert "incorrect password" in wrong.stderr
    right = ssh_run(lab, client, "node02", "sudo -K; sudo -S -p '' id -u", stdin=PASSWORD + "\n")
    assert (right.status, right.stdout) == (0, "0\n"), right.stderr


def test_secrets_are_only_in_become_env(lab: RunningLab) -> None:
    assert oct(lab.lab.become_env.stat().st_mode & 0o777) == "0o600"
    for name in ("inventory.yml", "ansible.yml", "lab.json", "ssh_config", "supervisor.log"):
        assert PASSWORD not in (lab.dir / name).read_text(), name
    host_json = lab.host("node02").path("/var/lib/fleetlab/host.json").read_text()
    assert PASSWORD not in host_json
    shadow = lab.host("node02").path("/etc/shadow").read_text()
    assert "centos:$6$" in shadow and PASSWORD not in shadow


@pytest.mark.parametrize("client", CLIENTS)
def test_writes_stay_on_their_host(lab: RunningLab, client: str) -> None:
    marker = f"isolation-{lab.sshd}-{client}"
    wrote = ssh_run(
        lab,
        client,
        "node01",
        f"sudo -n sh -c 'echo {marker} > /etc/docker/{marker}' && echo {marker} > /tmp/{marker}"
        f" && cat /etc/docker/{marker}",
    )
    assert (wrote.status, wrote.stdout) == (0, f"{marker}\n"), wrote.stderr
    other = ssh_run(lab, client, "node02", f"ls /etc/docker/{marker} /tmp/{marker}")
    assert other.status != 0
    assert "No such file or directory" in other.stderr
    assert not Path(f"/etc/docker/{marker}").exists()
    assert not Path(f"/tmp/{marker}").exists()
    assert lab.host("node01").path(f"/etc/docker/{marker}").read_text() == f"{marker}\n"


def test_the_machine_is_read_only_outside_private_paths(lab: RunningLab) -> None:
    probe = f"/usr/share/fleet-lab-probe-{lab.sshd}"
    result = run(lab, "node01", f"sudo -n touch {probe}; sudo -n touch /etc/fleet-lab-probe")
    assert result.stderr.count("Read-only file system") == 2
    assert not Path(probe).exists()
    assert not Path("/etc/fleet-lab-probe").exists()


def test_each_host_has_its_own_identity(lab: RunningLab) -> None:
    names = {run(lab, n, "hostname; cat /etc/hostname").stdout for n in ("node01", "node02")}
    assert names == {"node01\nnode01\n", "node02\nnode02\n"}
    passwd = run(lab, "node01", "getent passwd centos").stdout
    assert passwd == "centos:x:1000:1000:centos:/home/centos:/bin/bash\n"


def test_host_keys_match_known_hosts(lab: RunningLab) -> None:
    known = paramiko.HostKeys(str(lab.lab.known_hosts))
    seen = set()
    for name in ("node01", "node02", "node03"):
        host = lab.host(name)
        with socket.create_connection((host.address, host.port), 10) as sock:
            transport = paramiko.Transport(sock)
            transport.start_client(timeout=10)
            key = transport.get_remote_server_key()
            transport.close()
        assert known.check(host.address, key), name
        seen.add(key.get_base64())
    assert len(seen) == 3  # every host has its own key


@pytest.mark.parametrize("client", CLIENTS)
def test_auth_refused_rejects_the_key(lab: RunningLab, client: str) -> None:
    if client == "paramiko":
        with pytest.raises(paramiko.AuthenticationException):
            connect(lab, "node03")
    else:
        result = ssh_run(lab, client, "node03", "true")
        assert result.status == 255
        assert "Permission denied (publickey)" in result.stderr


def test_unreachable_refused_has_no_listener(lab: RunningLab) -> None:
    host = lab.host("node04")
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection((host.address, host.port), 10)
    result = ssh_run(lab, "openssh", "node04", "true") if lab.sshd == "openssh" else None
    if result is not None:
        assert result.status == 255 and "Connection refused" in result.stderr


def test_unreachable_timeout_accepts_but_never_speaks(lab: RunningLab) -> None:
    host = lab.host("node05")
    with socket.create_connection((host.address, host.port), 10) as sock:
        sock.settimeout(1.0)
        with pytest.raises(TimeoutError):
            sock.recv(64)


def test_drop_cuts_the_connection_on_its_marker(lab: RunningLab) -> None:
    if lab.sshd == "openssh":
        pytest.skip("with --sshd openssh the simulated tools, not the server, drop sessions")
    client = connect(lab, "node01")
    transport = client.get_transport()
    try:
        with pytest.raises((paramiko.SSHException, EOFError, OSError)):
            channel = transport.open_session(timeout=10)
            channel.exec_command(f"echo {DROP}")
            channel.recv_exit_status()
            raise paramiko.SSHException("no exit status")
        assert transport.is_active() is False
    finally:
        client.close()
    assert run(lab, "node01", "echo still-here").stdout == "still-here\n"


def test_delay_proxy_sits_in_front_of_the_server(lab: RunningLab) -> None:
    host = lab.host("node02")
    assert (host.port, host.internal_port) == (22, runtime.INTERNAL_PORT)
    result = run(lab, "node02", "echo $SSH_CONNECTION")
    # The server saw the connection on its internal port: the bytes went through the proxy.
    assert result.stdout.split()[2:] == [host.address, str(runtime.INTERNAL_PORT)]


@pytest.mark.skipif(bool(openssh_client_skip_reason()), reason=openssh_client_skip_reason() or "")
def test_openssh_jump_through_a_lab_host(lab: RunningLab) -> None:
    done = subprocess.run(
        ["ssh", "-F", str(lab.lab.ssh_config), "-J", "node01", "node02", "hostname"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert (done.returncode, done.stdout) == (0, "node02\n"), done.stderr


def test_paramiko_direct_tcpip_reaches_another_host(lab: RunningLab) -> None:
    target = lab.host("node02")
    client = connect(lab, "node01")
    try:
        channel = client.get_transport().open_channel(
            "direct-tcpip", (target.address, target.port), ("127.0.0.1", 0), timeout=10
        )
        inner = paramiko.Transport(channel)
        inner.start_client(timeout=10)
        key = inner.get_remote_server_key()
        inner.close()
    finally:
        client.close()
    assert paramiko.HostKeys(str(lab.lab.known_hosts)).check(target.address, key)


def test_forwarding_beyond_loopback_is_refused(lab: RunningLab) -> None:
    client = connect(lab, "node01")
    try:
        with pytest.raises(paramiko.ChannelException):
            client.get_transport().open_channel(
                "direct-tcpip", ("192.0.2.1", 22), ("127.0.0.1", 0), timeout=10
            )
    finally:
        client.close()


def test_sftp_writes_into_the_host(lab: RunningLab) -> None:
    client = connect(lab, "node01")
    try:
        with client.open_sftp() as sftp, sftp.open("/tmp/sftp-probe", "w") as handle:
            handle.write("through sftp\n")
    finally:
        client.close()
    assert run(lab, "node01", "cat /tmp/sftp-probe; stat -c %U /tmp/sftp-probe").stdout == (
        "through sftp\ncentos\n"
    )


def test_inventories_describe_the_lab(lab: RunningLab) -> None:
    inventory = load_inventory(lab.inventory)
    assert [h.name for h in inventory.hosts] == [f"node0{i}" for i in range(1, 6)]
    node01 = inventory.host("node01")
    assert (node01.address, node01.port, node01.user) == (lab.host("node01").address, 22, "centos")
    assert Path(node01.identity_file) == lab.lab.identity_file
    assert inventory.host("node02").become_password_env == "FLEET_LAB_BECOME_PASS"
    assert set(inventory.groups["web"]) == {"node01", "node02"}
    ansible = load_inventory(lab.lab.ansible_inventory)
    assert [(h.name, h.address, h.port) for h in ansible.hosts] == [
        (h.name, h.address, h.port) for h in inventory.hosts
    ]


def test_status_matches_every_host(lab: RunningLab) -> None:
    status = runtime.lab_status(lab.dir)
    assert status.healthy
    states = {h.name: h.state for h in status.hosts}
    assert states == {
        "node01": "up",
        "node02": "up",
        "node03": "up",
        "node04": "refused",
        "node05": "silent",
    }
    assert status.memory_kib_per_host > 0


def test_keepalive_requests_keep_the_connection(lab: RunningLab) -> None:
    client = connect(lab, "node01")
    try:
        transport = client.get_transport()
        # OpenSSH's keepalive: any reply (here a failure) proves the server is alive.
        assert transport.global_request("keepalive@openssh.com", wait=True) is None
        transport.send_ignore()
        assert transport.is_active()
        _, stdout, _ = client.exec_command("echo alive")
        assert stdout.read() == b"alive\n"
    finally:
        client.close()


def test_login_user_runs_the_simulated_tools(lab: RunningLab) -> None:
    if not (lab.dir / "tools" / "rpm").exists():
        pytest.skip("fleet.lab.simtools is not installed in this tree")
    result = run(lab, "node01", "command -v rpm; rpm -q bash")
    assert result.status == 0, result.stderr
    assert result.stdout.splitlines()[0] == "/usr/local/bin/rpm"
    assert result.stdout.splitlines()[1].startswith("bash-")
