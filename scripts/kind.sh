#!/usr/bin/env bash
# Runs Konstruct on a local kind cluster (needs Docker, kind, kubectl, openssl and curl):
#
#   scripts/kind.sh            create or reuse the cluster, build and load the image, install,
#                              apply examples/, run the end-to-end checks
#   scripts/kind.sh --delete   delete the cluster
#
# Safe to run again: the cluster, the install Secret and every applied object are reused.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

cluster="${KIND_CLUSTER_NAME:-konstruct}"
image="konstruct:dev" # must match images.konstruct in charts/values.kind.yaml
namespace="konstruct"
host="konstruct.localtest.me"
ingress_nginx_version="${INGRESS_NGINX_VERSION:-controller-v1.12.1}"
timeout="${KIND_WAIT_TIMEOUT:-15m}"

say() { echo "kind.sh: $*" >&2; }
die() { say "$*"; exit 1; }

if [ "${1:-}" = "--delete" ]; then
  kind delete cluster --name "$cluster"
  exit 0
fi
[ $# -eq 0 ] || die "usage: $0 [--delete]"

for tool in docker kind kubectl openssl curl; do
  command -v "$tool" >/dev/null 2>&1 || die "$tool is not on PATH; install it and retry"
done
# shellcheck source=scripts/node-env.sh
source scripts/node-env.sh

if kind get clusters | grep -qx "$cluster"; then
  say "reusing kind cluster $cluster"
else
  kind create cluster --name "$cluster" --config kind-config.yaml
fi
k() { kubectl --context "kind-$cluster" "$@"; }

say "building $image and loading it into the cluster"
docker build --tag "$image" .
kind load docker-image "$image" --name "$cluster"

say "installing ingress-nginx $ingress_nginx_version"
k apply -f "https://raw.githubusercontent.com/kubernetes/ingress-nginx/$ingress_nginx_version/deploy/static/provider/kind/deploy.yaml"
k -n ingress-nginx rollout status deployment/ingress-nginx-controller --timeout="$timeout"

say "synthesizing the install with charts/values.kind.yaml"
npm run --silent synth -- --values charts/values.kind.yaml --output dist

k apply -f dist/0000-konstruct-crds.yaml
k wait --for=condition=Established crd/tenants.konstruct.io crd/agents.konstruct.io --timeout=60s

# Credentials never go into dist/: the install Secret is made here once, with random values,
# and kept on later runs so the databases' passwords stay valid.
k create namespace "$namespace" --dry-run=client -o yaml | k apply -f -
if ! k -n "$namespace" get secret konstruct >/dev/null 2>&1; then
  say "creating the install Secret with random credentials"
  k -n "$namespace" create secret generic konstruct \
    --from-literal=konstruct-secret-key="$(openssl rand -base64 32)" \
    --from-literal=slack-signing-secret="$(openssl rand -hex 16)" \
    --from-literal=postgres-admin-password="$(openssl rand -hex 24)" \
    --from-literal=postgres-app-password="$(openssl rand -hex 24)" \
    --from-literal=redis-admin-password="$(openssl rand -hex 24)" \
    --from-literal=redis-password="$(openssl rand -hex 24)"
fi
# The NATS users' passwords (charts/lib/install-secret.ts), added to a Secret made before they existed.
for user in gateway router orchestrator jetstream; do
  key="nats-$user-password"
  if [[ -z "$(k -n "$namespace" get secret konstruct -o "jsonpath={.data.$key}")" ]]; then
    k -n "$namespace" patch secret konstruct --type merge -p "{\"stringData\":{\"$key\":\"$(openssl rand -hex 24)\"}}" >/dev/null
  fi
done

k apply -f dist/

say "waiting for the data stores, the migrations and the services"
for store in postgres redis nats; do
  k -n "$namespace" rollout status "statefulset/konstruct-$store" --timeout="$timeout"
done
k -n "$namespace" wait --for=condition=Complete job -l app.kubernetes.io/component=migrate --timeout="$timeout"
k -n "$namespace" wait --for=condition=Complete job -l app.kubernetes.io/component=jetstream --timeout="$timeout"
for deployment in operator gateway router orchestrator ollama; do
  k -n "$namespace" rollout status "deployment/konstruct-$deployment" --timeout="$timeout"
done

say "applying examples/"
k apply -f examples/
k wait --for=condition=Ready tenant/acme tenant/globex --timeout=5m ||
  say "a tenant is not Ready (acme's Slack credentials are placeholders); see kubectl describe tenant"

say "end-to-end checks through the ingress"
curl_host() { curl --silent --show-error --resolve "$host:80:127.0.0.1" "$@"; }
# The webhook answers only signed requests: 401 proves ingress -> gateway -> signature check.
status="$(curl_host --output /dev/null --write-out '%{http_code}' -X POST -H 'Content-Type: application/json' \
  --data '{}' "http://$host/webhooks/slack/events")"
[ "$status" = "401" ] || die "POST /webhooks/slack/events without a signature returned $status, expected 401"
webchat="$(k get tenant globex -o jsonpath='{.status.channels[?(@.name=="web")].webhookPath}')"
[ -n "$webchat" ] || die "tenant globex has no web chat path in its status"
curl_host --fail --output /dev/null "http://$host$webchat" || die "the web chat page $webchat did not load"

if [ -d test/e2e ]; then
  say "running the end-to-end suite against the cluster"
  KONSTRUCT_BASE_URL="http://$host" KUBE_CONTEXT="kind-$cluster" npx vitest run test/e2e
fi
say "Konstruct runs on kind: http://$host$webchat (add '127.0.0.1 $host' to /etc/hosts if it does not resolve)"
