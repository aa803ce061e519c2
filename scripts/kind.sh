#!/usr/bin/env bash
# Runs Konstruct on a local kind cluster:
#
#   scripts/kind.sh              with Docker and internet: upstream images (kind's node image and
#                                kindnet, Traefik, Ollama, PostgreSQL, Redis, NATS), the Konstruct
#                                image built from the Dockerfile
#   scripts/kind.sh --offline    no registry at all: every image built here by
#                                scripts/kind/build.sh, with the Slack and Ollama test doubles in
#                                place of Slack and a real model (what `npm test` runs)
#   scripts/kind.sh --delete     delete the cluster
#
# It creates the cluster from kind-config.yaml (or reuses a healthy one of the same name),
# advertises a fake `nvidia.com/gpu` on the GPU-labelled worker, installs the Traefik Ingress
# controller (and offline, kube-router as the NetworkPolicy enforcer: kindnet enforces them
# online), loads the images, applies the install synthesized with charts/values.kind.yaml and
# examples/, waits for everything to be Ready and checks the Ingress. Safe to run again.
#
# Environment: KIND_CLUSTER_NAME (konstruct), KIND_HTTP_PORT (80), KIND_HTTPS_PORT (443),
# KIND_LISTEN_ADDRESS (0.0.0.0), KIND_WAIT_TIMEOUT (15m), KONSTRUCT_KIND_VALUES (a values file
# merged over charts/values.kind.yaml), KIND_RECREATE=1 (delete an existing cluster first),
# KIND_SKIP_EXAMPLES=1.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

cluster="${KIND_CLUSTER_NAME:-konstruct}"
namespace="konstruct"
host="konstruct.localtest.me"
http_port="${KIND_HTTP_PORT:-80}"
timeout="${KIND_WAIT_TIMEOUT:-15m}"
work="$root/.data/kind/$cluster"
traefik_image="docker.io/traefik:v3.6.12" # online; offline: the version in scripts/kind/traefik/go.mod
started=$SECONDS
stage_started=$SECONDS

say() { echo "kind.sh: $*" >&2; }
die() { say "$*"; exit 1; }
stage() { say "[$((SECONDS - started))s, previous step $((SECONDS - stage_started))s] $*"; stage_started=$SECONDS; }

offline=false
case "${1:-}" in
  "") ;;
  --offline) offline=true ;;
  --delete)
    command -v kind >/dev/null 2>&1 || export PATH="$root/.tools/kind/bin:$PATH"
    kind delete cluster --name "$cluster"
    exit 0
    ;;
  *) die "usage: $0 [--offline | --delete]" ;;
esac

# shellcheck source=scripts/node-env.sh
source scripts/node-env.sh
mkdir -p "$work"

declare -A IMAGES=()
if $offline; then
  stage "building the images (scripts/kind/build.sh)"
  bash scripts/kind/build.sh
  # kind, kubectl and the rest come from the same build.
  export PATH="$root/.tools/kind/bin:$PATH"
  while IFS='=' read -r key value; do IMAGES[$key]="$value"; done <.tools/kind/images.env
fi
for tool in docker kind kubectl openssl curl; do
  command -v "$tool" >/dev/null 2>&1 || die "$tool is not on PATH; install it and retry (or use --offline, which builds kind and kubectl)"
done
docker info >/dev/null 2>&1 || die "no Docker engine answers (scripts/kind/ensure-docker.sh starts one on Debian)"
k() { kubectl --context "kind-$cluster" "$@"; }

