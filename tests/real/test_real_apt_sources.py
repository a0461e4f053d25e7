"""Reading this machine's apt configuration to find the mirror the root file system comes
from, and telling "the mirror cannot be reached" (skip the tier) from a broken build (fail).

No hosts: these run everywhere, also where the real tier skips.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.real.realhosts import (
    AptSource,
    Unavailable,
    chroot_sources,
    debian_mirror,
    logged_run,
    parse_deb822_sources,
    parse_one_line_sources,
    read_apt_sources,
    rootfs_key,
)

DEB822 = """\
Types: deb deb-src
# a comment inside the stanza
URIs: http://mirror.example/debian
Suites: bookworm bookworm-updates
Components: main contrib
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://mirror.example/debian-security
Suites: bookworm-security
Components: main

Types: deb
Enabled: no
URIs: http://disabled.example/debian
Suites: bookworm
Components: main
"""

ONE_LINE = """\
# deb http://commented.example/debian bookworm main
deb [arch=amd64 signed-by=/etc/apt/keyrings/x.gpg] http://mirror.example/debian bookworm main
deb-src http://mirror.example/debian bookworm main
deb http://mirror.example/debian-security bookworm-security main # trailing comment
"""


def test_deb822_stanzas_become_sources_and_disabled_ones_are_left_out() -> None:
    sources = parse_deb822_sources(DEB822, "debian.sources")
    assert sources == [
        AptSource(
            "http://mirror.example/debian",
            ("bookworm", "bookworm-updates"),
            ("main", "contrib"),
            "/usr/share/keyrings/debian-archive-keyring.gpg",
            "debian.sources",
        ),
        AptSource(
            "http://mirror.example/debian-security",
            ("bookworm-security",),
            ("main",),
            None,
            "debian.sources",
        ),
    ]


def test_one_line_sources_keep_options_and_skip_comments_and_deb_src() -> None:
    sources = parse_one_line_sources(ONE_LINE)
    assert [(s.uri, s.suites, s.components, s.signed_by) for s in sources] == [
        ("http://mirror.example/debian", ("bookworm",), ("main",), "/etc/apt/keyrings/x.gpg"),
        ("http://mirror.example/debian-security", ("bookworm-security",), ("main",), None),
    ]


def test_the_mirror_is_the_one_serving_the_suite_not_the_security_archive() -> None:
    security_first = [
        AptSource("http://mirror.example/debian-security", ("bookworm-security",), ("main",)),
        AptSource("http://mirror.example/debian", ("bookworm",), ("main",)),
    ]
    assert debian_mirror(security_first, "bookworm") == "http://mirror.example/debian"
    other_release = [AptSource("http://mirror.example/debian", ("trixie",), ("main",))]
    assert debian_mirror(other_release, "bookworm") == "http://mirror.example/debian"
    assert debian_mirror([], "bookworm") is None


def test_read_apt_sources_reads_both_file_kinds(tmp_path: Path) -> None:
    (tmp_path / "sources.list.d").mkdir()
    (tmp_path / "sources.list").write_text(ONE_LINE)
    (tmp_path / "sources.list.d" / "debian.sources").write_text(DEB822)
    (tmp_path / "sources.list.d" / "old.list.disabled").write_text(ONE_LINE)
    sources = read_apt_sources(tmp_path)
    assert len(sources) == 4
    assert {s.origin for s in sources} == {
        str(tmp_path / "sources.list"),
        str(tmp_path / "sources.list.d" / "debian.sources"),
    }


def test_the_chroot_gets_the_machines_sources_of_the_suite_only() -> None:
    sources = [
        *parse_deb822_sources(DEB822),
        AptSource("http://thirdparty.example/apt", ("stable",), ("main",)),
        AptSource("http://mirror.example/debian", ("trixie",), ("main",)),
    ]
    assert chroot_sources(sources, "http://unused.example/debian", "bookworm") == (
        "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] "
        "http://mirror.example/debian bookworm bookworm-updates main contrib\n"
        "deb http://mirror.example/debian-security bookworm-security main\n"
    )
    # a machine on another release: the mirror's base suite alone
    assert chroot_sources(sources[2:], "http://mirror.example/debian", "bookworm") == (
        "deb http://mirror.example/debian bookworm main\n"
    )


def test_the_cache_key_is_stable_and_short() -> None:
    assert rootfs_key() == rootfs_key()
    assert len(rootfs_key()) == 16


def test_an_unreachable_mirror_makes_the_tier_unavailable(tmp_path: Path) -> None:
    failing = "echo 'E: Failed getting release file http://mirror.example/dists/x/Release'; exit 1"
    with (tmp_path / "build.log").open("w") as log, pytest.raises(Unavailable) as caught:
        logged_run(log, ["sh", "-c", failing])
    assert "the package mirror cannot be reached" in str(caught.value)
    assert "Failed getting release file" in str(caught.value)


def test_any_other_build_failure_is_an_error_not_a_skip(tmp_path: Path) -> None:
    with (tmp_path / "build.log").open("w") as log, pytest.raises(RuntimeError) as caught:
        logged_run(log, ["sh", "-c", "echo 'dpkg: error processing package x'; exit 2"])
    assert "sh failed (exit 2)" in str(caught.value)
    assert "dpkg: error processing package x" in (tmp_path / "build.log").read_text()
