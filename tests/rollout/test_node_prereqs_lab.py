"""kubeadm's node prerequisites end to end: fleet rollout --runtime containerd over real SSH.

The lab's hosts keep their own swap areas, modules, sysctls and SELinux mode
(fleet.lab.simtools.kernelstate), changed only by the simulated swapoff, modprobe, sysctl
and setenforce, so the checks below ask those programs and read the host's files.
"""

from __future__ import annotations

from fleet.errors import ExitCode
from fleet.steps.node_prereqs import NODE_PREREQ_STEPS
from tests.rollout.helpers import by_name, fleet, on_host

CONTAINERD = ("--runtime", "containerd")
NODE_STEPS = [s.name for s in NODE_PREREQ_STEPS]
K8S_SYSCTLS = (
    "net.ipv4.ip_forward",
    "net.bridge.bridge-nf-call-iptables",
    "net.bridge.bridge-nf-call-ip6tables",
)


def node_steps(host: dict) -> dict[str, str]:
    return {s["name"]: s["status"] for s in host["steps"] if s["name"] in NODE_STEPS}


def prereq_state(lab, name: str) -> dict[str, str]:
    """What the host says of each prerequisite, asked of its own programs and files."""
    return {
        "swaps": on_host(lab, name, "swapon -s | tail -n +2"),
        "fstab": on_host(lab, name, "grep -E '^[^#].*[[:space:]]swap[[:space:]]' /etc/fstab"),
        "modules": on_host(lab, name, "lsmod | awk 'NR>1 {print $1}' | sort | tr '\\n' ' '"),
        "sysctl": on_host(lab, name, f"sudo sysctl -e {' '.join(K8S_SYSCTLS)}"),
        "selinux": on_host(lab, name, "getenforce; grep ^SELINUX= /etc/selinux/config"),
    }


def test_a_fresh_centos7_is_prepared_and_a_rerun_changes_nothing(lab, tmp_path):
    lab = lab(1, defaults={"os": "centos7"})  # swap on, enforcing, no modules, ip_forward 0
    before = prereq_state(lab, "node01")
    assert before["swaps"].startswith("/dev/dm-1") and before["fstab"]
    assert "overlay" not in before["modules"].split()
    assert before["sysctl"] == "net.ipv4.ip_forward = 0"
    assert before["selinux"] == "Enforcing\nSELINUX=enforcing"
    original_fstab = on_host(lab, "node01", "cat /etc/fstab")

    code, report = fleet(tmp_path, "rollout", "-i", str(lab.inventory), *CONTAINERD)
    assert code == ExitCode.OK, report
    host = by_name(report)["node01"]
    assert host["status"] == "changed", host["error"]
    assert node_steps(host) == {
        "SystemVerification": "ok",
        "Swap": "changed",
        "kernel_modules": "changed",
        "FileContent--proc-sys-net-ipv4-ip_forward": "changed",
        "FileContent--proc-sys-net-bridge-bridge-nf-call-iptables": "changed",
        "FileContent--proc-sys-net-bridge-bridge-nf-call-ip6tables": "changed",
        "selinux": "changed",
    }
    after = prereq_state(lab, "node01")
    assert after["swaps"] == "" and after["fstab"] == ""
    assert {"overlay", "br_netfilter", "bridge"} <= set(after["modules"].split())
    assert after["sysctl"].splitlines() == [f"{key} = 1" for key in K8S_SYSCTLS]
    assert after["selinux"] == "Permissive\nSELINUX=permissive"
    files = {
        path: on_host(lab, "node01", f"cat {path}")
        for path in ("/etc/modules-load.d/k8s.conf", "/etc/sysctl.d/k8s.conf")
    }
    assert files["/etc/modules-load.d/k8s.conf"] == "overlay\nbr_netfilter"
    assert files["/etc/sysctl.d/k8s.conf"] == "\n".join(f"{key} = 1" for key in K8S_SYSCTLS)
    assert on_host(lab, "node01", "cat /etc/fstab.fleet-backup") == original_fstab
    assert "#/dev/mapper/centos-swap swap" in on_host(lab, "node01", "cat /etc/fstab")

    code, report = fleet(tmp_path, "rollout", "-i", str(lab.inventory), *CONTAINERD)
    assert code == ExitCode.OK, report
    host = by_name(report)["node01"]
    assert host["status"] == "ok", host["error"]
    assert set(node_steps(host).values()) == {"ok"}
    # What a boot would do: fstab brings no swap back, sysctl --system keeps the values.
    on_host(lab, "node01", "sudo swapon -a; sudo sysctl --system >/dev/null")
    assert prereq_state(lab, "node01") == after


def test_cgroup_v1_under_kubelet_135_is_refused_untouched_unless_forced(lab, tmp_path):
    lab = lab(1, defaults={"os": "centos7"})
    before = prereq_state(lab, "node01")
    argv = ("rollout", "-i", str(lab.inventory), *CONTAINERD, "--kubernetes-version", "1.35")

    code, report = fleet(tmp_path, *argv)
    host = by_name(report)["node01"]
    assert host["status"] == "skipped"
    assert "cgroup v1" in host["error"] and "failCgroupV1: false" in host["error"]
    assert "kubelet is configured to not run on a host using cgroup v1" in host["error"]
    assert "--force" in host["error"]
    assert code == ExitCode.HOST_FAILURES  # a refused host is not a compliant one
    assert prereq_state(lab, "node01") == before
    assert (
        on_host(lab, "node01", "rpm -q containerd.io") == "package containerd.io is not installed"
    )

    code, report = fleet(tmp_path, *argv, "--force")
    assert code == ExitCode.OK, report
    host = by_name(report)["node01"]
    assert host["status"] == "changed", host["error"]
    assert node_steps(host)["SystemVerification"] == "ok"
    assert prereq_state(lab, "node01")["selinux"] == "Permissive\nSELINUX=permissive"


def test_a_cgroup_v2_host_is_not_refused(lab, tmp_path):
    lab = lab(1, defaults={"os": "rocky9", "swap": "off", "selinux": "disabled"})
    argv = ("plan", "-i", str(lab.inventory), *CONTAINERD, "--kubernetes-version", "1.35")
    code, report = fleet(tmp_path, *argv)
    assert code == ExitCode.OK, report
    steps = node_steps(by_name(report)["node01"])
    assert steps["SystemVerification"] == "ok" and steps["Swap"] == "ok"
    assert steps["selinux"] == "ok" and steps["kernel_modules"] == "changed"


def test_docker_profile_runs_them_only_when_asked_and_plan_changes_nothing(lab, tmp_path):
    lab = lab(1, defaults={"os": "centos7"})
    before = prereq_state(lab, "node01")
    code, report = fleet(tmp_path, "plan", "-i", str(lab.inventory))
    assert code == ExitCode.OK, report
    assert node_steps(by_name(report)["node01"]) == {}  # the reference sequence, unchanged
    code, report = fleet(tmp_path, "plan", "-i", str(lab.inventory), "--node-prereqs", "true")
    assert code == ExitCode.OK, report
    host = by_name(report)["node01"]
    assert [s["name"] for s in host["steps"]][: len(NODE_STEPS) + 1] == ["preflight", *NODE_STEPS]
    planned = {s["name"]: s for s in host["steps"]}
    assert planned["Swap"]["status"] == "changed"
    assert planned["Swap"]["message"].startswith("would turn off swap on /dev/dm-1")
    assert "+#/dev/mapper/centos-swap" in planned["Swap"]["diff"]
    assert prereq_state(lab, "node01") == before
