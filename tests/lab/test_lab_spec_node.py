"""Lab spec keys for kubeadm's node prerequisites: swap, selinux, cgroup, modules, sysctl."""

from __future__ import annotations

import pytest

from fleet.errors import InputError
from fleet.lab.spec import parse_spec, resolve_hosts


def hosts_of(text: str, count: int = 2) -> list[dict]:
    return resolve_hosts(parse_spec(text, "lab.yml"), count)


def test_defaults_are_an_installers_host_and_overrides_merge():
    text = (
        "defaults: {os: centos7, sysctl: {net.ipv4.ip_forward: 0}}\n"
        "host:\n"
        "  node02: {swap: off, selinux: disabled, cgroup: 2, modules: [overlay],"
        " sysctl: {vm.swappiness: 10}}\n"
    )
    first, second = hosts_of(text)
    assert (first["swap"], first["selinux"], first["cgroup"]) == ("on", "enforcing", None)
    assert first["modules"] == [] and first["sysctl"] == {"net.ipv4.ip_forward": "0"}
    assert (second["swap"], second["selinux"], second["cgroup"]) == ("off", "disabled", "v2")
    assert second["modules"] == ["overlay"]
    assert second["sysctl"] == {"net.ipv4.ip_forward": "0", "vm.swappiness": "10"}
    assert hosts_of("defaults: {swap: fstab}")[0]["swap"] == "fstab"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("defaults: {swap: maybe}", "lab.yml:1: defaults: swap must be one of on, off, fstab"),
        ("defaults: {selinux: enforced}", "did you mean 'enforcing'?"),
        ("defaults: {cgroup: v3}", "cgroup must be one of v1, v2"),
        ("defaults: {modules: [overlayfs]}", "no module 'overlayfs'; did you mean 'overlay'?"),
        ("defaults: {modules: overlay}", "must be a list of module names"),
        (
            "defaults:\n  sysctl: {net.ipv4.ip_forwad: 1}",
            "lab.yml:2: defaults: sysctl: the lab's kernel has no key 'net.ipv4.ip_forwad'; "
            "did you mean 'net.ipv4.ip_forward'?",
        ),
        ("defaults: {sysctl: {vm.swappiness: high}}", "vm.swappiness must be a whole number"),
    ],
)
def test_bad_values_are_one_line_errors(text, expected):
    with pytest.raises(InputError) as caught:
        hosts_of(text)
    assert expected in str(caught.value)
    assert "\n" not in str(caught.value)
