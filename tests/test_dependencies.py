"""What fleet needs from paramiko and Fabric beyond their documented API.

fleet/transport.py and fleet/keepalive.py reach into a few private or undocumented
parts of the installed paramiko and Fabric (a reply-counting keepalive, a shared
parsed known_hosts, waiting on a channel's exit event).  pyproject.toml caps both at
the releases the suite has passed on; before a cap is raised, this file must pass on
the new release.  Each check names what fleet needs and where, so an upgrade that
removes one fails here with the reason instead of as a hang or a wrong verdict on a
fleet.  A last check fails when fleet starts using a private name not listed here.
"""

from __future__ import annotations

import ast
import functools
import inspect
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager, nullcontext
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import paramiko
import paramiko.common
import pytest
from fabric import Config, Connection

FLEET = Path(__file__).resolve().parents[1] / "fleet"
VERSIONS = f"paramiko {paramiko.__version__}, fabric {metadata.version('fabric')}"
REPLY_WAIT_S = 10.0  # an upper bound for an answer over loopback, never slept


@dataclass(frozen=True)
class Need:
    """One thing fleet uses that a paramiko or Fabric release could take away."""

    name: str  # what fleet uses, as fleet spells it
    where: str  # where fleet uses it
    why: str  # what breaks without it

    def missing(self, detail: str) -> str:
        return (
            f"{VERSIONS}: {self.name} {detail}. fleet needs it in {self.where}: {self.why}. "
            "Keep the dependency cap in pyproject.toml below this release, or adapt fleet."
        )


HANDLER_TABLE = Need(
    "paramiko.Transport._handler_table",
    "fleet/keepalive.py Watch.count_replies",
    "a per-transport dict of message type -> handler, wrapped to count keepalive replies",
)
SEND_MESSAGE = Need(
    "paramiko.Transport._send_message",
    "fleet/keepalive.py _send_without_waiting",
    "sends a want-reply keepalive without blocking the one scheduler thread",
)
SEND_USER_MESSAGE = Need(
    "paramiko.Transport._send_user_message",
    "fleet/keepalive.py Watch._send_waiting",
    "sends a keepalive that has to wait for a key exchange, taking clear_to_send_lock",
)
CLEAR_TO_SEND = Need(
    "paramiko.Transport.clear_to_send / clear_to_send_lock / active / sock",
    "fleet/keepalive.py _send_without_waiting",
    "the lock and event that _send_user_message uses, taken without waiting",
)
COMMON = Need(
    "paramiko.common.MSG_REQUEST_SUCCESS / MSG_REQUEST_FAILURE / cMSG_GLOBAL_REQUEST",
    "fleet/keepalive.py (imports)",
    "the message codes of global requests and their replies (RFC 4254)",
)
HOST_KEYS = Need(
    "paramiko.SSHClient._host_keys / _system_host_keys",
    "fleet/transport.py _secure",
    "one parsed known_hosts shared by every connection instead of Fabric's auto-add",
)
CHANNEL_STATE = Need(
    "paramiko.Channel.status_event / eof_received / closed",
    "fleet/transport.py _drive and _ServedShell._read",
    "waiting for a command's exit status on an event instead of spinning",
)
CONNECT_KWARGS = Need(
    "paramiko.SSHClient.connect(banner_timeout, auth_timeout, pkey, key_filename, timeout, sock)",
    "fleet/transport.py Connector._fabric_connection (Fabric's connect_kwargs)",
    "connect and handshake time limits and the run's parsed identity file",
)
PKEY_FROM_PATH = Need(
    "paramiko.PKey.from_path",
    "fleet/transport.py Connector._pkey",
    "parsing each identity file once per run",
)
BANNER_TIMEOUT = Need(
    "paramiko.Transport.banner_timeout",
    "fleet/lab/runtime/verify.py _handshake",
    "a bounded wait for a lab host's SSH banner",
)
FABRIC_CONNECTION = Need(
    "fabric.Connection(host, user, port, config, connect_timeout, connect_kwargs)",
    "fleet/transport.py Connector._fabric_connection",
    "opening each host's connection",
)
FABRIC_GATEWAY = Need(
    "fabric.Connection.gateway, assigned after construction",
    "fleet/transport.py HostConnection.open",
    "one shared jump-host connection, set on a Connection before it opens",
)
FABRIC_SSH_CONFIG = Need(
    "fabric.Connection.ssh_config (lower-case keys) and Config(ssh_config=, lazy=)",
    "fleet/transport.py Connector._fabric_config, HostConnection._keepalive_settings",
    "one parsed ssh_config per run; ServerAliveInterval/CountMax per host",
)
FABRIC_CONFIG_LOAD = Need(
    "fabric.Config(load_ssh_configs, ssh_config_path).load_ssh_config() / base_ssh_config",
    "fleet/transport.py Connector._parse_ssh_config",
    "reading ~/.ssh/config or --ssh-config once per run",
)
FABRIC_OPEN = Need(
    "fabric.Connection.open() with the client's host keys and policy as fleet set them",
    "fleet/transport.py _secure and _open",
    "unknown or changed host keys must be refused, never auto-added",
)

