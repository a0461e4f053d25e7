"""The simulated swapon/swapoff, modprobe/lsmod, sysctl, getenforce/setenforce and stat -f.

Each tool runs as its real wrapper in bash against a seeded host tree and is held to
the real program's texts and exit codes (the modules' docstrings name the sources).
"""

from __future__ import annotations

from tests.lab.simkit import NOBODY, ok

BRIDGE = "net.bridge.bridge-nf-call-iptables"


def test_swap_is_on_at_boot_and_swapon_a_brings_back_what_fstab_lists(make_host):
    host = make_host(os="centos7")
    summary = ok(host, "swapon -s").stdout.splitlines()
    assert summary[0].startswith("Filename\t") and summary[1].startswith("/dev/dm-1 ")
    assert "/dev/mapper/centos-swap swap" in host.file("/etc/fstab").read_text()
    ok(host, "swapoff -a")
    assert ok(host, "swapon -s").stdout.splitlines()[1:] == []
    ok(host, "swapon -a")  # a reboot: fstab still lists the swap volume
    assert "/dev/dm-1" in ok(host, "swapon -s").stdout
    ok(
        host,
        "swapoff -a && sed -i 's|^/dev/mapper/centos-swap|#&|' " + str(host.file("/etc/fstab")),
    )
    ok(host, "swapon -a")
    assert "/dev/dm-1" not in ok(host, "swapon -s").stdout


def test_swap_spec_off_and_fstab_only(make_host):
    off = make_host(os="rocky9", swap="off")
    assert ok(off, "swapon --show").stdout == ""
    assert "swap" not in off.file("/etc/fstab").read_text().split("\n", 9)[-1]
    listed = make_host(os="rocky9", swap="fstab")
    assert ok(listed, "swapon --show").stdout == ""
    assert "/dev/mapper/rl-swap swap" in listed.file("/etc/fstab").read_text()


def test_el7_swapon_has_no_show_and_swapoff_needs_root(make_host):
    host = make_host(os="centos7")
    result = host.run("swapon --show")
    assert result.returncode == 1
    assert "swapon: unrecognized option '--show'" in result.stderr
    denied = host.run("swapoff -a", as_user=NOBODY)
    assert denied.returncode == 255
    assert "swapoff: /dev/dm-1: swapoff failed: Operation not permitted" in denied.stderr
    assert "/dev/dm-1" in ok(host, "swapon -s").stdout


def test_modprobe_takes_a_second_name_as_a_parameter_unless_all(make_host):
    host = make_host(os="centos7")
    result = host.run("modprobe overlay br_netfilter")
    assert result.returncode == 1
    assert "could not insert 'overlay': Unknown symbol in module, or unknown parameter" in (
        result.stderr
    )
    assert "overlay" not in ok(host, "lsmod").stdout
    ok(host, "modprobe -a overlay br_netfilter")
    rows = {line.split()[0]: line for line in ok(host, "lsmod").stdout.splitlines()[1:]}
    assert rows["bridge"].split()[2:] == ["1", "br_netfilter"]
    assert rows["overlay"].split()[2] == "0"
    assert ok(host, "lsmod").stdout.splitlines()[0] == "Module                  Size  Used by"
    assert ok(host, "lsmod").stdout.splitlines()[1].startswith("br_netfilter ")  # newest first


def test_modprobe_of_a_missing_module_and_without_root(make_host):
    el7, el9 = make_host(os="centos7"), make_host(os="rocky9")
    assert el7.run("modprobe nosuch").stderr == "modprobe: FATAL: Module nosuch not found.\n"
    assert el9.run("modprobe nosuch").stderr == (
        "modprobe: FATAL: Module nosuch not found in directory "
        "/lib/modules/5.14.0-362.8.1.el9_3.x86_64\n"
    )
    denied = el7.run("modprobe overlay", as_user=NOBODY)
    assert denied.returncode == 1 and "Operation not permitted" in denied.stderr
    assert make_host(os="centos7", modules=["overlay"]).run("lsmod").stdout.count("overlay") == 1


