#!/usr/bin/env bash
#  run.sh - `make run`: the whole stack on loopback, for development.
#
#  Everything lives in $BUILD/run: the PostgreSQL cluster (pg/), the
#  development keys (kek and client-secret-key, generated once and reused so
#  that what they protect stays readable), and the logs (logs/<name>.log).
#  Ctrl-C (or SIGTERM) stops the services, then the cluster. A second run keeps
#  the data. Any OSTIARY_* variable set by the caller wins over the defaults:
#    OSTIARY_PG_PORT       55432
#    OSTIARY_HTTP_LISTEN   127.0.0.1:8080
#    OSTIARY_ISSUER        http://$OSTIARY_HTTP_LISTEN
#    OSTIARY_BUS_ENDPOINT  tcp://127.0.0.1:5555
#    OSTIARY_RUN_DIR       $BUILD/run/rt (keys-svc's admin socket)
#    OSTIARY_KEYS_DIRECT   the bus endpoint's port + 2 (tcp://127.0.0.1:5557): keys-svc
#                          binds it (OSTIARY_BUS_DIRECT_BIND), token-svc signs through
#                          it (OSTIARY_BUS_DIRECT=keys=...); "off": no direct endpoint
#    OSTIARY_SMTP_URL      smtp://127.0.0.1:$OSTIARY_SMTP_SINK_PORT, the local SMTP sink
#                          (scripts/smtp_sink.py, started here only when the caller
#                          did not set this), which writes every email flow-svc
#                          sends to $BUILD/run/mail/<n>.eml
#    OSTIARY_SMTP_SINK_PORT 2525
#    OSTIARY_METRICS_PORT  9464: the gateway's metrics listener (GET /metrics,
#                          docs/metrics.md) on 127.0.0.1; token-svc, flow-svc and
#                          keys-svc take the next three ports; OSTIARY_METRICS_LISTEN=off
#                          turns every listener off
#    OSTIARY_BUS_PEERS     $BUILD/run/bus/peers: the bus's CURVE keys, made once by
#                          `ostiaryctl bus keygen $BUILD/run/bus` and kept; each process
#                          gets its role's $BUILD/run/bus/<role>.key, ostiaryctl admin.key
#                          (the lines to load are in $BUILD/run/ostiaryctl.env, which
#                          $BUILD/bin/ostiaryctl loads by itself when no setting names a suite)
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

