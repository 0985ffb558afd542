#!/usr/bin/env bash
#  bench/syscalls.sh [ROOT [LABEL]] - what one request costs the kernel and
#  the database, per process, in counts that do not move with the machine's
#  load: system calls and context switches of each process (perf stat's
#  raw_syscalls:sys_enter and context-switches software events, which this
#  guest has although it has no hardware counters), the transactions
#  committed, WAL flushes and statements executed in the suite's database
#  (pg_stat_database, pg_stat_wal, pg_stat_statements), for
#  client_credentials ES256 and refresh rotation, with wrk at each of CONNS
#  (default "1 16") for DURATION seconds (default 5), less what the same
#  processes do in an idle window as long (heartbeats, ticks, janitors).
#  CPU time per request (perf's task-clock) is printed too, for reference:
#  it does move with load.
#
#  Runs the build/bench binaries of the tree at ROOT (default: this one;
#  `make all BUILD=build/bench OPT="-O3 -DNDEBUG"`), with CURVE on as
#  everywhere, on ports of its own (BENCH_HTTP_PORT, BENCH_BUS_PORT,
#  BENCH_PG_PORT, BENCH_METRICS_PORT, OSTIARY_SMTP_SINK_PORT). TRACE=1 also
#  prints each process's system calls by name (strace -c -f, which slows
#  the processes: CPU figures of that run mean nothing) for the first
#  connection count. Only loopback is a target.
set -euo pipefail
ROOT=${1:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
LABEL=${2:-$(basename "$ROOT")}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
DURATION=${DURATION:-5}
CONNS=${CONNS:-"1 16"}
SCENARIOS=${SCENARIOS:-"cc refresh"}
command -v perf >/dev/null || { echo "syscalls.sh: perf is missing (apt-get install linux-perf)" >&2; exit 2; }
command -v wrk >/dev/null || { echo "syscalls.sh: wrk is missing (make deps)" >&2; exit 2; }
cd "$ROOT"
REAL=$ROOT/build/bench/bin
for n in gateway token-svc keys-svc flow-svc ostiaryctl; do
    [ -x "$REAL/$n" ] || { echo "syscalls.sh: $REAL/$n is missing (make all BUILD=build/bench OPT=\"-O3 -DNDEBUG\")" >&2; exit 2; }
done
#  A build folder of its own (links to the binaries), so that its run
#  directory and cluster are apart from make bench's and make run's.
BUILD=$ROOT/build/bench-sys
BIN=$BUILD/bin
mkdir -p "$BIN"
for n in gateway token-svc keys-svc flow-svc ostiaryctl; do ln -sf "$REAL/$n" "$BIN/$n"; done
HTTP_PORT=${BENCH_HTTP_PORT:-18082}
export OSTIARY_HTTP_LISTEN=127.0.0.1:$HTTP_PORT OSTIARY_ISSUER=http://127.0.0.1:$HTTP_PORT
export OSTIARY_BUS_ENDPOINT=tcp://127.0.0.1:${BENCH_BUS_PORT:-15557} OSTIARY_PG_PORT=${BENCH_PG_PORT:-55534}
export OSTIARY_METRICS_PORT=${BENCH_METRICS_PORT:-19484} OSTIARY_SMTP_SINK_PORT=${OSTIARY_SMTP_SINK_PORT:-2527}
export OSTIARY_LOG_LEVEL=warn OSTIARY_CODE_TTL=600 OSTIARY_BUS_CURVE=${CURVE:-1}
export OSTIARY_BUS_PEERS=$BUILD/run/bus/peers OSTIARY_BUS_CERT=$BUILD/run/bus/admin.key
#  pg_stat_statements counts the statements of a request.
export OSTIARY_PG_SETTINGS="shared_preload_libraries=pg_stat_statements${OSTIARY_PG_SETTINGS:+;$OSTIARY_PG_SETTINGS}"
URL=$OSTIARY_ISSUER
OUT=$BUILD/syscalls
mkdir -p "$OUT"
LOG=$OUT/run.log

#  A fresh cluster (only under this tree's build/).
if [ -d "$BUILD/run/pg" ]; then scripts/pg.sh stop "$BUILD/run/pg" >/dev/null 2>&1 || true; fi
rm -rf "$BUILD/run"
BUILD=$BUILD scripts/run.sh >"$LOG" 2>&1 </dev/null &
RUN_PID=$!
PERF_PIDS=()
cleanup() {
    for p in "${PERF_PIDS[@]}"; do kill -INT "$p" 2>/dev/null || true; done
    kill -TERM "$RUN_PID" 2>/dev/null || true
    wait "$RUN_PID" 2>/dev/null || true
}
trap cleanup EXIT
for _ in $(seq 900); do grep -q "Ostiary is running" "$LOG" && break; sleep 0.2; done
grep -q "Ostiary is running" "$LOG" || { tail -40 "$LOG"; exit 1; }
source <(bench/seed.sh "$BIN" "$URL")
PG_ADMIN=$(scripts/pg.sh env "$BUILD/run/pg" | sed -n "s/^export OSTIARY_PG_ADMIN='\(.*\)'$/\1/p")
psql "$PG_ADMIN" -XAtq -c "CREATE EXTENSION IF NOT EXISTS pg_stat_statements" >/dev/null
export BENCH_URL=$URL BENCH_VERIFIER=bench-verifier-0123456789-0123456789-0123456789

#  The pids of a role, comma-separated: the Ostiary process, or this
#  cluster's postmaster and its children.
pids_of() {
    case $1 in
        pg)
            local pm
            pm=$(head -n 1 "$BUILD/run/pg/data/postmaster.pid")
            echo "$pm" $(pgrep -P "$pm") | tr ' ' ','
            ;;
        *) pgrep -f "^$BIN/$1\$" | paste -sd, ;;
    esac
}
ROLES="gateway token-svc keys-svc pg"

