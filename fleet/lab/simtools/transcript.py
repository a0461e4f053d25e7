"""yum's and dnf's transaction transcripts, in their real layout (shortened where it is noise)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from fleet.lab.simtools.packages import Pkg

if TYPE_CHECKING:
    from fleet.lab.simtools.yum import Txn

_RULE = "=" * 80
_THIN = "-" * 80


def _mb(size: str) -> float:
    number, _, unit = size.partition(" ")
    scale = {"k": 1 / 1024, "M": 1.0, "G": 1024.0}.get(unit, 1.0)
    return float(number) * scale


def _size_text(mb: float) -> str:
    return f"{mb:.0f} M" if mb >= 1 else f"{mb * 1024:.0f} k"


_HEADINGS = ("Package", "Arch", "Version", "Repository", "Size")


def _rows(sections: list[tuple[str, list[Pkg]]]) -> str:
    """The "Dependencies Resolved" table; packages being removed show their "@repo"."""
    rows = {
        title: [
            (p.name, p.arch, p.evr, ("@" if title.startswith("Remov") else "") + p.repo, p.size)
            for p in sorted(pkgs, key=lambda q: q.name)
        ]
        for title, pkgs in sections
    }
    everything = [row for group in rows.values() for row in group]
    widths = [max([len(h)] + [len(r[i]) for r in everything]) for i, h in enumerate(_HEADINGS)]

    def line(cells: tuple[str, ...]) -> str:
        padded = [
            f"{c:<{w}}" if i < 4 else f"{c:>{w}}"
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        ]
        return (" " + "  ".join(padded)).rstrip()

    out = [_RULE, line(_HEADINGS), _RULE]
    for title, group in rows.items():
        if group:
            out.append(f"{title}:")
            out += [line(row) for row in group]
    return "\n".join(out)


def _count(n: int, word: str) -> str:
    return f"{n} {word}{'s' if n != 1 else ''}"


def yum_plan(txn: Txn) -> str:
    lines = ["Resolving Dependencies", "--> Running transaction check"]
    for p in txn.install:
        lines.append(f"---> Package {p.name}.{p.arch} {p.evr} will be installed")
    for old, new in txn.upgrade + txn.downgrade:
        lines.append(f"---> Package {old.name}.{old.arch} {old.evr} will be updated")
        lines.append(f"---> Package {new.name}.{new.arch} {new.evr} will be an update")
    for p in txn.remove:
        lines.append(f"---> Package {p.name}.{p.arch} {p.evr} will be erased")
    for p in txn.deps:
        lines.append(f"--> Processing Dependency: {p.name} for package: {_requirer(txn, p)}")
    if txn.deps or txn.dep_remove:
        lines.append("--> Running transaction check")
        for p in txn.deps:
            lines.append(f"---> Package {p.name}.{p.arch} {p.evr} will be installed")
        for p in txn.dep_remove:
            lines.append(f"---> Package {p.name}.{p.arch} {p.evr} will be erased")
    lines += ["--> Finished Dependency Resolution", "", "Dependencies Resolved", ""]
    sections = [
        ("Installing", txn.install),
        ("Installing for dependencies", txn.deps),
        ("Updating", [n for _, n in txn.upgrade]),
        ("Downgrading", [n for _, n in txn.downgrade]),
        ("Removing", txn.remove),
        ("Removing for dependencies", txn.dep_remove),
    ]
    lines.append(_rows(sections))
    lines += ["", "Transaction Summary", _RULE]
    if txn.install or txn.deps:
        dep = f" (+{_count(len(txn.deps), 'Dependent package')})" if txn.deps else ""
        lines.append(f"Install  {_count(len(txn.install), 'Package')}{dep}" if txn.install else
                     f"Install  {_count(len(txn.deps), 'Package')}")  # fmt: skip
    if txn.upgrade:
        lines.append(f"Upgrade  {_count(len(txn.upgrade), 'Package')}")
    if txn.downgrade:
        lines.append(f"Downgrade  {_count(len(txn.downgrade), 'Package')}")
    if txn.remove or txn.dep_remove:
        dep = f" (+{_count(len(txn.dep_remove), 'Dependent package')})" if txn.dep_remove else ""
        lines.append(f"Remove  {_count(len(txn.remove) or len(txn.dep_remove), 'Package')}{dep}")
    lines.append("")
    incoming = txn.incoming()
    if incoming:
        total = sum(_mb(p.size) for p in incoming)
        lines.append(f"Total download size: {_size_text(total)}")
        lines.append(f"Installed size: {_size_text(total * 3.2)}")
    else:
        lines.append(
            f"Installed size: {_size_text(sum(_mb(p.size) for p in txn.remove + txn.dep_remove) * 3.2)}"
        )
    return "\n".join(lines)


def _requirer(txn: Txn, dep: Pkg) -> str:
    return _yum_name(txn.why.get(dep.name, dep))


def _yum_name(p: Pkg) -> str:
    return p.envra


def dnf_plan(txn: Txn) -> str:
    sections = [
        ("Installing", txn.install),
        ("Upgrading", [n for _, n in txn.upgrade]),
        ("Downgrading", [n for _, n in txn.downgrade]),
        ("Installing dependencies", txn.deps),
        ("Removing", txn.remove),
        ("Removing dependent packages", txn.dep_remove),
    ]
    lines = [
        "Dependencies resolved.",
        _rows(sections),
        "",
        "Transaction Summary",
        _RULE,
    ]
    if txn.install or txn.deps:
        lines.append(f"Install    {_count(len(txn.install) + len(txn.deps), 'Package')}")
    if txn.upgrade:
        lines.append(f"Upgrade    {_count(len(txn.upgrade), 'Package')}")
    if txn.downgrade:
        lines.append(f"Downgrade  {_count(len(txn.downgrade), 'Package')}")
    if txn.remove or txn.dep_remove:
        lines.append(f"Remove     {_count(len(txn.remove) + len(txn.dep_remove), 'Package')}")
    lines.append("")
    incoming = txn.incoming()
    if incoming:
        total = sum(_mb(p.size) for p in incoming)
        lines.append(f"Total download size: {_size_text(total)}")
        lines.append(f"Installed size: {_size_text(total * 3.2)}")
    else:
        lines.append("Freed space: 110 M")
    return "\n".join(lines)


def run_text(txn: Txn, dnf: bool, first_key: bool, gpg_url: str) -> str:
    """Downloading, key import and the per-package progress of the running transaction."""
    incoming = sorted(txn.incoming(), key=lambda p: p.name)
    leaving = sorted(
        txn.remove + txn.dep_remove + [o for o, _ in txn.upgrade + txn.downgrade],
        key=lambda p: p.name,
    )
    total = len(incoming) + len(leaving)
    lines = ["Downloading Packages:" if dnf else "Downloading packages:"]
    for i, p in enumerate(incoming, 1):
        lines.append(f"({i}/{len(incoming)}): {p.nvra}.rpm".ljust(60) + f"{p.size:>9}")
    if incoming:
        lines.append(_THIN)
        size = sum(_mb(p.size) for p in incoming)
        lines.append(f"{'Total':<52}{'48 MB/s':>9} | {size:4.0f} MB  00:00:01")
    if first_key:
        docker = next(p for p in incoming if p.repo == "docker-ce-stable")
        fingerprint = "060a 61c5 1b55 8a7f 742b 77aa c52f eb6b 621e 9f35"
        if not dnf:
            lines.append(
                f"warning: /var/cache/yum/x86_64/7/docker-ce-stable/packages/{docker.nvra}.rpm: "
                "Header V4 RSA/SHA512 Signature, key ID 621e9f35: NOKEY"
            )
            lines.append(f"Public key for {docker.nvra}.rpm is not installed")
            lines.append(f"Retrieving key from {gpg_url}")
        lines += [
            "Importing GPG key 0x621E9F35:",
            ' Userid     : "Docker Release (CE rpm) <docker@docker.com>"',
            f" Fingerprint: {fingerprint.upper() if dnf else fingerprint}",
            f" From       : {gpg_url}",
        ]
        if dnf:
            lines.append("Key imported successfully")
    lines += ["Running transaction check"]
    lines += ["Transaction check succeeded." if dnf else "Running transaction test"]
    lines += (
        ["Running transaction test", "Transaction test succeeded.", "Running transaction"]
        if dnf
        else [
            "Transaction test succeeded",
            "Running transaction",
        ]
    )
    step = 0
    for p in incoming:
        step += 1
        verb = "Installing       :" if dnf else "Installing :"
        if any(n is p for _, n in txn.upgrade):
            verb = "Upgrading        :" if dnf else "Updating   :"
        lines.append(
            f"  {verb} {p.nevra if dnf else _yum_name(p)}".ljust(70) + " " + f"{step}/{total}"
        )
    for p in leaving:
        step += 1
        verb = "Erasing          :" if dnf else "Erasing    :"
        if any(o is p for o, _ in txn.upgrade + txn.downgrade):
            verb = "Cleanup          :" if dnf else "Cleanup    :"
        lines.append(
            f"  {verb} {p.nevra if dnf else _yum_name(p)}".ljust(70) + " " + f"{step}/{total}"
        )
    for i, p in enumerate(incoming + leaving, 1):
        verb = "Verifying        :" if dnf else "Verifying  :"
        lines.append(
            f"  {verb} {p.nevra if dnf else _yum_name(p)}".ljust(70) + " " + f"{i}/{total}"
        )
    return "\n".join(lines)


def result_text(txn: Txn, dnf: bool) -> str:
    lines = [""]
    if dnf:
        groups = [
            ("Upgraded", [n for _, n in txn.upgrade]),
            ("Downgraded", [n for _, n in txn.downgrade]),
            ("Installed", txn.install + txn.deps),
            ("Removed", txn.remove + txn.dep_remove),
        ]
        for title, pkgs in groups:
            if pkgs:
                lines.append(f"{title}:")
                lines.append("  " + "  ".join(p.nevra for p in sorted(pkgs, key=lambda q: q.name)))
                lines.append("")
    else:
        groups = [
            ("Installed", txn.install),
            ("Dependency Installed", txn.deps),
            ("Updated", [n for _, n in txn.upgrade]),
            ("Downgraded", [n for _, n in txn.downgrade]),
            ("Removed", txn.remove),
            ("Dependency Removed", txn.dep_remove),
        ]
        for title, pkgs in groups:
            if pkgs:
                lines.append(f"{title}:")
                names = [f"{p.name}.{p.arch} {p.epoch}:{p.version}-{p.release}" for p in pkgs]
                lines.append("  " + "  ".join(sorted(names)))
                lines.append("")
    lines.append("Complete!")
    return "\n".join(lines)
