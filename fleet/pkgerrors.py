"""Read why a package manager refused: yum 3 (EL7), dnf 4 (EL8+) and apt, into reasons.

A host's error must carry the package manager's own reason, whole: every package
it could not find, the dependency problem with the way out it suggests, the
repository that failed and why, the lock it waited for.  The tools spread these
over both streams (yum 3 names missing packages on stdout and exits 0 when other
names resolve; dnf 4 puts its problem on stderr and its hint on stdout), so
:func:`parse_refusal` reads stdout and stderr together.  It is pure and never
raises: the text is whatever came back over SSH.

Every pattern below cites where the real program prints it.  Sources read:
yum 3.4.3 (rpm-software-management/yum at 4ed25525), dnf 4.7.0 (the EL8 dnf),
libdnf 0.55.0 and 0.73.0, librepo 1.12.0, apt's apt-pkg; texts not found in those
sources (urlgrabber's, apt-get's) are cited by the public session they come from.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field

# -- missing packages ------------------------------------------------------------------------

# yum cli.py:1055 `_('No package %s%s%s available.')` (bold, arg, normal), one line per name.
_YUM_NO_PACKAGE = re.compile(r"^No package (?P<spec>\S+) available\.$")
# dnf base.py:2636 `_('No match for argument')` printed by cli/commands/install.py:178 as
# `'{}: {}'.format(e.value, pkg_spec)` on stdout (logger.info), one line per name.
_DNF_NO_MATCH = re.compile(r"^No match for argument: (?P<spec>\S+)$")
# dnf base.py:2644/2646: the name exists but exclude or modular filtering hides every build.
_DNF_FILTERED = re.compile(
    r"^All matches were filtered out by (?:modular|exclude) filtering for argument: (?P<spec>\S+)$"
)
# dnf cli/commands/install.py:118 `_("Unable to find a match")` with pkg_spec=' '.join(errs),
# rendered by exceptions.py:104 (`': ' + pkg_spec`) and main.py:59 `_('Error: %s')`.
_DNF_UNABLE = re.compile(r"^Error: Unable to find a match: (?P<specs>.+)$")
# apt-get: `E: Version '5:19.03.*' for 'docker-ce' was not found` (GH hystax/optscale#17),
# `E: Unable to locate package docker-ce-cli`, `E: Package 'docker-ce' has no installation
# candidate` (GH docker/docs#15593).
_APT_VERSION = re.compile(r"^E: Version '(?P<version>[^']+)' for '(?P<name>[^']+)' was not found$")
_APT_LOCATE = re.compile(r"^E: Unable to locate package (?P<spec>\S+)$")
_APT_CANDIDATE = re.compile(r"^E: Package '(?P<spec>[^']+)' has no installation candidate$")

# -- dependency problems ---------------------------------------------------------------------

# dnf util.py:418-422: "\n Problem: " (or " Problem 2: ") then the rules joined by "\n  - ".
_PROBLEM = re.compile(r"^(?P<heading>Problem(?: \d+)?): (?P<rule>.*)$")
_RULE = re.compile(r"^- (?P<rule>.+)$")
# libdnf Goal.cpp (0.55.0) :84 "package %s conflicts with %s provided by %s", :85 "... obsoletes
# %s provided by %s", :86 "installed package %s obsoletes ..."; 0.73.0 (:107) adds
# " from <repo>" after each package.
_CONFLICT = re.compile(
    r"^(?:installed )?package (?P<package>\S+)(?: from \S+)? (?P<verb>conflicts with|obsoletes) "
    r"(?P<what>.+?) provided by (?P<provider>\S+)(?: from \S+)?$"
)
# libdnf Goal.cpp:69 (0.55.0) "problem with installed package " + the package.
_INSTALLED = re.compile(r"^problem with installed package (?P<package>\S+)$")
# yum depsolve.py:816 `'%s conflicts with %s' % (name, str(conflicting_po))`, printed as
# `Error: ...` by yummain.py:261-262 (output.py:2808 pretty_output_restring).
_YUM_CONFLICT_RULE = re.compile(r"^(?P<package>\S+) conflicts with (?P<provider>\S+)$")
# yum output.py:2942-2944 "Package: %s (%s)" + "\n    Requires: %s" and more detail lines,
# indented under "Error: " (output.py:2809).
_YUM_DEPENDENCY = re.compile(r"^Error: Package: (?P<package>.+)$")
# dnf main.py:134-153: "(try to add '--allowerasing' to command line to replace conflicting
# packages or '--skip-broken' to skip uninstallable packages or '--nobest' ...)" on stdout.
_DNF_HINT = re.compile(r"^\((?P<hint>try to add .*)\)$")
# yum yummain.py:265 " You could try using --skip-broken to work around the problem".
_YUM_HINT = re.compile(
    r"^(?P<hint>You could try using (?P<flag>--\S+) to work around the problem)$"
)
_FLAG = re.compile(r"'(--[a-z-]+)'")

# -- repositories ----------------------------------------------------------------------------

# yum yumRepo.py:1037 "failure: %s from %s: %s", e.g. "failure: repodata/repomd.xml from
# docker-ce-stable: [Errno 256] No more mirrors to try." (GH klren0312/daliy_knowledge#441).
_YUM_FAILURE = re.compile(r"^failure: \S+ from (?P<repo>\S+): .+$")
# yum yumRepo.py:564 "Cannot find a valid baseurl for repo: %s".
_YUM_BASEURL = re.compile(r"^Cannot find a valid baseurl for repo: (?P<repo>\S+)$")
# older yum 3 (GH engintron/engintron#1173): "Error: Cannot retrieve repository metadata
# (repomd.xml) for repository: nginx. Please verify its path and try again".
_YUM_RETRIEVE = re.compile(
    r"^(?:Error: )?Cannot retrieve repository metadata \(repomd\.xml\) "
    r"for repository: (?P<repo>[^\s.]+)"
)
# yummain.py:82 " One of the configured repositories failed (%(repo)s)," (the repo's name).
_YUM_ONE_FAILED = re.compile(r"^One of the configured repositories failed \((?P<repo>.+)\),$")
# urlgrabber's per-URL lines (GH klren0312/daliy_knowledge#441): URL: [Errno 14] curl#35 - "..."
_YUM_URL_ERROR = re.compile(r"^\S+: ?\[Errno \d+\] .+$")
# yum yumRepo.py:2014 "Could not retrieve mirrorlist %s error was\n%s: %s".
_YUM_MIRRORLIST = re.compile(r"^Could not retrieve mirrorlist \S+ error was$")
# libdnf Repo.cpp:1312 (0.55.0) "Failed to download metadata for repo '%s': %s", printed as
# "Error: ..." by dnf main.py:59; the reason nests librepo's yum.c:645 "Cannot download
# repomd.xml: %s" and downloader.c:822 "Cannot download %s: All mirrors were tried".
_DNF_METADATA = re.compile(r"^Error: Failed to download metadata for repo '(?P<repo>[^']+)'")
# dnf repo.py:577 "Errors during downloading metadata for repository '%s':" then
# "\n  - %s" per mirror failure: librepo downloader.c:1879 "Curl error (%d): %s for %s [%s]"
# or :1941 "Status code: %ld for %s (IP: %s)".
_DNF_MIRRORS = re.compile(r"^Errors during downloading metadata for repository '(?P<repo>[^']+)':$")

_VERDICTS = (_DNF_METADATA, _YUM_FAILURE, _YUM_BASEURL, _YUM_RETRIEVE)

# -- locks and the rest ----------------------------------------------------------------------

_LOCK = re.compile(
    # yum/__init__.py:2248 and cli.py:554/559
    r"^(?:Existing lock \S+: another copy is running as pid \d+\."
    r"|Another app is currently holding the yum lock;.*"
    # dnf lock.py:139 and :136
    r"|Waiting for process with pid \d+ to finish\."
    r"|.* already locked by \d+"
    # apt-pkg/contrib/fileutl.cc GetLock "Could not get lock %s[. It is held by process %d]";
    # apt 1.9+ waits first: "Waiting for cache lock: ..."
    r"|(?:E: )?Could not get lock .*"
    r"|Waiting for cache lock.*)$"
)
# yum cli.py:1069 `_('Nothing to do')` (as "Error: Nothing to do" via yummain.py:209 when no
# name resolved); dnf cli.py:221 / install.py:84 `_('Nothing to do.')`.
_NOTHING = re.compile(r"^(?:Error: )?Nothing to do\.?$")
_ERROR = re.compile(r"^(?:Error|ERROR|E): ?(?P<text>.*)$")
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


@dataclass(frozen=True)
class Conflict:
    """One ``package X conflicts with Y provided by Z`` (or ``obsoletes``) rule."""

    package: str
    verb: str  # "conflicts with" or "obsoletes"
    what: str  # the capability, e.g. runc
    provider: str  # the package providing it, e.g. runc-1.0.0-68.rc92....x86_64

    @property
    def sentence(self) -> str:
        if self.what and self.what != self.provider:
            return f"{self.package} {self.verb} {self.what} provided by {self.provider}"
        return f"{self.package} {self.verb} {self.provider}"


@dataclass(frozen=True)
class Problem:
    """One dependency problem as the tool worded it: dnf's heading and its rules, in order."""

    heading: str  # "Problem", "Problem 2" (dnf 4); "Error" (dnf 2); "" for yum 3's errors
    rules: tuple[str, ...]

    @property
    def said(self) -> tuple[str, ...]:
        """The tool's lines, without dnf's "  - " bullets."""
        if not self.heading:
            return self.rules
        return (f"{self.heading}: {self.rules[0]}", *self.rules[1:])

    @property
    def conflicts(self) -> tuple[Conflict, ...]:
        found = []
        for rule in self.rules:
            if m := _CONFLICT.match(rule):
                found.append(Conflict(m["package"], m["verb"], m["what"], m["provider"]))
            elif m := _YUM_CONFLICT_RULE.match(rule):
                found.append(Conflict(m["package"], "conflicts with", "", m["provider"]))
        return tuple(found)

    @property
    def installed(self) -> tuple[str, ...]:
        """Packages already on the host that the problem is "with" (dnf's own phrase)."""
        return tuple(m["package"] for r in self.rules if (m := _INSTALLED.match(r)))


