"""The refusal parser reads real yum 3 / dnf 4 / apt output into reasons, and never raises.

Each table row is a real session (its source named; docker-centos-facts.md is the shared
notes file /work/shared/notes/docker-centos-facts.md) or, where marked, a text assembled
from the program's own format string (file and line cited in fleet/pkgerrors.py).
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fleet.pkgerrors import Conflict, parse_refusal
from fleet.steps.packages import describe_refusal, package_name

# docker-centos-facts.md §4.2 (CentOS 7, repository not configured): yum exits 1.
YUM_NONE_FOUND = (
    "Loaded plugins: fastestmirror, langpacks\nLoading mirror speeds from cached hostfile\n"
    "No package docker-ce available.\nNo package docker-ce-cli available.\n"
    "No package containerd.io available.\n",
    "Error: Nothing to do\n",
)
# docker-centos-facts.md §4.2 caveat (a): some names resolve, yum skips the rest and exits 0.
YUM_SOME_FOUND = (
    "Loaded plugins: fastestmirror\nLoading mirror speeds from cached hostfile\n"
    "No package docker-ce-19.03.11 available.\nNo package docker-ce-cli-19.03.11 available.\n"
    "Resolving Dependencies\n--> Running transaction check\n"
    "---> Package containerd.io.x86_64 0:1.2.13-3.2.el7 will be installed\n"
    "Installed:\n  containerd.io.x86_64 0:1.2.13-3.2.el7\n\nComplete!\n",
    "",
)
# docker-centos-facts.md §4.2 (GH docker/docs#20521): dnf's per-name lines (stdout) and its
# Error (stderr).
DNF_NONE_FOUND = (
    "No match for argument: docker-ce\nNo match for argument: docker-ce-cli\n"
    "No match for argument: containerd.io\nNo match for argument: docker-buildx-plugin\n"
    "No match for argument: docker-compose-plugin\n",
    "Error: Unable to find a match: docker-ce docker-ce-cli containerd.io docker-buildx-plugin "
    "docker-compose-plugin\n",
)
PODMAN = "podman-2.0.5-5.module_el8.3.0+512+b3b58dca.x86_64"
RUNC = "runc-1.0.0-68.rc92.module_el8.3.0+475+c50ce30b.x86_64"
CONTAINERD = "containerd.io-1.4.3-3.1.el8.x86_64"
DNF_HINT = (
    "(try to add '--allowerasing' to command line to replace conflicting packages or "
    "'--skip-broken' to skip uninstallable packages or '--nobest' to use not only best "
    "candidate packages)"
)
# docker-centos-facts.md §4.6 (GH geerlingguy/ansible-role-docker#254, CentOS 8.3); the hint
# line is dnf main.py:134-153's for conflicts with strict and best=True (stdout).
DNF_PODMAN = (
    f"Last metadata expiration check: 0:01:23 ago on Mon 12 Jul 2021.\n{DNF_HINT}\n",
    "Error: \n"
    f" Problem: problem with installed package {PODMAN}\n"
    f"  - package {PODMAN} requires runc >= 1.0.0-57, but none of the providers can be "
    "installed\n"
    f"  - package {CONTAINERD} conflicts with runc provided by {RUNC}\n"
    f"  - package {CONTAINERD} obsoletes runc provided by {RUNC}\n"
    "  - cannot install the best candidate for the job\n"
    "  - package runc-1.0.0-64.rc10.module_el8.3.0+479+69e2ae26.x86_64 is filtered out by "
    "modular filtering\n",
)
# docker-centos-facts.md §4.6 (GH galexrt/k8s-vagrant-multi-node#71, vagrant's "master:"
# prefix removed).
DNF_EL7_CONTAINERD = (
    "",
    "Error: \n"
    " Problem: package docker-ce-3:19.03.11-3.el7.x86_64 requires containerd.io >= 1.2.2-3, "
    "but none of the providers can be installed\n"
    "  - cannot install the best candidate for the job\n"
    "  - package containerd.io-1.2.10-3.2.el7.x86_64 is excluded\n"
    "  - package containerd.io-1.2.13-3.1.el7.x86_64 is excluded\n",
)
# GH kubernetes/website#11779 (CentOS 7, RHEL's docker 1.13 installed).
YUM_CONFLICT = (
    "--> Processing Conflict: docker-ce-18.06.1.ce-3.el7.x86_64 conflicts docker\n"
    "--> Finished Dependency Resolution\n"
    " You could try using --skip-broken to work around the problem\n"
    " You could try running: rpm -Va --nofiles --nodigest\n",
    "Error: docker-ce conflicts with 2:docker-1.13.1-88.git07f3374.el7.centos.x86_64\n",
)
# GH cockpit-project/cockpit#6225 (dnf 2: the first rule on the Error line itself).
DNF2_CONFLICT = (
    "(try to add '--allowerasing' to command line to replace conflicting packages)\n",
    "Error: package cockpit-docker-120-1.fc25.x86_64 requires docker >= 1.3.0, but none of "
    "the providers can be installed\n"
    "  - package docker-ce-17.03.0.ce-1.fc25.x86_64 conflicts with docker-engine provided by "
    "docker-2:1.12.2-5.git8f1975c.fc25.x86_64\n"
    "  - problem with installed package docker-ce-17.03.0.ce-1.fc25.x86_64\n"
    "  - conflicting requests\n",
)
# docker-centos-facts.md §4.4 (GH klren0312/daliy_knowledge#441): yum 3, docker-ce-stable
# unreachable.
DOCKER_REPOMD = "https://download.docker.com/linux/centos/7/x86_64/stable/repodata/repomd.xml"
YUM_REPO_RESET = (
    "Loaded plugins: fastestmirror\n",
    f'{DOCKER_REPOMD}: [Errno 14] curl#35 - "TCP connection reset by peer"\n'
    "Trying other mirror.\n\n\n"
    " One of the configured repositories failed (Docker CE Stable - x86_64),\n"
    " and yum doesn't have enough cached data to continue. At this point the only\n"
    "            yum --disablerepo=docker-ce-stable ...\n\n"
    "failure: repodata/repomd.xml from docker-ce-stable: [Errno 256] No more mirrors to try.\n"
    f'{DOCKER_REPOMD}: [Errno 14] curl#35 - "TCP connection reset by peer"\n',
)
# docker-centos-facts.md §4.5 (GH EuroLinux/cloud-images-rfc#11): CentOS 7 base repositories
# after EOL.
YUM_MIRRORLIST = (
    "",
    "Could not retrieve mirrorlist http://mirrorlist.centos.org/?release=7&arch=x86_64&repo=os"
    "&infra=stock error was\n"
    '14: curl#6 - "Could not resolve host: mirrorlist.centos.org; Unknown error\n'
    "<snip>\nCannot find a valid baseurl for repo: base/7/x86_64\n",
)
# GH engintron/engintron#1173 (older yum 3: the one-line verdict, with "Error: ").
YUM_RETRIEVE = (
    "",
    "http://nginx.org/packages/centos/6/x86_64/repodata/repomd.xml/repodata/repomd.xml: "
    '[Errno 14] PYCURL ERROR 7 - "Failed to connect to 2001:1af8:4060:a004:21::e3: Network is '
    'unreachable"\nTrying other mirror.\n'
    "Error: Cannot retrieve repository metadata (repomd.xml) for repository: nginx. Please "
    "verify its path and try again\n",
)
# docker-centos-facts.md §4.4 (GH docker/docs#19931): dnf, a 404 for docker-ce-stable.
DNF_REPO_404 = (
    "",
    "Errors during downloading metadata for repository 'docker-ce-stable':\n"
    "  - Status code: 404 for https://download.docker.com/linux/centos/2023.4.20240429/x86_64/"
    "stable/repodata/repomd.xml (IP: 52.85.243.112)\n"
    "Error: Failed to download metadata for repo 'docker-ce-stable': Cannot download "
    "repomd.xml: Cannot download repodata/repomd.xml: All mirrors were tried\n",
)
# GH RediSearch/RediSearch#3529's curl error 7 (EL8 dnf), in the layout of GH
# remicollet/remirepo#284 with Docker's repository in place of that one.
DNF_CURL7 = (
    "Docker CE Stable - x86_64       0.0  B/s |   0  B     00:00\n",
    "Errors during downloading metadata for repository 'docker-ce-stable':\n"
    "  - Curl error (7): Couldn't connect to server for https://download.docker.com/linux/"
    "centos/8/x86_64/stable/repodata/repomd.xml [Failed to connect to download.docker.com "
    "port 443: Connection refused]\n"
    "Error: Failed to download metadata for repo 'docker-ce-stable': Cannot download "
    "repomd.xml: Cannot download repodata/repomd.xml: All mirrors were tried\n",
)
# GH openshift/jenkins#1774 (RHEL 8): two repositories fail in one run.
DNF_TWO_REPOS = (
    "rhel-8-baseos                                   0.0  B/s |   0  B     00:02\n",
    "Errors during downloading metadata for repository 'rhel-8-baseos':\n"
    "  - Curl error (6): Couldn't resolve host name for http://base-4-12-rhel8.ocp.svc/"
    "rhel-8-baseos/repodata/repomd.xml [Could not resolve host: base-4-12-rhel8.ocp.svc]\n"
    "Error: Failed to download metadata for repo 'rhel-8-baseos': Cannot download repomd.xml: "
    "Cannot download repodata/repomd.xml: All mirrors were tried\n"
    "Errors during downloading metadata for repository 'rhel-8-appstream':\n"
    "  - Curl error (6): Couldn't resolve host name for http://base-4-12-rhel8.ocp.svc/"
    "rhel-8-appstream/repodata/repomd.xml [Could not resolve host: base-4-12-rhel8.ocp.svc]\n"
    "Error: Failed to download metadata for repo 'rhel-8-appstream': Cannot download "
    "repomd.xml: Cannot download repodata/repomd.xml: All mirrors were tried\n",
)
# docker-centos-facts.md §4.7: yum 3 waiting for PackageKit's lock (stderr).
YUM_LOCK = (
    "Loaded plugins: fastestmirror, refresh-packagekit, security\n",
    "Existing lock /var/run/yum.pid: another copy is running as pid 2922.\n"
    "Another app is currently holding the yum lock; waiting for it to exit...\n"
    "  The other application is: PackageKit\n"
    "    Memory :  52 M RSS (908 MB VSZ)\n"
    "    Started: Fri Sep 14 01:41:58 2018 - 01:58 ago\n"
    "    State  : Sleeping, pid: 2922\n",
)
# docker-centos-facts.md §4.6 (RHEL 9).
DNF_LOCK = ("Waiting for process with pid 6150 to finish.\n", "")
# docker-centos-facts.md §7 (GH hystax/optscale#17, GH docker/docs#15593).
APT_MISSING = (
    "",
    "E: Version '5:19.03.*' for 'docker-ce' was not found\n"
    "E: Unable to locate package docker-ce-cli\n"
    "E: Package 'docker-ce' has no installation candidate\n",
)
# assembled from dnf base.py:2646 and install.py:118/178 (no session at hand).
DNF_MODULAR = (
    "All matches were filtered out by modular filtering for argument: runc\n",
    "Error: Unable to find a match: runc\n",
)
# assembled from libdnf 0.73.0 Goal.cpp:92/107 (the " from <repo>" wording of newer libdnf).
DNF_FROM = (
    "",
    "Error: \n Problem: problem with installed package podman-4:4.9.4-1.el9.x86_64\n"
    "  - package containerd.io-1.6.32-3.1.el9.x86_64 from docker-ce-stable conflicts with runc "
    "provided by runc-4:1.1.12-1.el9.x86_64 from @System\n",
)


@pytest.mark.parametrize(
    ("output", "missing", "said"),
    [
        (
            YUM_NONE_FOUND,
            ("docker-ce", "docker-ce-cli", "containerd.io"),
            (
                "No package docker-ce available.",
                "No package docker-ce-cli available.",
                "No package containerd.io available.",
            ),
        ),
        (
            YUM_SOME_FOUND,
            ("docker-ce-19.03.11", "docker-ce-cli-19.03.11"),
            (
                "No package docker-ce-19.03.11 available.",
                "No package docker-ce-cli-19.03.11 available.",
            ),
        ),
        (
            DNF_NONE_FOUND,
            (
                "docker-ce",
                "docker-ce-cli",
                "containerd.io",
                "docker-buildx-plugin",
                "docker-compose-plugin",
            ),
            (DNF_NONE_FOUND[1].strip(),),
        ),
        (
            APT_MISSING,
            ("docker-ce=5:19.03.*", "docker-ce-cli", "docker-ce"),
            tuple(APT_MISSING[1].strip().splitlines()),
        ),
        (
            DNF_MODULAR,
            ("runc",),
            (
                "Error: Unable to find a match: runc",
                "All matches were filtered out by modular filtering for argument: runc",
            ),
        ),
    ],
)
def test_every_missing_package_is_read_with_the_tools_words(output, missing, said):
    refusal = parse_refusal(*output)
    assert refusal.missing == missing
    assert refusal.missing_said == said
    assert not refusal.problems and not refusal.repositories


def test_yum_says_nothing_to_do_only_when_nothing_resolved():
    assert parse_refusal(*YUM_NONE_FOUND).nothing_to_do
    assert not parse_refusal(*YUM_SOME_FOUND).nothing_to_do


def test_dnf_conflict_with_podman_is_read_whole():
    refusal = parse_refusal(*DNF_PODMAN)
    (problem,) = refusal.problems
    assert problem.heading == "Problem" and len(problem.rules) == 6
    assert problem.said[0] == f"Problem: problem with installed package {PODMAN}"
    assert refusal.installed == (PODMAN,)
    assert refusal.conflicts == (
        Conflict(CONTAINERD, "conflicts with", "runc", RUNC),
        Conflict(CONTAINERD, "obsoletes", "runc", RUNC),
    )
    assert refusal.suggestions == ("--allowerasing", "--skip-broken", "--nobest")
    assert refusal.hint == DNF_HINT[1:-1]
    assert not refusal.missing


@pytest.mark.parametrize(
    ("output", "heading", "conflicts", "suggestions"),
    [
        (DNF_EL7_CONTAINERD, "Problem", (), ()),
        (
            YUM_CONFLICT,
            "",
            (
                Conflict(
                    "docker-ce",
                    "conflicts with",
                    "",
                    "2:docker-1.13.1-88.git07f3374.el7.centos.x86_64",
                ),
            ),
            ("--skip-broken",),
        ),
        (
            DNF2_CONFLICT,
            "Error",
            (
                Conflict(
                    "docker-ce-17.03.0.ce-1.fc25.x86_64",
                    "conflicts with",
                    "docker-engine",
                    "docker-2:1.12.2-5.git8f1975c.fc25.x86_64",
                ),
            ),
            ("--allowerasing",),
        ),
        (
            DNF_FROM,
            "Problem",
            (
                Conflict(
                    "containerd.io-1.6.32-3.1.el9.x86_64",
                    "conflicts with",
                    "runc",
                    "runc-4:1.1.12-1.el9.x86_64",
                ),
            ),
            (),
        ),
    ],
)
def test_dependency_problems_in_each_layout(output, heading, conflicts, suggestions):
    refusal = parse_refusal(*output)
    (problem,) = refusal.problems
    assert problem.heading == heading
    assert refusal.conflicts == conflicts
    assert refusal.suggestions == suggestions


@pytest.mark.parametrize(
    ("output", "repos", "first_said"),
    [
        (
            YUM_REPO_RESET,
            ("docker-ce-stable",),
            (
                "failure: repodata/repomd.xml from docker-ce-stable: [Errno 256] No more mirrors "
                "to try.",
                f'{DOCKER_REPOMD}: [Errno 14] curl#35 - "TCP connection reset by peer"',
            ),
        ),
        (
            YUM_MIRRORLIST,
            ("base/7/x86_64",),
            (
                "Cannot find a valid baseurl for repo: base/7/x86_64",
                "Could not retrieve mirrorlist http://mirrorlist.centos.org/?release=7&arch=x86_64"
                '&repo=os&infra=stock error was 14: curl#6 - "Could not resolve host: '
                "mirrorlist.centos.org; Unknown error",
            ),
        ),
        (
            YUM_RETRIEVE,
            ("nginx",),
            (
                YUM_RETRIEVE[1].strip().splitlines()[-1],
                YUM_RETRIEVE[1].strip().splitlines()[0],
            ),
        ),
        (
            DNF_REPO_404,
            ("docker-ce-stable",),
            (
                DNF_REPO_404[1].strip().splitlines()[-1],
                "Status code: 404 for https://download.docker.com/linux/centos/2023.4.20240429/"
                "x86_64/stable/repodata/repomd.xml (IP: 52.85.243.112)",
            ),
        ),
        (
            DNF_CURL7,
            ("docker-ce-stable",),
            (
                DNF_CURL7[1].strip().splitlines()[-1],
                DNF_CURL7[1].strip().splitlines()[1].strip().removeprefix("- "),
            ),
        ),
        (
            DNF_TWO_REPOS,
            ("rhel-8-baseos", "rhel-8-appstream"),
            (
                DNF_TWO_REPOS[1].splitlines()[2],
                DNF_TWO_REPOS[1].splitlines()[1].strip().removeprefix("- "),
            ),
        ),
    ],
)
def test_failed_repositories_with_their_causes(output, repos, first_said):
    refusal = parse_refusal(*output)
    assert tuple(r.repo for r in refusal.repositories) == repos
    assert refusal.repositories[0].said == first_said
    assert not refusal.problems and not refusal.missing


def test_the_curl_error_dnf_repeats_in_its_verdict_is_said_once():
    text = (
        "Errors during downloading metadata for repository 'baseos':\n"
        "  - Curl error (6): Couldn't resolve host name for http://mirrorlist.centos.org/"
        "?release=8 [Could not resolve host: mirrorlist.centos.org]\n"
        "Error: Failed to download metadata for repo 'baseos': Cannot prepare internal "
        "mirrorlist: Curl error (6): Couldn't resolve host name for http://mirrorlist.centos.org/"
        "?release=8 [Could not resolve host: mirrorlist.centos.org]\n"
    )
    (failure,) = parse_refusal("", text).repositories
    assert failure.said == (text.splitlines()[-1],)


@pytest.mark.parametrize(
    ("output", "lock"),
    [
        (YUM_LOCK, "Existing lock /var/run/yum.pid: another copy is running as pid 2922."),
        (DNF_LOCK, "Waiting for process with pid 6150 to finish."),
    ],
)
def test_lock_waits_are_read(output, lock):
    assert parse_refusal(*output).lock == lock


# -- the one line a host's error shows ---------------------------------------------------------


def test_all_missing_pins_are_named_in_one_line():
    line = describe_refusal(
        *YUM_SOME_FOUND,
        "yum",
        short=[("docker-ce", "19.03.11"), ("docker-ce-cli", "19.03.11")],
    )
    assert line == (
        "docker-ce-19.03.11, docker-ce-cli-19.03.11 not available from the enabled repositories "
        "(yum: No package docker-ce-19.03.11 available.; No package docker-ce-cli-19.03.11 "
        "available.)"
    )


def test_dnf_conflict_names_the_way_out_and_keeps_dnfs_words():
    line = describe_refusal(*DNF_PODMAN, "dnf", short=[("containerd.io", "1.4.3")])
    assert line.startswith(
        f"{CONTAINERD} conflicts with runc provided by {RUNC}: remove podman and runc first "
        "(dnf remove podman runc), or set allow_erasing (allow_erasing: true in the inventory, "
        "or --allow-erasing true) to let dnf erase them (dnf: Problem: problem with installed "
        f"package {PODMAN}; package {PODMAN} requires runc >= 1.0.0-57, but none of the providers "
        "can be installed; "
    )
    assert line.endswith(f"is filtered out by modular filtering; {DNF_HINT[1:-1]})")
    assert "\n" not in line


def test_with_allow_erasing_already_set_only_removal_is_offered():
    line = describe_refusal(*DNF_PODMAN, "dnf", allow_erasing=True)
    assert "remove podman and runc first (dnf remove podman runc) (dnf: Problem:" in line
    assert "set allow_erasing" not in line


def test_yum_conflict_says_allow_erasing_cannot_help_on_el7():
    line = describe_refusal(*YUM_CONFLICT, "yum", short=[("docker-ce", "19.03.11")])
    assert line == (
        "docker-ce conflicts with 2:docker-1.13.1-88.git07f3374.el7.centos.x86_64: remove docker "
        "first (yum remove docker); allow_erasing does not apply here: yum 3 (EL7) has no "
        "--allowerasing (yum: docker-ce conflicts with 2:docker-1.13.1-88.git07f3374.el7.centos"
        ".x86_64; You could try using --skip-broken to work around the problem)"
    )


def test_a_dependency_problem_without_conflict_is_said_whole():
    line = describe_refusal(*DNF_EL7_CONTAINERD, "dnf")
    assert line == (
        "dnf cannot resolve the dependencies (dnf: Problem: package docker-ce-3:19.03.11-3.el7"
        ".x86_64 requires containerd.io >= 1.2.2-3, but none of the providers can be installed; "
        "cannot install the best candidate for the job; package containerd.io-1.2.10-3.2.el7"
        ".x86_64 is excluded; package containerd.io-1.2.13-3.1.el7.x86_64 is excluded)"
    )


def test_repository_failure_line_names_the_repository_and_the_cause():
    assert describe_refusal(*DNF_CURL7, "dnf") == (
        "repository docker-ce-stable unavailable (dnf: Error: Failed to download metadata for "
        "repo 'docker-ce-stable': Cannot download repomd.xml: Cannot download repodata/repomd.xml"
        ": All mirrors were tried; Curl error (7): Couldn't connect to server for "
        "https://download.docker.com/linux/centos/8/x86_64/stable/repodata/repomd.xml [Failed to "
        "connect to download.docker.com port 443: Connection refused])"
    )


def test_apt_names_every_missing_pin():
    out = (
        "",
        "E: Version '20.10.24' for 'docker-ce' was not found\n"
        "E: Version '20.10.24' for 'docker-ce-cli' was not found\n",
    )
    assert describe_refusal(*out, "apt") == (
        "docker-ce=20.10.24, docker-ce-cli=20.10.24 not available from the enabled repositories "
        "(apt: E: Version '20.10.24' for 'docker-ce' was not found; E: Version '20.10.24' for "
        "'docker-ce-cli' was not found)"
    )


def test_a_lock_stands_in_only_when_nothing_else_explains():
    assert describe_refusal(*YUM_LOCK, "yum") == (
        "the yum lock is held by another process (yum: Existing lock /var/run/yum.pid: another "
        "copy is running as pid 2922.)"
    )
    waited = (YUM_LOCK[0] + YUM_NONE_FOUND[0], YUM_LOCK[1] + YUM_NONE_FOUND[1])
    assert describe_refusal(*waited, "yum").startswith("docker-ce, docker-ce-cli, containerd.io")


def test_without_a_known_reason_the_error_lines_are_kept():
    out = ("", "Error: Not tolerating missing names on install, stopping.\n")
    assert describe_refusal(*out, "yum", short=[("lvm2", None)]) == (
        "lvm2 not installed after the package install (yum: Error: Not tolerating missing names "
        "on install, stopping.)"
    )
    assert describe_refusal(*out, "yum") == out[1].strip()
    assert describe_refusal("Complete!\n", "", "yum", short=[("lvm2", None)]) == (
        "lvm2 not installed after the package install (yum: Complete!)"
    )


@pytest.mark.parametrize(
    ("nevra", "name"),
    [
        (PODMAN, "podman"),
        (RUNC, "runc"),
        ("runc-1:1.1.4-1.module+el8.7.0+17824+66a0202b.x86_64", "runc"),
        ("docker-ce-3:19.03.11-3.el7.x86_64", "docker-ce"),
        ("2:docker-1.13.1-88.git07f3374.el7.centos.x86_64", "docker"),
        ("runc", "runc"),
    ],
)
def test_package_names_from_nevras(nevra, name):
    assert package_name(nevra) == name


# -- never raises --------------------------------------------------------------------------------

_FRAGMENTS = st.sampled_from(
    [
        "Error: ",
        " Problem: ",
        "Problem 2: ",
        "  - ",
        "package ",
        " conflicts with ",
        " provided by ",
        " from ",
        "No package ",
        " available.",
        "No match for argument: ",
        "Error: Unable to find a match: ",
        "failure: ",
        "Errors during downloading metadata for repository '",
        "Error: Failed to download metadata for repo '",
        "Could not retrieve mirrorlist ",
        " error was",
        "E: Version '",
        "' for '",
        "' was not found",
        "(try to add '--allowerasing')",
        "Existing lock ",
        "\n",
        "\r",
        "\x1b[1m",
        "'",
        ":",
    ]
)
_TEXT = st.lists(st.one_of(_FRAGMENTS, st.text(max_size=12)), max_size=40).map("".join)


@settings(max_examples=400, deadline=None)
@given(_TEXT, _TEXT, st.booleans())
def test_never_raises_and_always_gives_one_line(stdout, stderr, allow_erasing):
    parse_refusal(stdout, stderr)
    for pm in ("yum", "dnf", "apt"):
        line = describe_refusal(
            stdout, stderr, pm, short=[("docker-ce", "19.03.11")], allow_erasing=allow_erasing
        )
        assert line and "\n" not in line and "\r" not in line
