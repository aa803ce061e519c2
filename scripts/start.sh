#!/usr/bin/env bash
# The README's first command (`npm start`): Konstruct on one machine, no cluster, no Docker.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

step() { printf '\n\033[1m==> %s\033[0m\n' "$*" >&2; }

step "Node.js"
# shellcheck source=scripts/node-env.sh
source scripts/node-env.sh
echo "node $(node --version)" >&2

step "npm packages"
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund
else
  echo "node_modules is up to date" >&2
fi

step "local servers (PostgreSQL, Redis, NATS)"
bash scripts/servers.sh start >/dev/null
eval "$(bash scripts/servers.sh env)"
export DATABASE_ADMIN_URL REDIS_ADMIN_URL NATS_URL

step "migrations"
app_url="$(node -e 'const u = new URL(process.argv[1]); u.username = "konstruct_app"; u.password = process.env.KONSTRUCT_APP_PASSWORD || "konstruct-app-dev"; console.log(u.toString())' "$DATABASE_ADMIN_URL")"
DATABASE_URL="$app_url" node migrations/src/main.ts

step "running"
cat <<MSG
PostgreSQL, Redis and NATS JetStream are running on loopback with Konstruct's schema applied:
  DATABASE_ADMIN_URL=$DATABASE_ADMIN_URL
  REDIS_ADMIN_URL=$REDIS_ADMIN_URL
  NATS_URL=$NATS_URL
Stop the servers with: npm run servers -- stop
MSG
