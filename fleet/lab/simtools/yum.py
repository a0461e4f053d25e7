"""``yum`` (CentOS 7) and ``dnf``/``yum`` (el8, el9): install, update, remove, list, makecache.

Resolution follows the real tools where rollouts notice: version pins resolve
against the docker-ce repository only once its .repo file exists; unpinned
requirements pull the newest provider (pinning docker-ce alone brings the
newest docker-ce-cli); yum skips names it cannot find if others resolve, dnf
refuses the whole command; upgrading a running engine restarts it (the rpm
scriptlet's try-restart).  Transcripts keep the real layout, shortened.
"""

from __future__ import annotations

import os
import sys
import time
from typing import Any, NamedTuple

from fleet.lab.simtools import packages, repo, services, units
from fleet.lab.simtools.packages import Pkg
from fleet.lab.simtools.state import YUM_LOCK, YUM_PID, YUMSTATE, Host, is_root, try_flock

MUTATING = ("install", "update", "upgrade", "remove", "erase", "downgrade")
_INSTALLONLY = ("kernel",)
_GPG_URL = "https://download.docker.com/linux/centos/gpg"


class Options(NamedTuple):
    command: str
    targets: list[str]
    assumeyes: bool
    quiet: bool
    allowerasing: bool
    showduplicates: bool
    strict_names: bool  # --setopt=skip_missing_names_on_install=False


class Txn(NamedTuple):
    install: list[Pkg]
    deps: list[Pkg]
    upgrade: list[tuple[Pkg, Pkg]]
    downgrade: list[tuple[Pkg, Pkg]]
    remove: list[Pkg]
    dep_remove: list[Pkg]
    why: dict[str, Pkg]  # dependency name -> the package that required it

    @classmethod
    def new(cls) -> Txn:
        return cls([], [], [], [], [], [], {})

    def empty(self) -> bool:
        return not any(self[:6])

    def incoming(self) -> list[Pkg]:
        return self.install + self.deps + [n for _, n in self.upgrade + self.downgrade]


class Out:
    """stdout unless -q; errors always go to stderr."""

    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet

    def say(self, text: str = "") -> None:
        if not self.quiet:
            print(text)

    @staticmethod
    def err(text: str) -> None:
        print(text, file=sys.stderr)


def parse(args: list[str]) -> Options | str:
    words: list[str] = []
    flags = {"y": False, "q": False, "erase": False, "dups": False, "strict": False}
    for arg in args:
        if arg in ("-y", "--assumeyes"):
            flags["y"] = True
        elif arg in ("-q", "--quiet"):
            flags["q"] = True
        elif arg == "--allowerasing":
            flags["erase"] = True
        elif arg == "--showduplicates":
            flags["dups"] = True
        elif arg.replace(" ", "") in ("--setopt=skip_missing_names_on_install=False",
                                      "--setopt=skip_missing_names_on_install=0"):  # fmt: skip
            flags["strict"] = True
        elif arg in ("-yq", "-qy"):
            flags["y"] = flags["q"] = True
        elif arg.startswith("-"):
            continue  # --nogpgcheck, --enablerepo=..., --setopt=...: no effect in the lab
        else:
            words.append(arg)
    if not words:
        return "usage"
    return Options(
        words[0], words[1:], flags["y"], flags["q"], flags["erase"], flags["dups"], flags["strict"]
    )


def run(tool: str, args: list[str], host: Host) -> int:
    dnf = host.profile.uses_dnf
    if tool == "dnf" and not dnf:
        from fleet.lab.simtools.faults import command_not_found

        return command_not_found(tool)
    opts = parse(args)
    if isinstance(opts, str):
        Out.err("You need to give some command" if not dnf else "Error: No command given.")
        return 1
    if opts.command == "config-manager" and dnf:
        return repo.config_manager(host, args[args.index("config-manager") + 1 :], dnf_style=True)
    out = Out(opts.quiet)
    if not dnf:
        out.say("Loaded plugins: fastestmirror")
    if opts.command in MUTATING and not is_root():
        if dnf:
            Out.err("Error: This command has to be run with superuser privileges (under the root "
                    "user on most systems).")  # fmt: skip
        else:
            Out.err("You need to be root to perform this command.")
        return 1
    handler = {
        "install": _install, "downgrade": _install, "update": _update, "upgrade": _update,
        "remove": _remove, "erase": _remove, "list": _list, "makecache": _makecache,
        "clean": _clean, "repolist": _repolist,
    }.get(opts.command)  # fmt: skip
    if handler is None:
        Out.err(f"No such command: {opts.command}. Please use /usr/bin/{tool} --help")
        return 1
    if not is_root():  # read-only queries into the user's own cache: no system lock
        return handler(host, opts, out, dnf)
    # as root yum takes its lock for every command, queries included
    lock_fd = wait_for_lock(host, dnf)
    try:
        return handler(host, opts, out, dnf)
    finally:
        os.close(lock_fd)


