"""Every tool the benchmark runs, and how it does each kind of work.

A :class:`Runner` is one (tool, way, work): ``build`` turns a lab into the argv
of a child process, ``ok_hosts`` reads that process's output back into how many
hosts did the work.  Each peer gets its inventory generated from the lab's, and
the same command text where the work is a command.
"""

from __future__ import annotations

import base64
import json
import os
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from benchmarks.harness.servercpu import ServerCpu
from fleet.lab.runtime import Lab

BENCH = Path(__file__).resolve().parents[1]
REPO = BENCH.parent
PEERS = BENCH / "peers"
FANOUT_COMMAND = "sudo docker info --format '{{json .}}'"
FANOUT_EXPECT = '"CgroupDriver"'
ROLLOUT_EXPECT = "verified: systemd overlay2"
TOOLS = ("fleet", "openssh", "pssh", "pyinfra", "ansible")
WORKS = ("fanout", "rollout", "noop")


@dataclass(frozen=True)
class Context:
    """Where one measurement runs: the lab, a scratch folder, the peers' venvs."""

    lab: Lab
    scratch: Path
    forks: int
    venvs: dict[str, Path]
    server: ServerCpu | None = None


@dataclass(frozen=True)
class Invocation:
    argv: list[str]
    env: dict[str, str] | None = None
    cwd: Path | None = None


@dataclass(frozen=True)
class Runner:
    tool: str  # the --tools name
    label: str  # what the table calls it
    work: str  # fanout, rollout, noop
    build: Callable[[Context], Invocation]
    ok_hosts: Callable[[str], int]  # from the tool's output


def runners(tools: tuple[str, ...], work: str) -> list[Runner]:
    """The runners of ``tools`` that do ``work``, in the order given."""
    chosen = [r for r in ALL_RUNNERS if r.work == work]
    return [r for tool in tools for r in chosen if r.tool == tool]


# --- output readers -----------------------------------------------------------------------------


def _lines_with(text: str) -> Callable[[str], int]:
    return lambda output: sum(1 for line in output.splitlines() if text in line)


def _json_ok(output: str) -> int:
    for line in reversed(output.splitlines()):
        if line.startswith("{") and '"ok"' in line:
            return int(json.loads(line)["ok"])
    return 0


def _fleet_hosts(output: str) -> int:
    """``fleet --plain``: HOST lines of compliant hosts."""
    return len(re.findall(r"^HOST \S+ batch=\d+ status=(?:ok|changed) ", output, re.M))


def _ansible_recap(output: str) -> int:
    recap = output.partition("PLAY RECAP")[2]
    return len(re.findall(r"^\S+\s+: ok=\d+.*unreachable=0\s+failed=0", recap, re.M))


def _pyinfra_ok(output: str) -> int:
    """Hosts that passed the deploy's last operation (the verification)."""
    last = output.rpartition("--> Starting operation: Verify")[2].partition("-->")[0]
    return len(re.findall(r"^\s*\[\S+\] Success\s*$", last, re.M))


# --- lab files each peer reads ------------------------------------------------------------------


def hosts_file(ctx: Context) -> Path:
    path = ctx.scratch / "hosts.txt"
    path.write_text("".join(f"{h.name}\n" for h in ctx.lab.hosts))
    return path


def pssh_hosts(ctx: Context) -> Path:
    path = ctx.scratch / "pssh-hosts.json"
    key = str(ctx.lab.identity_file)
    hosts = [
        {"address": h.address, "port": h.port, "user": h.user, "key": key} for h in ctx.lab.hosts
    ]
    path.write_text(json.dumps(hosts))
    return path


def pyinfra_inventory(ctx: Context) -> Path:
    path = ctx.scratch / "pyinfra_inventory.py"
    common = {
        "ssh_user": ctx.lab.hosts[0].user,
        "ssh_key": str(ctx.lab.identity_file),
        "ssh_known_hosts_file": str(ctx.lab.known_hosts),
        "ssh_strict_host_key_checking": "yes",
    }
    rows = [
        (h.name, {"ssh_hostname": h.address, "ssh_port": h.port, **common}) for h in ctx.lab.hosts
    ]
    path.write_text(f"# generated from {ctx.lab.inventory}\nhosts = {rows!r}\n")
    return path


def ansible_env(ctx: Context) -> dict[str, str]:
    """Ansible's defaults, forks raised to match; known_hosts checked; its own control dir."""
    control = ctx.scratch / "cp"
    control.mkdir(exist_ok=True)
    config = ctx.scratch / "ansible.cfg"
    config.write_text(
        "[defaults]\n"
        f"inventory = {ctx.lab.ansible_inventory}\n"
        f"forks = {ctx.forks}\n"
        "host_key_checking = True\n"
        "interpreter_python = auto_silent\n"
        "retry_files_enabled = False\n"
        f"local_tmp = {ctx.scratch / 'ansible-tmp'}\n"
        "[ssh_connection]\n"
        f"control_path_dir = {control}\n"
    )
    return {**os.environ, "ANSIBLE_CONFIG": str(config), "ANSIBLE_NOCOLOR": "1"}


