#!/usr/bin/env bash
# Builds the local control plane — a real kube-apiserver and etcd — into scripts/control-plane/bin.
#
#   scripts/build-control-plane.sh [--force]
#
# The integration tests and npm start run operators against these binaries (see scripts/control-plane/src/control-plane.ts)
# because the build machines have no Docker for kind. Both come from the Go wrapper module in
# scripts/control-plane, whose go.mod pins the versions (regenerate it with
# scripts/control-plane/generate-go-mod.sh). The first build compiles Kubernetes and takes several
# minutes; Go's module and build caches make later builds take seconds, and when the binaries
# are newer than go.mod, go.sum and the sources nothing is built at all. Go's output (hundreds
# of `go: downloading` lines on a first build) goes to .data/logs/build-control-plane.log, whose
# end is printed when a build fails.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=scripts/lib/logged.sh
source "$root/scripts/lib/logged.sh"
module="$root/scripts/control-plane"
bin="$module/bin"

force=false
case "${1:-}" in
  "") ;;
  --force) force=true ;;
  *) echo "usage: $0 [--force]" >&2; exit 2 ;;
esac

say() { echo "build-control-plane: $*" >&2; }
die() { say "$*"; exit 1; }

command -v go >/dev/null 2>&1 ||
  die "go is not on PATH; install Go (the version on the 'go' line of scripts/control-plane/go.mod or newer) and retry"
[ -f "$module/go.mod" ] || die "missing $module/go.mod; run scripts/control-plane/generate-go-mod.sh"

# Read the pinned versions from go.mod without running go, so the up-to-date check is instant.
required_version() {
  sed -nE "s#^[[:space:]]*$1[[:space:]]+(v[^[:space:]]+).*#\1#p" "$module/go.mod" | head -n1
}
k8s_version="$(required_version 'k8s\.io/kubernetes')"
etcd_version="$(required_version 'go\.etcd\.io/etcd/server/v3')"
if [ -z "$k8s_version" ] || [ -z "$etcd_version" ]; then
  die "could not read the k8s.io/kubernetes and go.etcd.io/etcd/server/v3 versions from scripts/control-plane/go.mod"
fi

up_to_date() { # up_to_date BINARY: exists and is newer than everything it is built from
  [ -x "$1" ] || return 1
  [ -z "$(find "$module/go.mod" "$module/go.sum" "$module/cmd" -newer "$1" -print -quit)" ]
}

mkdir -p "$bin"
# Two test runs started at once must not both spend minutes building, or race on the outputs.
if command -v flock >/dev/null 2>&1; then
  exec 9>"$bin/.build.lock"
  flock 9
fi

if ! $force && up_to_date "$bin/kube-apiserver" && up_to_date "$bin/etcd"; then
  say "kube-apiserver $k8s_version and etcd $etcd_version are up to date in scripts/control-plane/bin"
  exit 0
fi

# Without the version stamp /version reports v0.0.0-master, and clients that gate features on
# the server version misbehave. gitMinor is numeric for released versions: v1.36.3 -> 36.
k8s_minor="${k8s_version#v1.}"
k8s_minor="${k8s_minor%%.*}"
version_pkg="k8s.io/component-base/version"
k8s_ldflags="-s -w -X $version_pkg.gitVersion=$k8s_version -X $version_pkg.gitMajor=1 -X $version_pkg.gitMinor=$k8s_minor -X $version_pkg.gitTreeState=clean"

go_build() { # go_build NAME LDFLAGS
  (cd "$module" && CGO_ENABLED=0 GOWORK=off GOFLAGS="-mod=readonly -buildvcs=false" \
    go build -ldflags "$2" -o "$bin/.$1.partial" "./cmd/$1")
}

build() { # build NAME VERSION LDFLAGS HINT
  local name="$1" version="$2" ldflags="$3" hint="$4"
  # Build beside the target and rename, so an interrupted build never leaves a binary that
  # looks up to date.
  if ! run_logged build-control-plane "build-control-plane: building $name $version$hint" go_build "$name" "$ldflags"; then
    rm -f "$bin/.$name.partial"
    die "building $name $version failed (see above); if go.sum is out of date, run scripts/control-plane/generate-go-mod.sh"
  fi
  mv -f "$bin/.$name.partial" "$bin/$name"
}

if $force || ! up_to_date "$bin/kube-apiserver"; then
  hint=""
  [ -x "$bin/kube-apiserver" ] || hint=", which takes several minutes the first time"
  build kube-apiserver "$k8s_version" "$k8s_ldflags" "$hint"
fi
if $force || ! up_to_date "$bin/etcd"; then
  build etcd "$etcd_version" "-s -w" ""
fi

"$bin/kube-apiserver" --version >/dev/null || die "the built kube-apiserver does not run"
"$bin/etcd" --version >/dev/null || die "the built etcd does not run"
say "ready: $("$bin/kube-apiserver" --version), etcd $etcd_version in scripts/control-plane/bin"