# -- the yum lock -----------------------------------------------------------------------------


def wait_for_lock(host: Host, dnf: bool) -> int:
    """Take the package-manager lock, printing yum's/dnf's waiting text while it is held.

    Two holders exist: a simulated one (the ``yum_lock`` fault: another app holds
    the lock for that many seconds after the host's first yum call, like
    PackageKit on a fresh boot) and a real one (another yum running right now).
    """
    with host.locked():
        state = host.read(YUMSTATE, {})
        first = state.setdefault("first_call", time.time())
        host.write(YUMSTATE, state)
    hold_until = first + float(host.faults.get("yum_lock") or 0)
    shown_existing = False
    last_shown = 0.0
    while True:
        fd = try_flock(host.path(YUM_LOCK)) if time.time() >= hold_until else None
        if fd is not None:
            host.path(YUM_PID).write_text(f"{os.getpid()}\n")
            return fd
        now = time.time()
        if now - last_shown >= 2.0:
            simulated = now < hold_until
            holder = _holder(host, simulated, first)
            if dnf:  # dnf lock.py:139, logged at INFO: stdout
                print(f"Waiting for process with pid {holder['pid']} to finish.", flush=True)
            else:
                if not shown_existing:
                    Out.err(
                        f"Existing lock /var/run/yum.pid: another copy is running as pid {holder['pid']}."
                    )
                    shown_existing = True
                Out.err(_lock_block(holder, now))
            last_shown = now
        time.sleep(0.05)


def _holder(host: Host, simulated: bool, first: float) -> dict[str, Any]:
    if simulated:
        return {"pid": 2922, "app": "PackageKit", "state": "Sleeping", "started": first - 118}
    try:
        pid = int(host.path(YUM_PID).read_text().split()[0])
    except (OSError, ValueError, IndexError):
        pid = 0
    try:
        started = os.stat(host.path(YUM_PID)).st_mtime
    except OSError:
        started = time.time()
    return {"pid": pid, "app": "yum", "state": "Running", "started": started}


def _lock_block(holder: dict[str, Any], now: float) -> str:
    elapsed = int(now - holder["started"])
    started = time.strftime("%a %b %d %H:%M:%S %Y", time.localtime(holder["started"]))
    return (
        "Another app is currently holding the yum lock; waiting for it to exit...\n"
        f"  The other application is: {holder['app']}\n"
        "    Memory :  52 M RSS (908 MB VSZ)\n"
        f"    Started: {started} - {elapsed // 60:02d}:{elapsed % 60:02d} ago\n"
        f"    State  : {holder['state']}, pid: {holder['pid']}"
    )


# -- resolution ---------------------------------------------------------------------------------


def _metadata(host: Host, out: Out, dnf: bool) -> list[Pkg] | None:
    """The catalogue, or None after printing the repository failure."""
    failure = repo.metadata_failure(host)
    if failure is not None:
        Out.err(failure)
        return None
    if dnf:
        stamp = time.strftime("%a %d %b %Y %I:%M:%S %p %Z", time.localtime(time.time() - 83))
        out.say(f"Last metadata expiration check: 0:01:23 ago on {stamp}.")
    else:
        out.say("Loading mirror speeds from cached hostfile")
    return repo.catalogue(host)


def _newest_installed(installed: list[Pkg], name: str) -> Pkg | None:
    found = [p for p in installed if p.name == name]
    return packages.newest(found) if found else None


def _requirements(pkg: Pkg) -> tuple[str, ...]:
    if pkg.name == "docker-ce":
        return packages.engine_requires(pkg.version)
    return packages.requires(pkg.name)


def _add_deps(txn: Txn, installed: list[Pkg], catalogue: list[Pkg]) -> None:
    queue = list(txn.incoming())
    while queue:
        pkg = queue.pop()
        for dep in _requirements(pkg):
            if any(p.name == dep for p in installed + txn.incoming()):
                continue
            offers = [p for p in catalogue if p.name == dep]
            if offers:
                chosen = packages.newest(offers)
                txn.deps.append(chosen)
                txn.why[chosen.name] = pkg
                queue.append(chosen)