# Private names fleet uses on paramiko/Fabric objects, and the check that covers each.
PRIVATE_NAMES = {
    "_handler_table": HANDLER_TABLE,
    "_send_message": SEND_MESSAGE,
    "_send_user_message": SEND_USER_MESSAGE,
    "_host_keys": HOST_KEYS,
    "_system_host_keys": HOST_KEYS,
}
NOT_LIBRARY = {"_exit", "_replace"}  # os._exit, namedtuple._replace: the standard library's


def require(condition: object, need: Need, detail: str) -> None:
    """Fail with what fleet needs, where, and why, when ``condition`` is false."""
    if not condition:
        pytest.fail(need.missing(detail), pytrace=False)


@contextmanager
def idle_transport() -> Iterator[paramiko.Transport]:
    """A client Transport that has not started: its state, without any network."""
    ours, theirs = socket.socketpair()
    transport = paramiko.Transport(ours)
    try:
        yield transport
    finally:
        transport.close()
        theirs.close()


def test_transport_handler_table_is_per_instance_and_holds_the_reply_handlers():
    with idle_transport() as one, idle_transport() as other:
        table = vars(one).get("_handler_table")
        require(isinstance(table, dict), HANDLER_TABLE, "is no longer an instance dict")
        for code in (paramiko.common.MSG_REQUEST_SUCCESS, paramiko.common.MSG_REQUEST_FAILURE):
            require(callable(table.get(code)), HANDLER_TABLE, f"has no handler for {code}")
        require(
            table is not other._handler_table,
            HANDLER_TABLE,
            "is shared between transports (wrapping one would count another's replies)",
        )


def test_message_codes_are_the_protocol_ones():
    common = paramiko.common
    found = {
        name: getattr(common, name, None)
        for name in ("MSG_REQUEST_SUCCESS", "MSG_REQUEST_FAILURE", "cMSG_GLOBAL_REQUEST")
    }
    expected = {"MSG_REQUEST_SUCCESS": 81, "MSG_REQUEST_FAILURE": 82, "cMSG_GLOBAL_REQUEST": b"P"}
    require(found == expected, COMMON, f"are {found}, not {expected}")


def test_transport_send_state_is_a_lock_an_event_a_flag_and_the_socket():
    with idle_transport() as transport:
        lock = getattr(transport, "clear_to_send_lock", None)
        require(
            lock is not None and callable(getattr(lock, "acquire", None)),
            CLEAR_TO_SEND,
            "has no clear_to_send_lock",
        )
        require(
            isinstance(getattr(transport, "clear_to_send", None), threading.Event),
            CLEAR_TO_SEND,
            "has no clear_to_send Event",
        )
        require(transport.active is False, CLEAR_TO_SEND, "has no active flag")
        require(isinstance(transport.sock, socket.socket), CLEAR_TO_SEND, "has no sock")


