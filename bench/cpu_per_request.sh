#!/usr/bin/env bash
#  bench/cpu_per_request.sh [ROOT [LABEL]] - req/s and CPU time per request
#  (utime + stime of the four processes from /proc, around one wrk run of 8 s
#  at 16 connections) of client_credentials ES256 and of refresh rotation,
#  for the build/bench binaries of the tree at ROOT (default: this one; make
#  bench or `make BUILD=build/bench OPT="-O3 -DNDEBUG"` builds them), on the
#  bench's ports. Run it for two trees, one after the other and more than
#  once, to compare what a change costs on the request path (the metrics:
#  docs/metrics.md). CPU per request varies less than req/s on a busy
#  machine. Only loopback is a target.
set -euo pipefail
ROOT=${1:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
LABEL=${2:-$(basename "$ROOT")}
cd "$ROOT"
export BUILD=$ROOT/build/bench
BIN=$BUILD/bin
export OSTIARY_HTTP_LISTEN=127.0.0.1:18080 OSTIARY_ISSUER=http://127.0.0.1:18080
export OSTIARY_BUS_ENDPOINT=tcp://127.0.0.1:15555 OSTIARY_PG_PORT=55532 OSTIARY_LOG_LEVEL=warn
export OSTIARY_BUS_CURVE=1 OSTIARY_METRICS_PORT=19464 OSTIARY_CODE_TTL=600
export OSTIARY_BUS_PEERS=$BUILD/run/bus/peers OSTIARY_BUS_CERT=$BUILD/run/bus/admin.key
URL=$OSTIARY_ISSUER
LOG=$BUILD/perf.log
scripts/run.sh >"$LOG" 2>&1 &
RUN_PID=$!
trap 'kill -TERM "$RUN_PID" 2>/dev/null; wait "$RUN_PID" 2>/dev/null' EXIT
for _ in $(seq 900); do grep -q "Ostiary is running" "$LOG" && break; sleep 0.2; done
grep -q "Ostiary is running" "$LOG" || { cat "$LOG"; exit 1; }
source <(bench/seed.sh "$BIN" "$URL")
export BENCH_URL=$URL BENCH_VERIFIER=bench-verifier-0123456789-0123456789-0123456789
ticks() {
    local n p
    for n in gateway token-svc keys-svc flow-svc; do
        for p in $(pgrep -f "^$BIN/$n\$"); do awk '{ print $14 + $15 }' "/proc/$p/stat"; done
    done | awk '{ s += $1 } END { print s }'
}
one() {
    local name=$1 lua=$2; shift 2
    local before after out reqs rps bad
    before=$(ticks)
    out=$(env "$@" wrk -t2 -c16 -d8s --timeout 5s -s "$lua" "$URL/token")
    after=$(ticks)
    reqs=$(echo "$out" | awk '/requests in/ { print $1 }')
    rps=$(echo "$out" | awk '/Requests\/sec/ { print $2 }')
    bad=$(echo "$out" | awk '/Non-2xx/ { print $5 }')
    echo "$LABEL $name: $rps req/s, $(awk -v b="$before" -v a="$after" -v r="$reqs" -v hz="$(getconf CLK_TCK)" 'BEGIN { printf "%.0f", (a - b) * 1e6 / hz / r }') CPU us/request (4 processes), non-2xx ${bad:-0}"
}
one "client_credentials ES256" bench/lua/post.lua BODY=grant_type=client_credentials AUTH="$CC_ES_AUTH"
/usr/bin/python3 bench/mint.py refresh 40 >"$BUILD/rt" 2>"$BUILD/mint.err" || { cat "$BUILD/mint.err"; exit 1; }
one "refresh rotation" bench/lua/refresh.lua RT_FILE="$BUILD/rt" NTHREADS=2 AUTH="$CODE_AUTH"
