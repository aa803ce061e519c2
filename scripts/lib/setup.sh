# shellcheck shell=bash
# Shared set-up of `npm start`, `npm test` and `npm run bench`: source it from the repository
# root. It puts Node >= 22 on PATH, installs npm packages when package-lock.json changed, starts
# the local PostgreSQL, Redis and NATS (scripts/servers.sh) and exports their URLs. Slow steps
# print one line each; their full output goes to .data/logs (scripts/lib/logged.sh).

step() { printf '\n\033[1m==> %s\033[0m\n' "$*" >&2; }
# shellcheck source=scripts/lib/logged.sh
source scripts/lib/logged.sh

step "Node.js"
# shellcheck source=scripts/node-env.sh
source scripts/node-env.sh
echo "node $(node --version), npm $(npm --version)" >&2

step "npm packages"
# The marker npm writes after an install tells whether node_modules matches the lock file.
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  run_logged npm-ci "installing from package-lock.json" npm ci --no-audit --no-fund
else
  echo "node_modules is up to date" >&2
fi

step "local servers (PostgreSQL, Redis, NATS)"
bash scripts/servers.sh start >/dev/null
eval "$(bash scripts/servers.sh env)"
export DATABASE_ADMIN_URL REDIS_ADMIN_URL NATS_URL
