# shellcheck shell=bash
# One progress line for a slow, chatty set-up step (apt-get, npm ci, go build) instead of its
# hundreds of lines: the output goes to a log file under .data/logs (git-ignored), and only
# when the step fails is the file's path and its end printed. Source it; errors go to stderr.
#
#   run_logged NAME DESCRIPTION COMMAND [ARGS...]
#
# prints "DESCRIPTION… done in 12s", appends COMMAND's output to .data/logs/NAME.log, and
# returns COMMAND's exit status.

_konstruct_logged_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"

run_logged() {
  local name="$1" what="$2"
  shift 2
  local log="$_konstruct_logged_root/.data/logs/$name.log" shown=".data/logs/$name.log" started=$SECONDS status=0
  mkdir -p "$(dirname "$log")"
  touch "$log"
  # Where this run's output starts: the log keeps earlier runs, the failure shows only this one.
  local offset
  offset="$(wc -c <"$log")"
  printf '=== %s: %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$*" >>"$log"
  printf '%s (output in %s)… ' "$what" "$shown" >&2
  "$@" </dev/null >>"$log" 2>&1 || status=$?
  if [ "$status" -eq 0 ]; then
    printf 'done in %ss\n' "$((SECONDS - started))" >&2
    return 0
  fi
  printf 'failed (exit status %s) after %ss\n' "$status" "$((SECONDS - started))" >&2
  printf 'The last lines of %s:\n' "$shown" >&2
  tail -c "+$((offset + 1))" "$log" | tail -n 30 | sed 's/^/  /' >&2
  printf '(the whole output is in %s)\n' "$shown" >&2
  return "$status"
}
