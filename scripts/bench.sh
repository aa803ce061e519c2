#!/usr/bin/env bash
# `npm run bench`: every benchmark, each printing its figures. Not tests: nothing here fails on
# a slow machine. Run on a quiet machine; the scripts print CPU count and load beside figures.
#
#   npm run bench                  # all
#   npm run bench -- operator      # one of: operator, gateway, pipeline, replicas, portal, idle, stream
#   npm run bench -- operator-floor 10000        # the API server alone, N Tenants' writes (not in all)
#   npm run bench -- pipeline 400 10             # rate and seconds
#   npm run bench -- replicas 100 10 10          # rate, seconds, % re-sent as Slack retries
#   KONSTRUCT_BENCH_FLOOR=<dir> npm run bench -- pipeline   # the floor instrument in <dir> first,
#                                                # then the pipeline, and the ratio of CPU per message
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
  operator-floor)
    # Not in "all": the API server alone taking the first reconcile's writes for N Tenants.
    bash scripts/build-control-plane.sh
    run "API server floor: the Kubernetes writes of N new Tenants, no operator" node operator/bench/apiserver-floor.ts "${2:-1000}"
    ;;&
  all | gateway)
    run "gateway: Slack webhook ack throughput and latency vs bare fastify and Bolt" node services/gateway/bench/webhook-ack.ts
    ;;&
  all | pipeline)
    # Gateway, router and orchestrator as separate processes, as deployed; the sender, the Slack
    # Web API double and the Ollama double (0 ms) in the bench process.
    rate="${2:-200}" seconds="${3:-10}"
    floor_out=""
    if [ -n "${KONSTRUCT_BENCH_FLOOR:-}" ]; then
      floor_out="$(mktemp)"
      run "floor: the same work per message with nothing else ($KONSTRUCT_BENCH_FLOOR), $rate msg/s" \
        bash -c 'set -o pipefail; "$1/run.sh" "$2" "$3" | tee "$4"' _ "$KONSTRUCT_BENCH_FLOOR" "$rate" "$seconds" "$floor_out"
    fi
    pipeline_out="$(mktemp)"
    # A run that leaves messages unanswered exits 1; its figures are still printed, and so is the ratio.
    pipeline_status=0
    run "pipeline: signed webhook → reply posted to Slack, overhead at $rate msg/s (model time excluded)" \
      bash -c 'set -o pipefail; node test/pipeline/e2e-bench.ts "$1" "$2" | tee "$3"' _ "$rate" "$seconds" "$pipeline_out" ||
      pipeline_status=$?
    if [ -n "$floor_out" ]; then
      # CPU per message of the roles (gateway, router, orchestrator) over the floor's, as printed by each.
      floor_us="$(sed -n 's/.*CPU\/message.* roles \([0-9]*\).*/\1/p' "$floor_out")"
      platform_us="$(sed -n 's/.*CPU\/message  gateway \([0-9]*\), router \([0-9]*\), orchestrator \([0-9]*\),.*/\1 \2 \3/p' "$pipeline_out" | awk '{print $1+$2+$3}')"
      printf '\nCPU per message, gateway + router + orchestrator: platform %s µs / floor %s µs = %s× (goal ≤ 1.15×; load %s)\n' \
        "$platform_us" "$floor_us" "$(awk -v p="$platform_us" -v f="$floor_us" 'BEGIN { if (f > 0) printf "%.2f", p / f; else print "?" }')" \
        "$(cut -d' ' -f1-3 /proc/loadavg)"
      rm -f "$floor_out"
    fi
    rm -f "$pipeline_out"
    run "pipeline: CPU the conversation history write adds per message" node test/pipeline/history-bench.ts 3000 300
    [ "$pipeline_status" -eq 0 ] || exit "$pipeline_status"
    ;;&
  all | portal)
    run "portal: pages and API p50/p99 with 10,000 conversations and 200,000 messages" node services/portal/bench/pages.ts 10000 20
    ;;
  operator | gateway | pipeline) ;;
  replicas)
    run "replicas: one, then two of each service on shared durable consumers — lost, duplicated, CPU per message" \
      node test/pipeline/replicas-bench.ts "${2:-100}" "${3:-10}" "${4:-10}"
    ;;
  idle)
    run "idle memory: RSS and heap of each service ten seconds after ready" node test/pipeline/idle-memory-bench.ts
    ;;
  stream)
    # Not part of "all": visitors hold event streams open while the Ollama double writes slowly.
    run "stream: the model's first token → the web chat visitor sees it" node test/webchat/stream-bench.ts "${2:-10}" "${3:-10}"
    ;;
  *) echo "usage: npm run bench [-- operator|gateway|pipeline [rate] [seconds]|replicas [rate] [seconds] [retry%]|portal|idle|stream [visitors] [messages]]" >&2; exit 2 ;;
esac