def plan_install(
    host: Host, opts: Options, out: Out, dnf: bool, catalogue: list[Pkg]
) -> tuple[Txn, list[str]]:
    installed = packages.installed(host)
    txn = Txn.new()
    missing: list[str] = []
    for arg in opts.targets:
        offers = packages.match(arg, catalogue)
        have = packages.match(arg, installed)
        if not offers:
            if have:
                _already(out, dnf, packages.newest(have))
            else:
                missing.append(arg)
            continue
        want = packages.newest(offers)
        current = _newest_installed(installed, want.name)
        if current is None or (want.name in _INSTALLONLY and want.key > current.key):
            txn.install.append(want)
        elif want.key == current.key:
            _already(out, dnf, current)
        elif want.key > current.key:
            txn.upgrade.append((current, want))
        elif dnf or opts.command == "downgrade":
            txn.downgrade.append((current, want))
        else:
            out.say(f"Package matching {want.envra} already installed. Checking for update.")
    _add_deps(txn, installed, catalogue)
    return txn, missing


def _already(out: Out, dnf: bool, pkg: Pkg) -> None:
    if dnf:
        out.say(f"Package {pkg.nevra} is already installed.")
    else:
        out.say(f"Package {pkg.envra} already installed and latest version")


def _podman_conflict(host: Host, txn: Txn, allowerasing: bool) -> Conflict | None:
    """CentOS 8's container-tools runc versus containerd.io, which conflicts with and
    obsoletes runc.  Alone, runc is simply replaced (obsoleted); when podman needs it,
    dnf refuses unless it may erase podman (``--allowerasing``)."""
    if host.profile.family != "el8":
        return None
    incoming = [p for p in txn.incoming() if p.name == "containerd.io"]
    installed = packages.installed(host)
    runc = _newest_installed(installed, "runc")
    podman = _newest_installed(installed, "podman")
    if not incoming or runc is None:
        return None
    if podman is None or allowerasing:
        txn.remove.append(runc)
        if podman is not None:
            txn.dep_remove.append(podman)
        return None
    return Conflict(incoming[0], runc, podman)


class Conflict(NamedTuple):
    """What dnf 4 prints when containerd.io cannot replace the runc podman requires."""

    containerd: Pkg
    runc: Pkg
    podman: Pkg

    def error(self) -> str:
        """stderr: dnf main.py:59 "Error: %s" of util.py:418-422's "\n Problem: ..." block,
        rules worded as libdnf 0.55 Goal.cpp:69/84/85/88; a CentOS 8.3 session in
        GH geerlingguy/ansible-role-docker#254."""
        cio, runc, podman = self.containerd.nevra, self.runc.nevra, self.podman.nevra
        return "\n".join(
            [
                "Error: ",
                f" Problem: problem with installed package {podman}",
                f"  - package {podman} requires runc >= 1.0.0-57, but none of the providers "
                "can be installed",
                f"  - package {cio} conflicts with runc provided by {runc}",
                f"  - package {cio} obsoletes runc provided by {runc}",
                "  - cannot install the best candidate for the job",
                "  - package runc-1.0.0-64.rc10.module_el8.3.0+479+69e2ae26.x86_64 is filtered out "
                "by modular filtering",
            ]
        )

    @staticmethod
    def hint() -> str:
        """stdout (logger.info): dnf main.py:134-153, conflicts + strict + best=True."""
        return (
            "(try to add '--allowerasing' to command line to replace conflicting packages or "
            "'--skip-broken' to skip uninstallable packages or '--nobest' to use not only best "
            "candidate packages)"
        )


# -- commands ----------------------------------------------------------------------------------


def _install(host: Host, opts: Options, out: Out, dnf: bool) -> int:
    catalogue = _metadata(host, out, dnf)
    if catalogue is None:
        return 1
    txn, missing = plan_install(host, opts, out, dnf, catalogue)
    if missing:
        if dnf:  # install.py:178 logs each at INFO (stdout); main.py:59 the Error (stderr)
            for arg in missing:
                out.say(f"No match for argument: {arg}")
            Out.err(f"Error: Unable to find a match: {' '.join(missing)}")
            return 1
        for arg in missing:  # yum cli.py:1055, verbose logger: stdout
            out.say(f"No package {arg} available.")
        if opts.strict_names:
            Out.err("Error: Not tolerating missing names on install, stopping.")
            return 1
    conflict = _podman_conflict(host, txn, opts.allowerasing)
    if conflict:
        Out.err(conflict.error())
        out.say(conflict.hint())
        return 1
    if txn.empty():
        # yum cli.py:1068-1070: an error only when no argument resolved at all
        return _nothing_to_do(
            out, dnf, failed=bool(missing) and len(missing) == len(opts.targets) and not dnf
        )
    return _commit(host, txn, opts, out, dnf)