#  A development key, made once and kept (mode 600): 32 random bytes in
#  base64url without padding. Kept because what it protects is stored: the
#  signing keys (OSTIARY_KEK) and the client secrets' hashes
#  (OSTIARY_CLIENT_SECRET_KEY). A value from the caller's environment wins.
dev_key() {
    local file=$RUN/$1
    if [ ! -s "$file" ]; then
        (umask 077 && head -c 32 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n' >"$file")
        say "generated a development key in $file" >&2
    fi
    chmod 600 "$file"
    cat "$file"
}
KEK=${OSTIARY_KEK:-$(dev_key kek)}
#  The bus's development key set (proto/bus.md, "Security"): one CURVE key
#  per role, made once and kept like the keys above; a key already there is
#  never replaced.
BUS_KEYS=$RUN/bus
if [ ! -s "$BUS_KEYS/admin.key" ] || [ ! -d "$BUS_KEYS/peers/gateway" ]; then
    "$BIN/ostiaryctl" bus keygen "$BUS_KEYS" >/dev/null || die "cannot make the bus keys in $BUS_KEYS"
    say "generated the bus's development CURVE keys in $BUS_KEYS" >&2
fi
export OSTIARY_BUS_PEERS=${OSTIARY_BUS_PEERS:-$BUS_KEYS/peers}
#  ostiaryctl run from here (the seeding below) acts as the operator.
export OSTIARY_BUS_CERT=$BUS_KEYS/admin.key
CLIENT_SECRET_KEY=${OSTIARY_CLIENT_SECRET_KEY:-$(dev_key client-secret-key)}
FLOW_SECRET_KEY=${OSTIARY_FLOW_SECRET_KEY:-$(dev_key flow-secret-key)}
#  The admin console at /admin (docs/admin/console.md): its client, and the
#  key of its session cookie (the gateway's only).
CONSOLE_KEY=${OSTIARY_CONSOLE_KEY:-$(dev_key console-key)}
export OSTIARY_ADMIN_CLIENT_ID=${OSTIARY_ADMIN_CLIENT_ID:-ostiary-admin}
export OSTIARY_HTTP_LISTEN=${OSTIARY_HTTP_LISTEN:-127.0.0.1:8080}
export OSTIARY_ISSUER=${OSTIARY_ISSUER:-http://$OSTIARY_HTTP_LISTEN}
export OSTIARY_BUS_ENDPOINT=${OSTIARY_BUS_ENDPOINT:-tcp://127.0.0.1:5555}
#  token-svc reaches keys-svc's signing straight, not through the
#  broker (proto/bus.md, "Direct reads"): by default the bus port + 2;
#  OSTIARY_KEYS_DIRECT=off keeps every call on the broker.
if [ -z "${OSTIARY_KEYS_DIRECT:-}" ] && [[ $OSTIARY_BUS_ENDPOINT =~ ^tcp://(.+):([0-9]+)$ ]] &&
    [ "${BASH_REMATCH[2]}" -le 65533 ]; then
    OSTIARY_KEYS_DIRECT=tcp://${BASH_REMATCH[1]}:$((BASH_REMATCH[2] + 2))
fi
KEYS_DIRECT=${OSTIARY_KEYS_DIRECT:-}
[ "$KEYS_DIRECT" = off ] && KEYS_DIRECT=
export OSTIARY_MIGRATIONS_DIR=${OSTIARY_MIGRATIONS_DIR:-$ROOT/migrations}
#  Runtime files (keys-svc's admin socket) stay with this run's state.
export OSTIARY_RUN_DIR=${OSTIARY_RUN_DIR:-$RUN/rt}
PG_PORT=${OSTIARY_PG_PORT:-55432}
METRICS_PORT=${OSTIARY_METRICS_PORT:-9464}
#  The same settings for ostiaryctl in another shell: `set -a; . FILE; set +a`.
(umask 077 && printf 'OSTIARY_BUS_ENDPOINT=%s\nOSTIARY_BUS_PEERS=%s\nOSTIARY_BUS_CERT=%s\nOSTIARY_RUN_DIR=%s\n' \
    "$OSTIARY_BUS_ENDPOINT" "$OSTIARY_BUS_PEERS" "$BUS_KEYS/admin.key" "$OSTIARY_RUN_DIR" >"$RUN/ostiaryctl.env")
MAIL=$RUN/mail
SINK_PORT=${OSTIARY_SMTP_SINK_PORT:-2525}
SINK_PID=
if [ -z "${OSTIARY_SMTP_URL:-}" ]; then
    export OSTIARY_SMTP_URL=smtp://127.0.0.1:$SINK_PORT
    START_SINK=1
else
    START_SINK=0
fi

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

#  A stop asked for (Ctrl-C, SIGTERM): everything stopped quietly, then one
#  line. Ctrl-C reaches the services too (the terminal signals the whole
#  process group); they stop by themselves and stop_services waits for them.
cleanup() {
    [ "$STOPPING" = 1 ] && return
    STOPPING=1
    trap '' INT TERM
    [ ${#PIDS[@]} -eq 0 ] && [ "$STARTED_PG" = 0 ] && [ -z "$SINK_PID" ] && return
    stop_services
    if [ -n "$SINK_PID" ]; then
        kill -TERM "$SINK_PID" 2>/dev/null || true
        wait "$SINK_PID" 2>/dev/null || true
        SINK_PID=
    fi
    if [ "$STARTED_PG" = 1 ]; then
        scripts/pg.sh stop "$PG" >>"$LOGS/pg-stop.log" 2>&1 || say "PostgreSQL did not stop cleanly (see $LOGS/pg-stop.log)"
    fi
    echo
    say "stopped; data kept in $RUN"
}
#  Ctrl-C is how `make run` is meant to end: exit 0, so make reports no error.
trap 'cleanup; exit 0' INT
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
    echo "---- $(date -u +%Y-%m-%dT%H:%M:%SZ) run.sh starts $name" >>"$LOGS/$name.log"
    (
        #  Each secret goes to the one process that needs it.
        unset OSTIARY_DB OSTIARY_DB_TOKEN OSTIARY_DB_FLOW OSTIARY_DB_KEYS OSTIARY_TEST_DB \
            OSTIARY_BUS_DIRECT OSTIARY_BUS_DIRECT_BIND \
            OSTIARY_PG_ADMIN OSTIARY_KEK OSTIARY_CLIENT_SECRET_KEY OSTIARY_FLOW_SECRET_KEY
        if [ -n "$db" ]; then export OSTIARY_DB=$db; fi
        #  Each process holds its own role's bus key only.
        export OSTIARY_BUS_CERT=$BUS_KEYS/${name%-svc}.key
        #  Each process its own metrics port, next to the gateway's.
        if [ "${OSTIARY_METRICS_LISTEN:-}" != off ]; then
            case $name in
                gateway) offset=0 ;; token-svc) offset=1 ;; flow-svc) offset=2 ;; *) offset=3 ;;
            esac
            export OSTIARY_METRICS_LISTEN=127.0.0.1:$((METRICS_PORT + offset))
        fi
        case $name in
            keys-svc)
                export OSTIARY_KEK=$KEK
                if [ -n "$KEYS_DIRECT" ]; then export OSTIARY_BUS_DIRECT_BIND=$KEYS_DIRECT; fi
                ;;
            token-svc)
                export OSTIARY_CLIENT_SECRET_KEY=$CLIENT_SECRET_KEY
                if [ -n "$KEYS_DIRECT" ]; then export OSTIARY_BUS_DIRECT=keys=$KEYS_DIRECT; fi
                ;;
            flow-svc) export OSTIARY_FLOW_SECRET_KEY=$FLOW_SECRET_KEY ;;
            gateway)
                export OSTIARY_CONSOLE_KEY=$CONSOLE_KEY
                #  The demo relying party (/demo) acts as the demo client; the
                #  gateway reads its secret from the file seeding writes, and
                #  /readyz waits for that file.
                if [ "$DEMO_SEED" = 1 ]; then
                    export OSTIARY_DEMO_CLIENT_ID=$DEMO_CLIENT OSTIARY_DEMO_CLIENT_SECRET_FILE=$DEMO_SECRET_FILE
                fi
                ;;
        esac
        exec "$BIN/$name" >>"$LOGS/$name.log" 2>&1 </dev/null
    ) &
    PIDS[$name]=$!
}

