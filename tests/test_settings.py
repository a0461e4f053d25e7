"""Settings: one declaration each, converted and rejected with a fix."""

from __future__ import annotations

from dataclasses import fields

import pytest

from fleet.errors import InputError
from fleet.settings import SETTING_SPECS, Settings


def test_every_setting_is_declared_once():
    assert set(SETTING_SPECS) == {f.name for f in fields(Settings)} - {"given"}


def test_given_settings_are_remembered_across_merges():
    cli = Settings().merged({"runtime": "containerd"}, "command line")
    host = cli.merged({"containerd_version": "2.2.1"}, "inv.yml:4")
    assert Settings().given == frozenset()
    assert cli.given == {"runtime"}
    assert host.given == {"runtime", "containerd_version"}
    assert (host.runtime, host.containerd_version) == ("containerd", "2.2.1")


def test_runtime_is_docker_unless_asked_and_nothing_else():
    assert Settings().runtime == "docker"
    assert Settings().merged({"runtime": "Containerd"}).runtime == "containerd"


def test_defaults_are_the_reference_sequence():
    s = Settings()
    assert (s.docker_version, s.containerd_version) == ("19.03.11", "1.2.13")
    assert (s.cgroup_driver, s.storage_driver) == ("systemd", "overlay2")
    assert s.daemon_json["exec-opts"] == ["native.cgroupdriver=systemd"]
    assert s.system_update is False


def test_overrides_are_converted():
    s = Settings().merged(
        {"system_update": "yes", "command_timeout": "30", "docker_version": "20.10.24"}
    )
    assert s.system_update is True and s.command_timeout == 30.0 and s.docker_version == "20.10.24"


@pytest.mark.parametrize(
    ("name", "value", "fragment"),
    [
        ("docker_version", 20.1, "quote versions"),
        ("system_update", "maybe", "true or false"),
        ("connect_timeout", "0", "greater than 0"),
        ("min_free_disk_mb", "lots", "whole number"),
        ("daemon_json", "[1, 2]", "JSON object"),
        ("runtime", "podman", "expected docker or containerd"),
        ("sandbox_image", "", "must not be empty"),
    ],
)
def test_bad_values_name_the_origin_and_the_setting(name, value, fragment):
    with pytest.raises(InputError) as err:
        Settings().merged({name: value}, "inv.yml:3")
    assert str(err.value).startswith(f"inv.yml:3: setting {name}: ")
    assert fragment in str(err.value)
