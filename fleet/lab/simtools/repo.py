"""Repository files: ``yum-config-manager --add-repo`` and what yum makes of /etc/yum.repos.d.

The docker-ce repository exists for yum only through its .repo file, whose
``baseurl`` is resolved with the host's ``$releasever`` (RHEL 7 says
``7Server``, a path download.docker.com does not have: the real 404).
The ``repo_down`` fault makes metadata downloads fail with yum's own texts: its
host name does not resolve (``repo_down: true``, curl error 6) or its server
refuses connections (``repo_down: refused``, curl error 7).
"""

from __future__ import annotations

import os
import sys
from typing import NamedTuple

from fleet.lab.simtools import packages
from fleet.lab.simtools.state import Host, is_root, write_text

REPO_DIR = "/etc/yum.repos.d"
DOCKER_REPO_FILE = f"{REPO_DIR}/docker-ce.repo"
_CHANNELS = (
    ("stable", "Stable", 1),
    ("test", "Test", 0),
    ("nightly", "Nightly", 0),
)


def docker_repo_text(base: str) -> str:
    """The docker-ce.repo download.docker.com serves, for a base URL like .../linux/centos."""
    sections = []
    for channel, title, enabled in _CHANNELS:
        for suffix, label, path in (
            ("", f"Docker CE {title} - $basearch", f"$basearch/{channel}"),
            (
                "-debuginfo",
                f"Docker CE {title} - Debuginfo $basearch",
                f"debug-$basearch/{channel}",
            ),
            ("-source", f"Docker CE {title} - Sources", f"source/{channel}"),
        ):
            sections.append(
                f"[docker-ce-{channel}{suffix}]\n"
                f"name={label}\n"
                f"baseurl={base}/$releasever/{path}\n"
                f"enabled={enabled if not suffix else 0}\n"
                "gpgcheck=1\n"
                f"gpgkey={base}/gpg\n"
            )
    return "\n".join(sections)


class Repo(NamedTuple):
    repo_id: str
    name: str
    baseurl: str  # with $releasever/$basearch substituted
    enabled: bool


def parse_repo_file(text: str, releasever: str) -> list[Repo]:
    repos: list[Repo] = []
    current: dict[str, str] = {}
    section = ""

    def flush() -> None:
        if section:
            subst = {"$releasever": releasever, "$basearch": "x86_64"}
            url, name = current.get("baseurl", ""), current.get("name", section)
            for var, value in subst.items():
                url, name = url.replace(var, value), name.replace(var, value)
            repos.append(Repo(section, name, url, current.get("enabled", "1").strip() == "1"))

    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            flush()
            section, current = line[1:-1], {}
        elif "=" in line:
            key, _, value = line.partition("=")
            current[key.strip()] = value.strip()
    flush()
    return repos


def enabled_repos(host: Host) -> list[Repo]:
    directory = host.path(REPO_DIR)
    try:
        names = sorted(n for n in os.listdir(directory) if n.endswith(".repo"))
    except FileNotFoundError:
        return []
    found = []
    for name in names:
        text = (directory / name).read_text(encoding="utf-8", errors="replace")
        found += [r for r in parse_repo_file(text, host.profile.releasever) if r.enabled]
    return found


def docker_repo(host: Host) -> Repo | None:
    """The enabled repository serving docker-ce, if any (any section whose URL names docker)."""
    for repo in enabled_repos(host):
        if "docker" in repo.repo_id or "docker" in repo.baseurl:
            return repo
    return None


def _bad_path(repo: Repo) -> bool:
    """download.docker.com has /centos/7, /8, /9 (and /rhel/8, /9): anything else is a 404."""
    marker = "download.docker.com/linux/"
    if marker not in repo.baseurl:
        return False  # a mirror: serves whatever it serves
    parts = repo.baseurl.split(marker, 1)[1].split("/")
    return len(parts) < 2 or parts[1] not in ("7", "8", "9")


_YUM_ADVICE = """

 One of the configured repositories failed ({name}),
 and yum doesn't have enough cached data to continue. At this point the only
 safe thing yum can do is fail. There are a few ways to work "fix" this:

     1. Contact the upstream for the repository and get them to fix the problem.

     2. Reconfigure the baseurl/etc. for the repository, to point to a working
        upstream. This is most often useful if you are using a newer
        distribution release than is supported by the repository (and the
        packages for the previous distribution release still work).

     3. Run the command with the repository temporarily disabled
            yum --disablerepo={repo_id} ...

     4. Disable the repository permanently, so yum won't use it by default. Yum
        will then just ignore the repository until you permanently enable it
        again or use --enablerepo for temporary usage:

            yum-config-manager --disable {repo_id}
        or
            subscription-manager repos --disable={repo_id}

     5. Configure the failing repository to be skipped, if it is unavailable.
        Note that yum will try to contact the repo. when it runs most commands,
        so will have to try and fail each time (and thus. yum will be be much
        slower). If it is a very temporary problem though, this is often a nice
        compromise:

            yum-config-manager --save --setopt={repo_id}.skip_if_unavailable=true
"""


def _host_of(url: str) -> str:
    return url.split("://", 1)[-1].split("/", 1)[0]


def _curl_errors(host: Host, url: str) -> tuple[str, str]:
    """(yum 3's, dnf's) text for a download of ``url`` while the repository is down.

    Refused connections: yum 3 (curl 7.29) as in GH rocksclusters/base#38, dnf's
    librepo ("Curl error (%d): %s for %s [%s]", downloader.c:1879 in librepo 1.12.0)
    as in GH RediSearch/RediSearch#3529.  Unresolvable names: docker-centos-facts.md 4.4/4.5.
    """
    name = _host_of(url)
    if str(host.faults.get("repo_down")).lower() == "refused":
        port = 443 if url.startswith("https:") else 80
        return (
            f'curl#7 - "Failed connect to {name}:{port}; Connection refused"',
            f"Curl error (7): Couldn't connect to server for {url} "
            f"[Failed to connect to {name} port {port}: Connection refused]",
        )
    return (
        f'curl#6 - "Could not resolve host: {name}; Unknown error"',
        f"Curl error (6): Couldn't resolve host name for {url} [Could not resolve host: {name}]",
    )


