"""kubeadm's node prerequisites as idempotent steps: cgroups, swap, modules, sysctls, SELinux.

``kubeadm join`` runs preflight checks on a node and the kubelet has rules of its own;
these steps make a host pass them before it is joined.  Where kubeadm has a check for the
same thing the step carries its name (``Name()`` in kubernetes/kubernetes
``cmd/kubeadm/app/preflight/checks.go``), so ``[ERROR FileContent--proc-sys-net-ipv4-ip_forward]``
in kubeadm's output points at the fleet step of that name.  The steps run when the
``node_prereqs`` setting asks for them: ``auto`` (the default) is on with the containerd
runtime and off with docker, so the reference Docker sequence stays as it was.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from fleet import nodeconf
from fleet.nodefacts import (
    FSTAB,
    MODULES,
    MODULES_CONF,
    SELINUX_CONFIG,
    SYSCTL_CONF,
    parse_selinux_config,
    parse_sysctl_conf,
)
from fleet.settings import Settings
from fleet.steps.base import Action, Check, Step, StepContext

# The kubelet refuses cgroup v1 from this release on unless its configuration says
# failCgroupV1: false (KEP-5573, kubernetes/kubernetes#134298: the default turned true
# in pkg/kubelet/apis/config/v1beta1/defaults.go; the refusal is
# pkg/kubelet/apis/config/validation/validation_linux.go validateKubeletOSConfiguration).
CGROUP_V1_REFUSED_FROM = (1, 35)
KUBELET_CGROUP_V1_ERROR = "kubelet is configured to not run on a host using cgroup v1"


def wanted(settings: Settings) -> bool:
    """``node_prereqs``: auto is on with the containerd runtime, off with docker."""
    if settings.node_prereqs == "auto":
        return settings.runtime == "containerd"
    return settings.node_prereqs == "true"


def _not_wanted(settings: Settings) -> Check | None:
    if wanted(settings):
        return None
    if settings.node_prereqs == "auto":
        return Check.skip(
            f"node prerequisites not asked for (node_prereqs auto is off with the "
            f"{settings.runtime} runtime)"
        )
    return Check.skip("node prerequisites off (node_prereqs: false)")


def kubernetes_minor(version: str | None) -> tuple[int, int] | None:
    """(major, minor) of ``1.35``, ``v1.35.2``, ``1.35.0-rc.1``; None when not given."""
    match = re.match(r"v?(\d+)\.(\d+)", version or "")
    return (int(match.group(1)), int(match.group(2))) if match else None


@dataclass(frozen=True)
class CgroupVersion:
    """cgroup v2, or v1 only with a kubelet that still starts there.

    kubeadm's ``SystemVerification`` check runs the cgroups validator
    (k8s.io/system-validators): a warning on cgroup v1 since 1.31 (system-validators
    #38), an error for a 1.35+ kubelet since system-validators 1.12.1 (kubernetes
    #134744), and the kubelet 1.35+ itself exits there (see
    :data:`CGROUP_V1_REFUSED_FROM`).  A host refused here is left untouched: this is
    the first of the node steps.
    """

    name: str = "SystemVerification"

    def check(self, ctx: StepContext) -> Check:
        off = _not_wanted(ctx.settings)
        if off:
            return off
        node = ctx.facts.node
        if node.cgroup_version == 2:
            return Check.ok("cgroup v2 (/sys/fs/cgroup is cgroup2fs)")
        if node.cgroup_version is None:
            shown = node.cgroup_fs or "not reported"
            return Check.ok(f"cgroup version unknown (/sys/fs/cgroup: {shown})")
        version = ctx.settings.kubernetes_version
        minor = kubernetes_minor(version)
        if minor is None or minor < CGROUP_V1_REFUSED_FROM:
            return Check.ok(
                "cgroup v1 (/sys/fs/cgroup is tmpfs): the kubelet refuses it from 1.35 "
                "unless failCgroupV1: false"
            )
        reason = (
            f"cgroup v1 (/sys/fs/cgroup is tmpfs): the kubelet {version} will not start here "
            f"('{KUBELET_CGROUP_V1_ERROR}') unless its configuration sets failCgroupV1: false"
        )
        if ctx.force:
            return Check.ok(
                reason + " (proceeding: --force; kubeadm join will also need "
                "--ignore-preflight-errors=SystemVerification)"
            )
        return Check.refuse(
            reason + "; boot with cgroup v2 (systemd.unified_cgroup_hierarchy=1), or set "
            "failCgroupV1: false and re-run with --force"
        )


@dataclass(frozen=True)
class Swap:
    """Swap off now and at boot: the kubelet refuses to start with swap on (failSwapOn).

    kubeadm's ``Swap`` check reads /proc/swaps and has only warned since 1.22; the
    kubelet is what fails.  Left alone when the user's kubelet allows swap.
    """

    name: str = "Swap"

    def check(self, ctx: StepContext) -> Check:
        off = _not_wanted(ctx.settings)
        if off:
            return off
        if not ctx.settings.kubelet_fail_swap_on:
            return Check.skip("swap left as it is (kubelet_fail_swap_on: false)")
        node = ctx.facts.node
        lines = nodeconf.fstab_swap_lines(node.fstab or "")
        if not node.swaps and not lines:
            return Check.ok("no swap in use or in /etc/fstab")
        actions, said = [], []
        if node.swaps:
            said.append(f"turn off swap on {', '.join(node.swaps)}")
            actions.append(Action("swapoff -a", "swapoff -a"))
        diff = ""
        if lines:
            old = node.fstab or ""
            new = nodeconf.comment_out_swap(old)
            said.append(f"comment out {len(lines)} swap line(s) in {FSTAB}")
            actions.append(
                Action(
                    f"comment out swap in {FSTAB} (backup {FSTAB}{nodeconf.BACKUP_SUFFIX})",
                    nodeconf.write_file_command(FSTAB),
                    stdin=new.encode(),
                )
            )
            diff = nodeconf.unified_diff(FSTAB, old, new)
        return Check.change("; ".join(said), *actions, diff=diff)


@dataclass(frozen=True)
class KernelModules:
    """``overlay`` (the container runtimes' snapshotter) and ``br_netfilter`` (bridged traffic
    seen by iptables) loaded now and listed in /etc/modules-load.d for every boot.

    kubeadm has no check of its own for modules; the bridge sysctls below exist only once
    br_netfilter is loaded.  Modules built into the kernel need neither.
    """

    name: str = "kernel_modules"

    def check(self, ctx: StepContext) -> Check:
        off = _not_wanted(ctx.settings)
        if off:
            return off
        node = ctx.facts.node
        builtin = node.builtin_modules
        not_loaded = [m for m in MODULES if m not in node.modules and m not in builtin]
        persisted = node.persisted_modules()
        not_at_boot = [m for m in MODULES if m not in persisted and m not in builtin]
        if not not_loaded and not not_at_boot:
            return Check.ok(f"{' and '.join(MODULES)} loaded and loaded at boot")
        actions, said = [], []
        if not_loaded:
            said.append(f"load {', '.join(not_loaded)}")
            # -a: every name is a module; without it the second name is a parameter.
            actions.append(Action(said[-1], f"modprobe -a {' '.join(not_loaded)}"))
        diff = ""
        if not_at_boot:
            old = node.modules_load.get(MODULES_CONF.rsplit("/", 1)[-1])
            new = nodeconf.with_modules(old, not_at_boot)
            said.append(f"list {', '.join(not_at_boot)} in {MODULES_CONF}")
            actions.append(
                Action(said[-1], nodeconf.write_file_command(MODULES_CONF), stdin=new.encode())
            )
            diff = nodeconf.unified_diff(MODULES_CONF, old or "", new)
        return Check.change("; ".join(said), *actions, diff=diff)


APPLIED = "@@sysctl="


@dataclass(frozen=True)
class Sysctl:
    """One kernel parameter at 1, now and at boot, through fleet's /etc/sysctl.d/k8s.conf.

    The value is applied with ``sysctl --system``, which reads the files in the order a
    boot does, so a later file that sets the key back is found now, not after a reboot.
    """

    name: str
    key: str

    def check(self, ctx: StepContext) -> Check:
        off = _not_wanted(ctx.settings)
        if off:
            return off
        node = ctx.facts.node
        value = node.sysctl.get(self.key)
        persisted = parse_sysctl_conf(node.sysctl_conf or "").get(self.key) == "1"
        if value == "1" and persisted:
            return Check.ok(f"{self.key} = 1, set in {SYSCTL_CONF}")
        actions, diff = [], ""
        if not persisted:
            old = node.sysctl_conf
            # Earlier sysctl steps of this run wrote the same file: keep their keys.
            keys = [s.key for s in SYSCTL_STEPS if s.name in ctx.changed] + [self.key]
            new = nodeconf.with_sysctls(old, dict.fromkeys(keys, "1"))
            actions.append(
                Action(
                    f"set {self.key} = 1 in {SYSCTL_CONF}",
                    nodeconf.write_file_command(SYSCTL_CONF),
                    stdin=new.encode(),
                )
            )
            diff = nodeconf.unified_diff(SYSCTL_CONF, old or "", new)
        actions.append(
            Action("apply with sysctl --system", _apply(self.key), explain=_apply_error(self.key))
        )
        now = "missing" if value is None else value
        return Check.change(f"set {self.key} = 1 (now {now})", *actions, diff=diff)


def _apply(key: str) -> str:
    """``sysctl --system``, then the key's value as the kernel has it."""
    return f"""out=$(sysctl --system 2>&1)
v=$(sysctl -n {key} 2>&1)
echo "{APPLIED}$v"
[ "$v" = 1 ] && exit 0
printf '%s\\n' "$out" | grep -iE 'error|cannot|invalid|denied' | tail -n 1 >&2
exit 1
"""