#  "commits flushes" so far.
pg_counts() {
    psql "$PG_ADMIN" -XAtq -F ' ' -c "SELECT (SELECT xact_commit FROM pg_stat_database WHERE datname = 'ostiary'),
        (SELECT wal_sync FROM pg_stat_wal)"
}

#  One measured wrk run of scenario $1 at $2 connections; prints a row per
#  role and the statements per request.
measure() {
    local scenario=$1 c=$2 trace=$3 role lua args=()
    case $scenario in
        cc) lua=$HERE/lua/post.lua args=(BODY=grant_type=client_credentials AUTH="$CC_ES_AUTH") ;;
        refresh)
            #  Chains of their own for the warm-up and the run (a token
            #  used twice revokes its family), four more than connections
            #  each as in bench/run.sh (wrk takes one for a request it never
            #  sends).
            /usr/bin/python3 bench/mint.py refresh "$((c * 2 + 8))" >"$OUT/rt" 2>"$OUT/mint.err" || { cat "$OUT/mint.err"; exit 1; }
            head -n "$((c + 4))" "$OUT/rt" >"$OUT/rt.warm"
            tail -n "$((c + 4))" "$OUT/rt" >"$OUT/rt.run"
            lua=$HERE/lua/refresh.lua args=(RT_FILE="$OUT/rt.warm" NTHREADS=1 AUTH="$CODE_AUTH")
            ;;
    esac
    #  Warm-up: every thread's connections and caches.
    env "${args[@]}" wrk -t1 -c"$c" -d1s --timeout 5s -s "$lua" "$URL/token" >/dev/null 2>&1 || true
    [ "$scenario" = refresh ] && args=(RT_FILE="$OUT/rt.run" NTHREADS=1 AUTH="$CODE_AUTH")
    PERF_PIDS=()
    for role in $ROLES; do
        perf stat -x, -e raw_syscalls:sys_enter,context-switches,task-clock -p "$(pids_of "$role")" \
            -o "$OUT/perf.$role" &
        PERF_PIDS+=($!)
        if [ "$trace" = 1 ]; then
            strace -c -f -p "$(pids_of "$role")" -o "$OUT/trace.$role" >/dev/null 2>&1 &
            PERF_PIDS+=($!)
        fi
    done
    sleep 0.5
    psql "$PG_ADMIN" -XAtq -c "SELECT pg_stat_statements_reset()" >/dev/null
    local pg_before pg_after
    pg_before=$(pg_counts)
    env "${args[@]}" wrk -t1 -c"$c" -d"${DURATION}s" --timeout 5s -s "$lua" "$URL/token" >"$OUT/wrk.out" 2>&1 || true
    pg_after=$(pg_counts)
    psql "$PG_ADMIN" -XAtq -F '|' -c "SELECT calls, regexp_replace(left(query, 90), '\s+', ' ', 'g')
        FROM pg_stat_statements WHERE dbid = (SELECT oid FROM pg_database WHERE datname = 'ostiary')
        ORDER BY calls DESC" >"$OUT/statements"
    for p in "${PERF_PIDS[@]}"; do kill -INT "$p" 2>/dev/null || true; done
    for p in "${PERF_PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
    PERF_PIDS=()
    local n bad
    n=$(awk '/requests in/ { print $1 }' "$OUT/wrk.out")
    bad=$(awk '/Non-2xx/ { print $NF }' "$OUT/wrk.out")
    [ -n "$n" ] && [ "$n" -gt 0 ] || { echo "syscalls.sh: no requests served"; cat "$OUT/wrk.out"; return; }
    local name="client_credentials ES256"
    [ "$scenario" = refresh ] && name="refresh rotation"
    #  What the processes do by themselves (heartbeats, ticks, janitors) in
    #  an idle window as long, subtracted: a per-time cost is not a
    #  per-request one (and would grow per request as the machine slows).
    local idle_s
    idle_s=$(awk '/requests in/ { sub(/s,?$/, "", $4); print $4 }' "$OUT/wrk.out")
    for role in $ROLES; do
        perf stat -x, -e raw_syscalls:sys_enter,context-switches,task-clock -p "$(pids_of "$role")" \
            -o "$OUT/idle.$role" &
        PERF_PIDS+=($!)
    done
    sleep "${idle_s:-$DURATION}"
    for p in "${PERF_PIDS[@]}"; do kill -INT "$p" 2>/dev/null || true; done
    for p in "${PERF_PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
    PERF_PIDS=()
    for role in $ROLES; do
        awk -F, -v label="$LABEL" -v name="$name" -v c="$c" -v role="$role" -v n="$n" '
            FNR == 1 { f++ }
            $3 == "raw_syscalls:sys_enter" { sc[f] = $1 }
            $3 == "context-switches" { cs[f] = $1 }
            $3 == "task-clock" { ms[f] = $1 }
            END { printf "| %s | %s | %d | %s | %.1f | %.1f | %.0f |\n", label, name, c, role, (sc[1] - sc[2]) / n,
                  (cs[1] - cs[2]) / n, (ms[1] - ms[2]) * 1000 / n }' \
            "$OUT/perf.$role" "$OUT/idle.$role"
    done
    echo "$pg_before $pg_after" | awk -v n="$n" -v bad="${bad:-0}" \
        '{ printf "  %d requests (%s non-2xx); commits/request %.2f, WAL flushes/request %.2f\n", n, bad, ($3 - $1) / n, ($4 - $2) / n }'
    awk -F'|' -v n="$n" '$1 / n >= 0.01 { printf "    %.2f/request  %s\n", $1 / n, $2 }' "$OUT/statements"
    if [ "$trace" = 1 ]; then
        for role in $ROLES; do
            echo "  $role, system calls by name (all threads, $n requests):"
            awk '$NF ~ /^[a-z_0-9]+$/ && $NF != "total" && $4 ~ /^[0-9]+$/ { print $4, $NF }' "$OUT/trace.$role" |
                sort -rn | awk -v n="$n" '$1 / n >= 0.05 { printf "    %-16s %.2f\n", $2, $1 / n }'
        done
    fi
}

echo "| build | scenario | conns | process | syscalls/req | context switches/req | CPU µs/req (load-dependent) |"
echo "|---|---|---|---|---|---|---|"
first=1
for scenario in $SCENARIOS; do
    for c in $CONNS; do
        measure "$scenario" "$c" "$([ "${TRACE:-0}" = 1 ] && [ "$first" = 1 ] && echo 1 || echo 0)"
        first=0
    done
    first=1
done
