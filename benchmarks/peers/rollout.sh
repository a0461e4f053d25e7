# The reference Docker CE sequence as one idempotent script: what a careful admin
# runs with `ssh HOST 'sudo sh -s' < rollout.sh` (and parallel-ssh with the same text).
# Each part checks first and acts only when needed, like fleet's steps.
set -e
prereq="yum-utils device-mapper-persistent-data lvm2"
engine="containerd.io-1.2.13 docker-ce-19.03.11 docker-ce-cli-19.03.11"
changed=
rpm -q $prereq >/dev/null 2>&1 || yum install -y $prereq
grep -qs '^\[docker-ce-stable\]' /etc/yum.repos.d/*.repo ||
  yum-config-manager --add-repo https://download.docker.com/linux/centos/docker-ce.repo
if ! rpm -q $engine >/dev/null 2>&1; then yum install -y $engine; changed=1; fi
want='{
  "exec-opts": ["native.cgroupdriver=systemd"],
  "log-driver": "json-file",
  "log-opts": {"max-size": "100m"},
  "storage-driver": "overlay2",
  "storage-opts": ["overlay2.override_kernel_check=true"]
}'
mkdir -p /etc/docker
if [ "$(cat /etc/docker/daemon.json 2>/dev/null)" != "$want" ]; then
  printf '%s\n' "$want" > /etc/docker/daemon.json; changed=1
fi
mkdir -p /etc/systemd/system/docker.service.d
if [ -n "$changed" ] || ! systemctl is-active -q docker; then
  systemctl daemon-reload; systemctl restart docker
fi
systemctl is-enabled -q docker || systemctl enable docker
docker info --format 'verified: {{.CgroupDriver}} {{.Driver}}'