# --- host workarounds: each one only where the host needs it -----------------------------------
# 1. A host whose capability bounding set lacks CAP_SYS_RESOURCE cannot run `docker run
#    --privileged` ("unable to apply caps"), which kind uses for nodes. A `docker` shim first on
#    kind's PATH swaps --privileged for every capability the host does have, unconfined system
#    paths, seccomp and AppArmor, and access to all devices; the offline node image then
#    remounts its cgroups read-write and restricts oom_score_adj (scripts/kind/node-entrypoint.sh).
# 2. A cgroup v1 host: kubelet must be told not to refuse it (render.ts, KIND_CGROUP_V1).
cap_bounding="$(sed -n 's/^CapBnd:[[:space:]]*//p' /proc/self/status 2>/dev/null || echo)"
kind_path="$PATH"
if [ -n "$cap_bounding" ] && (( (0x$cap_bounding >> 24 & 1) == 0 )); then
  say "host workaround: no CAP_SYS_RESOURCE in the bounding set, kind nodes run without --privileged"
  export KIND_RESTRICT_OOM_SCORE_ADJ=1 KONSTRUCT_KIND_CAP_BOUNDING="$cap_bounding"
  mkdir -p "$work/shim"
  cp scripts/kind/docker-shim.sh "$work/shim/docker"
  chmod +x "$work/shim/docker"
  kind_path="$work/shim:$PATH"
fi
if [ -d /sys/fs/cgroup ] && [ ! -f /sys/fs/cgroup/cgroup.controllers ]; then
  say "host workaround: cgroup v1, kubelet runs with failCgroupV1=false"
  export KIND_CGROUP_V1=1
fi
kind_() { PATH="$kind_path" kind "$@"; }

# --- cluster ------------------------------------------------------------------------------------
stage "cluster $cluster"
export KIND_CLUSTER_NAME="$cluster" KIND_HTTP_PORT="$http_port"
node scripts/kind/render.ts config "$work/kind-config.yaml"
node_image_args=()
if $offline; then node_image_args=(--image "${IMAGES[kind-node]}"); fi
if kind get clusters 2>/dev/null | grep -qx "$cluster"; then
  if [ "${KIND_RECREATE:-}" = "1" ] || ! k get --raw /readyz >/dev/null 2>&1; then
    say "deleting the existing cluster $cluster (KIND_RECREATE=1 or its API server does not answer)"
    kind_ delete cluster --name "$cluster"
  else
    say "reusing the running cluster $cluster"
  fi
fi
if ! kind get clusters 2>/dev/null | grep -qx "$cluster"; then
  # Containers of an earlier cluster of this name that kind no longer lists hold its ports.
  stale="$(docker ps -aq --filter "label=io.x-k8s.kind.cluster=$cluster")"
  [ -z "$stale" ] || docker rm -f $stale >/dev/null
  kind_ create cluster --name "$cluster" --config "$work/kind-config.yaml" "${node_image_args[@]}" --wait 0s
fi
k wait --for=condition=Ready nodes --all --timeout="$timeout"
stage "cluster Ready"

# GPU scheduling without a GPU: the node labelled as a GPU node advertises one `nvidia.com/gpu`
# the way a device plugin would, as an extended resource in its status (kubelet keeps it).
for gpu_node in $(k get nodes -l nvidia.com/gpu.present=true -o name); do
  k patch "$gpu_node" --subresource=status --type=json \
    -p '[{"op":"add","path":"/status/capacity/nvidia.com~1gpu","value":"1"}]' >/dev/null
done

# --- images ---------------------------------------------------------------------------------------
stage "loading images"
# Each image goes only to the nodes whose pods use it: the control plane runs the Ingress
# controller, the GPU worker the model server (the Ollama double offline), the other workers the
# platform. Loading every image into every node tripled the longest step of a cold start.
nodes_labelled() { k get nodes -l "$1" -o jsonpath='{.items[*].metadata.name}'; }
control_nodes="$(nodes_labelled node-role.kubernetes.io/control-plane)"
gpu_nodes="$(nodes_labelled nvidia.com/gpu.present=true)"
platform_nodes="$(nodes_labelled '!node-role.kubernetes.io/control-plane,!nvidia.com/gpu.present')"
all_nodes="$(kind get nodes --name "$cluster" | tr '\n' ' ')"
[ -n "$platform_nodes" ] || platform_nodes="$all_nodes" # a one-node cluster runs everything
declare -A load_to=()
if $offline; then
  konstruct_image="${IMAGES[konstruct]}"
  traefik_image="${IMAGES[traefik]}"
  for image in "$konstruct_image" "${IMAGES[postgres]}" "${IMAGES[redis]}" "${IMAGES[nats]}"; do
    load_to[$image]="$platform_nodes"
  done
  load_to[${IMAGES[doubles]}]="$platform_nodes $gpu_nodes"
  load_to[$traefik_image]="${control_nodes:-$all_nodes}"
  load_to[${IMAGES[kube-router]}]="$all_nodes"
