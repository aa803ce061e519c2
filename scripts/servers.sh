#!/usr/bin/env bash
# Local PostgreSQL, Redis and NATS (JetStream) on loopback for development and tests.
#
# Usage: scripts/servers.sh [start|stop|status|env|restart-redis|restart-nats|help]
#
#   start          (default) install missing Debian packages, start the three servers, wait
#                  until each is ready, print the connection URLs on stdout (KEY=value lines)
#   stop           stop the servers this script started (found through its pidfiles in .data/);
#                  a server it did not start is never touched
#   status         one line per server; exits 0 only if all three are usable
#   env            `export KEY=value` lines, for: eval "$(scripts/servers.sh env)"
#   restart-redis  stop and start the Redis this script owns, on the same port, and wait for it
#   restart-nats   the same for NATS (tests use both to prove recovery)
#
# Environment:
#   KONSTRUCT_PG_PORT            PostgreSQL port              (default 55432)
#   KONSTRUCT_REDIS_PORT         Redis port                   (default 56379)
#   KONSTRUCT_REDIS_MAXMEMORY    Redis maxmemory              (default 256mb; policy noeviction)
#   KONSTRUCT_NATS_PORT          NATS client port             (default 54222)
#   KONSTRUCT_NATS_MONITOR_PORT  NATS HTTP monitoring port    (default 58222)
#   KONSTRUCT_REUSE_SERVERS=1    when a port is already taken by a server this script did not
#                                start, use that server as-is (it must accept the credentials
#                                below) instead of failing
#   KONSTRUCT_SERVERS_TIMEOUT    seconds to wait for each server to become ready (default 60)
#
# A server this script already runs keeps its port when the variable is unset (`env` and
# `status` report the port it really uses); setting the variable to another port while it
# runs is an error: `stop` first.
#
# The default ports lie in Linux's ephemeral range, so when run as root `start` also adds
# them to net.ipv4.ip_local_reserved_ports (until reboot) lest an outgoing connection take one.
#
# Fixed development credentials (loopback only, never use them anywhere else):
#   DATABASE_ADMIN_URL=postgres://postgres:postgres@127.0.0.1:<pg port>/konstruct
#   REDIS_ADMIN_URL=redis://default:konstruct-dev@127.0.0.1:<redis port>
#   NATS_URL=nats://admin:konstruct-dev@127.0.0.1:<nats port>
# The application role (DATABASE_URL) is created by the migrations, not here. NATS requires
# authentication: besides that admin, it knows the users of services/core/src/nats/permissions.ts
# (gateway, router, orchestrator, jetstream), each allowed only its own subjects, with the
# passwords `npm start` hands the services (generated into .data/local/secrets.json, or
# $KONSTRUCT_LOCAL_DATA_DIR/secrets.json). Writing that configuration runs Node with the
# project's npm packages installed.
#
# Everything lives in the git-ignored .data/ folder of the project: .data/postgres,
# .data/redis, .data/nats, logs in .data/logs. Delete .data/ (after `stop`) to start afresh.
#
# Servers are started directly as background processes: the sandboxes and CI machines this
# runs on have no systemd, so service units are never used.

set -Eeuo pipefail

# nats-server and the PostgreSQL tools live in sbin / versioned folders that a non-login
# shell may not have on PATH.
PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"

# The project root is derived from this file's location, so the script works from any
# checkout and any current directory. -P resolves symlinks: process working directories in
# /proc are compared against these paths.
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
DATA="$ROOT/.data"
LOGS="$DATA/logs"
PG_DIR="$DATA/postgres"
REDIS_DIR="$DATA/redis"
NATS_DIR="$DATA/nats"
LOCK_FILE="$DATA/servers.lock"

HOST=127.0.0.1
PG_PORT="${KONSTRUCT_PG_PORT:-55432}"
REDIS_PORT="${KONSTRUCT_REDIS_PORT:-56379}"
NATS_PORT="${KONSTRUCT_NATS_PORT:-54222}"
NATS_MONITOR_PORT="${KONSTRUCT_NATS_MONITOR_PORT:-58222}"
REUSE="${KONSTRUCT_REUSE_SERVERS:-0}"
TIMEOUT="${KONSTRUCT_SERVERS_TIMEOUT:-60}"

