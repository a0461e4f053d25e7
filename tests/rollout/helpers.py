"""Helpers for end-to-end tests: fleet's CLI in-process, and checks on the hosts themselves."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from fleet.cli import main
from tests.labkit import RunningLab, run

EL9 = {"os": "rocky9", "vars": {"docker_version": "20.10.24", "containerd_version": "1.6.28"}}


def fleet(tmp_path: Path, *argv: str) -> tuple[int, dict[str, Any]]:
    """Run fleet's CLI; return its exit code and the JSON report it wrote."""
    report = tmp_path / f"report-{len(list(tmp_path.glob('report-*')))}.json"
    code = main([*argv, "--plain", "--runs-dir", str(tmp_path / "runs"), "--report", str(report)])
    return code, json.loads(report.read_text())


def by_name(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {h["name"]: h for h in report["hosts"]}


def on_host(lab: RunningLab, name: str, command: str) -> str:
    result = run(lab, name, command)
    return result.stdout.strip()


def started_at(lab: RunningLab, name: str) -> str:
    return on_host(lab, name, "systemctl show -p ActiveEnterTimestamp docker")