@dataclass(frozen=True)
class RepoFailure:
    """A repository the tool could not read: its id (or name) and the lines saying why."""

    repo: str
    said: tuple[str, ...]


@dataclass(frozen=True)
class Refusal:
    """Everything the output says about why the package manager did not do its job."""

    missing: tuple[str, ...] = ()  # package arguments as the tool named them, in order
    missing_said: tuple[str, ...] = ()  # the tool's own lines saying so
    problems: tuple[Problem, ...] = ()
    hint: str | None = None  # the tool's own suggestion, without its parentheses
    suggestions: tuple[str, ...] = ()  # the flags it suggests: --allowerasing, --skip-broken
    repositories: tuple[RepoFailure, ...] = ()
    lock: str | None = None
    nothing_to_do: bool = False
    errors: tuple[str, ...] = field(default=())  # every error line, for what is not classified

    @property
    def conflicts(self) -> tuple[Conflict, ...]:
        return tuple(c for p in self.problems for c in p.conflicts)

    @property
    def installed(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(n for p in self.problems for n in p.installed))

    @property
    def empty(self) -> bool:
        return not (
            self.missing or self.problems or self.repositories or self.lock or self.nothing_to_do
        )


def clean_lines(text: str) -> list[str]:
    """Lines without terminal escapes or surrounding blanks; empty lines dropped."""
    return [s for ln in _ANSI.sub("", text).splitlines() if (s := " ".join(ln.split()))]


