#!/usr/bin/env bash
#  bench/run.sh - `make bench`: the suite (optimised build) on loopback, wrk
#  against every scenario that the code supports, at 16 and 64 connections,
#  one table row per scenario and connection count, peak RSS of each Ostiary
#  process, and a markdown copy under bench/results/.
#
#  Environment: DURATION (seconds per run, default 10), CONNS ("16 64"),
#  THREADS (wrk threads, 2), COMPARE=1 also runs the peer comparison of
#  ../shared/peers/node-oidc-provider/compare.sh (or $PEER_DIR/compare.sh),
#  once with the peer in memory and once on PostgreSQL (COMPARE_ADAPTERS)
#  against the running suite. PROFILE=0 skips the per-request profile
#  (bench/where.sh: CPU time and context switches per request).
#  Only loopback is ever a target; every run is bounded by DURATION.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
BUILD=${BUILD:-build/bench}
case "$BUILD" in /*) ;; *) BUILD=$ROOT/$BUILD ;; esac
BIN=$BUILD/bin
DURATION=${DURATION:-10}
CONNS=${CONNS:-"16 64"}
THREADS=${THREADS:-2}
PORT=${BENCH_HTTP_PORT:-18080}
export OSTIARY_HTTP_LISTEN=127.0.0.1:$PORT
export OSTIARY_ISSUER=http://127.0.0.1:$PORT
export OSTIARY_BUS_ENDPOINT=tcp://127.0.0.1:${BENCH_BUS_PORT:-15555}
export OSTIARY_PG_PORT=${BENCH_PG_PORT:-55532}
#  The metrics listeners (scripts/run.sh: the gateway's, then the services').
export OSTIARY_METRICS_PORT=${BENCH_METRICS_PORT:-19464}
METRICS_URL=http://127.0.0.1:$OSTIARY_METRICS_PORT/metrics
export OSTIARY_LOG_LEVEL=${OSTIARY_LOG_LEVEL:-warn}
#  The code-exchange rows use codes minted through the pages before the run
#  (bench/mint.py, ~100 codes/s): they must outlive the minting. RFC 6749
#  §4.1.2 allows 10 minutes.
export OSTIARY_CODE_TTL=${OSTIARY_CODE_TTL:-600}
#  The bus runs with CURVE as everywhere (scripts/run.sh makes the keys in
#  $BUILD/run/bus); the bench's own ostiaryctl calls act as the operator.
#  BENCH_CURVE=0 measures the same suite without it (development mode only).
export OSTIARY_BUS_CURVE=${BENCH_CURVE:-1}
export OSTIARY_BUS_PEERS=$BUILD/run/bus/peers
export OSTIARY_BUS_CERT=$BUILD/run/bus/admin.key
URL=$OSTIARY_ISSUER
OUT=$BUILD/bench
mkdir -p "$OUT"

command -v wrk >/dev/null || { echo "bench: wrk is missing (make deps)" >&2; exit 2; }

RUN_PID=
EXTRA_PIDS=()
cleanup() {
    for p in "${EXTRA_PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
    if [ -n "$RUN_PID" ]; then
        kill -TERM "$RUN_PID" 2>/dev/null || true
        wait "$RUN_PID" 2>/dev/null || true
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

#  Every run starts from an empty cluster: what earlier runs left (rotated
#  refresh tokens by the hundred thousand, dead row versions) makes
#  PostgreSQL's share grow from run to run (seen on one kept cluster: 916,
#  1,767 then 2,046 us of its CPU per refresh rotation in three runs in a
#  row, 726 after a VACUUM FULL), and figures of two commits would not
#  compare. Only a run directory under this tree's build/ is removed.
case "$BUILD" in
    "$ROOT"/build/*)
        if [ -d "$BUILD/run/pg" ]; then scripts/pg.sh stop "$BUILD/run/pg" >/dev/null 2>&1 || true; fi
        rm -rf "$BUILD/run"
        ;;
    *) echo "bench: $BUILD is outside $ROOT/build; its run directory (and cluster) are kept" >&2 ;;
esac

echo "bench: starting the suite ($BIN) on $URL"
BUILD=$BUILD scripts/run.sh >"$OUT/run.log" 2>&1 </dev/null &
RUN_PID=$!
for _ in $(seq 1 300); do
    if curl -sf "$URL/readyz" >/dev/null 2>&1; then break; fi
    kill -0 "$RUN_PID" 2>/dev/null || { cat "$OUT/run.log"; echo "bench: the suite did not start" >&2; exit 1; }
    sleep 0.1
done
#  run.sh seeds the demo client after /readyz first answers, and on a new
#  cluster restarts the gateway with its secret: a run measured before
#  that restart loses connections (seen: 5,425 socket errors and 32 503s
#  on the first run of a fresh build). Wait for its "running" line.
for _ in $(seq 1 600); do
    grep -q "Ostiary is running" "$OUT/run.log" 2>/dev/null && break
    kill -0 "$RUN_PID" 2>/dev/null || { cat "$OUT/run.log"; echo "bench: the suite stopped" >&2; exit 1; }
    sleep 0.1
done
grep -q "Ostiary is running" "$OUT/run.log" || { cat "$OUT/run.log"; echo "bench: the suite did not finish starting" >&2; exit 1; }
for _ in $(seq 1 100); do curl -sf "$URL/readyz" >/dev/null 2>&1 && break; sleep 0.1; done
curl -sf "$URL/readyz" >/dev/null || { cat "$OUT/run.log"; echo "bench: not ready" >&2; exit 1; }

pid_of() { pgrep -f "^$BIN/$1\$" | head -n "${2:-1}" | tr '\n' ' '; }
#  Peak resident set (VmHWM) of each pid, in MB, joined with "+".
rss_mb() {
    local out="" p r
    for p in $1; do
        r=$(awk '/VmHWM/{print $2}' "/proc/$p/status" 2>/dev/null || echo 0)
        out="$out${out:++}$(((${r:-0} + 512) / 1024))"
    done
    echo "${out:--}"
}

#  One wrk run → "req/s p50_ms p99_ms non2xx errors"
run_wrk() {
    local url=$1 c=$2
    shift 2
    env "$@" wrk -t"$THREADS" -c"$c" -d"${DURATION}s" --timeout 5s --latency ${LUA:+-s "$LUA"} "$url" >"$OUT/wrk.out" 2>&1 || true
    /usr/bin/python3 - "$OUT/wrk.out" <<'PY'
import re, sys
s = open(sys.argv[1]).read()
def ms(pct):
    m = re.search(r'\s' + pct + r'%\s+([\d.]+)(us|ms|s)\b', s)
    if not m:
        return float('nan')
    v, u = float(m.group(1)), m.group(2)
    return v / 1000 if u == 'us' else v * 1000 if u == 's' else v
rps = re.search(r'Requests/sec:\s+([\d.]+)', s)
bad = re.search(r'Non-2xx or 3xx responses:\s+(\d+)', s)
err = re.search(r'Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)', s)
errors = sum(int(x) for x in err.groups()) if err else 0
print(f"{float(rps.group(1)) if rps else 0:.0f} {ms('50'):.2f} {ms('99'):.2f} {int(bad.group(1)) if bad else 0} {errors}")
PY
}

#  Proportional set size of all Ostiary processes together, in MB, now: each
#  shared page (libcrypto, libc, libzmq... are mapped by all four) counted
#  once, split between the processes that map it. Summing RSS counts those
#  pages four times; PSS is what the suite costs the machine.
pss_mb() {
    local kb=0 p v
    for p in $(pid_of gateway) $(pid_of token-svc 2) $(pid_of flow-svc) $(pid_of keys-svc); do
        v=$(awk '/^Pss:/{print $2}' "/proc/$p/smaps_rollup" 2>/dev/null || echo 0)
        kb=$((kb + ${v:-0}))
    done
    echo $(((kb + 512) / 1024))
}

ROWS=()
row() { ROWS+=("$1"); echo "$1"; }

header() {
    row "| scenario | token-svc | conns | req/s | p50 ms | p99 ms | non-2xx | socket errors | RSS MB gateway | token | flow | keys | PSS MB all |"
    row "|---|---|---|---|---|---|---|---|---|---|---|---|---|"
}

scenario() {
    local name=$1 ntok=$2 path=$3
    shift 3
    local c
    for c in $CONNS; do
        read -r rps p50 p99 bad errs <<<"$(run_wrk "$URL$path" "$c" "$@")"
        row "| $name | $ntok | $c | $rps | $p50 | $p99 | $bad | $errs | $(rss_mb "$(pid_of gateway)") | $(rss_mb "$(pid_of token-svc 2)") | $(rss_mb "$(pid_of flow-svc)") | $(rss_mb "$(pid_of keys-svc)") | $(pss_mb) |"
    done
}

#  A row for a scenario that is not measured, and why.
skip() { row "| $1 | $2 | – | not measured: $3 | | | | | | | | | |"; }

#  A scenario whose single requests are supported: does one request of it
#  answer 2xx? (A probe, so that a grant that has not landed yet gives a
#  clear row rather than a table of failures.)
probe() { curl -s -o /dev/null -w '%{http_code}' "$@" | grep -q '^2'; }

export BENCH_URL=$URL BENCH_VERIFIER=bench-verifier-0123456789-0123456789-0123456789
MINT_PER_SEC=${MINT_PER_SEC:-2000}
MINT_MAX=${MINT_MAX:-20000}

#  The scenarios that need a logged-in user: introspection, userinfo, code
#  exchange, refresh rotation and whole logins. Codes and refresh tokens are
#  minted through the real pages by bench/mint.py before each run.
token_scenarios() {
    local ntok=$1 c at n
    if ! at=$(/usr/bin/python3 bench/mint.py access 2>"$OUT/mint.err"); then
        skip "login-based scenarios" "$ntok" "a login through the pages failed: $(tail -n1 "$OUT/mint.err" | head -c 160 | tr '|' ' ')"
        return
    fi
    if probe -X POST -u "$CODE_CLIENT_ID:$CODE_SECRET" --data-urlencode "token=$at" "$URL/introspect"; then
        LUA=bench/lua/post.lua scenario "introspection" "$ntok" /introspect BODY="token=$at" AUTH="$CODE_AUTH"
    else
        skip "introspection" "$ntok" "POST /introspect does not answer 2xx yet (token.introspect)"
    fi
    LUA=bench/lua/get.lua scenario "userinfo" "$ntok" /userinfo AUTH="Bearer $at"
    for c in $CONNS; do
        n=$((MINT_PER_SEC * DURATION))
        [ "$n" -gt "$MINT_MAX" ] && n=$MINT_MAX
        if ! /usr/bin/python3 bench/mint.py codes "$n" >"$OUT/codes" 2>"$OUT/mint.err"; then
            skip "code exchange" "$ntok" "minting codes failed: $(tail -n1 "$OUT/mint.err" | head -c 160 | tr '|' ' ')"
            break
        fi
        CONNS=$c LUA=bench/lua/code.lua scenario "code exchange" "$ntok" /token CODE_FILE="$OUT/codes" \
            NTHREADS="$THREADS" AUTH="$CODE_AUTH" REDIRECT="$CODE_REDIRECT" VERIFIER="$BENCH_VERIFIER"
        if grep -q "POOL EXHAUSTED" "$OUT/wrk.out"; then
            skip "code exchange" "$ntok" "the $n minted codes ran out before ${DURATION} s: req/s above is a lower bound (raise MINT_PER_SEC)"
        fi
    done
    for c in $CONNS; do
        if ! /usr/bin/python3 bench/mint.py refresh "$((c + 4))" >"$OUT/rt" 2>"$OUT/mint.err"; then
            skip "refresh rotation" "$ntok" "no refresh token from the code exchange yet: $(tail -n1 "$OUT/mint.err" | head -c 160 | tr '|' ' ')"
            break
        fi
        CONNS=$c LUA=bench/lua/refresh.lua scenario "refresh rotation" "$ntok" /token RT_FILE="$OUT/rt" \
            NTHREADS="$THREADS" AUTH="$CODE_AUTH"
    done
    #  Whole browser-less logins (authorize → login POST → code → token),
    #  each with a fresh session, so each one verifies an Argon2id password.
    for c in ${LOGIN_THREADS:-4}; do
        read -r rps p50 p99 bad <<<"$(/usr/bin/python3 bench/mint.py logins "$DURATION" "$c" 2>"$OUT/mint.err")"
        row "| whole login (mint.py) | $ntok | $c | $rps | $p50 | $p99 | $bad | 0 | $(rss_mb "$(pid_of gateway)") | $(rss_mb "$(pid_of token-svc 2)") | $(rss_mb "$(pid_of flow-svc)") | $(rss_mb "$(pid_of keys-svc)") | $(pss_mb) |"
    done
}

#  The clients and the user, once per run. Seeding again registers the
#  clients anew (remove, add), and removing bench-rp deletes its thousands
#  of refresh-token families: autovacuum then analyzes nearly empty tables,
#  and for up to a minute (its naptime) the planner believes "1 row" while
#  the next scenario refills them. Every plan costs the same then, and the
#  one it picked for token_refresh_get walked every family per refresh: the
#  second refresh row measured 0 req/s (3 s per request, all token workers
#  dropped by the broker) in 4 of 4 short runs.
SEEDED=
seed_once() {
    [ -n "$SEEDED" ] && return 0
    # shellcheck disable=SC1090
    source <(bench/seed.sh "$BIN" "$URL")
    SEEDED=1
}

run_all() {
    local ntok=$1
    LUA= scenario "discovery" "$ntok" /.well-known/openid-configuration
    LUA= scenario "jwks" "$ntok" /jwks
    #  Token scenarios need registered clients: they run when
    #  `ostiaryctl clients` exists (bench/seed.sh seeds them).
    if [ -x bench/seed.sh ] && "$BIN/ostiaryctl" clients --help >/dev/null 2>&1; then
        seed_once
        if [ -n "${CC_ES_AUTH:-}" ] && ! probe -X POST -H "Authorization: $CC_ES_AUTH" -d grant_type=client_credentials "$URL/token"; then
            skip "client_credentials ES256" "$ntok" "POST /token does not answer 2xx to grant_type=client_credentials yet"
        elif [ -n "${CC_ES_AUTH:-}" ]; then
            LUA=bench/lua/post.lua scenario "client_credentials ES256" "$ntok" /token BODY="grant_type=client_credentials" AUTH="$CC_ES_AUTH"
        fi
        if [ -n "${CC_RS_AUTH:-}" ] && ! probe -X POST -H "Authorization: $CC_RS_AUTH" -d grant_type=client_credentials "$URL/token"; then
            skip "client_credentials RS256" "$ntok" "POST /token does not answer 2xx to grant_type=client_credentials yet"
        elif [ -n "${CC_RS_AUTH:-}" ]; then
            LUA=bench/lua/post.lua scenario "client_credentials RS256" "$ntok" /token BODY="grant_type=client_credentials" AUTH="$CC_RS_AUTH"
        fi
        token_scenarios "$ntok"
    else
        row "| token scenarios | $ntok | – | not measured: no bench/seed.sh or no \`ostiaryctl clients\` | | | | | | | | | |"
    fi
}

#  SCALE=1M (or 200k, 50000, 0): token-svc's tables as a busy deployment has
#  them (bench/scale.sql: 1M families, 3M refresh tokens, 1M family_jtis,
#  1M revoked_jtis, 200k codes, ~10 % of each dead), then the janitor's
#  catch-up under refresh load (bench/sustain.sh, until nothing is left to
#  delete), the table with one token-svc, and SUSTAIN=N minutes of refresh
#  load with row counts every SLICE (30) seconds. Then the run ends (no
#  profile, no second token-svc). SCALE=0: the same run on empty tables.
scale_n() {
    case "$1" in
        *[mM]) echo $((${1%[mM]} * 1000000)) ;;
        *[kK]) echo $((${1%[kK]} * 1000)) ;;
        *) echo "$1" ;;
    esac
}
SUSTAIN_HEAD="| slice | end (UTC) | load 1 min | req/s | p50 ms | p99 ms | janitor busy | families (dead) | refresh tokens | family_jtis (dead) | revoked_jtis (dead) | codes (dead) |
|---|---|---|---|---|---|---|---|---|---|---|---|"
if [ -n "${SCALE:-}" ]; then
    n=$(scale_n "$SCALE")
    seed_once
    export BUILD URL OUT CODE_AUTH THREADS
    if [ "$n" -gt 0 ]; then
        echo "bench: loading SCALE=$SCALE ($n refresh families) with bench/scale.sql; $(uptime)"
        t0=$(date +%s)
        scripts/pg.sh psql "$BUILD/run/pg" -d ostiary -X -q -v scale="$n" -f bench/scale.sql
        echo "bench: loaded in $(($(date +%s) - t0)) s; $(scripts/pg.sh psql "$BUILD/run/pg" -d ostiary -X -A -t \
            -c "SELECT pg_size_pretty(pg_database_size('ostiary'))")"
        echo
        echo "The janitor's catch-up under refresh load (OSTIARY_JANITOR_DUTY=${OSTIARY_JANITOR_DUTY:-10}):"
        echo
        echo "$SUSTAIN_HEAD"
        bench/sustain.sh catch-up "${CATCHUP_SLICES:-20}"
    fi
    echo
    echo "load before the table: $(uptime)"
    header
    run_all 1
    echo "load after the table: $(uptime)"
    if [ "${SUSTAIN:-0}" -gt 0 ]; then
        echo
        echo "Sustained refresh load, ${SUSTAIN} min:"
        echo
        echo "$SUSTAIN_HEAD"
        bench/sustain.sh sustained "$((SUSTAIN * 60 / ${SLICE:-30}))"
    fi
    exit 0
fi

header
run_all 1

#  Where the time goes (bench/where.sh): CPU time per request of each process
#  and context switches per request of each kind of thread, one run of each
#  scenario at 16 connections with one token-svc. PROFILE=0 skips it.
PROFILE_ROWS=()
profile() {
    local name=$1 path=$2
    shift 2
    local r
    r=$(DURATION=$DURATION CONNS=16 THREADS=$THREADS bench/where.sh "$BUILD" "$name" "$URL$path" "$@")
    PROFILE_ROWS+=("$r")
    echo "$r"
}
PROFILE_HEAD="| scenario (16 connections, 1 token-svc) | req/s | CPU µs/req gateway | token | flow | keys | PostgreSQL | all | context switches/req | by thread |
|---|---|---|---|---|---|---|---|---|---|"
profile_all() {
    echo
    echo "$PROFILE_HEAD"
    LUA= profile "discovery" /.well-known/openid-configuration
    LUA= profile "jwks" /jwks
    [ -n "${CC_ES_AUTH:-}" ] && LUA=bench/lua/post.lua profile "client_credentials ES256" /token \
        BODY="grant_type=client_credentials" AUTH="$CC_ES_AUTH"
    [ -n "${CC_RS_AUTH:-}" ] && LUA=bench/lua/post.lua profile "client_credentials RS256" /token \
        BODY="grant_type=client_credentials" AUTH="$CC_RS_AUTH"
    #  The floor of anything that reaches token-svc: one bus round trip, no
    #  signature, no SQL (a wrong secret of a cached client; 401 expected).
    [ -n "${CC_ES_AUTH:-}" ] && LUA=bench/lua/post.lua profile "refused client (401 expected)" /token \
        BODY="grant_type=client_credentials" AUTH="Basic $(printf 'bench-cc-es256:wrong' | base64 -w0)"
    local at
    if [ -n "${CODE_AUTH:-}" ] && at=$(/usr/bin/python3 bench/mint.py access 2>"$OUT/mint.err"); then
        LUA=bench/lua/post.lua profile "introspection" /introspect BODY="token=$at" AUTH="$CODE_AUTH"
        LUA=bench/lua/get.lua profile "userinfo" /userinfo AUTH="Bearer $at"
        if /usr/bin/python3 bench/mint.py codes "$((MINT_PER_SEC * DURATION))" >"$OUT/codes" 2>"$OUT/mint.err"; then
            LUA=bench/lua/code.lua profile "code exchange" /token CODE_FILE="$OUT/codes" NTHREADS="$THREADS" \
                AUTH="$CODE_AUTH" REDIRECT="$CODE_REDIRECT" VERIFIER="$BENCH_VERIFIER"
        fi
        if /usr/bin/python3 bench/mint.py refresh 20 >"$OUT/rt" 2>"$OUT/mint.err"; then
            LUA=bench/lua/refresh.lua profile "refresh rotation" /token RT_FILE="$OUT/rt" NTHREADS="$THREADS" \
                AUTH="$CODE_AUTH"
        fi
    fi
}
[ "${PROFILE:-1}" = 1 ] && profile_all

#  Scaling out: a second token-svc joins the same bus (each client's
#  access-token algorithm is stored with the client: bench/seed.sh). It
#  starts with the first one's environment (its database, its client-secret
#  key, its direct endpoint to keys-svc), read from /proc: another copy of
#  the same process, which is how token-svc scales. The rows below count
#  only once the broker has the workers of both.
token_workers() {
    local n
    n=$(curl -sf "$METRICS_URL" | awk '/^ostiary_broker_workers\{service="token"\}/ { print $2; exit }')
    echo "${n:-0}"
}
FIRST_TOKEN=$(pid_of token-svc)
FIRST_TOKEN=${FIRST_TOKEN// /}
WORKERS_ONE=$(token_workers)
[ -n "$FIRST_TOKEN" ] && [ "$WORKERS_ONE" -gt 0 ] ||
    { echo "bench: cannot find token-svc or its workers on the broker" >&2; exit 1; }
mapfile -d '' TOKEN_ENV <"/proc/$FIRST_TOKEN/environ"
env -i "${TOKEN_ENV[@]}" OSTIARY_METRICS_LISTEN=127.0.0.1:$((OSTIARY_METRICS_PORT + 4)) "$BIN/token-svc" >>"$BUILD/run/logs/token-svc-2.log" 2>&1 </dev/null &
SECOND_TOKEN=$!
EXTRA_PIDS+=("$SECOND_TOKEN")
unset TOKEN_ENV
#  The broker publishes its figures at every heartbeat.
for _ in $(seq 1 150); do
    [ "$(token_workers)" -ge $((2 * WORKERS_ONE)) ] && break
    kill -0 "$SECOND_TOKEN" 2>/dev/null || break
    sleep 0.2
done
if [ "$(token_workers)" -lt $((2 * WORKERS_ONE)) ]; then
    tail -5 "$BUILD/run/logs/token-svc-2.log" >&2
    echo "bench: the second token-svc did not join the broker ($(token_workers) token workers, wanted $((2 * WORKERS_ONE)))" >&2
    exit 1
fi
run_all 2

STAMP=$(date -u +%Y%m%dT%H%M%SZ)
RES=bench/results/$STAMP.md
{
    echo "# make bench — $STAMP"
    echo
    echo "- commit: $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet 2>/dev/null || echo ' (with uncommitted changes)')"
    echo "- machine: $(nproc) cores, $(awk -F': ' '/model name/{print $2; exit}' /proc/cpuinfo)"
    echo "- wrk: $THREADS threads, ${DURATION} s per run, on the same cores as the suite"
    echo
    for r in "${ROWS[@]}"; do echo "$r"; done
    if [ "${#PROFILE_ROWS[@]}" -gt 0 ]; then
        echo
        echo "Where the time goes (bench/where.sh):"
        echo
        echo "$PROFILE_HEAD"
        for r in "${PROFILE_ROWS[@]}"; do echo "$r"; done
    fi
} >"$RES"
echo
echo "bench: results written to $RES"

if [ "${COMPARE:-0}" = 1 ]; then
    PEER=${PEER_DIR:-$ROOT/../shared/peers/node-oidc-provider}
    echo "bench: comparing with node-oidc-provider ($PEER/compare.sh)"
    seed_once
    export OURS_CC_AUTH=${CC_ES_AUTH:-} OURS_CC_RS_AUTH=${CC_RS_AUTH:-}
    export OURS_RT_AUTH=$CODE_AUTH OURS_RT_CMD="/usr/bin/python3 $ROOT/bench/mint.py refresh"
    export BENCH_URL CODE_CLIENT_ID CODE_SECRET CODE_REDIRECT BENCH_USER BENCH_PASSWORD
    #  Both peers: in memory, and durable on PostgreSQL as Ostiary is
    #  (COMPARE_ADAPTERS="memory" or "pg" for one).
    for adapter in ${COMPARE_ADAPTERS:-memory pg}; do
        echo "bench: node-oidc-provider with OP_ADAPTER=$adapter" | tee -a "$RES"
        if [ "$adapter" = memory ]; then unset OP_ADAPTER; else export OP_ADAPTER=$adapter; fi
        OURS_ISSUER=$URL OURS_PIDS="$(pid_of gateway) $(pid_of token-svc 2) $(pid_of flow-svc) $(pid_of keys-svc)" \
            DURATION=$DURATION "$PEER/compare.sh" | tee -a "$RES"
    done
fi
