"""A machine with nothing but root, Python and fleet's dependencies runs ``fleet demo``.

The machine's own sudo and sshd (if it has them) are hidden in a private mount
namespace, so the demo must start its lab with the paramiko server and the
built-in sudo, and still end with every host as intended.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.lab

HIDDEN = ("/usr/bin/sudo", "/usr/sbin/sshd")


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root for a private mount namespace")
@pytest.mark.skipif(shutil.which("unshare") is None, reason="needs unshare (util-linux)")
def test_demo_needs_neither_sudo_nor_sshd(tmp_path: Path) -> None:
    hide = [
        f"mount --bind /dev/null {path}" for path in HIDDEN if os.path.exists(path)
    ]  # a char device without x bits: not a program any more
    check = "! command -v sudo >/dev/null && ! test -x /usr/sbin/sshd"
    demo = shlex.join(
        [
            sys.executable,
            "-c",
            "import sys; from fleet.cli import main; sys.exit(main(sys.argv[1:]))",
            "demo",
            "--plain",
            "--dir",
            str(tmp_path / "demo"),
        ]
    )
    script = " && ".join([*hide, check, f"exec {demo}"])
    result = subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "sh", "-c", script],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "12 hosts up behind paramiko SSH servers, builtin sudo" in result.stdout
    assert "fleet demo: every host ended as intended" in result.stdout
    assert not (tmp_path / "demo").exists()  # the lab was torn down and removed
