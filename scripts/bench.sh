#!/usr/bin/env bash
# `npm run bench`: every benchmark, each printing its figures. Not tests: nothing here fails on
# a slow machine. Run on a quiet machine; the scripts print CPU count and load beside figures.
#
#   npm run bench                  # all
#   npm run bench -- operator      # one of: operator, gateway, pipeline, portal
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
# shellcheck source=scripts/lib/setup.sh
source scripts/lib/setup.sh

which="${1:-all}"
run() { printf '\n\033[1m==> %s\033[0m\n' "$1"; shift; "$@"; }
case "$which" in
  all | operator)
    bash scripts/build-control-plane.sh
    run "operator: apply → Ready for 100 and 500 Tenants, no-op resync writes, RSS" node operator/bench/tenants.ts 100 500
    ;;&
  all | gateway)
    run "gateway: Slack webhook ack throughput and latency vs bare fastify and Bolt" node services/gateway/bench/webhook-ack.ts
    ;;&
  all | pipeline)
    # Gateway, router and orchestrator as separate processes, as deployed; the sender, the Slack
    # Web API double and the Ollama double (0 ms) in the bench process.
    run "pipeline: signed webhook → reply posted to Slack, overhead at 200 msg/s (model time excluded)" node test/pipeline/e2e-bench.ts 200 10
    run "pipeline: CPU the conversation history write adds per message" node test/pipeline/history-bench.ts 3000 300
    ;;&
  all | portal)
    run "portal: pages and API p50/p99 with 10,000 conversations and 200,000 messages" node services/portal/bench/pages.ts 10000 20
    ;;
  operator | gateway | pipeline) ;;
  *) echo "usage: npm run bench [-- operator|gateway|pipeline|portal]" >&2; exit 2 ;;
esac