else
  konstruct_image="konstruct:dev"
  docker build --tag "$konstruct_image" .
  load_to[$konstruct_image]="$platform_nodes"
fi
reference() { # the name containerd lists for a Docker image name
  case "$1" in
    */*) case "${1%%/*}" in *.* | *:*) echo "$1" ;; *) echo "docker.io/$1" ;; esac ;;
    *) echo "docker.io/library/$1" ;;
  esac
}
for image in "${!load_to[@]}"; do
  # Offline tags are hashes of their inputs, so a node holding the name holds the image; kind
  # load would copy it again every run.
  missing=()
  for node_name in ${load_to[$image]}; do
    if ! $offline || ! docker exec "$node_name" ctr -n k8s.io images ls -q "name==$(reference "$image")" | grep -q .; then
      missing+=("$node_name")
    fi
  done
  if [ ${#missing[@]} -gt 0 ]; then
    say "loading $image into ${missing[*]}"
    kind_ load docker-image "$image" --name "$cluster" --nodes "$(IFS=,; echo "${missing[*]}")" >/dev/null
  fi
done

# --- add-ons ------------------------------------------------------------------------------------
stage "Ingress controller (Traefik)$($offline && echo ' and NetworkPolicy enforcer (kube-router)')"
sed "s#__TRAEFIK_IMAGE__#$traefik_image#" scripts/kind/manifests/traefik.yaml | k apply -f - >/dev/null
if $offline; then
  sed "s#__KUBE_ROUTER_IMAGE__#${IMAGES[kube-router]}#" scripts/kind/manifests/kube-router.yaml | k apply -f - >/dev/null
  sed "s#__DOUBLES_IMAGE__#${IMAGES[doubles]}#" scripts/kind/manifests/slack-double.yaml | k apply -f - >/dev/null
fi

# --- the install ----------------------------------------------------------------------------------
stage "synthesizing the install with charts/values.kind.yaml"
values=(charts/values.kind.yaml)
if $offline; then
  cat >"$work/values.offline.yaml" <<EOF
# Written by scripts/kind.sh --offline: the images built by scripts/kind/build.sh and the doubles.
images:
  konstruct: { repository: ${konstruct_image%:*}, tag: "${konstruct_image##*:}", pullPolicy: IfNotPresent }
  postgres: { repository: ${IMAGES[postgres]%:*}, tag: "${IMAGES[postgres]##*:}", pullPolicy: IfNotPresent }
  redis: { repository: ${IMAGES[redis]%:*}, tag: "${IMAGES[redis]##*:}", pullPolicy: IfNotPresent }
  nats: { repository: ${IMAGES[nats]%:*}, tag: "${IMAGES[nats]##*:}", pullPolicy: IfNotPresent }
  ollama: { repository: ${IMAGES[doubles]%:*}, tag: "${IMAGES[doubles]##*:}", pullPolicy: IfNotPresent }
slack:
  apiUrl: http://slack-api.konstruct-doubles.svc.cluster.local:443/api/
EOF
  values+=("$work/values.offline.yaml")
fi
[ -z "${KONSTRUCT_KIND_VALUES:-}" ] || values+=("$KONSTRUCT_KIND_VALUES")
node scripts/kind/render.ts values "$work/values.yaml" "${values[@]}"
rm -rf "$work/dist"
npm run --silent synth -- --values "$work/values.yaml" --output "$work/dist" >/dev/null

k apply -f "$work/dist/0000-konstruct-crds.yaml" >/dev/null
k wait --for=condition=Established crd/tenants.konstruct.io crd/agents.konstruct.io --timeout=60s >/dev/null

# Credentials never go into dist/: the install Secret is made here once, with random values,
# and kept on later runs so the databases' passwords stay valid.
k create namespace "$namespace" --dry-run=client -o yaml | k apply -f - >/dev/null
if ! k -n "$namespace" get secret konstruct >/dev/null 2>&1; then
  say "creating the install Secret with random credentials"
  k -n "$namespace" create secret generic konstruct \
    --from-literal=konstruct-secret-key="$(openssl rand -base64 32)" \
    --from-literal=slack-signing-secret="$(openssl rand -hex 16)" \
    --from-literal=postgres-admin-password="$(openssl rand -hex 24)" \
    --from-literal=postgres-app-password="$(openssl rand -hex 24)" \
    --from-literal=redis-admin-password="$(openssl rand -hex 24)" \
    --from-literal=redis-password="$(openssl rand -hex 24)" >/dev/null
fi
# The NATS users' passwords (charts/lib/install-secret.ts), added to a Secret made before they existed.
for user in gateway router orchestrator jetstream; do
  key="nats-$user-password"
  if [[ -z "$(k -n "$namespace" get secret konstruct -o "jsonpath={.data.$key}")" ]]; then
    k -n "$namespace" patch secret konstruct --type merge -p "{\"stringData\":{\"$key\":\"$(openssl rand -hex 24)\"}}" >/dev/null
  fi
done

stage "applying the install"
k apply -f "$work/dist/" >/dev/null

stage "waiting for the data stores, the migrations and the services"
k -n traefik rollout status deployment/traefik --timeout="$timeout"
for store in postgres redis nats; do
  k -n "$namespace" rollout status "statefulset/konstruct-$store" --timeout="$timeout"
done
k -n "$namespace" wait --for=condition=Complete job -l app.kubernetes.io/component=migrate --timeout="$timeout"
k -n "$namespace" wait --for=condition=Complete job -l app.kubernetes.io/component=jetstream --timeout="$timeout"
for deployment in operator gateway router orchestrator ollama; do
  k -n "$namespace" rollout status "deployment/konstruct-$deployment" --timeout="$timeout"
done
if $offline; then
  k -n kube-system rollout status daemonset/kube-router --timeout="$timeout"
  k -n konstruct-doubles rollout status deployment/slack-api --timeout="$timeout"
fi

if [ "${KIND_SKIP_EXAMPLES:-}" != "1" ]; then
  stage "applying examples/"
  k apply -f examples/ >/dev/null
  k wait --for=condition=Ready tenant/globex --timeout=5m >/dev/null ||
    die "tenant globex is not Ready; see kubectl --context kind-$cluster describe tenant globex"
fi

stage "checking the Ingress"
curl_host() { curl --silent --show-error --resolve "$host:$http_port:127.0.0.1" "$@"; }
# The webhook answers only signed requests: 401 proves ingress -> gateway -> signature check.
status=""
for _ in $(seq 1 30); do
  status="$(curl_host --output /dev/null --write-out '%{http_code}' -X POST -H 'Content-Type: application/json' \
    --data '{}' "http://$host:$http_port/webhooks/slack/events" || true)"
  [ "$status" = "401" ] && break
  sleep 2
done
[ "$status" = "401" ] || die "POST /webhooks/slack/events without a signature returned $status through the Ingress, expected 401"
if [ "${KIND_SKIP_EXAMPLES:-}" != "1" ]; then
  webchat="$(k get tenant globex -o jsonpath='{.status.channels[?(@.name=="web")].webhookPath}')"
  [ -n "$webchat" ] || die "tenant globex has no web chat path in its status"
  curl_host --fail --output /dev/null "http://$host:$http_port$webchat" || die "the web chat page $webchat did not load"
  say "web chat: http://$host:$http_port$webchat"
fi
stage "Konstruct runs on kind (context kind-$cluster), Ready $((SECONDS - started))s after start"
say "add '127.0.0.1 $host' to /etc/hosts if the name does not resolve"
