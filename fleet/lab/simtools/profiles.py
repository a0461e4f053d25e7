"""The operating systems a lab host can be: what each one reports about itself.

A profile is data only (release file, kernel, package manager, systemd and
cgroup generation); the tools branch on ``family`` ("el7", "el8", "el9") where
real CentOS 7, 8 and 9 differ in wording or behaviour.
"""

from __future__ import annotations

from typing import NamedTuple


class Profile(NamedTuple):
    key: str
    family: str  # el7 / el8 / el9: the docker-ce repo path and package builds
    pretty_name: str
    os_release: str
    kernel: str
    root_device: str  # what xfs_info and findmnt name as the root file system's source
    cgroup_version: int
    systemd_version: int
    release_package: tuple[str, str, str, str]  # name, epoch:version, release, arch
    releasever: str  # yum's $releasever (RHEL 7 says "7Server", which breaks the centos repo)

    @property
    def uses_dnf(self) -> bool:
        return self.family != "el7"

    @property
    def dist(self) -> str:
        return "." + self.family


# CentOS Linux 7's /etc/os-release, as the centos-release package ships it.
CENTOS7_OS_RELEASE = """NAME="CentOS Linux"
VERSION="7 (Core)"
ID="centos"
ID_LIKE="rhel fedora"
VERSION_ID="7"
PRETTY_NAME="CentOS Linux 7 (Core)"
ANSI_COLOR="0;31"
CPE_NAME="cpe:/o:centos:centos:7"
HOME_URL="https://www.centos.org/"
BUG_REPORT_URL="https://bugs.centos.org/"

CENTOS_MANTISBT_PROJECT="CentOS-7"
CENTOS_MANTISBT_PROJECT_VERSION="7"
REDHAT_SUPPORT_PRODUCT="centos"
REDHAT_SUPPORT_PRODUCT_VERSION="7"

"""

_RHEL7 = """NAME="Red Hat Enterprise Linux Server"
VERSION="7.9 (Maipo)"
ID="rhel"
ID_LIKE="fedora"
VARIANT="Server"
VARIANT_ID="server"
VERSION_ID="7.9"
PRETTY_NAME="Red Hat Enterprise Linux Server 7.9 (Maipo)"
ANSI_COLOR="0;31"
CPE_NAME="cpe:/o:redhat:enterprise_linux:7.9:GA:server"
HOME_URL="https://www.redhat.com/"
BUG_REPORT_URL="https://bugzilla.redhat.com/"

REDHAT_BUGZILLA_PRODUCT="Red Hat Enterprise Linux 7"
REDHAT_BUGZILLA_PRODUCT_VERSION=7.9
REDHAT_SUPPORT_PRODUCT="Red Hat Enterprise Linux"
REDHAT_SUPPORT_PRODUCT_VERSION="7.9"
"""

_CENTOS8 = """NAME="CentOS Linux"
VERSION="8"
ID="centos"
ID_LIKE="rhel fedora"
VERSION_ID="8"
PLATFORM_ID="platform:el8"
PRETTY_NAME="CentOS Linux 8"
ANSI_COLOR="0;31"
CPE_NAME="cpe:/o:centos:centos:8"
HOME_URL="https://centos.org/"
BUG_REPORT_URL="https://bugs.centos.org/"
CENTOS_MANTISBT_PROJECT="CentOS-8"
CENTOS_MANTISBT_PROJECT_VERSION="8"
"""

_RHEL8 = """NAME="Red Hat Enterprise Linux"
VERSION="8.4 (Ootpa)"
ID="rhel"
ID_LIKE="fedora"
VERSION_ID="8.4"
PLATFORM_ID="platform:el8"
PRETTY_NAME="Red Hat Enterprise Linux 8.4 (Ootpa)"
ANSI_COLOR="0;31"
CPE_NAME="cpe:/o:redhat:enterprise_linux:8.4:GA"
HOME_URL="https://www.redhat.com/"
DOCUMENTATION_URL="https://access.redhat.com/documentation/red_hat_enterprise_linux/8/"
BUG_REPORT_URL="https://bugzilla.redhat.com/"

REDHAT_BUGZILLA_PRODUCT="Red Hat Enterprise Linux 8"
REDHAT_BUGZILLA_PRODUCT_VERSION=8.4
REDHAT_SUPPORT_PRODUCT="Red Hat Enterprise Linux"
REDHAT_SUPPORT_PRODUCT_VERSION="8.4"
"""

