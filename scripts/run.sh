#!/usr/bin/env bash
#  run.sh - `make run`: the whole stack on loopback, for development.
#
#  Everything lives in $BUILD/run: the PostgreSQL cluster (pg/), the
#  development key-encryption key (kek, generated once and reused so that the
#  stored signing keys stay readable), and the logs (logs/<name>.log).
#  Ctrl-C (or SIGTERM) stops the services, then the cluster. A second run keeps
#  the data. Any OSTIARY_* variable set by the caller wins over the defaults:
#    OSTIARY_PG_PORT       55432
#    OSTIARY_HTTP_LISTEN   127.0.0.1:8080
#    OSTIARY_ISSUER        http://$OSTIARY_HTTP_LISTEN
#    OSTIARY_BUS_ENDPOINT  tcp://127.0.0.1:5555
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
BUILD=${BUILD:-build/rel}
case "$BUILD" in /*) ;; *) BUILD=$ROOT/$BUILD ;; esac
BIN=$BUILD/bin
RUN=$BUILD/run
LOGS=$RUN/logs
PG=$RUN/pg
SERVICES=(keys-svc token-svc flow-svc gateway)

say() { echo "run: $*"; }
die() {
    echo "run: $*" >&2
    exit 1
}

for name in "${SERVICES[@]}" ostiaryctl; do
    [ -x "$BIN/$name" ] || die "$BIN/$name is missing (run: make)"
done

(umask 022 && mkdir -p "$LOGS")

#  Development key-encryption key: 32 random bytes, base64url without padding.
if [ -z "${OSTIARY_KEK:-}" ]; then
    if [ ! -s "$RUN/kek" ]; then
        (umask 077 && head -c 32 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n' >"$RUN/kek")
        say "generated a development key-encryption key in $RUN/kek"
    fi
    chmod 600 "$RUN/kek"
    OSTIARY_KEK=$(cat "$RUN/kek")
fi
export OSTIARY_KEK
export OSTIARY_HTTP_LISTEN=${OSTIARY_HTTP_LISTEN:-127.0.0.1:8080}
export OSTIARY_ISSUER=${OSTIARY_ISSUER:-http://$OSTIARY_HTTP_LISTEN}
export OSTIARY_BUS_ENDPOINT=${OSTIARY_BUS_ENDPOINT:-tcp://127.0.0.1:5555}
export OSTIARY_MIGRATIONS_DIR=${OSTIARY_MIGRATIONS_DIR:-$ROOT/migrations}
PG_PORT=${OSTIARY_PG_PORT:-55432}

#  State for the cleanup: what we started, so that we stop only that.
declare -A PIDS=()
STARTED_PG=0
STOPPING=0

stop_services() {
    local name pid deadline
    for name in gateway flow-svc token-svc keys-svc; do
        pid=${PIDS[$name]:-}
        [ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null || true
    done
    deadline=$((SECONDS + 10))
    for name in "${!PIDS[@]}"; do
        pid=${PIDS[$name]}
        while kill -0 "$pid" 2>/dev/null && [ $SECONDS -lt $deadline ]; do sleep 0.1; done
        if kill -0 "$pid" 2>/dev/null; then
            say "$name (pid $pid) did not stop within 10 s: killing it"
            kill -KILL "$pid" 2>/dev/null || true
        fi
        wait "$pid" 2>/dev/null || true
        unset "PIDS[$name]"
    done
}

cleanup() {
    [ "$STOPPING" = 1 ] && return
    STOPPING=1
    trap '' INT TERM
    echo
    say "stopping the services"
    stop_services
    if [ "$STARTED_PG" = 1 ]; then
        say "stopping PostgreSQL"
        scripts/pg.sh stop "$PG" || true
    fi
    say "stopped; data kept in $RUN"
}
trap 'cleanup; exit 130' INT
trap 'cleanup; exit 143' TERM
trap 'cleanup' EXIT

say "PostgreSQL cluster in $PG (port $PG_PORT)"
scripts/pg.sh init "$PG" "$PG_PORT" >/dev/null
if ! scripts/pg.sh status "$PG"; then
    scripts/pg.sh start "$PG"
    STARTED_PG=1
fi
scripts/pg.sh bootstrap "$PG"
eval "$(scripts/pg.sh env "$PG")"

start() {
    local name=$1 db=${2:-}
    {
        echo "---- $(date -u +%Y-%m-%dT%H:%M:%SZ) run.sh starts $name"
    } >>"$LOGS/$name.log"
    if [ -n "$db" ]; then
        OSTIARY_DB=$db "$BIN/$name" >>"$LOGS/$name.log" 2>&1 </dev/null &
    else
        "$BIN/$name" >>"$LOGS/$name.log" 2>&1 </dev/null &
    fi
    PIDS[$name]=$!
}

#  Each service gets its own role's connection string and nothing else.
start keys-svc "$OSTIARY_DB_KEYS"
start token-svc "$OSTIARY_DB_TOKEN"
start flow-svc "$OSTIARY_DB_FLOW"
start gateway
unset OSTIARY_DB_TOKEN OSTIARY_DB_FLOW OSTIARY_DB_KEYS OSTIARY_TEST_DB

URL=http://$OSTIARY_HTTP_LISTEN
case "$OSTIARY_HTTP_LISTEN" in 0.0.0.0:* | \*:* | :*) URL=http://127.0.0.1:${OSTIARY_HTTP_LISTEN##*:} ;; esac

#  Status code of GET url, 000 when nothing answers. No proxies: loopback.
http_status() {
    /usr/bin/python3 - "$1" <<'EOF'
import sys, urllib.request, urllib.error
opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
try:
    print(opener.open(sys.argv[1], timeout=2).status)
except urllib.error.HTTPError as e:
    print(e.code)
except Exception:
    print("000")
EOF
}

first_dead() {
    local name
    for name in "${SERVICES[@]}"; do
        kill -0 "${PIDS[$name]}" 2>/dev/null || {
            echo "$name"
            return 0
        }
    done
    return 1
}

say "waiting for $URL/readyz"
deadline=$((SECONDS + 60))
while :; do
    if dead=$(first_dead); then
        echo "run: $dead exited during start-up; end of $LOGS/$dead.log:" >&2
        tail -n 30 "$LOGS/$dead.log" >&2 || true
        exit 1
    fi
    [ "$(http_status "$URL/readyz")" = 200 ] && break
    if [ $SECONDS -ge $deadline ]; then
        echo "run: not ready after 60 s; ends of the logs:" >&2
        for name in "${SERVICES[@]}"; do
            echo "---- $name" >&2
            tail -n 15 "$LOGS/$name.log" >&2 || true
        done
        exit 1
    fi
    sleep 0.3
done

#  The demo client and user, once ostiaryctl can manage them.
if "$BIN/ostiaryctl" clients --help >/dev/null 2>&1; then
    if "$BIN/ostiaryctl" clients seed-demo >>"$LOGS/seed.log" 2>&1 &&
        "$BIN/ostiaryctl" users seed-demo >>"$LOGS/seed.log" 2>&1; then
        say "demo client and user are in place (see $LOGS/seed.log)"
    else
        say "seeding the demo client and user failed (see $LOGS/seed.log)"
    fi
fi

cat <<EOF

  Ostiary is running.
    issuer     $OSTIARY_ISSUER
    discovery  $OSTIARY_ISSUER/.well-known/openid-configuration
    jwks       $OSTIARY_ISSUER/jwks
    bus        $OSTIARY_BUS_ENDPOINT   (try: $BIN/ostiaryctl call token.health)
    logs       $LOGS/
  Ctrl-C stops everything.

EOF

#  Stay in the foreground until interrupted or until a service dies.
while :; do
    wait -n "${PIDS[@]}" 2>/dev/null || true
    if dead=$(first_dead); then
        rc=0
        wait "${PIDS[$dead]}" 2>/dev/null || rc=$?
        unset "PIDS[$dead]"
        echo "run: $dead exited (status $rc); end of $LOGS/$dead.log:" >&2
        tail -n 20 "$LOGS/$dead.log" >&2 || true
        exit 1
    fi
done
