#!/usr/bin/env bash
# The README's first command (`npm start`): Konstruct on one machine, no cluster, no Docker.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

# shellcheck source=scripts/lib/setup.sh
source scripts/lib/setup.sh

step "local control plane (kube-apiserver, etcd)"
# The operator runs against a real kube-apiserver when one can be built here (Go is needed);
# the first build takes several minutes (its output goes to .data/logs), later starts reuse it.
if command -v go >/dev/null 2>&1; then
  bash scripts/build-control-plane.sh || echo "could not build the control plane; the operator's reconcile functions will read examples/ directly" >&2
else
  echo "Go is not installed: the operator's reconcile functions will read examples/ directly" >&2
fi

step "migrations"
# The same default passwords as the tests' (test/src/database.ts): konstruct_app and
# konstruct_operator are each one role for the whole local server, so both must set them alike.
role_url() {
  node -e 'const u = new URL(process.argv[1]); u.username = process.argv[2]; u.password = process.argv[3]; console.log(u.toString())' \
    "$DATABASE_ADMIN_URL" "$1" "$2"
}
app_url="$(role_url konstruct_app "${KONSTRUCT_APP_PASSWORD:-konstruct-app-dev}")"
operator_url="$(role_url konstruct_operator "${KONSTRUCT_OPERATOR_PASSWORD:-konstruct-operator-dev}")"
DATABASE_URL="$app_url" DATABASE_OPERATOR_URL="$operator_url" node migrations/src/main.ts

export DATABASE_URL="$app_url"
# The operator connects as konstruct_operator, as in a cluster, never as the admin.
export DATABASE_OPERATOR_URL="$operator_url"
exec node scripts/local/start.ts "$@"