def test_send_user_message_sends_through_send_message_holding_clear_to_send_lock():
    """fleet's non-blocking send copies this protocol, so both must stay the same one."""
    with idle_transport() as transport:
        require(callable(getattr(transport, "_send_message", None)), SEND_MESSAGE, "is gone")
        require(
            callable(getattr(transport, "_send_user_message", None)), SEND_USER_MESSAGE, "is gone"
        )
        held: list[bool] = []
        transport._send_message = lambda message: held.append(transport.clear_to_send_lock.locked())
        transport.active = True
        transport.clear_to_send.set()
        try:
            transport._send_user_message(paramiko.Message())
        finally:
            transport.active = False
        require(
            held == [True],
            SEND_USER_MESSAGE,
            f"no longer sends through _send_message under clear_to_send_lock (saw {held})",
        )


def test_transport_banner_timeout_is_an_attribute():
    with idle_transport() as transport:
        require(isinstance(transport.banner_timeout, int | float), BANNER_TIMEOUT, "is gone")


def test_client_keeps_host_keys_in_the_two_attributes():
    client = paramiko.SSHClient()
    for name in ("_host_keys", "_system_host_keys"):
        require(
            isinstance(getattr(client, name, None), paramiko.HostKeys),
            HOST_KEYS,
            f"has no {name} HostKeys",
        )
    shared = paramiko.HostKeys()
    client._host_keys = shared
    require(client.get_host_keys() is shared, HOST_KEYS, "is not what get_host_keys() returns")


def test_channel_exit_status_is_the_status_event():
    channel = paramiko.Channel(0)
    require(channel.closed is False, CHANNEL_STATE, "has no closed flag")
    require(not channel.eof_received, CHANNEL_STATE, "has no eof_received flag")
    event = getattr(channel, "status_event", None)
    require(isinstance(event, threading.Event), CHANNEL_STATE, "has no status_event")
    require(not channel.exit_status_ready(), CHANNEL_STATE, "reports an exit status too soon")
    event.set()
    require(channel.exit_status_ready(), CHANNEL_STATE, "is not what exit_status_ready() reads")


def test_connect_takes_the_keyword_arguments_fleet_gives_it():
    parameters = inspect.signature(paramiko.SSHClient.connect).parameters
    wanted = ("banner_timeout", "auth_timeout", "pkey", "key_filename", "timeout", "sock")
    missing = [name for name in wanted if name not in parameters]
    require(not missing, CONNECT_KWARGS, f"lacks {missing}")
    require(callable(getattr(paramiko.PKey, "from_path", None)), PKEY_FROM_PATH, "is gone")


def _config(ssh_config: paramiko.SSHConfig | None = None) -> Config:
    """A Config like fleet's per-connection one: nothing read from this machine's files."""
    return Config(ssh_config=ssh_config or paramiko.SSHConfig(), lazy=True)


def test_fabric_connection_takes_fleets_arguments_and_reads_ssh_config_per_host():
    parameters = inspect.signature(Connection.__init__).parameters
    wanted = ("host", "user", "port", "config", "connect_timeout", "connect_kwargs", "gateway")
    missing = [name for name in wanted if name not in parameters]
    require(not missing, FABRIC_CONNECTION, f"lacks {missing}")
    parsed = paramiko.SSHConfig.from_text("Host node1\n  ServerAliveInterval 7\n")
    connection = Connection("node1", user="ops", port=2222, config=_config(parsed))
    found = connection.ssh_config.get("serveraliveinterval")
    require(found == "7", FABRIC_SSH_CONFIG, f"gave {found!r} for ServerAliveInterval 7")


