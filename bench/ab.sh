#!/usr/bin/env bash
#  bench/ab.sh SIDE... - the token scenarios of two (or more) trees'
#  build/bench binaries, alternating A, B, A, B... for ROUNDS rounds (default
#  2), on a fresh cluster each time. A SIDE is a tree's root, optionally
#  followed by settings for that side alone, comma-separated
#  (/work/wt-x,OSTIARY_HTTP_THREADS=16): the same tree can be measured against
#  itself under two settings. Each run: client_credentials ES256 and RS256 and
#  refresh rotation at every count of CONNS ("1 16 64"), DURATION seconds
#  each (8); SCENARIOS picks among "es256 rs256 refresh" (all by default).
#  One row per run: req/s, p50 and p99 in ms, CPU µs per request (utime +
#  stime of the four processes from /proc, around the wrk run; the suite's
#  PostgreSQL is not counted), the transactions committed in the database
#  and the WAL flushes (pg_stat_wal.wal_sync) per request, the gateway's
#  peak resident set (VmHWM) since its start, and the load
#  average when it started (`uptime`: other work on the machine moves every
#  figure). A side's settings may hold OSTIARY_PG_SETTINGS (scripts/pg.sh)
#  to measure a PostgreSQL setting such as commit_delay. Build each tree
#  first: make BUILD=build/bench OPT="-O3 -DNDEBUG" all. Ports: BENCH_*_PORT
#  as bench/run.sh, moved by AB_PORT_OFFSET (default 10000) so that a
#  `make bench` beside it does not collide. Only loopback is a target.
set -euo pipefail
[ $# -ge 2 ] || { echo "usage: bench/ab.sh SIDE SIDE... (SIDE: root[,VAR=value...])" >&2; exit 2; }
ROUNDS=${ROUNDS:-2}
CONNS=${CONNS:-"1 16 64"}
DURATION=${DURATION:-8}
SCENARIOS=${SCENARIOS:-"es256 rs256 refresh"}
OFF=${AB_PORT_OFFSET:-10000}
HTTP_PORT=$((18080 + OFF))
export OSTIARY_HTTP_LISTEN=127.0.0.1:$HTTP_PORT OSTIARY_ISSUER=http://127.0.0.1:$HTTP_PORT
export OSTIARY_BUS_ENDPOINT=tcp://127.0.0.1:$((15555 + OFF)) OSTIARY_PG_PORT=$((55532 + 100))
export OSTIARY_METRICS_PORT=$((19464 + OFF)) OSTIARY_SMTP_SINK_PORT=$((2525 + OFF))
export OSTIARY_LOG_LEVEL=warn OSTIARY_BUS_CURVE=1 OSTIARY_CODE_TTL=600
URL=$OSTIARY_ISSUER
RUN_PID=

stop_suite() {
    if [ -n "$RUN_PID" ]; then
        kill -TERM "$RUN_PID" 2>/dev/null || true
        wait "$RUN_PID" 2>/dev/null || true
        RUN_PID=
    fi
}
trap stop_suite EXIT

#  Starts the suite of tree $1 on a fresh cluster under its build/bench/run,
#  with the settings $2 (VAR=value, space-separated).
start_suite() {
    local root=$1 settings=$2
    export BUILD=$root/build/bench
    export OSTIARY_BUS_PEERS=$BUILD/run/bus/peers OSTIARY_BUS_CERT=$BUILD/run/bus/admin.key
    if [ -d "$BUILD/run/pg" ]; then (cd "$root" && scripts/pg.sh stop "$BUILD/run/pg" >/dev/null 2>&1) || true; fi
    rm -rf "$BUILD/run"
    # shellcheck disable=SC2086
    (cd "$root" && exec env $settings scripts/run.sh) >"$BUILD/ab.log" 2>&1 </dev/null &
    RUN_PID=$!
    for _ in $(seq 900); do grep -q "Ostiary is running" "$BUILD/ab.log" && break; sleep 0.2; done
    grep -q "Ostiary is running" "$BUILD/ab.log" || { tail -20 "$BUILD/ab.log"; exit 1; }
    for _ in $(seq 100); do curl -sf "$URL/readyz" >/dev/null 2>&1 && break; sleep 0.1; done
}

ticks() {
    local n p
    for n in gateway token-svc keys-svc flow-svc; do
        for p in $(pgrep -f "^$BUILD/bin/$n\$"); do awk '{ print $14 + $15 }' "/proc/$p/stat"; done
    done | awk '{ s += $1 } END { print s }'
}

#  The gateway's peak resident set so far (VmHWM), in MB.
gateway_hwm() {
    local p
    p=$(pgrep -f "^$BUILD/bin/gateway\$" | head -n 1)
    awk '/^VmHWM:/ { printf "%.0f", $2 / 1024 }' "/proc/$p/status" 2>/dev/null || echo "-"
}

#  "commits WAL-flushes" of the suite's database so far.
pg_counts() {
    psql "$PG_ADMIN" -XAtq -F ' ' -c "SELECT (SELECT xact_commit FROM pg_stat_database WHERE datname = 'ostiary'),
        (SELECT wal_sync FROM pg_stat_wal)" 2>/dev/null || echo "0 0"
}

#  One wrk run → "req/s p50 p99 cpu_us non2xx commits/req flushes/req"
one() {
    local c=$1 lua=$2
    shift 2
    local before after pg_before pg_after
    pg_before=$(pg_counts)
    before=$(ticks)
    env "$@" wrk -t"$((c < 2 ? 1 : 2))" -c"$c" -d"${DURATION}s" --timeout 5s --latency -s "$lua" "$URL/token" >"$BUILD/ab.wrk" 2>&1 || true
    after=$(ticks)
    pg_after=$(pg_counts)
    /usr/bin/python3 - "$BUILD/ab.wrk" "$before" "$after" "$(getconf CLK_TCK)" "$pg_before" "$pg_after" <<'PY'
import re, sys
s = open(sys.argv[1]).read()
before, after, hz = float(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4])
pg_b, pg_a = [float(x) for x in sys.argv[5].split()], [float(x) for x in sys.argv[6].split()]
def ms(pct):
    m = re.search(r'\s' + pct + r'%\s+([\d.]+)(us|ms|s)\b', s)
    if not m:
        return float('nan')
    v, u = float(m.group(1)), m.group(2)
    return v / 1000 if u == 'us' else v * 1000 if u == 's' else v
rps = re.search(r'Requests/sec:\s+([\d.]+)', s)
reqs = re.search(r'(\d+) requests in', s)
bad = re.search(r'Non-2xx or 3xx responses:\s+(\d+)', s)
n = int(reqs.group(1)) if reqs else 0
cpu = (after - before) * 1e6 / hz / n if n else float('nan')
commits = (pg_a[0] - pg_b[0]) / n if n else float('nan')
flushes = (pg_a[1] - pg_b[1]) / n if n else float('nan')
print(f"{float(rps.group(1)) if rps else 0:.0f} | {ms('50'):.2f} | {ms('99'):.2f} | {cpu:.0f} | {int(bad.group(1)) if bad else 0}"
      f" | {commits:.2f} | {flushes:.2f}", end="")
PY
    echo " | $(gateway_hwm)"
}

