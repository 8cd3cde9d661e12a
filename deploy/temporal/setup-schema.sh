#!/bin/sh
# Creates Temporal's two PostgreSQL databases and migrates them to the schema version that ships
# with this admin-tools image, then exits. Run by the `temporal-schema` service before the server
# starts. Safe to re-run: that is how a server upgrade gets its schema changes (bump the
# admin-tools and server tags together, then `docker compose up`).
set -eu

: "${SQL_HOST:?}" "${SQL_PORT:?}" "${SQL_USER:?}" "${SQL_PASSWORD:?}"
SCHEMA_ROOT=/etc/temporal/schema/postgresql/v12

sql() {
  temporal-sql-tool --plugin postgres12 --ep "$SQL_HOST" -p "$SQL_PORT" -u "$SQL_USER" "$@"
}

for db in temporal temporal_visibility; do
  case "$db" in
    temporal) dir="$SCHEMA_ROOT/temporal/versioned" ;;
    *) dir="$SCHEMA_ROOT/visibility/versioned" ;;
  esac
  echo "schema: database $db"
  # `create` and the 0.0 baseline fail harmlessly when they already exist (a re-run); a real
  # problem (wrong password, unreachable host) makes the update below fail and stops the stack.
  sql --db "$db" create >/dev/null 2>&1 || echo "schema: $db exists"
  sql --db "$db" setup-schema -v 0.0 >/dev/null 2>&1 || echo "schema: $db already has a baseline"
  sql --db "$db" update-schema -d "$dir"
done
echo 'schema: done'