PG_OS_USER=postgres # PostgreSQL refuses to run as root; the Debian package creates this user
PG_SUPERUSER=postgres
PG_PASSWORD=postgres
PG_DATABASE=konstruct
REDIS_PASSWORD=konstruct-dev
NATS_ADMIN_USER=admin
NATS_ADMIN_PASSWORD=konstruct-dev

log() { printf 'servers: %s\n' "$*" >&2; }
# shellcheck source=scripts/lib/logged.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/logged.sh"
die() {
  printf 'servers: error: %s\n' "$*" >&2
  exit 1
}

for _v in PG_PORT REDIS_PORT NATS_PORT NATS_MONITOR_PORT SERVERS_TIMEOUT; do
  _n="KONSTRUCT_$_v"
  if [[ -n "${!_n:-}" ]] && { ! [[ "${!_n}" =~ ^[0-9]+$ ]] || ((${!_n} < 1 || ${!_n} > 65535)); }; then
    die "$_n must be a number between 1 and 65535, got '${!_n}'"
  fi
done
unset _v _n

# ---------------------------------------------------------------------------------------------
# Generic helpers
# ---------------------------------------------------------------------------------------------

# Files removed when the script exits (temporary password file, temporary policy-rc.d).
CLEANUP=()
cleanup() {
  local f
  for f in "${CLEANUP[@]+"${CLEANUP[@]}"}"; do rm -f -- "$f"; done
}
trap cleanup EXIT

# True when something accepts TCP connections on 127.0.0.1:<port>. Uses bash's /dev/tcp so no
# extra tool is needed; on loopback a connect either succeeds or is refused at once.
port_open() {
  (exec 3<>"/dev/tcp/$HOST/$1") 2>/dev/null
}

# True while <pid> runs. A process that exited stays a zombie until its parent reaps it (and
# in containers whose PID 1 does not reap, forever), so the state letter is checked too.
alive() {
  local state
  state="$(cut -d' ' -f3 "/proc/$1/stat" 2>/dev/null)" && [[ -n "$state" && "$state" != Z ]]
}

# Prints the pid recorded in <pidfile> if, and only if, that process is alive, is the expected
# program (<comm>) and runs in the expected folder (<dir>). Every server started here chdirs
# into its own .data folder, so this tells our servers apart from a recycled pid or from a
# server started by somebody else (another checkout, the distribution's service, ...).
owned_pid() {
  local pidfile="$1" comm="$2" dir="$3" pid
  [[ -r "$pidfile" ]] || return 1
  pid="$(head -n 1 "$pidfile" 2>/dev/null | tr -dc '0-9')"
  [[ -n "$pid" ]] && alive "$pid" || return 1
  [[ "$(cat "/proc/$pid/comm" 2>/dev/null)" == "$comm" ]] || return 1
  [[ "$(readlink "/proc/$pid/cwd" 2>/dev/null)" == "$dir" ]] || return 1
  printf '%s\n' "$pid"
}

# Shows the end of a server log and fails. Explains the one confusing start-up failure: the
# default ports lie inside Linux's ephemeral port range (32768-60999), so an outgoing
# connection of any program may briefly hold one (e.g. in TIME_WAIT) and the bind fails.
fail_with_log() {
  local name="$1" logfile="$2" why="$3"
  log "$name $why; last lines of ${logfile#"$ROOT/"}:"
  tail -n 40 "$logfile" >&2 2>/dev/null || true
  if tail -n 40 "$logfile" 2>/dev/null | grep -qi 'address already in use'; then
    log "hint: nothing was listening on the port when we checked, so an outgoing connection of
  another program probably holds it (ports $(tr '\t' - </proc/sys/net/ipv4/ip_local_port_range) are handed
  out to outgoing connections). Retry in a minute, or pick a port outside that range."
  fi
  die "$name failed (see ${logfile#"$ROOT/"})"
}

# wait_ready <name> <logfile> <pid or ""> <ready-command...>: polls the command until it
# succeeds; fails fast when the given process exits, or after KONSTRUCT_SERVERS_TIMEOUT.
wait_ready() {
  local name="$1" logfile="$2" pid="$3"
  shift 3
  local deadline=$((SECONDS + TIMEOUT))
  until "$@"; do
    if [[ -n "$pid" ]] && ! alive "$pid"; then
      fail_with_log "$name" "$logfile" "exited during start-up"
    fi
    if ((SECONDS >= deadline)); then
      fail_with_log "$name" "$logfile" "did not become ready within ${TIMEOUT}s"
    fi
    sleep 0.2
  done
}

