#!/usr/bin/env bash
# The README's test command (`npm test`): everything a fresh machine needs, then every test.
#
#   npm test                      # lint, unit and integration tests
#   npm test -- test/db           # only some files (arguments go to vitest)
#
# Installs Node 24 when the machine's Node is older than 22 (scripts/node-env.sh), npm packages
# from package-lock.json, the Debian packages and servers for PostgreSQL, Redis and NATS
# (scripts/servers.sh), and builds the test kube-apiserver and etcd from Go modules
# (scripts/build-control-plane.sh). Servers it starts keep running for the next run; stop them
# with `npm run servers -- stop`.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

# shellcheck source=scripts/lib/setup.sh
source scripts/lib/setup.sh

step "test control plane (kube-apiserver, etcd)"
bash scripts/build-control-plane.sh

step "browser for the web chat test (Debian chromium)"
bash scripts/ensure-chromium.sh >/dev/null

step "lint"
lint_status=0
npm run --silent lint || lint_status=$?

step "tests"
mkdir -p .data
report=.data/vitest-report.json
rm -f "$report"
test_status=0
npx vitest run --reporter=default --reporter=json --outputFile.json="$report" "$@" || test_status=$?

# A closing line any CI can read, whatever the runner prints above it.
if [ -f "$report" ]; then
  # shellcheck disable=SC2016 # JavaScript, not shell, inside the quotes
  node -e '
    const r = JSON.parse(require("node:fs").readFileSync(process.argv[1], "utf8"));
    const skipped = r.numPendingTests + r.numTodoTests;
    console.log(`tests: ${r.numPassedTests} passed, ${r.numFailedTests} failed, ${skipped} skipped`);
  ' "$report"
fi
if [ "$lint_status" -ne 0 ]; then
  echo "lint failed (npm run lint); run npm run format to fix formatting" >&2
fi
[ "$lint_status" -eq 0 ] && [ "$test_status" -eq 0 ]