def test_sysctl_reads_writes_and_knows_bridge_keys_only_with_br_netfilter(make_host):
    host = make_host(os="centos7")
    assert ok(host, "sysctl -n net.ipv4.ip_forward").stdout == "0\n"
    missing = host.run(f"sysctl {BRIDGE}")
    assert missing.returncode == 255
    assert missing.stderr == (
        "sysctl: cannot stat /proc/sys/net/bridge/bridge-nf-call-iptables: "
        "No such file or directory\n"
    )
    assert ok(host, f"sysctl -e net.ipv4.ip_forward {BRIDGE}").stdout == "net.ipv4.ip_forward = 0\n"
    ok(host, "modprobe br_netfilter")
    assert ok(host, f"sysctl {BRIDGE}").stdout == f"{BRIDGE} = 1\n"
    assert ok(host, "sysctl -w net.ipv4.ip_forward=1").stdout == "net.ipv4.ip_forward = 1\n"
    assert ok(host, "sysctl -n net/ipv4/ip_forward").stdout == "1\n"
    denied = host.run("sysctl -w net.ipv4.ip_forward=0", as_user=NOBODY)
    assert denied.returncode == 255 and 'permission denied on key "net.ipv4.ip_forward"' in (
        denied.stderr
    )


def test_sysctl_system_applies_files_in_name_order_after_the_vendors(make_host):
    host = make_host(os="centos7", sysctl={"net.ipv4.ip_forward": 0})
    ok(host, "modprobe -a br_netfilter")
    host.write("/etc/sysctl.d/k8s.conf", f"net.ipv4.ip_forward = 1\n{BRIDGE} = 1\n")
    out = ok(host, "sysctl --system").stdout.splitlines()
    assert out[0] == "* Applying /usr/lib/sysctl.d/00-system.conf ..."
    assert out.index("* Applying /etc/sysctl.d/k8s.conf ...") > out.index(f"{BRIDGE} = 0")
    assert out[-1] == "* Applying /etc/sysctl.conf ..."
    assert ok(host, f"sysctl -n net.ipv4.ip_forward {BRIDGE}").stdout == "1\n1\n"
    host.write("/etc/sysctl.d/zz-late.conf", "net.ipv4.ip_forward=0\n")
    ok(host, "sysctl --system")
    assert ok(host, "sysctl -n net.ipv4.ip_forward").stdout == "0\n"
    # Unknown keys are ignored by --system, reported by -p.
    host.write("/etc/sysctl.d/odd.conf", "net.nosuch.key = 1\n")
    assert ok(host, "sysctl --system").stderr == ""
    loaded = host.run("sysctl -p /etc/sysctl.d/odd.conf")
    assert loaded.returncode == 255 and "cannot stat /proc/sys/net/nosuch/key" in loaded.stderr


def test_selinux_mode_now_and_in_its_config(make_host):
    host = make_host(os="centos7")
    assert ok(host, "getenforce").stdout == "Enforcing\n"
    assert "\nSELINUX=enforcing\n" in host.file("/etc/selinux/config").read_text()
    assert host.run("setenforce 0", as_user=NOBODY).returncode == 1
    ok(host, "setenforce 0")
    assert ok(host, "getenforce").stdout == "Permissive\n"
    assert "\nSELINUX=enforcing\n" in host.file("/etc/selinux/config").read_text()
    bad = host.run("setenforce maybe")
    assert bad.returncode == 1 and bad.stderr.startswith("usage:  setenforce")
    disabled = make_host(os="rocky9", selinux="disabled")
    assert ok(disabled, "getenforce").stdout == "Disabled\n"
    refused = disabled.run("setenforce 0")
    assert refused.returncode == 1 and refused.stderr == "setenforce: SELinux is disabled\n"


def test_stat_names_the_cgroup_file_system_and_leaves_the_rest_to_stat(make_host):
    assert ok(make_host(os="centos7"), "stat -fc %T /sys/fs/cgroup").stdout == "tmpfs\n"
    assert ok(make_host(os="centos8"), "stat -f -c %T /sys/fs/cgroup/").stdout == "tmpfs\n"
    rocky = make_host(os="rocky9")
    assert ok(rocky, "stat --file-system --format=%T /sys/fs/cgroup").stdout == "cgroup2fs\n"
    assert ok(make_host(os="centos7", cgroup="v2"), "stat -fc %T /sys/fs/cgroup").stdout == (
        "cgroup2fs\n"
    )
    # Anything else is the machine's stat: this file's size, as coreutils prints it.
    assert ok(rocky, "stat -c %s /etc/hostname").stdout.strip().isdigit()
