#!/bin/sh
# The entrypoint of the offline PostgreSQL image (Debian's server), doing what the chart relies on
# from the upstream image's: on an empty $PGDATA, initdb with $POSTGRES_PASSWORD for `postgres`,
# create $POSTGRES_DB, allow password logins over TCP; then run the server in the foreground.
set -eu
: "${PGDATA:?PGDATA must be set}" "${POSTGRES_PASSWORD:?POSTGRES_PASSWORD must be set}"
socket_dir=/var/run/postgresql
if [ ! -s "$PGDATA/PG_VERSION" ]; then
  mkdir -p "$PGDATA"
  chmod 0700 "$PGDATA"
  pwfile="$(mktemp)"
  printf '%s\n' "$POSTGRES_PASSWORD" >"$pwfile"
  initdb --username=postgres --pwfile="$pwfile" --auth-local=trust --auth-host=scram-sha-256 --encoding=UTF8 -D "$PGDATA"
  rm -f "$pwfile"
  echo "host all all all scram-sha-256" >>"$PGDATA/pg_hba.conf"
  postgres -D "$PGDATA" -c listen_addresses='' -k "$socket_dir" &
  server=$!
  until pg_isready --host="$socket_dir" --quiet; do sleep 0.2; done
  if [ -n "${POSTGRES_DB:-}" ] && [ "$POSTGRES_DB" != postgres ]; then
    psql --host="$socket_dir" --username=postgres -v ON_ERROR_STOP=1 --set=db="$POSTGRES_DB" <<'SQL'
CREATE DATABASE :"db";
SQL
  fi
  kill -INT "$server"
  wait "$server" || true
fi
exec postgres -D "$PGDATA" -c listen_addresses='*' -k "$socket_dir" "$@"