#  token-svc's ostiary_sign_batch_entries so far: "messages signatures", or
#  "-" for a build without it.
batches() {
    curl -sf "http://127.0.0.1:$((OSTIARY_METRICS_PORT + 1))/metrics" 2>/dev/null | awk '
        /^ostiary_sign_batch_entries_count/ { c = $2 } /^ostiary_sign_batch_entries_sum/ { s = $2 }
        END { if (c != "") printf "%d messages for %d signatures", c, s; else printf "-" }'
}

echo "| round | build | scenario | conns | req/s | p50 ms | p99 ms | CPU µs/req | non-2xx | commits/req | WAL flushes/req | gateway peak RSS MB | load (1 min) |"
echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|"
for r in $(seq "$ROUNDS"); do
    for side in "$@"; do
        root=$(cd "${side%%,*}" && pwd)
        settings=
        [ "$side" = "${side#*,}" ] || settings=$(echo "${side#*,}" | tr ',' ' ')
        label=$(basename "$root")${settings:+ $settings}
        start_suite "$root" "$settings"
        source <(cd "$root" && bench/seed.sh "$BUILD/bin" "$URL")
        PG_ADMIN=$(cd "$root" && scripts/pg.sh env "$BUILD/run/pg" | sed -n "s/^export OSTIARY_PG_ADMIN='\(.*\)'$/\1/p")
        export BENCH_URL=$URL BENCH_VERIFIER=bench-verifier-0123456789-0123456789-0123456789
        for c in $CONNS; do
            if [[ " $SCENARIOS " == *" es256 "* ]]; then
                load=$(cut -d' ' -f1 /proc/loadavg)
                echo "| $r | $label | client_credentials ES256 | $c | $(one "$c" "$root/bench/lua/post.lua" BODY=grant_type=client_credentials AUTH="$CC_ES_AUTH") | $load |"
            fi
            if [[ " $SCENARIOS " == *" rs256 "* ]]; then
                load=$(cut -d' ' -f1 /proc/loadavg)
                echo "| $r | $label | client_credentials RS256 | $c | $(one "$c" "$root/bench/lua/post.lua" BODY=grant_type=client_credentials AUTH="$CC_RS_AUTH") | $load |"
            fi
            if [[ " $SCENARIOS " == *" refresh "* ]]; then
                (cd "$root" && /usr/bin/python3 bench/mint.py refresh "$((c + 4))") >"$BUILD/ab.rt" 2>"$BUILD/ab.mint.err" ||
                    { cat "$BUILD/ab.mint.err" >&2; exit 1; }
                load=$(cut -d' ' -f1 /proc/loadavg)
                echo "| $r | $label | refresh rotation | $c | $(one "$c" "$root/bench/lua/refresh.lua" RT_FILE="$BUILD/ab.rt" NTHREADS="$((c < 2 ? 1 : 2))" AUTH="$CODE_AUTH") | $load |"
            fi
        done
        echo "|   | $label | keys.sign_batch: $(batches) |"
        stop_suite
    done
done
