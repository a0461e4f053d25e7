# shellcheck shell=bash
# The CentOS personality of the real test hosts, shared by yum, rpm and
# yum-config-manager.  The hosts run Debian underneath: the engine's rpm names
# map to Debian's own packages (installed with the real dpkg from a local cache
# in the root file system), and the prerequisite rpms, which have no role in a
# Docker install on Debian, are only recorded as installed.

DEB_CACHE=/var/lib/fleet-real/debs
RPMDB=/var/lib/fleet-real/rpmdb
ENGINE_RPMS="containerd.io docker-ce-cli docker-ce"   # longest first where names share a prefix
PREREQ_RPMS="yum-utils device-mapper-persistent-data lvm2"

# The Debian package that carries an engine rpm (runc comes with containerd.io, as
# the containerd.io rpm bundles it).
primary_deb() {
  case $1 in
    containerd.io) echo containerd ;;
    docker-ce | docker-ce-cli) echo docker.io ;;
  esac
}
debs_of() {
  case $1 in
    containerd.io) echo "containerd runc" ;;
    docker-ce | docker-ce-cli) echo docker.io ;;
  esac
}

# Epoch, release and arch as the docker-ce repository builds them for el7
# (docker-ce 3:20.10.24-3.el7, docker-ce-cli 1:..., containerd.io 1.6.20-3.1.el7).
epoch_of() {
  case $1 in docker-ce) echo 3 ;; docker-ce-cli) echo 1 ;; *) echo 0 ;; esac
}
release_of() {
  case $1 in
    containerd.io) echo 3.1.el7 ;;
    docker-ce | docker-ce-cli) echo 3.el7 ;;
    yum-utils) echo 54.el7_8 ;;
    device-mapper-persistent-data) echo 3.el7_9.2 ;;
    lvm2) echo 6.el7_9.5 ;;
  esac
}
arch_of() {
  case $1 in yum-utils) echo noarch ;; *) echo x86_64 ;; esac
}
prereq_version() {
  case $1 in
    yum-utils) echo 1.1.31 ;;
    device-mapper-persistent-data) echo 0.8.5 ;;
    lvm2) echo 2.02.187 ;;
  esac
}

is_engine_rpm() { case " $ENGINE_RPMS " in *" $1 "*) return 0 ;; esac; return 1; }
is_prereq_rpm() { case " $PREREQ_RPMS " in *" $1 "*) return 0 ;; esac; return 1; }

# Debian version -> upstream version: 20.10.24+dfsg1-1+deb12u1+b6 -> 20.10.24,
# 1.6.20~ds1-1+deb12u3 -> 1.6.20, 1:2.3-4 -> 2.3.
upstream() {
  local v=${1#*:}
  echo "${v%%[-+~]*}"
}

# The installed Debian version of a package, or nothing.
deb_installed() {
  dpkg-query -W -f='${db:Status-Status} ${Version}\n' "$1" 2>/dev/null | awk '$1 == "installed" { print $2 }'
}

# The cached .deb file of a Debian package, or nothing.
cached_deb() {
  local f
  for f in "$DEB_CACHE/$1"_*.deb; do
    [ -f "$f" ] && { echo "$f"; return 0; }
  done
  return 1
}

# Split "docker-ce-3:20.10.24-3.el7" into the rpm name and the upstream version
# asked for ("" when none); prints "NAME VERSION" or nothing for unknown names.
split_arg() {
  local arg=$1 name rest
  for name in $ENGINE_RPMS $PREREQ_RPMS; do
    if [ "$arg" = "$name" ]; then
      echo "$name"
      return
    fi
    rest=${arg#"$name"-}
    if [ "$rest" != "$arg" ] && [[ $rest == [0-9]* ]]; then
      rest=${rest#*:}
      echo "$name ${rest%%-*}"
      return
    fi
  done
}

# The upstream version of the cached .deb of a Debian package.
cached_version() {
  local f
  f=$(cached_deb "$1") || return 1
  upstream "$(dpkg-deb -f "$f" Version)"
}

# "version" of an rpm as installed on this host, or nothing.
rpm_installed_version() {
  local name=$1 deb v
  if is_engine_rpm "$name"; then
    deb=$(primary_deb "$name")
    v=$(deb_installed "$deb")
    [ -n "$v" ] && upstream "$v"
  elif [ -f "$RPMDB/$name" ]; then
    cat "$RPMDB/$name"
  fi
}

# NAME-VERSION-RELEASE.ARCH of an installed rpm, as `rpm -q` prints it (no epoch).
nevra() {
  echo "$1-$2-$(release_of "$1").$(arch_of "$1")"
}
