#!/usr/bin/env bash
# Makes sure a Docker engine answers, starting one when the machine can run it:
#
#   scripts/kind/ensure-docker.sh      exit 0 when `docker info` works afterwards
#
# With a running engine (Docker Desktop, a systemd docker.service) it does nothing. On a Debian
# machine without one (the build machines: no systemd) it installs Debian's docker.io and starts
# dockerd as a plain background process, logging to .data/dockerd.log. It exits non-zero, with
# the reason on stderr, when no engine can be had; the end-to-end suite then skips.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
say() { echo "ensure-docker: $*" >&2; }

docker_answers() { docker info >/dev/null 2>&1; }

docker_answers && exit 0

if ! command -v dockerd >/dev/null 2>&1; then
  if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    say "no Docker engine answers and dockerd is not installed (needs root and apt-get to install docker.io)"
    exit 1
  fi
  say "installing Debian's docker.io"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q >/dev/null || true
  apt-get install -y -q --no-install-recommends docker.io iptables >/dev/null ||
    { say "apt-get install docker.io failed"; exit 1; }
fi
command -v docker >/dev/null 2>&1 || { say "dockerd is installed but the docker CLI is not"; exit 1; }

if [ "$(id -u)" -ne 0 ]; then
  say "no Docker engine answers and starting dockerd needs root"
  exit 1
fi

if ! pgrep -x dockerd >/dev/null 2>&1; then
  mkdir -p "$root/.data"
  say "starting dockerd in the background (log: .data/dockerd.log)"
  # setsid: the engine must outlive this script and the test run that started it.
  setsid dockerd >>"$root/.data/dockerd.log" 2>&1 </dev/null &
fi
for _ in $(seq 1 60); do
  docker_answers && { say "Docker engine $(docker version --format '{{.Server.Version}}') is up"; exit 0; }
  sleep 1
done
say "dockerd did not answer within 60 s; see .data/dockerd.log"
exit 1