_ROCKY9 = """NAME="Rocky Linux"
VERSION="9.3 (Blue Onyx)"
ID="rocky"
ID_LIKE="rhel centos fedora"
VERSION_ID="9.3"
PLATFORM_ID="platform:el9"
PRETTY_NAME="Rocky Linux 9.3 (Blue Onyx)"
ANSI_COLOR="0;32"
LOGO="fedora-logo-icon"
CPE_NAME="cpe:/o:rocky:rocky:9::baseos"
HOME_URL="https://rockylinux.org/"
BUG_REPORT_URL="https://bugs.rockylinux.org/"
SUPPORT_END="2032-05-31"
ROCKY_SUPPORT_PRODUCT="Rocky-Linux-9"
ROCKY_SUPPORT_PRODUCT_VERSION="9.3"
REDHAT_SUPPORT_PRODUCT="Rocky Linux"
REDHAT_SUPPORT_PRODUCT_VERSION="9.3"
"""

_ALMA9 = """NAME="AlmaLinux"
VERSION="9.3 (Shamrock Pampas Cat)"
ID="almalinux"
ID_LIKE="rhel centos fedora"
VERSION_ID="9.3"
PLATFORM_ID="platform:el9"
PRETTY_NAME="AlmaLinux 9.3 (Shamrock Pampas Cat)"
ANSI_COLOR="0;34"
LOGO="fedora-logo-icon"
CPE_NAME="cpe:/o:almalinux:almalinux:9::baseos"
HOME_URL="https://almalinux.org/"
DOCUMENTATION_URL="https://wiki.almalinux.org/"
BUG_REPORT_URL="https://bugs.almalinux.org/"

ALMALINUX_MANTISBT_PROJECT="AlmaLinux-9"
ALMALINUX_MANTISBT_PROJECT_VERSION="9.3"
REDHAT_SUPPORT_PRODUCT="AlmaLinux"
REDHAT_SUPPORT_PRODUCT_VERSION="9.3"
"""

_EL7_KERNEL = "3.10.0-1160.el7.x86_64"
_EL9_KERNEL = "5.14.0-362.8.1.el9_3.x86_64"

PROFILES: dict[str, Profile] = {
    p.key: p
    for p in (
        Profile(
            "centos7", "el7", "CentOS Linux 7 (Core)", CENTOS7_OS_RELEASE, _EL7_KERNEL,
            "/dev/mapper/centos-root", 1, 219,
            ("centos-release", "7", "9.2009.0.el7.centos", "x86_64"), "7",
        ),
        Profile(
            "rhel7", "el7", "Red Hat Enterprise Linux Server 7.9 (Maipo)", _RHEL7, _EL7_KERNEL,
            "/dev/mapper/rhel-root", 1, 219,
            ("redhat-release-server", "7.9", "3.el7", "x86_64"), "7Server",
        ),
        Profile(
            "centos8", "el8", "CentOS Linux 8", _CENTOS8, "4.18.0-348.el8.x86_64",
            "/dev/mapper/cl-root", 1, 239,
            ("centos-linux-release", "8.5", "1.2111.el8", "noarch"), "8",
        ),
        Profile(
            "rhel8", "el8", "Red Hat Enterprise Linux 8.4 (Ootpa)", _RHEL8,
            "4.18.0-305.el8.x86_64", "/dev/mapper/rhel-root", 1, 239,
            ("redhat-release", "8.4", "0.6.el8", "x86_64"), "8",
        ),
        Profile(
            "rocky9", "el9", "Rocky Linux 9.3 (Blue Onyx)", _ROCKY9, _EL9_KERNEL,
            "/dev/mapper/rl-root", 2, 252,
            ("rocky-release", "9.3", "1.2.el9", "noarch"), "9",
        ),
        Profile(
            "alma9", "el9", "AlmaLinux 9.3 (Shamrock Pampas Cat)", _ALMA9, _EL9_KERNEL,
            "/dev/mapper/almalinux-root", 2, 252,
            ("almalinux-release", "9.3", "1.el9", "x86_64"), "9",
        ),
    )
}  # fmt: skip


def profile_for(key: str) -> Profile:
    """The profile for a spec's ``os``; unknown names fall back to CentOS 7 (the runtime validates)."""
    return PROFILES.get(str(key).lower(), PROFILES["centos7"])


def pretty_name(os_release_text: str, fallback: str) -> str:
    """PRETTY_NAME from a release file, as dockerd reads it for ``Operating System:``."""
    for line in os_release_text.splitlines():
        if line.startswith("PRETTY_NAME="):
            return line.split("=", 1)[1].strip().strip('"')
    return fallback
