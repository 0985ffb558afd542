#!/usr/bin/env bash
#  bench/cpu_per_request.sh [ROOT [LABEL]] - req/s, p50/p99 latency and CPU
#  time per request (utime + stime of the four processes from /proc, around
#  one wrk run of DURATION seconds, default 8, at each of CONNS connections,
#  default 16) of client_credentials ES256 and of refresh rotation, for the
#  build/bench binaries of the tree at ROOT (default: this one; make bench or
#  `make BUILD=build/bench OPT="-O3 -DNDEBUG"` builds them), on the bench's
#  ports (BENCH_HTTP_PORT, BENCH_BUS_PORT, BENCH_PG_PORT, BENCH_METRICS_PORT
#  and BENCH_SMTP_PORT move them, for two people measuring on one machine).
#  Run it for two trees, one after the other and more than once, to compare
#  what a change costs on the request path (the metrics: docs/metrics.md).
#  CPU per request varies less than req/s on a busy machine. Only loopback is
#  a target.
set -euo pipefail
ROOT=${1:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
LABEL=${2:-$(basename "$ROOT")}
cd "$ROOT"
export BUILD=$ROOT/build/bench
BIN=$BUILD/bin
PORT=${BENCH_HTTP_PORT:-18080}
DURATION=${DURATION:-8}
CONNS=${CONNS:-16}
export OSTIARY_HTTP_LISTEN=127.0.0.1:$PORT OSTIARY_ISSUER=http://127.0.0.1:$PORT
export OSTIARY_BUS_ENDPOINT=tcp://127.0.0.1:${BENCH_BUS_PORT:-15555} OSTIARY_PG_PORT=${BENCH_PG_PORT:-55532}
export OSTIARY_LOG_LEVEL=warn OSTIARY_SMTP_SINK_PORT=${BENCH_SMTP_PORT:-2525}
export OSTIARY_BUS_CURVE=1 OSTIARY_METRICS_PORT=${BENCH_METRICS_PORT:-19464} OSTIARY_CODE_TTL=600
export OSTIARY_BUS_PEERS=$BUILD/run/bus/peers OSTIARY_BUS_CERT=$BUILD/run/bus/admin.key
URL=$OSTIARY_ISSUER
LOG=$BUILD/perf.log
#  From an empty cluster, as make bench (bench/README.md).
rm -rf "$BUILD/run"
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
#  wrk's latency percentile in microseconds ("1.23ms" → 1230).
usec() {
    awk -v v="$1" 'BEGIN { n = v + 0; if (v ~ /us$/) f = 1; else if (v ~ /ms$/) f = 1000; else if (v ~ /s$/) f = 1e6;
        printf "%.0f", n * f }'
}
one() {
    local name=$1 c=$2 lua=$3; shift 3
    local before after out reqs rps bad p50 p99
    before=$(ticks)
    out=$(env "$@" wrk -t"$((c < 2 ? 1 : 2))" -c"$c" -d"${DURATION}s" --timeout 5s --latency -s "$lua" "$URL/token")
    after=$(ticks)
    reqs=$(echo "$out" | awk '/requests in/ { print $1 }')
    rps=$(echo "$out" | awk '/Requests\/sec/ { print $2 }')
    bad=$(echo "$out" | awk '/Non-2xx/ { print $5 }')
    p50=$(usec "$(echo "$out" | awk '$1 == "50%" { print $2 }')")
    p99=$(usec "$(echo "$out" | awk '$1 == "99%" { print $2 }')")
    echo "$LABEL $name c=$c: $rps req/s, p50 $p50 us, p99 $p99 us, $(awk -v b="$before" -v a="$after" -v r="$reqs" -v hz="$(getconf CLK_TCK)" 'BEGIN { printf "%.0f", (a - b) * 1e6 / hz / r }') CPU us/request (4 processes), non-2xx ${bad:-0}, load $(cut -d' ' -f1 /proc/loadavg)"
}
for c in $CONNS; do
    one "client_credentials ES256" "$c" bench/lua/post.lua BODY=grant_type=client_credentials AUTH="$CC_ES_AUTH"
done
for c in $CONNS; do
    /usr/bin/python3 bench/mint.py refresh "$((c + 4))" >"$BUILD/rt" 2>"$BUILD/mint.err" || { cat "$BUILD/mint.err"; exit 1; }
    one "refresh rotation" "$c" bench/lua/refresh.lua RT_FILE="$BUILD/rt" NTHREADS="$((c < 2 ? 1 : 2))" AUTH="$CODE_AUTH"
done
