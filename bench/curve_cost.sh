#!/usr/bin/env bash
#  bench/curve_cost.sh - CPU time per client_credentials ES256 request of the
#  gateway, token-svc and keys-svc (utime + stime from /proc around one wrk
#  run of 5 s at 16 connections), with one token-svc and then two. Runs the
#  suite of build/bench (make bench builds it) on the bench's ports with
#  scripts/run.sh, seeds with bench/seed.sh, stops everything at the end.
#  CURVE=0 measures the same with OSTIARY_BUS_CURVE=0 (what CurveZMQ costs;
#  bench/README.md, "CurveZMQ on the bus"). Only loopback is a target.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
export BUILD=$ROOT/build/bench
BIN=$BUILD/bin
export OSTIARY_HTTP_LISTEN=127.0.0.1:18080 OSTIARY_ISSUER=http://127.0.0.1:18080
export OSTIARY_BUS_ENDPOINT=tcp://127.0.0.1:15555 OSTIARY_PG_PORT=55532 OSTIARY_LOG_LEVEL=warn
export OSTIARY_BUS_CURVE=${CURVE:-1} OSTIARY_METRICS_PORT=19464
export OSTIARY_BUS_PEERS=$BUILD/run/bus/peers OSTIARY_BUS_CERT=$BUILD/run/bus/admin.key
URL=$OSTIARY_ISSUER
LOG=$BUILD/curve_cost.log
scripts/run.sh >"$LOG" 2>&1 &
RUN_PID=$!
T2=
trap '[ -n "$T2" ] && kill "$T2" 2>/dev/null; kill -TERM "$RUN_PID" 2>/dev/null; wait "$RUN_PID" 2>/dev/null' EXIT
for _ in $(seq 600); do grep -q "Ostiary is running" "$LOG" && break; sleep 0.2; done
grep -q "Ostiary is running" "$LOG" || { cat "$LOG"; exit 1; }
# shellcheck disable=SC1090
source <(bench/seed.sh "$BIN" "$URL")
ticks() {
    local n p
    for n in gateway token-svc keys-svc; do
        for p in $(pgrep -f "^$BIN/$n\$"); do awk -v n="$n" '{ print n, $14 + $15 }' "/proc/$p/stat"; done
    done
}
workers() { curl -sf "http://127.0.0.1:$OSTIARY_METRICS_PORT/metrics" | awk '/^ostiary_broker_workers\{service="token"\}/ { print $2; exit }'; }
one() {
    local before after out reqs
    before=$(ticks)
    out=$(BODY=grant_type=client_credentials AUTH="$CC_ES_AUTH" wrk -t2 -c16 -d5s -s bench/lua/post.lua "$URL/token")
    after=$(ticks)
    reqs=$(echo "$out" | awk '/requests in/ { print $1 }')
    echo "$out" | grep -E "Requests/sec|Non-2xx" || true
    #  after - before per process kind, in µs per request
    join <(echo "$before" | awk '{ a[$1] += $2 } END { for (k in a) print k, a[k] }' | sort) \
         <(echo "$after" | awk '{ a[$1] += $2 } END { for (k in a) print k, a[k] }' | sort) |
        awk -v reqs="$reqs" -v hz="$(getconf CLK_TCK)" -v label="$1" '
            { us = ($3 - $2) * 1e6 / hz / reqs; all += us; printf "%s %s: %.0f µs/request\n", label, $1, us }
            END { printf "%s all three: %.0f µs/request\n", label, all }'
}
one "one token-svc,"
W=$(workers)
TP=$(pgrep -f "^$BIN/token-svc\$" | head -1)
mapfile -d '' E <"/proc/$TP/environ"
env -i "${E[@]}" OSTIARY_METRICS_LISTEN=127.0.0.1:$((OSTIARY_METRICS_PORT + 4)) "$BIN/token-svc" >>"$BUILD/curve_cost-token2.log" 2>&1 </dev/null &
T2=$!
for _ in $(seq 150); do [ "$(workers)" -ge $((2 * W)) ] && break; sleep 0.2; done
one "two token-svc,"