# launch <dir> <logfile> <command...>: runs a server in the background, in its own session
# (so a terminal's Ctrl-C or a test runner killing our process group does not take it down),
# from inside its .data folder (the working directory is how owned_pid recognises it), and
# detached from our stdin/stdout so that `$(scripts/servers.sh ...)` does not wait for it.
# Sets LAUNCHED_PID (setsid execs in place: we are not a process group leader).
launch() {
  local dir="$1" logfile="$2"
  shift 2
  (cd "$dir" && exec setsid "$@" </dev/null >>"$logfile" 2>&1 9>&-) &
  LAUNCHED_PID=$!
}

# The default ports are inside the kernel's ephemeral range, where any outgoing connection
# may be given one of them as its local port and make our bind fail. Reserving them stops
# the kernel handing them out automatically (explicit binds are unaffected). Best effort:
# needs root and a writable /proc/sys; the setting lasts until reboot.
reserve_ports() {
  local f=/proc/sys/net/ipv4/ip_local_reserved_ports cur
  ((EUID == 0)) && [[ -w "$f" ]] || return 0
  cur="$(cat "$f" 2>/dev/null)" || return 0
  printf '%s\n' "${cur:+$cur,}$PG_PORT,$REDIS_PORT,$NATS_PORT,$NATS_MONITOR_PORT" >"$f" 2>/dev/null || true
}

# Sends SIGTERM to a server we own and waits for it to exit (SIGKILL after the timeout).
stop_pid() {
  local name="$1" pid="$2" deadline=$((SECONDS + TIMEOUT))
  kill -TERM "$pid" 2>/dev/null || return 0
  while alive "$pid"; do
    if ((SECONDS >= deadline)); then
      log "$name (pid $pid) ignored SIGTERM for ${TIMEOUT}s; killing it"
      kill -KILL "$pid" 2>/dev/null || true
      deadline=$((SECONDS + 5))
    fi
    sleep 0.1
  done
}

# Explains why stop/restart leaves a server alone.
not_ours() {
  local name="$1" port="$2"
  if port_open "$port"; then
    log "$name: port $port is held by a server this script did not start; leaving it alone"
  else
    log "$name: not running"
  fi
}

# The message for a port held by a process we did not start.
port_taken() {
  local name="$1" port="$2" var="$3"
  die "$name: port $port on $HOST is already in use by a process this script did not start.
  Set $var to a free port, or KONSTRUCT_REUSE_SERVERS=1 to use that server as-is
  (it must accept the development credentials printed by '$0 env')."
}

# Serialise start/stop/restart so two test runners starting servers at once don't race.
# Servers are launched with 9>&- so they do not inherit (and hold) the lock.
take_lock() {
  mkdir -p "$DATA"
  exec 9>"$LOCK_FILE"
  flock -w $((TIMEOUT * 4)) 9 || die "another '$0' has held $LOCK_FILE for too long"
}

# ---------------------------------------------------------------------------------------------
# Packages
# ---------------------------------------------------------------------------------------------

# The newest PostgreSQL server binaries (Debian installs each major version side by side
# under /usr/lib/postgresql/<major>/bin). If the data folder already exists, the binaries of
# the major version that created it are required: a newer major cannot open it.
pg_bindir() {
  local dir ver
  if [[ -r "$PG_DIR/PG_VERSION" ]]; then
    ver="$(cat "$PG_DIR/PG_VERSION")"
    dir="/usr/lib/postgresql/$ver/bin"
    [[ -x "$dir/pg_ctl" ]] && { printf '%s\n' "$dir"; return 0; }
    return 1
  fi
  dir="$(find /usr/lib/postgresql -mindepth 3 -maxdepth 3 -path '*/bin/initdb' 2>/dev/null |
    sort -V | tail -n 1)"
  dir="${dir%/initdb}"
  [[ -n "$dir" ]] || return 1
  ver="$(basename "$(dirname "$dir")")"
  [[ "$ver" =~ ^[0-9]+$ ]] && ((ver >= 15)) || return 1
  printf '%s\n' "$dir"
}