#  The demo client (`ostiaryctl clients seed-demo` writes its secret here)
#  and the demo user's password, both kept for the next run.
DEMO_CLIENT=demo-rp
DEMO_SECRET_FILE=$OSTIARY_RUN_DIR/$DEMO_CLIENT.secret
DEMO_USER=alice
DEMO_PASSWORD_FILE=$RUN/$DEMO_USER.password
#  Seeding happens in development mode when the caller gave no demo secret
#  (and ostiaryctl knows `clients`); /demo and /readyz then wait for it.
DEMO_SEED=0
if [ "${OSTIARY_MODE:-development}" = development ] && [ -z "${OSTIARY_DEMO_CLIENT_SECRET:-}" ] &&
    "$BIN/ostiaryctl" clients --help >/dev/null 2>&1; then
    DEMO_SEED=1
fi

#  The SMTP sink, before flow-svc so that no email waits for it: every
#  message flow-svc sends lands in $MAIL as <n>.eml (python3-aiosmtpd).
if [ "$START_SINK" = 1 ]; then
    echo "---- $(date -u +%Y-%m-%dT%H:%M:%SZ) run.sh starts smtp_sink" >>"$LOGS/smtp_sink.log"
    /usr/bin/python3 scripts/smtp_sink.py --host 127.0.0.1 --port "$SINK_PORT" --dir "$MAIL" \
        >>"$LOGS/smtp_sink.log" 2>&1 </dev/null &
    SINK_PID=$!
    for _ in $(seq 50); do
        #  The marker line above is the last one until this sink says it listens.
        tail -n 1 "$LOGS/smtp_sink.log" | grep -q "listening on" && break
        kill -0 "$SINK_PID" 2>/dev/null || die "the SMTP sink did not start (port $SINK_PORT taken?); see $LOGS/smtp_sink.log"
        sleep 0.1
    done
    say "SMTP sink on 127.0.0.1:$SINK_PORT, messages in $MAIL/"
fi

#  Each service gets its own role's connection string and nothing else.
start keys-svc "$OSTIARY_DB_KEYS"
start token-svc "$OSTIARY_DB_TOKEN"
start flow-svc "$OSTIARY_DB_FLOW"
start gateway

