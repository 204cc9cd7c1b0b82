#!/usr/bin/env bash
# Starts a throwaway PostgreSQL server on 127.0.0.1 for the SQL sink tests and prints the
# SQLAlchemy URL to use (export it as VNNEWS_TEST_POSTGRES_URL). Installs Debian's postgresql
# package if the server binaries are missing. The server runs as an unprivileged user from a
# temporary data directory; stop it with: pg_ctl -D "$PGDATA" stop (the script prints PGDATA).
set -euo pipefail
PORT="${VNNEWS_PG_PORT:-55432}"
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >&2
fi
PGBIN=$(dirname "$(ls /usr/lib/postgresql/*/bin/initdb | sort -V | tail -n 1)")
PGUSER_OS=vnnews-pg
id "$PGUSER_OS" >/dev/null 2>&1 || useradd --system --no-create-home "$PGUSER_OS"
PGDATA=$(mktemp -d /tmp/vnnews-pg.XXXXXX)
chown "$PGUSER_OS" "$PGDATA"
run_as() { su -s /bin/sh "$PGUSER_OS" -c "$*"; }
run_as "$PGBIN/initdb -D $PGDATA -A trust -U postgres" >/dev/null
run_as "$PGBIN/pg_ctl -D $PGDATA -l $PGDATA/server.log -w -o \"-p $PORT -k $PGDATA -c listen_addresses=127.0.0.1\" start" >&2
echo "PGDATA=$PGDATA" >&2
echo "postgresql+psycopg://postgres@127.0.0.1:$PORT/postgres"