ensure_packages() {
  local missing=()
  pg_bindir >/dev/null || missing+=(postgresql)
  command -v redis-server >/dev/null && command -v redis-cli >/dev/null || missing+=(redis-server)
  command -v nats-server >/dev/null || missing+=(nats-server)
  ((${#missing[@]} == 0)) && return 0

  [[ -r "$PG_DIR/PG_VERSION" ]] && [[ " ${missing[*]} " == *" postgresql "* ]] &&
    die ".data/postgres was created by PostgreSQL $(cat "$PG_DIR/PG_VERSION"), whose binaries are not installed; install postgresql-$(cat "$PG_DIR/PG_VERSION") or stop and delete .data/postgres"
  ((EUID == 0)) || die "missing packages (${missing[*]}); run as root or install them with apt-get"
  command -v apt-get >/dev/null || die "missing packages (${missing[*]}) and no apt-get to install them"

  # Package maintainer scripts try to start the distribution's own services (on the standard
  # ports). Debian's policy-rc.d hook lets us forbid that: exit 101 = "action not allowed".
  # Only added when absent and removed on exit, so an existing policy is left alone.
  if [[ ! -e /usr/sbin/policy-rc.d ]]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
    chmod 755 /usr/sbin/policy-rc.d
    CLEANUP+=(/usr/sbin/policy-rc.d)
  fi

  # The lock timeout waits for a concurrent apt/dpkg run instead of failing straight away.
  export DEBIAN_FRONTEND=noninteractive
  run_logged apt-get "servers: updating the package lists" apt-get -o DPkg::Lock::Timeout=300 update -qq ||
    die "apt-get update failed (see above)"
  run_logged apt-get "servers: installing ${missing[*]}" \
    apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends "${missing[@]}" ||
    die "installing ${missing[*]} failed (see above)"
  pg_bindir >/dev/null || die "PostgreSQL 15+ binaries not found under /usr/lib/postgresql after installing"
}

# ---------------------------------------------------------------------------------------------
# PostgreSQL
# ---------------------------------------------------------------------------------------------

# Runs a command as the unprivileged PostgreSQL OS user (or as ourselves when not root).
as_pg() {
  if ((EUID == 0)); then
    runuser -u "$PG_OS_USER" -- "$@"
  else
    "$@"
  fi
}

pg_pid() { owned_pid "$PG_DIR/postmaster.pid" postgres "$PG_DIR"; }
# The 4th line of postmaster.pid is the port the running server listens on.
pg_running_port() { sed -n 4p "$PG_DIR/postmaster.pid" 2>/dev/null; }
pg_ready() { "$PG_BIN/pg_isready" -q -h "$HOST" -p "$1" -t 2; }
pg_url() { printf 'postgres://%s:%s@%s:%s/%s' "$PG_SUPERUSER" "$PG_PASSWORD" "$HOST" "$1" "$PG_DATABASE"; }
# psql over TCP with the admin password; sslmode=disable overrides any PGSSLMODE in the caller.
pg_psql() {
  local port="$1"
  shift
  PGPASSWORD="$PG_PASSWORD" "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 \
    "postgresql://$PG_SUPERUSER@$HOST:$port/postgres?sslmode=disable" "$@"
}

pg_prepare() {
  if ((EUID == 0)); then
    if ! id -u "$PG_OS_USER" >/dev/null 2>&1; then
      log "creating system user $PG_OS_USER"
      useradd --system --user-group --no-create-home --home-dir /nonexistent \
        --shell /usr/sbin/nologin "$PG_OS_USER"
    fi
    runuser -u "$PG_OS_USER" -- test -x "$DATA" ||
      die "user $PG_OS_USER cannot reach $DATA (a parent folder is not world-searchable)"
  fi
  mkdir -p "$PG_DIR" "$LOGS"
  touch "$LOGS/postgres.log"
  if ((EUID == 0)); then
    # initdb and the server need to own their folder; -R only when it was created by
    # somebody else (e.g. an earlier run as another user).
    if [[ "$(stat -c %U "$PG_DIR")" != "$PG_OS_USER" ]]; then
      chown -R "$PG_OS_USER:" "$PG_DIR"
    fi
    chown "$PG_OS_USER:" "$LOGS/postgres.log"
  fi
  chmod 700 "$PG_DIR"

  [[ -r "$PG_DIR/PG_VERSION" ]] && return 0
  log "initialising PostgreSQL $(basename "$(dirname "$PG_BIN")") in .data/postgres"
  local pwfile
  pwfile="$(mktemp)"
  CLEANUP+=("$pwfile")
  printf '%s\n' "$PG_PASSWORD" >"$pwfile"
  ((EUID == 0)) && chown "$PG_OS_USER:" "$pwfile"
  # scram-sha-256 for TCP connections (the only ones: the server listens on 127.0.0.1 and
  # has no Unix socket). Locale C keeps sorting identical on every machine.
  as_pg "$PG_BIN/initdb" -D "$PG_DIR" -U "$PG_SUPERUSER" --pwfile="$pwfile" \
    --auth-host=scram-sha-256 --auth-local=scram-sha-256 \
    --encoding=UTF8 --locale=C >>"$LOGS/postgres.log" 2>&1 ||
    fail_with_log initdb "$LOGS/postgres.log" "failed"
}

start_postgres() {
  local pid port
  if pid="$(pg_pid)"; then
    port="$(pg_running_port)"
    if [[ "$port" != "$PG_PORT" ]]; then
      [[ -z "${KONSTRUCT_PG_PORT:-}" ]] ||
        die "postgres: the server this script started runs on port $port, not KONSTRUCT_PG_PORT=$PG_PORT; run '$0 stop' first to move it"
      PG_PORT="$port"
    fi
    wait_ready postgres "$LOGS/postgres.log" "" pg_ready "$PG_PORT"
    log "postgres: already running (pid $pid, port $PG_PORT)"
  elif port_open "$PG_PORT"; then
    [[ "$REUSE" == 1 ]] || port_taken postgres "$PG_PORT" KONSTRUCT_PG_PORT
    log "postgres: reusing the server already listening on port $PG_PORT (KONSTRUCT_REUSE_SERVERS=1)"
    pg_ready "$PG_PORT" || log "postgres: warning: the server on port $PG_PORT does not answer like PostgreSQL"
    return 0
  else
    pg_prepare
    # A leftover lock file whose pid is not our postmaster (crash, then pid reuse) would make
    # the server refuse to start; owned_pid has just proven it is stale.
    rm -f "$PG_DIR/postmaster.pid"
    log "postgres: starting on $HOST:$PG_PORT"
    # Listen address, port and "no Unix socket" are given on every start rather than written
    # into postgresql.conf, so KONSTRUCT_PG_PORT can change between runs and nothing can bind
    # to anything but loopback. (An empty unix_socket_directories also avoids clashing with
    # a system server's socket in /var/run/postgresql.)
    as_pg "$PG_BIN/pg_ctl" -D "$PG_DIR" -l "$LOGS/postgres.log" -w -t "$TIMEOUT" \
      -o "-p $PG_PORT -c listen_addresses=$HOST -c unix_socket_directories=" \
      start </dev/null >&2 9>&- ||
      fail_with_log postgres "$LOGS/postgres.log" "failed to start"
    wait_ready postgres "$LOGS/postgres.log" "" pg_ready "$PG_PORT"
  fi
  if [[ -z "$(pg_psql "$PG_PORT" -tAc "SELECT 1 FROM pg_database WHERE datname = '$PG_DATABASE'")" ]]; then
    log "postgres: creating database $PG_DATABASE"
    pg_psql "$PG_PORT" -c "CREATE DATABASE $PG_DATABASE"
  fi
}

stop_postgres() {
  local pid
  if pid="$(pg_pid)"; then
    log "postgres: stopping (pid $pid)"
    as_pg "$PG_BIN/pg_ctl" -D "$PG_DIR" -m fast -w -t "$TIMEOUT" stop </dev/null >&2
  else
    not_ours postgres "$PG_PORT"
  fi
}

# ---------------------------------------------------------------------------------------------
# Redis
# ---------------------------------------------------------------------------------------------

REDIS_CONF="$REDIS_DIR/redis.conf"
redis_pid() { owned_pid "$REDIS_DIR/redis.pid" redis-server "$REDIS_DIR"; }
# The port of our running server is the one in the config file it was started with.
redis_running_port() { awk '$1 == "port" { print $2 }' "$REDIS_CONF" 2>/dev/null; }
redis_url() { printf 'redis://default:%s@%s:%s' "$REDIS_PASSWORD" "$HOST" "$1"; }
redis_ready() {
  [[ "$(REDISCLI_AUTH="$REDIS_PASSWORD" timeout 5 redis-cli --no-auth-warning \
    -h "$HOST" -p "$1" ping 2>/dev/null)" == PONG ]]
}

start_redis() {
  local pid port="${1:-$REDIS_PORT}"
  if pid="$(redis_pid)"; then
    if [[ "$(redis_running_port)" != "$port" ]]; then
      [[ -z "${KONSTRUCT_REDIS_PORT:-}" ]] ||
        die "redis: the server this script started runs on port $(redis_running_port), not KONSTRUCT_REDIS_PORT=$port; run '$0 stop' first to move it"
      port="$(redis_running_port)"
    fi
    wait_ready redis "$LOGS/redis.log" "" redis_ready "$port"
    log "redis: already running (pid $pid, port $port)"
    return 0
  fi
  if port_open "$port"; then
    [[ "$REUSE" == 1 ]] || port_taken redis "$port" KONSTRUCT_REDIS_PORT
    log "redis: reusing the server already listening on port $port (KONSTRUCT_REUSE_SERVERS=1)"
    redis_ready "$port" || log "redis: warning: the server on port $port does not answer PING with the development password"
    return 0
  fi
  mkdir -p "$REDIS_DIR" "$LOGS"
  rm -f "$REDIS_DIR/redis.pid"
  # Written on every start so the port follows KONSTRUCT_REDIS_PORT. The password makes the
  # `default` user the admin the operator uses to create per-tenant ACL users; those users are
  # deliberately not persisted (no aclfile): Redis forgets them on restart, as in production,
  # and the operator must re-create them. The append-only file keeps the data across restarts.
  (
    umask 077 # the file holds the password
    cat >"$REDIS_CONF"
  ) <<EOF
# Generated by scripts/servers.sh on every start; edits are overwritten.
bind $HOST
port $port
protected-mode yes
daemonize no
pidfile "$REDIS_DIR/redis.pid"
logfile "$LOGS/redis.log"
dir "$REDIS_DIR"
save ""
appendonly yes
appendfsync everysec
requirepass $REDIS_PASSWORD
# Bounded, and full means writes fail rather than keys being evicted (an evicted idempotency
# record is a second reply): the chart's policy, see REDIS_MAXMEMORY_POLICY in charts/lib/redis.ts.
maxmemory ${KONSTRUCT_REDIS_MAXMEMORY:-256mb}
maxmemory-policy noeviction
EOF
  log "redis: starting on $HOST:$port"
  # Not Redis's own daemonize: its forked child would fail to bind after the parent already
  # reported success, and we'd only notice at the timeout.
  launch "$REDIS_DIR" "$LOGS/redis.log" redis-server "$REDIS_CONF"
  wait_ready redis "$LOGS/redis.log" "$LAUNCHED_PID" redis_ready "$port"
}

stop_redis() {
  local pid
  if pid="$(redis_pid)"; then
    log "redis: stopping (pid $pid)"
    # SIGTERM makes Redis flush the append-only file and exit cleanly.
    stop_pid redis "$pid"
    rm -f "$REDIS_DIR/redis.pid"
  else
    not_ours redis "$REDIS_PORT"
  fi
}

# ---------------------------------------------------------------------------------------------
# NATS
# ---------------------------------------------------------------------------------------------

NATS_CONF="$NATS_DIR/nats.conf"
NATS_AUTH_CONF="$NATS_DIR/authorization.conf"
nats_pid() { owned_pid "$NATS_DIR/nats.pid" nats-server "$NATS_DIR"; }
nats_running_port() { sed -n 's/^listen: *"[^:]*:\([0-9]*\)".*/\1/p' "$NATS_CONF" 2>/dev/null; }
nats_running_monitor_port() { sed -n 's/^http: *"[^:]*:\([0-9]*\)".*/\1/p' "$NATS_CONF" 2>/dev/null; }
nats_url() { printf 'nats://%s:%s@%s:%s' "$NATS_ADMIN_USER" "$NATS_ADMIN_PASSWORD" "$HOST" "$1"; }
# Ready = the monitoring endpoint reports JetStream enabled (curl), or, without curl, the
# client port greets with INFO.
nats_ready() {
  local port="$1" mport="$2" line
  if command -v curl >/dev/null; then
    curl -fsS -m 2 "http://$HOST:$mport/healthz?js-enabled-only=true" >/dev/null 2>&1
  else
    (
      exec 3<>"/dev/tcp/$HOST/$port" && read -r -t 2 line <&3 && [[ "$line" == INFO* ]]
    ) 2>/dev/null
  fi
}

start_nats() {
  local pid port="${1:-$NATS_PORT}" mport="${2:-$NATS_MONITOR_PORT}"
  if pid="$(nats_pid)"; then
    if [[ "$(nats_running_port)" != "$port" || "$(nats_running_monitor_port)" != "$mport" ]]; then
      [[ -z "${KONSTRUCT_NATS_PORT:-}${KONSTRUCT_NATS_MONITOR_PORT:-}" ]] ||
        die "nats: the server this script started runs on ports $(nats_running_port)/$(nats_running_monitor_port), not $port/$mport; run '$0 stop' first to move it"
      port="$(nats_running_port)" mport="$(nats_running_monitor_port)"
    fi
    wait_ready nats "$LOGS/nats.log" "" nats_ready "$port" "$mport"
    log "nats: already running (pid $pid, port $port)"
    return 0
  fi
  if port_open "$port"; then
    [[ "$REUSE" == 1 ]] || port_taken nats "$port" KONSTRUCT_NATS_PORT
    log "nats: reusing the server already listening on port $port (KONSTRUCT_REUSE_SERVERS=1)"
    return 0
  fi
  port_open "$mport" && die "nats: monitoring port $mport on $HOST is already in use by a process this script did not start; set KONSTRUCT_NATS_MONITOR_PORT to a free port"
  mkdir -p "$NATS_DIR" "$LOGS"
  rm -f "$NATS_DIR/nats.pid"
  write_nats_authorization
  # JetStream keeps streams and consumers under .data/nats/jetstream across restarts.
  cat >"$NATS_CONF" <<EOF
# Generated by scripts/servers.sh on every start; edits are overwritten.
server_name: "konstruct-dev"
listen: "$HOST:$port"
http: "$HOST:$mport"
pid_file: "$NATS_DIR/nats.pid"
log_file: "$LOGS/nats.log"
jetstream {
  store_dir: "$NATS_DIR"
}
# Users and permissions, generated from services/core's table (relative to this file).
include "$(basename "$NATS_AUTH_CONF")"
EOF
  log "nats: starting on $HOST:$port (monitoring $HOST:$mport)"
  # nats-server writes its own log file; stdout/stderr only get errors from before that.
  launch "$NATS_DIR" "$LOGS/nats.log" nats-server -c "$NATS_CONF"
  wait_ready nats "$LOGS/nats.log" "$LAUNCHED_PID" nats_ready "$port" "$mport"
}

# The users and their permissions come from one table in services/core, which also gives the
# chart its NATS configuration; Node prints the block (scripts/local/nats-authorization.ts).
write_nats_authorization() {
  if ! command -v node >/dev/null || (($(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0) < 22)); then
    # shellcheck source=scripts/node-env.sh
    source "$ROOT/scripts/node-env.sh" >&2 || die "nats: Node.js >= 22 is needed to write the NATS users"
  fi
  [[ -d "$ROOT/node_modules/@konstruct/core" ]] ||
    die "nats: the NATS users are generated from services/core, whose npm packages are not installed; run 'npm ci' first"
  local out
  out="$(NATS_ADMIN_USER="$NATS_ADMIN_USER" NATS_ADMIN_PASSWORD="$NATS_ADMIN_PASSWORD" \
    node "$ROOT/scripts/local/nats-authorization.ts")" || die "nats: writing the NATS users failed (see above)"
  (
    umask 077 # the file holds the passwords
    printf '%s\n' "$out" >"$NATS_AUTH_CONF"
  )
}

stop_nats() {
  local pid
  if pid="$(nats_pid)"; then
    log "nats: stopping (pid $pid)"
    stop_pid nats "$pid"
    rm -f "$NATS_DIR/nats.pid"
  else
    not_ours nats "$NATS_PORT"
  fi
}

# ---------------------------------------------------------------------------------------------
# Subcommands
# ---------------------------------------------------------------------------------------------

# Ports to report: those of the servers we run (they may have been started with other
# KONSTRUCT_*_PORT values), otherwise the configured ones.
effective_ports() {
  EFF_PG_PORT="$PG_PORT" EFF_REDIS_PORT="$REDIS_PORT" EFF_NATS_PORT="$NATS_PORT"
  if pg_pid >/dev/null; then EFF_PG_PORT="$(pg_running_port)"; fi
  if redis_pid >/dev/null; then EFF_REDIS_PORT="$(redis_running_port)"; fi
  if nats_pid >/dev/null; then EFF_NATS_PORT="$(nats_running_port)"; fi
}

print_urls() {
  effective_ports
  printf 'DATABASE_ADMIN_URL=%s\n' "$(pg_url "$EFF_PG_PORT")"
  printf 'REDIS_ADMIN_URL=%s\n' "$(redis_url "$EFF_REDIS_PORT")"
  printf 'NATS_URL=%s\n' "$(nats_url "$EFF_NATS_PORT")"
}

cmd_start() {
  ensure_packages
  PG_BIN="$(pg_bindir)" || die "no usable PostgreSQL binaries for .data/postgres"
  take_lock
  reserve_ports
  start_postgres
  start_redis
  start_nats
  print_urls
}

cmd_stop() {
  take_lock
  # pg_ctl is only needed when there is something of ours to stop.
  if pg_pid >/dev/null; then
    PG_BIN="$(pg_bindir)" || die "no PostgreSQL binaries to stop .data/postgres with"
  fi
  stop_nats
  stop_redis
  stop_postgres
}

cmd_status() {
  local ok=0 pid
  effective_ports
  # status_line <name> <pid-function> <port> <url>
  status_line() {
    if pid="$($2)"; then
      printf '%-9s running   pid %-8s %s\n' "$1" "$pid" "$4"
    elif port_open "$3"; then
      if [[ "$REUSE" == 1 ]]; then
        printf '%-9s reused    (not ours)   %s\n' "$1" "$4"
      else
        printf '%-9s foreign   port %s is taken by a server this script did not start\n' "$1" "$3"
        ok=1
      fi
    else
      printf '%-9s stopped\n' "$1"
      ok=1
    fi
  }
  status_line postgres pg_pid "$EFF_PG_PORT" "DATABASE_ADMIN_URL=$(pg_url "$EFF_PG_PORT")"
  status_line redis redis_pid "$EFF_REDIS_PORT" "REDIS_ADMIN_URL=$(redis_url "$EFF_REDIS_PORT")"
  status_line nats nats_pid "$EFF_NATS_PORT" "NATS_URL=$(nats_url "$EFF_NATS_PORT")"
  return "$ok"
}

cmd_env() {
  effective_ports
  printf 'export DATABASE_ADMIN_URL=%q\n' "$(pg_url "$EFF_PG_PORT")"
  printf 'export REDIS_ADMIN_URL=%q\n' "$(redis_url "$EFF_REDIS_PORT")"
  printf 'export NATS_URL=%q\n' "$(nats_url "$EFF_NATS_PORT")"
}

# Restarts keep the port the server was running on, so URLs held by tests stay valid.
cmd_restart_redis() {
  local port="$REDIS_PORT"
  ensure_packages
  take_lock
  reserve_ports
  if redis_pid >/dev/null; then
    port="$(redis_running_port)"
    stop_redis
  elif port_open "$port"; then
    die "redis: the server on port $port was not started by this script; refusing to restart it"
  fi
  start_redis "$port"
  printf 'REDIS_ADMIN_URL=%s\n' "$(redis_url "$port")"
}

cmd_restart_nats() {
  local port="$NATS_PORT" mport="$NATS_MONITOR_PORT"
  ensure_packages
  take_lock
  reserve_ports
  if nats_pid >/dev/null; then
    port="$(nats_running_port)"
    mport="$(nats_running_monitor_port)"
    stop_nats
  elif port_open "$port"; then
    die "nats: the server on port $port was not started by this script; refusing to restart it"
  fi
  start_nats "$port" "$mport"
  printf 'NATS_URL=%s\n' "$(nats_url "$port")"
}

usage() { sed -n '2,/^$/{s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}"; }

case "${1:-start}" in
  start) cmd_start ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  env) cmd_env ;;
  restart-redis) cmd_restart_redis ;;
  restart-nats) cmd_restart_nats ;;
  -h | --help | help) usage ;;
  *)
    usage >&2
    exit 2
    ;;
esac