URL=http://$OSTIARY_HTTP_LISTEN
#  ostiaryctl as the banner names it: relative to the repository when it is
#  there (where `make run` was typed).
CTL=$BIN/ostiaryctl
case "$CTL" in "$ROOT"/*) CTL=${CTL#"$ROOT"/} ;; esac
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

wait_ready() {
    say "waiting for $URL/readyz"
    local deadline=$((SECONDS + 60))
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
}

#  Every service has a live worker on the bus (what /readyz asks too, minus
#  the demo client): the seeding below needs token-svc and flow-svc.
wait_bus() {
    local deadline=$((SECONDS + 60)) service
    for service in token flow keys; do
        until "$BIN/ostiaryctl" --timeout 1000 ready "$service" >/dev/null 2>&1; do
            if dead=$(first_dead); then
                echo "run: $dead exited during start-up; end of $LOGS/$dead.log:" >&2
                tail -n 30 "$LOGS/$dead.log" >&2 || true
                exit 1
            fi
            if [ $SECONDS -ge $deadline ]; then
                echo "run: $service has no live worker after 60 s; end of its log:" >&2
                tail -n 15 "$LOGS/$service-svc.log" >&2 || true
                exit 1
            fi
            sleep 0.3
        done
    done
}

#  The demo clients and user (idempotent: a second run finds them and keeps
#  their secret and password), before /readyz first answers 200: the user
#  first, then the clients, whose secret file the gateway waits for appears
#  last and whole (written aside, then renamed).
ctl() { "$BIN/ostiaryctl" "$@" >>"$LOGS/seed.log" 2>&1; }
DEMO_READY=0
if [ "$DEMO_SEED" = 1 ]; then
    wait_bus
    seeded=1
    #  alice's password: random, made once, kept in a 0600 file.
    new_password=0
    if [ ! -s "$DEMO_PASSWORD_FILE" ]; then
        (umask 077 && head -c 12 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n' >"$DEMO_PASSWORD_FILE")
        new_password=1
    fi
    if ! "$BIN/ostiaryctl" users show "$DEMO_USER" >/dev/null 2>&1; then
        ctl users add "$DEMO_USER" --password-stdin --email alice@example.org --email-verified \
            --name "Alice Liddell" --given-name Alice --family-name Liddell --nickname alice \
            --locale en-GB --zoneinfo Europe/London --phone "+44 20 7946 0000" \
            --street-address "2 Rabbit Hole" --locality Oxford --postal-code "OX1 1AA" --country GB \
            <"$DEMO_PASSWORD_FILE" || seeded=0
    elif [ "$new_password" = 1 ]; then
        ctl users passwd "$DEMO_USER" --password-stdin <"$DEMO_PASSWORD_FILE" || seeded=0
    fi
    #  The console's client (public, PKCE) and alice as its admin.
    if ! "$BIN/ostiaryctl" clients show "$OSTIARY_ADMIN_CLIENT_ID" >/dev/null 2>&1; then
        ctl call token.client_add "{\"client_id\": \"$OSTIARY_ADMIN_CLIENT_ID\", \"name\": \"Ostiary admin console\",
            \"type\": \"public\", \"token_endpoint_auth_method\": \"none\",
            \"redirect_uris\": [\"$OSTIARY_ISSUER/admin/callback\"],
            \"grant_types\": [\"authorization_code\", \"refresh_token\"], \"always_refresh\": true,
            \"scopes\": [\"openid\", \"admin\"], \"first_party\": true}" ||
            say "registering the console's client failed (see $LOGS/seed.log)"
    fi
    ctl users grant-admin "$DEMO_USER" || say "making $DEMO_USER an admin failed (see $LOGS/seed.log)"
    pending=$DEMO_SECRET_FILE.new
    rm -f "$pending"
    if [ -s "$DEMO_SECRET_FILE" ]; then (umask 077 && cp "$DEMO_SECRET_FILE" "$pending"); fi
    if [ "$seeded" = 1 ] && ctl clients seed-demo --secret-file "$pending" && [ -s "$pending" ]; then
        mv -f "$pending" "$DEMO_SECRET_FILE"
        DEMO_READY=1
    else
        rm -f "$pending"
        #  /readyz would wait for the demo for ever: the gateway goes on
        #  without it.
        say "seeding the demo client and user failed (see $LOGS/seed.log); restarting the gateway without /demo"
        DEMO_SEED=0
        kill -TERM "${PIDS[gateway]}" 2>/dev/null || true
        wait "${PIDS[gateway]}" 2>/dev/null || true
        start gateway
    fi
fi
wait_ready

cat <<EOF

  Ostiary is running.
    issuer     $OSTIARY_ISSUER
    discovery  $OSTIARY_ISSUER/.well-known/openid-configuration
    jwks       $OSTIARY_ISSUER/jwks
    bus        $OSTIARY_BUS_ENDPOINT   (CURVE; keys in $BUS_KEYS)
    ostiaryctl $CTL keys status   (finds this run by itself; also: clients list, users list, --help)
    logs       $LOGS/
EOF
if [ "$DEMO_READY" = 1 ]; then
    echo "    console    $OSTIARY_ISSUER/admin   (sign in as $DEMO_USER, an admin)"
fi
if [ "$START_SINK" = 1 ]; then
    echo "    mail       $MAIL/   (every email flow-svc sends, as <n>.eml)"
else
    echo "    mail       sent to $OSTIARY_SMTP_URL"
fi
if [ "$DEMO_READY" = 1 ]; then
    cat <<EOF

  Try the demo relying party:  $OSTIARY_ISSUER/demo
    user       $DEMO_USER
    password   $(cat "$DEMO_PASSWORD_FILE")
    clients    $DEMO_CLIENT (confidential, secret in $DEMO_SECRET_FILE), demo-public (public, PKCE)
EOF
fi
cat <<EOF
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