def test_fabric_config_loads_the_given_ssh_config_file(tmp_path):
    path = tmp_path / "ssh_config"
    path.write_text("Host node1\n  ServerAliveCountMax 5\n", encoding="utf-8")
    config = Config(overrides={"load_ssh_configs": True, "ssh_config_path": str(path)})
    config.load_ssh_config()
    parsed = getattr(config, "base_ssh_config", None)
    require(isinstance(parsed, paramiko.SSHConfig), FABRIC_CONFIG_LOAD, "has no base_ssh_config")
    found = parsed.lookup("node1").get("serveralivecountmax")
    require(found == "5", FABRIC_CONFIG_LOAD, f"gave {found!r} for ServerAliveCountMax 5")


def test_fabric_opens_through_a_gateway_assigned_after_construction():
    connection = Connection("node1", config=_config())
    connection.gateway = "true"  # a ProxyCommand: no network needed to see it used
    with closing(connection.open_gateway()) as sock:
        require(
            isinstance(sock, paramiko.ProxyCommand),
            FABRIC_GATEWAY,
            f"was not used by open_gateway() (got {type(sock).__name__})",
        )


class _PasswordServer(paramiko.ServerInterface):
    """Accepts one password and answers global requests with failure, as sshd does."""

    def get_allowed_auths(self, username: str) -> str:
        return "password"

    def check_auth_password(self, username: str, password: str) -> int:
        return paramiko.AUTH_SUCCESSFUL if password == "secret" else paramiko.AUTH_FAILED

    def check_global_request(self, kind: str, msg: paramiko.Message) -> bool:
        return False


@contextmanager
def ssh_server(host_key: paramiko.PKey) -> Iterator[int]:
    """A one-connection paramiko SSH server on loopback; yields its port."""
    listener = socket.create_server(("127.0.0.1", 0))
    transports: list[paramiko.Transport] = []

    def serve() -> None:
        with listener:
            try:
                sock, _ = listener.accept()
            except OSError:
                return
        transport = paramiko.Transport(sock)
        transports.append(transport)
        transport.add_server_key(host_key)
        try:
            transport.start_server(server=_PasswordServer())
        except (paramiko.SSHException, EOFError, OSError):
            return  # the client refused the key: what some tests want

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1]
    finally:
        listener.close()
        thread.join(REPLY_WAIT_S)
        for transport in transports:
            transport.close()


class _Recorder(paramiko.MissingHostKeyPolicy):
    def __init__(self) -> None:
        self.asked: list[str] = []

    def missing_host_key(self, client: paramiko.SSHClient, hostname: str, key: paramiko.PKey):
        self.asked.append(hostname)
        raise paramiko.SSHException("unknown host key refused")


def _connection(port: int, known: paramiko.HostKeys, policy: paramiko.MissingHostKeyPolicy):
    """A Fabric connection with host keys and policy set the way fleet sets them."""
    connection = Connection(
        "127.0.0.1",
        user="ops",
        port=port,
        config=_config(),
        connect_timeout=REPLY_WAIT_S,
        connect_kwargs={"password": "secret", "look_for_keys": False, "allow_agent": False},
    )
    connection.client._system_host_keys = paramiko.HostKeys()
    connection.client._host_keys = known
    connection.client.set_missing_host_key_policy(policy)
    return connection


def _known(port: int, key: paramiko.PKey) -> paramiko.HostKeys:
    keys = paramiko.HostKeys()
    keys.add(f"[127.0.0.1]:{port}", key.get_name(), key)
    return keys


@pytest.fixture(scope="module")
def host_key() -> paramiko.PKey:
    return paramiko.ECDSAKey.generate()


def test_fabric_open_refuses_a_changed_host_key_from_the_shared_known_hosts(host_key):
    other = paramiko.ECDSAKey.generate()
    with ssh_server(host_key) as port:
        connection = _connection(port, _known(port, other), _Recorder())
        with closing(connection), pytest.raises(paramiko.BadHostKeyException):
            connection.open()
        require(connection.transport is None, FABRIC_OPEN, "opened despite a changed host key")