def _nothing_to_do(out: Out, dnf: bool, failed: bool) -> int:
    if dnf:
        out.say("Dependencies resolved.")
        out.say("Nothing to do.")
        out.say("Complete!")
        return 0
    if failed:
        Out.err("Error: Nothing to do")
        return 1
    out.say("Nothing to do")
    return 0


def _update(host: Host, opts: Options, out: Out, dnf: bool) -> int:
    catalogue = _metadata(host, out, dnf)
    if catalogue is None:
        return 1
    installed = packages.installed(host)
    txn = Txn.new()
    names = sorted({p.name for p in installed})
    if opts.targets:
        import fnmatch

        names = [n for n in names if any(fnmatch.fnmatch(n, t) for t in opts.targets)]
    for name in names:
        current = _newest_installed(installed, name)
        offers = [p for p in catalogue if p.name == name]
        if current is None or not offers:
            continue
        best = packages.newest(offers)
        if best.key <= current.key:
            continue
        if name in _INSTALLONLY:
            txn.install.append(best)
        else:
            txn.upgrade.append((current, best))
    _add_deps(txn, installed, catalogue)
    if txn.empty():
        if dnf:
            return _nothing_to_do(out, dnf, failed=False)
        out.say("No packages marked for update")
        return 0
    return _commit(host, txn, opts, out, dnf)


def _remove(host: Host, opts: Options, out: Out, dnf: bool) -> int:
    installed = packages.installed(host)
    txn = Txn.new()
    for arg in opts.targets:
        found = packages.match(arg, installed)
        if not found:
            out.say(f"No match for argument: {arg}" if dnf else f"No Match for argument: {arg}")
        txn.remove.extend(p for p in found if p not in txn.remove)
    # whatever requires a removed package goes too (yum: "Removing for dependencies")
    changed = True
    while changed:
        changed = False
        gone = {p.name for p in txn.remove + txn.dep_remove}
        for pkg in installed:
            if pkg.name not in gone and any(dep in gone for dep in _requirements(pkg)):
                txn.dep_remove.append(pkg)
                changed = True
    if txn.empty():
        if dnf:
            out.say("No packages marked for removal.")
            return _nothing_to_do(out, dnf, failed=False)
        out.say("No Packages marked for removal")
        return 0
    return _commit(host, txn, opts, out, dnf)


def _makecache(host: Host, opts: Options, out: Out, dnf: bool) -> int:
    if _metadata(host, out, dnf) is None:
        return 1
    out.say("Metadata cache created." if dnf else "Metadata Cache Created")
    return 0


def _clean(host: Host, opts: Options, out: Out, dnf: bool) -> int:
    repos = _repo_ids(host)
    if dnf:
        out.say("0 files removed")
    else:
        out.say(f"Cleaning repos: {' '.join(repos)}")
        out.say("Cleaning up list of fastest mirrors")
    return 0


def _repo_ids(host: Host) -> list[str]:
    base = (
        ["base", "extras", "updates"]
        if host.profile.family == "el7"
        else ["appstream", "baseos", "extras"]
    )
    return sorted(base + [r.repo_id for r in repo.enabled_repos(host)])


def _repolist(host: Host, opts: Options, out: Out, dnf: bool) -> int:
    failure = repo.metadata_failure(host)
    if failure:
        Out.err(failure)
        return 1
    out.say("repo id                         repo name")
    for repo_id in _repo_ids(host):
        out.say(f"{repo_id:<31} {repo_id}")
    return 0


def _list(host: Host, opts: Options, out: Out, dnf: bool) -> int:
    scope = "all"
    patterns = list(opts.targets)
    if patterns and patterns[0] in ("installed", "available", "all", "updates"):
        scope = patterns.pop(0)
    import fnmatch

    def wanted(p: Pkg) -> bool:
        return not patterns or any(fnmatch.fnmatch(p.name, pat) or packages.match(pat, [p])
                                   for pat in patterns)  # fmt: skip

    installed = [p for p in packages.installed(host) if wanted(p)]
    available: list[Pkg] = []
    if scope != "installed":
        catalogue = _metadata(host, out, dnf)
        if catalogue is None:
            return 1
        available = _listing_available(
            installed, [p for p in catalogue if wanted(p)], opts.showduplicates
        )
    rows_installed = installed if scope in ("all", "installed") else []
    if not rows_installed and not available:
        Out.err("Error: No matching Packages to list")
        return 1
    if rows_installed:
        out.say("Installed Packages")
        for p in sorted(rows_installed, key=lambda p: p.name):
            out.say(f"{p.name + '.' + p.arch:<40} {p.evr:<26} @{p.repo}")
    if available:
        out.say("Available Packages")
        for p in sorted(available, key=lambda p: (p.name, p.key)):
            out.say(f"{p.name + '.' + p.arch:<40} {p.evr:<26} {p.repo}")
    return 0


