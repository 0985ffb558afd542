#!/bin/bash
#  The PostgreSQL container's entrypoint: on an empty $PGDATA, initdb with
#  POSTGRES_PASSWORD for the `postgres` superuser, pg_hba for
#  POSTGRES_HOST_AUTH_METHOD, then the scripts of /docker-entrypoint-initdb.d
#  (*.sh run, *.sql fed to psql) against a server listening on its socket
#  only; then the server, listening on every interface.
set -euo pipefail

if [ "${1:-}" != postgres ]; then
    exec "$@"
fi
shift
if [ ! -s "$PGDATA/PG_VERSION" ]; then
    if [ -z "${POSTGRES_PASSWORD:-}" ]; then
        echo "entrypoint: POSTGRES_PASSWORD is not set" >&2
        exit 1
    fi
    pwfile=$(mktemp)
    printf '%s\n' "$POSTGRES_PASSWORD" >"$pwfile"
    # shellcheck disable=SC2086
    initdb --username=postgres --pwfile="$pwfile" ${POSTGRES_INITDB_ARGS:-} >/dev/null
    rm -f "$pwfile"
    method=${POSTGRES_HOST_AUTH_METHOD:-scram-sha-256}
    printf 'host all all all %s\n' "$method" >>"$PGDATA/pg_hba.conf"
    pg_ctl -D "$PGDATA" -w -o "-c listen_addresses=''" start >/dev/null
    export PGUSER=postgres
    for f in /docker-entrypoint-initdb.d/*; do
        case "$f" in
            *.sh) echo "entrypoint: running $f"; bash "$f" ;;
            *.sql) echo "entrypoint: running $f"; psql -X -v ON_ERROR_STOP=1 -q -f "$f" ;;
            *) ;;
        esac
    done
    pg_ctl -D "$PGDATA" -m fast -w stop >/dev/null
    echo "entrypoint: database initialised"
fi
exec postgres -c listen_addresses='*' "$@"
