#!/usr/bin/env bash
# `docker` for kind on hosts that cannot run `docker run --privileged` (their capability bounding
# set lacks CAP_SYS_RESOURCE: "unable to apply caps"). scripts/kind.sh puts it first on kind's
# PATH only there. It replaces --privileged with what kind's nodes need of it: every capability
# the host has (KONSTRUCT_KIND_CAP_BOUNDING, the CapBnd mask), unmasked /proc and /sys paths,
# no seccomp or AppArmor, all devices, /dev/kmsg for kubelet and /dev/fuse when present. Every
# other command goes to the real docker untouched.
set -euo pipefail

self="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
real=""
IFS=: read -ra dirs <<<"$PATH"
for dir in "${dirs[@]}"; do
  [ "$dir" = "$self" ] && continue
  if [ -x "$dir/docker" ]; then real="$dir/docker"; break; fi
done
[ -n "$real" ] || { echo "docker-shim: no docker on PATH besides the shim" >&2; exit 127; }

# Linux capability numbers (include/uapi/linux/capability.h), up to the last one every Docker
# engine knows: Docker 20.10 refuses PERFMON, BPF and CHECKPOINT_RESTORE (38-40) by name.
names=(CHOWN DAC_OVERRIDE DAC_READ_SEARCH FOWNER FSETID KILL SETGID SETUID SETPCAP LINUX_IMMUTABLE
  NET_BIND_SERVICE NET_BROADCAST NET_ADMIN NET_RAW IPC_LOCK IPC_OWNER SYS_MODULE SYS_RAWIO SYS_CHROOT
  SYS_PTRACE SYS_PACCT SYS_ADMIN SYS_BOOT SYS_NICE SYS_RESOURCE SYS_TIME SYS_TTY_CONFIG MKNOD LEASE
  AUDIT_WRITE AUDIT_CONTROL SETFCAP MAC_OVERRIDE MAC_ADMIN SYSLOG WAKE_ALARM BLOCK_SUSPEND AUDIT_READ)

# `docker exec --privileged` (kind runs node commands so) would ask for the missing capability
# too; without the flag the command gets the node container's capabilities, which suffice.
subcommand="${1:-}"
args=()
for arg in "$@"; do
  if [ "$arg" = "--privileged" ] && [ "$subcommand" = "exec" ]; then
    continue
  elif [ "$arg" = "--privileged" ]; then
    mask=$((0x${KONSTRUCT_KIND_CAP_BOUNDING:?}))
    for i in "${!names[@]}"; do
      (( mask >> i & 1 )) && args+=(--cap-add "${names[$i]}")
    done
    args+=(--security-opt systempaths=unconfined --security-opt seccomp=unconfined --security-opt apparmor=unconfined
      --device-cgroup-rule 'a *:* rwm' --device /dev/kmsg)
    [ -e /dev/fuse ] && args+=(--device /dev/fuse)
  else
    args+=("$arg")
  fi
done
exec "$real" "${args[@]}"