def metadata_failure(host: Host) -> str | None:
    """yum's/dnf's complete error output when repository metadata cannot be fetched, else None."""
    repo = docker_repo(host)
    down = bool(host.faults.get("repo_down"))
    if repo is not None and (down or _bad_path(repo)):
        url = f"{repo.baseurl}/repodata/repomd.xml"
        yum_curl, dnf_curl = _curl_errors(host, url)
        if host.profile.uses_dnf:
            reason = f"  - Status code: 404 for {url}" if not down else f"  - {dnf_curl}"
            return (
                f"Errors during downloading metadata for repository '{repo.repo_id}':\n{reason}\n"
                f"Error: Failed to download metadata for repo '{repo.repo_id}': Cannot download "
                "repomd.xml: Cannot download repodata/repomd.xml: All mirrors were tried"
            )
        err = f"[Errno 14] {yum_curl}" if down else "[Errno 14] HTTPS Error 404 - Not Found"
        return (
            f"{url}: {err}\nTrying other mirror.\n"
            + _YUM_ADVICE.format(name=repo.name, repo_id=repo.repo_id)
            + f"\nfailure: repodata/repomd.xml from {repo.repo_id}: [Errno 256] No more mirrors to try.\n"
            f"{url}: {err}"
        )
    if down:
        return _base_repo_failure(host)
    return None


def _base_repo_failure(host: Host) -> str:
    major = host.profile.family[-1]
    if host.profile.uses_dnf:
        repo_id = "baseos"
        url = f"http://mirrorlist.centos.org/?release={major}&arch=x86_64&repo=BaseOS&infra=stock"
        curl = _curl_errors(host, url)[1]
        return (
            f"Errors during downloading metadata for repository '{repo_id}':\n  - {curl}\n"
            f"Error: Failed to download metadata for repo '{repo_id}': Cannot prepare internal "
            f"mirrorlist: {curl}"
        )
    url = f"http://mirrorlist.centos.org/?release={major}&arch=x86_64&repo=os&infra=stock"
    return (
        f"Could not retrieve mirrorlist {url} error was\n14: {_curl_errors(host, url)[0]}\n"
        + _YUM_ADVICE.format(name="Unknown", repo_id="<repoid>")
        + f"\nCannot find a valid baseurl for repo: base/{major}/x86_64"
    )


def docker_available(host: Host) -> bool:
    return docker_repo(host) is not None


def catalogue(host: Host) -> list[packages.Pkg]:
    missing = list(host.faults.get("missing_packages") or [])
    return packages.available(host.profile.family, docker_available(host), missing)


# -- yum-config-manager / dnf config-manager ------------------------------------------------


def run(tool: str, args: list[str], host: Host) -> int:
    """``yum-config-manager`` (yum-utils on el7, a dnf alias on el8+)."""
    provider = "yum-utils"
    if not packages.installed_named(host, provider):
        from fleet.lab.simtools.faults import command_not_found

        return command_not_found(tool)
    return config_manager(host, args, dnf_style=host.profile.uses_dnf)


def config_manager(host: Host, args: list[str], dnf_style: bool) -> int:
    urls: list[str] = []
    i = 0
    while i < len(args):
        if args[i] == "--add-repo" and i + 1 < len(args):
            urls.append(args[i + 1])
            i += 2
        elif args[i].startswith("--add-repo="):
            urls.append(args[i].split("=", 1)[1])
            i += 1
        else:
            i += 1
    if not dnf_style:
        print("Loaded plugins: fastestmirror")
    if not urls:
        return 0
    status = 0
    for url in urls:
        status |= _add_repo(host, url, dnf_style)
    return status


def _repo_file_for(url: str) -> tuple[str, str]:
    """(file name, content) yum-config-manager saves for ``url``."""
    name = url.rstrip("/").rsplit("/", 1)[-1]
    if name.endswith(".repo"):
        base = url.rsplit("/", 1)[0]
        return name, docker_repo_text(base)
    repo_id = url.split("://", 1)[-1].replace("/", "_").strip("_")
    text = f"\n[{repo_id}]\nname=added from: {url}\nbaseurl={url}\nenabled=1\n\n\n"
    return f"{repo_id}.repo", text


def _add_repo(host: Host, url: str, dnf_style: bool) -> int:
    filename, text = _repo_file_for(url)
    dest = f"{REPO_DIR}/{filename}"
    if dnf_style:
        print(f"Adding repo from: {url}")
    else:
        print(f"adding repo from: {url}")
        print(f"grabbing file {url} to {dest}")
    if host.faults.get("repo_down") and url.endswith(".repo"):
        yum_curl, dnf_curl = _curl_errors(host, url)
        if dnf_style:
            print(f"Error: Configuration of repo failed: {dnf_curl}", file=sys.stderr)
        else:
            print(
                f"Could not fetch/save url {url} to file {dest}: [Errno 14] {yum_curl}",
                file=sys.stderr,
            )
        return 1
    if not is_root():
        err = f"[Errno 13] Permission denied: '{dest}'"
        print(f"Could not fetch/save url {url} to file {dest}: {err}", file=sys.stderr)
        return 1
    write_text(host.path(dest), text)
    if not dnf_style:
        print(f"repo saved to {dest}")
    return 0
