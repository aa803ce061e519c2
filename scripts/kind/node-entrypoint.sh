#!/bin/bash
# Runs before kind's own entrypoint in the offline node image. It carries the node-side halves of
# the host workarounds (see scripts/kind.sh); each acts only when the host needs it, so on a
# normal Docker host, where kind starts the node --privileged, it changes nothing.
set -euo pipefail

# Without --privileged (the host's capability bounding set lacks CAP_SYS_RESOURCE, so
# scripts/kind.sh starts nodes with explicit capabilities instead) Docker mounts the cgroup
# hierarchy read-only; kubelet and containerd must create cgroups in it.
while read -r _ _ _ _ mountpoint options _; do
  case "$mountpoint" in /sys/fs/cgroup | /sys/fs/cgroup/*) ;; *) continue ;; esac
  case ",$options," in *,ro,*) mount -o remount,bind,rw "$mountpoint" ;; esac
done < <(grep ' /sys/fs/cgroup' /proc/self/mountinfo)

# runc cannot set a negative oom_score_adj without CAP_SYS_RESOURCE: static pods then fail with
# "can't get final child's PID from pipe: EOF". containerd's rootless setting keeps it >= its own.
cap_sys_resource=24
if (( (0x$(sed -n 's/^CapBnd:[[:space:]]*//p' /proc/self/status) >> cap_sys_resource & 1) == 0 )); then
  sed -i 's/restrict_oom_score_adj = false/restrict_oom_score_adj = true/' /etc/containerd/config.toml
fi

exec "$@"