def _listing_available(installed: list[Pkg], offers: list[Pkg], duplicates: bool) -> list[Pkg]:
    have = {(p.name, p.key) for p in installed}
    if duplicates:
        return [p for p in offers if (p.name, p.key) not in have]
    by_name: dict[str, Pkg] = {}
    for p in offers:
        if p.name not in by_name or p.key > by_name[p.name].key:
            by_name[p.name] = p
    return [p for p in by_name.values() if (p.name, p.key) not in have]


# -- the transaction ----------------------------------------------------------------------------


def _confirm(opts: Options, out: Out, dnf: bool) -> bool:
    if opts.assumeyes:
        return True
    prompt = "Is this ok [y/N]: " if dnf else "Is this ok [y/d/N]: "
    sys.stdout.write(prompt)
    sys.stdout.flush()
    answer = sys.stdin.readline().strip().lower()
    if answer in ("y", "yes"):
        return True
    out.say("Operation aborted." if dnf else "Exiting on user command")
    if not dnf:
        out.say("Your transaction was saved, rerun it with:")
        out.say(" yum load-transaction /tmp/yum_save_tx.yumtx")
    return False


def _commit(host: Host, txn: Txn, opts: Options, out: Out, dnf: bool) -> int:
    if dnf:
        from fleet.lab.simtools.transcript import dnf_plan as plan_text
    else:
        from fleet.lab.simtools.transcript import yum_plan as plan_text
    out.say(plan_text(txn))
    if not _confirm(opts, out, dnf):
        return 1
    from fleet.lab.simtools import transcript

    with host.locked():
        state = host.read(YUMSTATE, {})
        needs_key = any(p.repo == packages.DOCKER_REPO_ID for p in txn.incoming())
        first_key = needs_key and not state.get("docker_gpg_imported")
        out.say(transcript.run_text(txn, dnf, first_key, _GPG_URL))
        if first_key:
            state["docker_gpg_imported"] = True
            host.write(YUMSTATE, state)
        notes = _apply(host, txn)
    out.say(transcript.result_text(txn, dnf))
    for line in notes:
        Out.err(line)
    return 0


def _containerd_files(
    host: Host, txn: Txn, table: dict[str, dict[str, Any]], notes: list[str]
) -> None:
    """The containerd.io RPM: its config.toml is %config(noreplace) (an existing file is
    kept), its unit is not enabled by the EL presets, an upgrade try-restarts it."""
    from fleet.lab.simtools.containerd import CONFIG, STUB
    from fleet.lab.simtools.state import write_text

    if not host.path(CONFIG).exists():
        write_text(host.path(CONFIG), STUB)
    if any(n.name == "containerd.io" for _, n in txn.upgrade + txn.downgrade):
        notes.extend(services.try_restart(host, table, "containerd").stderr)


def _apply(host: Host, txn: Txn) -> list[str]:
    """Write the rpm database and run the scriptlets systemd-aware packages carry."""
    installed = packages.installed(host)
    leaving = {p.nvra for p in txn.remove + txn.dep_remove} | {
        old.nvra for old, _ in txn.upgrade + txn.downgrade
    }
    table = units.read_units(host)
    notes: list[str] = []
    for pkg in txn.remove + txn.dep_remove:
        if pkg.name in ("docker-ce", "containerd.io", "kubelet"):
            unit = {"docker-ce": "docker", "containerd.io": "containerd", "kubelet": "kubelet"}[
                pkg.name
            ]
            services.stop(host, table, unit)
            units.disable(host, unit)
            table.pop(unit, None)
    kept = [p for p in installed if p.nvra not in leaving]
    packages.save_installed(host, kept + txn.incoming())
    if host.profile.uses_dnf and txn.incoming():
        units.reload_all(host, table)  # el8+ rpm file triggers run daemon-reload
    engine_changed = any(n.name == "docker-ce" for _, n in txn.upgrade + txn.downgrade)
    if engine_changed:
        result = services.try_restart(host, table, "docker")
        notes.extend(result.stderr)
    if any(p.name == "containerd.io" for p in txn.incoming()):
        _containerd_files(host, txn, table, notes)
    units.write_units(host, table)
    return notes