def test_fabric_open_asks_fleets_policy_about_an_unknown_host_key(host_key):
    policy = _Recorder()
    with ssh_server(host_key) as port:
        connection = _connection(port, paramiko.HostKeys(), policy)
        with closing(connection), pytest.raises(paramiko.SSHException):
            connection.open()
    require(
        policy.asked == [f"[127.0.0.1]:{port}"],
        FABRIC_OPEN,
        f"did not ask the policy fleet set (asked: {policy.asked})",
    )


def _count_replies(transport: paramiko.Transport, replied: threading.Event) -> None:
    """Wrap the reply handlers the way fleet's Watch.count_replies does."""
    table = transport._handler_table
    for code in (paramiko.common.MSG_REQUEST_SUCCESS, paramiko.common.MSG_REQUEST_FAILURE):
        table[code] = _then(table[code], replied.set)


def _then(handler: Callable[[paramiko.Message], None], after: Callable[[], None]) -> Callable:
    def wrapped(message: paramiko.Message) -> None:
        handler(message)
        after()

    return wrapped


def _keepalive() -> paramiko.Message:
    message = paramiko.Message()
    message.add_byte(paramiko.common.cMSG_GLOBAL_REQUEST)
    message.add_string("keepalive@openssh.com")
    message.add_boolean(True)
    return message


@pytest.mark.parametrize("send", ["_send_message", "_send_user_message"])
def test_a_keepalive_sent_privately_gets_its_reply_counted(host_key, send):
    need = SEND_MESSAGE if send == "_send_message" else SEND_USER_MESSAGE
    replied = threading.Event()
    with ssh_server(host_key) as port:
        connection = _connection(port, _known(port, host_key), _Recorder())
        with closing(connection):
            connection.open()
            transport = connection.transport
            require(isinstance(transport, paramiko.Transport), FABRIC_OPEN, "left no transport")
            require(callable(getattr(transport, send, None)), need, "is gone")
            _count_replies(transport, replied)
            with transport.clear_to_send_lock if send == "_send_message" else nullcontext():
                getattr(transport, send)(_keepalive())
            answered = replied.wait(REPLY_WAIT_S)
    require(
        answered,
        need,
        f"sent a want-reply keepalive whose reply never reached the wrapped "
        f"_handler_table entry within {REPLY_WAIT_S:g}s",
    )


@functools.cache
def _trees() -> dict[Path, ast.Module]:
    return {path: ast.parse(path.read_text(encoding="utf-8")) for path in FLEET.rglob("*.py")}


def _defined_in_fleet() -> set[str]:
    """Every name fleet defines itself: private names on these are fleet's own."""
    names: set[str] = set()
    for tree in _trees().values():
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                names.add(node.name)
            elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
                if isinstance(node.value, ast.Name) and node.value.id in ("self", "cls"):
                    names.add(node.attr)
            elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                names.add(node.id)
    return names


def _library_modules() -> list[Path]:
    """fleet's modules that import paramiko or Fabric."""
    found = []
    for path, tree in sorted(_trees().items()):
        for node in ast.walk(tree):
            modules = []
            if isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                modules = [node.module]
            if any(m.split(".")[0] in ("paramiko", "fabric") for m in modules):
                found.append(path)
                break
    return found


def test_every_private_name_fleet_uses_on_paramiko_or_fabric_is_checked_here():
    own = _defined_in_fleet() | NOT_LIBRARY
    unchecked: dict[str, str] = {}
    for path in _library_modules():
        for node in ast.walk(_trees()[path]):
            if not isinstance(node, ast.Attribute) or not node.attr.startswith("_"):
                continue
            if node.attr.startswith("__") or node.attr in own or node.attr in PRIVATE_NAMES:
                continue
            if isinstance(node.value, ast.Name) and node.value.id in ("self", "cls"):
                continue
            unchecked[node.attr] = f"{path.relative_to(FLEET.parent)}:{node.lineno}"
    assert not unchecked, (
        f"fleet uses private names of paramiko/Fabric that tests/test_dependencies.py does not "
        f"check: {unchecked}; add a check for each (and keep the caps in pyproject.toml)"
    )
