"""The ``docker`` CLI of a lab host: ``info``, ``version``, ``--version`` (and an empty ``ps``).

The CLI talks to the engine over /var/run/docker.sock, which only root (or
the docker group) may open: the lab's login user gets the real "permission
denied" text, so fleet has to use sudo.
"""

from __future__ import annotations

import sys
from typing import Any

from fleet.lab.simtools import engine, gotemplate, info, packages, versions
from fleet.lab.simtools.state import Host, is_root
from fleet.lab.simtools.versions import at_least


def err(text: str) -> None:
    print(text, file=sys.stderr)


def _format_arg(args: list[str]) -> str | None:
    for i, arg in enumerate(args):
        if arg in ("-f", "--format") and i + 1 < len(args):
            return args[i + 1]
        if arg.startswith("--format="):
            return arg.split("=", 1)[1]
        if arg.startswith("-f") and len(arg) > 2:
            return arg[2:]
    return None


def _connect_error(cli_version: str, endpoint: str) -> str | None:
    """Why the CLI cannot reach the daemon, in its words, or None."""
    if is_root():
        return None
    api = versions.api_version(cli_version)
    url = f"http://%2Fvar%2Frun%2Fdocker.sock/v{api}/{endpoint}"
    url = f'"{url}"' if at_least(cli_version, "20.10") else url
    return (
        "Got permission denied while trying to connect to the Docker daemon socket at "
        f"{info.SOCKET}: Get {url}: dial unix /var/run/docker.sock: connect: permission denied"
    )


def run(tool: str, args: list[str], host: Host) -> int:
    cli = packages.cli_version(host)
    if cli is None:
        from fleet.lab.simtools.faults import command_not_found

        return command_not_found(tool)
    words = [a for a in args if not a.startswith("-")]
    if not words or args[0] in ("-v", "--version"):
        if args and args[0] in ("-v", "--version"):
            print(f"Docker version {cli}, build {versions.git_commit(cli, server=False)}")
            return 0
        err("Usage:  docker [OPTIONS] COMMAND\n\nRun 'docker --help' for more information.")
        return 1
    command = words[0]
    if command == "system" and len(words) > 1 and words[1] == "info":
        command = "info"
    if command == "info":
        return docker_info(host, cli, _format_arg(args))
    if command == "version":
        return docker_version(host, cli, _format_arg(args))
    if command == "ps":
        return _ps(host, cli)
    err(f"docker: '{command}' is not a docker command.\nSee 'docker --help'")
    return 1


def _running(host: Host) -> dict[str, Any] | None:
    record = engine.read_engine(host)
    return record if record.get("running") else None


def docker_info(host: Host, cli: str, fmt: str | None) -> int:
    problem = _connect_error(cli, "info")
    record = _running(host)
    if problem is None and record is None:
        problem = info.DAEMON_DOWN
    if fmt is not None:
        return _info_formatted(host, cli, fmt, record, problem)
    print("\n".join(info.client_text(cli)))
    print()
    print("Server:")
    if problem is not None:
        err(f"ERROR: {problem}")
        err("errors pretty printing info")
        return 1
    assert record is not None
    data = info.server_info(host, record)
    print("\n".join(info.server_text(data, cli)))
    print()
    for warning in data["Warnings"] or []:
        err(warning)
    return 0


def _info_formatted(
    host: Host, cli: str, fmt: str, record: dict[str, Any] | None, problem: str | None
) -> int:
    """With --format the CLI prints the error, still runs the template, and exits 0."""
    if problem is not None or record is None:
        data: dict[str, Any] = {"ID": "", "Containers": 0, "Driver": "", "CgroupDriver": "",
                                "ServerVersion": "", "Warnings": None,
                                "ServerErrors": [problem]}  # fmt: skip
        err(problem or info.DAEMON_DOWN)
    else:
        data = info.server_info(host, record)
    data["ClientInfo"] = info.client_info(cli)
    try:
        print(gotemplate.render(fmt, data))
    except gotemplate.TemplateParseError as exc:
        err(f"template parsing error: {exc}")
        return 64
    except gotemplate.TemplateExecError as exc:
        err(str(exc))
        return 1
    return 0


def _version_data(cli: str, record: dict[str, Any] | None) -> dict[str, Any]:
    client = {
        "Platform": {"Name": "Docker Engine - Community"},
        "Version": cli,
        "ApiVersion": versions.api_version(cli),
        "GitCommit": versions.git_commit(cli, server=False),
        "Os": "linux",
        "Arch": "amd64",
    }
    data: dict[str, Any] = {"Client": client, "Server": None}
    if record is not None:
        version = record["version"]
        data["Server"] = {
            "Platform": {"Name": "Docker Engine - Community"},
            "Version": version,
            "ApiVersion": versions.api_version(version),
            "MinAPIVersion": "1.12" if not at_least(version, "25.0") else "1.24",
            "GitCommit": versions.git_commit(version, server=True),
            "Os": "linux",
            "Arch": "amd64",
        }
    return data


def docker_version(host: Host, cli: str, fmt: str | None) -> int:
    problem = _connect_error(cli, "version")
    record = _running(host) if problem is None else None
    if problem is None and record is None:
        problem = info.DAEMON_DOWN
    data = _version_data(cli, record)
    if fmt is not None:
        try:
            text = (
                gotemplate.render(fmt, data, type_name="*formatter.VersionInfo") if record else None
            )
        except gotemplate.TemplateParseError as exc:
            err(f"template parsing error: {exc}")
            return 64
        except gotemplate.TemplateExecError as exc:
            err(str(exc))
            return 1
        if text is None:
            if fmt.strip().startswith("{{.Client") or fmt.strip().startswith("{{ .Client"):
                print(gotemplate.render(fmt, data))
            else:
                print()
            err(problem or info.DAEMON_DOWN)
            return 1
        print(text)
        return 0
    client = data["Client"]
    print(f"Client: Docker Engine - Community\n Version:           {cli}\n"
          f" API version:       {client['ApiVersion']}\n Git commit:        {client['GitCommit']}\n"
          " OS/Arch:           linux/amd64\n Experimental:      false")  # fmt: skip
    if record is None:
        print()
        err(problem or info.DAEMON_DOWN)
        return 1
    server = data["Server"]
    print(f"\nServer: Docker Engine - Community\n Engine:\n  Version:          {server['Version']}\n"
          f"  API version:      {server['ApiVersion']} (minimum version {server['MinAPIVersion']})\n"
          f"  Git commit:       {server['GitCommit']}\n  OS/Arch:          linux/amd64\n"
          f"  Experimental:     false\n containerd:\n  Version:          {record.get('containerd')}\n"
          f"  GitCommit:        {versions.containerd_commits(record.get('containerd'))[0]}")  # fmt: skip
    return 0


def _ps(host: Host, cli: str) -> int:
    problem = _connect_error(cli, "containers/json")
    if problem is None and _running(host) is None:
        problem = info.DAEMON_DOWN
    if problem:
        err(problem)
        return 1
    print("CONTAINER ID   IMAGE     COMMAND   CREATED   STATUS    PORTS     NAMES")
    return 0