def _apply_error(key: str) -> Callable[[str, str], str]:
    def explain(stdout: str, stderr: str) -> str:
        value = stdout.rpartition(APPLIED)[2].strip() or "unknown"
        cause = stderr.strip().splitlines()[-1] if stderr.strip() else ""
        if "No such file" in value or "cannot stat" in value:
            return f"{key} does not exist in this kernel after sysctl --system ({cause or value})"
        return (
            f"{key} is {value} after sysctl --system: a file applied after {SYSCTL_CONF} sets "
            f"it; find it with grep -rn {key} /etc/sysctl.d /run/sysctl.d /usr/lib/sysctl.d "
            "/etc/sysctl.conf" + (f" ({cause})" if cause else "")
        )

    return explain


@dataclass(frozen=True)
class Selinux:
    """SELinux permissive on EL, now (``setenforce 0``) and at boot (/etc/selinux/config).

    The kubeadm install guide asks for it so that containers can read the host file
    system pod networks need; kubeadm has no check for it.  ``disabled`` is accepted.
    """

    name: str = "selinux"

    def check(self, ctx: StepContext) -> Check:
        off = _not_wanted(ctx.settings)
        if off:
            return off
        if not ctx.facts.is_el:
            return Check.skip(f"no SELinux to set on {ctx.facts.pretty_os}")
        node = ctx.facts.node
        config = parse_selinux_config(node.selinux_config or "")
        now = node.selinux or "not installed"
        if node.selinux != "enforcing" and config != "enforcing":
            return Check.ok(f"SELinux {now}, {SELINUX_CONFIG}: {config or 'absent'}")
        actions, said, diff = [], [], ""
        if node.selinux == "enforcing":
            said.append("setenforce 0")
            actions.append(Action("setenforce 0 (permissive now)", "setenforce 0"))
        if config == "enforcing":
            old = node.selinux_config or ""
            new = nodeconf.selinux_permissive(old)
            said.append(f"SELINUX=permissive in {SELINUX_CONFIG}")
            actions.append(
                Action(said[-1], nodeconf.write_file_command(SELINUX_CONFIG), stdin=new.encode())
            )
            diff = nodeconf.unified_diff(SELINUX_CONFIG, old, new)
        return Check.change("; ".join(said), *actions, diff=diff)


# kubeadm's FileContent check names (FileContentCheck.Name(): "FileContent-" + the path
# with "/" as "-").  ip_forward is checked by join and init today (addIPv4Checks in
# checks_linux.go); the two bridge checks were removed in kubeadm 1.30
# (kubernetes/kubernetes#123464) because only some pod networks need them, and those
# still do, so fleet keeps setting them under their old names.
SYSCTL_STEPS: tuple[Sysctl, ...] = (
    Sysctl("FileContent--proc-sys-net-ipv4-ip_forward", "net.ipv4.ip_forward"),
    Sysctl(
        "FileContent--proc-sys-net-bridge-bridge-nf-call-iptables",
        "net.bridge.bridge-nf-call-iptables",
    ),
    Sysctl(
        "FileContent--proc-sys-net-bridge-bridge-nf-call-ip6tables",
        "net.bridge.bridge-nf-call-ip6tables",
    ),
)

# The cgroup check comes first so that a refused host is left untouched; modules before
# the bridge sysctls, which exist only once br_netfilter is loaded.
NODE_PREREQ_STEPS: tuple[Step, ...] = (
    CgroupVersion(),
    Swap(),
    KernelModules(),
    *SYSCTL_STEPS,
    Selinux(),
)