def script_command() -> str:
    """rollout.sh as one command line, for tools that send a command and no stdin."""
    encoded = base64.b64encode((PEERS / "rollout.sh").read_bytes()).decode()
    return f"echo {encoded} | base64 -d | sudo sh"


# --- builders -----------------------------------------------------------------------------------


def _fleet(command: str) -> Callable[[Context], Invocation]:
    def build(ctx: Context) -> Invocation:
        return Invocation(
            [sys.executable, "-m", "fleet", command, "-i", str(ctx.lab.inventory), "--plain",
             "--forks", str(ctx.forks), "--runs-dir", str(ctx.scratch / "fleet-runs")],
            cwd=REPO,
        )  # fmt: skip

    return build


def _fleet_transport(ctx: Context) -> Invocation:
    return Invocation(
        [sys.executable, str(BENCH / "fleet_fanout.py"), "-i", str(ctx.lab.inventory),
         "--forks", str(ctx.forks)],
        cwd=REPO,
    )  # fmt: skip


def _xargs(command: Callable[[], str]) -> Callable[[Context], Invocation]:
    def build(ctx: Context) -> Invocation:
        return Invocation(
            ["xargs", "-a", str(hosts_file(ctx)), "-P", str(ctx.forks), "-I{}",
             "ssh", "-F", str(ctx.lab.ssh_config), "-n", "{}", command()],
        )  # fmt: skip

    return build


def _pssh(command: Callable[[], str], expect: str) -> Callable[[Context], Invocation]:
    def build(ctx: Context) -> Invocation:
        python = ctx.venvs["pssh"] / "bin" / "python"
        return Invocation(
            [str(python), str(PEERS / "pssh_run.py"), str(pssh_hosts(ctx)), command(), expect,
             str(ctx.forks)],
        )  # fmt: skip

    return build


def _pyinfra_exec(ctx: Context) -> Invocation:
    return Invocation(
        [str(ctx.venvs["pyinfra"] / "bin" / "pyinfra"), "-y", "--parallel", str(ctx.forks),
         "--sudo", str(pyinfra_inventory(ctx)), "exec", "--",
         FANOUT_COMMAND.removeprefix("sudo ")],
        cwd=ctx.scratch,
    )  # fmt: skip


def _pyinfra_deploy(ctx: Context) -> Invocation:
    return Invocation(
        [str(ctx.venvs["pyinfra"] / "bin" / "pyinfra"), "-y", "--parallel", str(ctx.forks),
         "--sudo", str(pyinfra_inventory(ctx)), str(PEERS / "pyinfra_deploy.py")],
        cwd=ctx.scratch,
    )  # fmt: skip


def _ansible_adhoc(ctx: Context) -> Invocation:
    command = FANOUT_COMMAND.removeprefix("sudo ").replace(
        "'{{json .}}'", "'{% raw %}{{json .}}{% endraw %}'"
    )
    return Invocation(
        [str(ctx.venvs["ansible"] / "bin" / "ansible"), "all", "-b", "-m", "command",
         "-a", command],
        env=ansible_env(ctx),
        cwd=ctx.scratch,
    )  # fmt: skip


def _ansible_playbook(ctx: Context) -> Invocation:
    return Invocation(
        [str(ctx.venvs["ansible"] / "bin" / "ansible-playbook"), str(PEERS / "rollout.yml")],
        env=ansible_env(ctx),
        cwd=ctx.scratch,
    )


def _fanout() -> str:
    return FANOUT_COMMAND


def _rollout_runners(work: str) -> list[Runner]:
    return [
        Runner("fleet", "fleet rollout", work, _fleet("rollout"), _fleet_hosts),
        Runner("openssh", "openssh xargs (script)", work, _xargs(script_command),
               _lines_with(ROLLOUT_EXPECT)),
        Runner("pssh", "parallel-ssh (script)", work, _pssh(script_command, ROLLOUT_EXPECT),
               _json_ok),
        Runner("pyinfra", "pyinfra deploy", work, _pyinfra_deploy, _pyinfra_ok),
        Runner("ansible", "ansible playbook", work, _ansible_playbook, _ansible_recap),
    ]  # fmt: skip


ALL_RUNNERS: tuple[Runner, ...] = (
    Runner("fleet", "fleet transport", "fanout", _fleet_transport, _json_ok),
    Runner("fleet", "fleet verify", "fanout", _fleet("verify"), _fleet_hosts),
    Runner("openssh", "openssh xargs", "fanout", _xargs(_fanout), _lines_with(FANOUT_EXPECT)),
    Runner("pssh", "parallel-ssh", "fanout", _pssh(_fanout, FANOUT_EXPECT), _json_ok),
    Runner("pyinfra", "pyinfra exec", "fanout", _pyinfra_exec, _lines_with(FANOUT_EXPECT)),
    Runner("ansible", "ansible ad-hoc", "fanout", _ansible_adhoc, _lines_with(FANOUT_EXPECT)),
    *_rollout_runners("rollout"),
    *_rollout_runners("noop"),
)