def parse_refusal(stdout: str, stderr: str) -> Refusal:
    """Read yum 3, dnf 4 or apt output (both streams) into a :class:`Refusal`.  Never raises."""
    lines = clean_lines(f"{stdout}\n{stderr}")
    missing, missing_said = _missing(lines)
    hint, suggestions = _hint(lines)
    return Refusal(
        missing=missing,
        missing_said=missing_said,
        problems=tuple(_problems(lines)),
        hint=hint,
        suggestions=suggestions,
        repositories=tuple(_repositories(lines)),
        lock=next((ln for ln in lines if _LOCK.match(ln)), None),
        nothing_to_do=any(_NOTHING.match(ln) for ln in lines),
        errors=tuple(ln for ln in lines if _ERROR.match(ln)),
    )


def _missing(lines: list[str]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Every package argument the tool could not find, and its own lines saying so.

    dnf says it twice (a line per name, then one ``Error:`` line naming them all): its
    ``Error:`` line is kept, with the per-name lines only when they add a reason
    (filtering); the per-name lines stand alone when there is no ``Error:`` line.
    """
    specs: dict[str, None] = {}
    summary: list[str] = []
    reasons: list[str] = []
    per_name: list[str] = []
    for line in lines:
        if m := _DNF_UNABLE.match(line):
            specs.update(dict.fromkeys(m["specs"].split()))
            summary.append(line)
        elif m := _DNF_FILTERED.match(line):
            specs[m["spec"]] = None
            reasons.append(line)
        elif m := _APT_VERSION.match(line):
            specs[f"{m['name']}={m['version']}"] = None
            per_name.append(line)
        elif m := (
            _YUM_NO_PACKAGE.match(line)
            or _DNF_NO_MATCH.match(line)
            or _APT_LOCATE.match(line)
            or _APT_CANDIDATE.match(line)
        ):
            specs[m["spec"]] = None
            per_name.append(line)
    said = summary + reasons if summary else per_name + reasons
    return tuple(specs), tuple(dict.fromkeys(said))


def _problems(lines: list[str]) -> Iterator[Problem]:
    """dnf's ``Problem:`` blocks, yum 3's conflict and ``Package: ... Requires:`` errors."""
    heading: str | None = None
    rules: list[str] = []
    for i, line in enumerate(lines):
        if heading is not None and _continues(heading, rules, line):
            rules.append(line.removeprefix("- ") if heading else line)
            continue
        if heading is not None:
            yield Problem(heading, tuple(rules))
            heading = None
        if m := _PROBLEM.match(line):
            heading, rules = m["heading"], [m["rule"]]
        elif line.startswith("Error: ") and _RULE.match(lines[i + 1] if i + 1 < len(lines) else ""):
            heading, rules = "Error", [line[7:]]  # dnf 2's layout: the first rule on the Error line
        elif m := _YUM_DEPENDENCY.match(line):
            heading, rules = "", [f"Package: {m['package']}"]
        elif line.startswith("Error: ") and _YUM_CONFLICT_RULE.match(line[7:]):
            yield Problem("", (line[7:],))
    if heading is not None:
        yield Problem(heading, tuple(rules))


def _continues(heading: str, rules: list[str], line: str) -> bool:
    """dnf's rules are "  - " bullets; yum 3's ``Package:`` error runs until the next error."""
    if heading:
        return _RULE.match(line) is not None
    return rules[0].startswith("Package: ") and not line.startswith(("Error", "You could try"))


def _hint(lines: list[str]) -> tuple[str | None, tuple[str, ...]]:
    for line in lines:
        if m := _DNF_HINT.match(line):
            return m["hint"], tuple(dict.fromkeys(_FLAG.findall(m["hint"])))
        if m := _YUM_HINT.match(line):
            return m["hint"], (m["flag"],)
    return None, ()


def _repositories(lines: list[str]) -> Iterator[RepoFailure]:
    """Each failed repository with the tool's lines: its verdict first, then the causes."""
    verdicts: dict[str, list[str]] = {}
    causes: dict[str, list[str]] = {}
    named: str | None = None
    pending: list[str] = []  # yum's per-URL and mirrorlist lines, before the verdict names a repo
    in_mirrors: str | None = None
    for i, line in enumerate(lines):
        if in_mirrors is not None and (m := _RULE.match(line)):
            causes.setdefault(in_mirrors, []).append(m["rule"])
            continue
        in_mirrors = None
        if m := _DNF_MIRRORS.match(line):
            in_mirrors = m["repo"]
        elif m := _first_match(_VERDICTS, line):
            verdicts.setdefault(m["repo"], []).append(line)
        elif m := _YUM_ONE_FAILED.match(line):
            named = m["repo"]
        elif _YUM_MIRRORLIST.match(line):
            follow = lines[i + 1] if i + 1 < len(lines) else ""
            pending.append(f"{line} {follow}".strip())
        elif _YUM_URL_ERROR.match(line):
            pending.append(line)
    if not verdicts and named is not None and pending:
        verdicts[named] = []
    for repo, said in verdicts.items():
        extra = [c for c in causes.get(repo, []) + pending if not _mentioned(said, c)]
        yield RepoFailure(repo, tuple(dict.fromkeys(said + extra)))


def _mentioned(said: list[str], line: str) -> bool:
    """Whether ``line`` is already part of a verdict (dnf repeats the curl error in it)."""
    return any(line in verdict for verdict in said)


def _first_match(patterns: tuple[re.Pattern[str], ...], line: str) -> re.Match[str] | None:
    return next((m for p in patterns if (m := p.match(line))), None)
