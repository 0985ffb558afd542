#!/usr/bin/env bash
#  bench/where.sh - where the time of one request goes, as measured: for one
#  scenario, the CPU time (utime + stime from /proc) that each Ostiary process
#  and the suite's PostgreSQL spent per request, and the context switches
#  (voluntary + involuntary) of each kind of thread per request, around one
#  wrk run. CPU time per request does not depend on how busy the machine is
#  (unlike req/s); context switches show the hand-offs (bus messages through
#  ZeroMQ's I/O threads, the broker, database round trips).
#
#  bench/where.sh BUILD NAME URL [VAR=value ...]   (LUA=script in the environment)
#  Called by bench/run.sh with PROFILE=1; needs the suite of BUILD running.
#  Prints markdown rows:
#    | NAME | req/s | CPU µs/req gateway | token | flow | keys | PostgreSQL | all | switches/req ... |
set -euo pipefail
BUILD=$1 NAME=$2 URL=$3
shift 3
BUILD=$(cd "$BUILD" && pwd)
BIN=$BUILD/bin
DATA=$BUILD/run/pg/data
DURATION=${DURATION:-5}
CONNS=${CONNS:-16}
THREADS=${THREADS:-2}

#  The pids of a role: the Ostiary process, or PostgreSQL's postmaster of
#  this suite's cluster and its children (never another cluster's).
pids_of() {
    case $1 in
        pg)
            local pm
            pm=$(head -n 1 "$DATA/postmaster.pid" 2>/dev/null) || return 0
            echo "$pm" $(pgrep -P "$pm" || true)
            ;;
        *) pgrep -f "^$BIN/$1\$" || true ;;
    esac
}

#  "role cpu_ticks" per role, and "role/thread switches" per thread kind.
snapshot() {
    local role p t comm
    for role in gateway token-svc flow-svc keys-svc pg; do
        for p in $(pids_of "$role"); do
            awk -v r="$role" '{print "cpu", r, $14 + $15}' "/proc/$p/stat" 2>/dev/null || true
            for t in /proc/"$p"/task/*; do
                comm=$(tr ' ' _ <"$t/comm" 2>/dev/null) || continue
                [ "$role" = pg ] && comm=backends
                awk -v k="$role/$comm" '/ctxt_switches/ {s += $2} END {print "cs", k, s + 0}' "$t/status" 2>/dev/null || true
            done
        done
    done | awk '{a[$1 ":" $2] += $3} END {for (k in a) print k, a[k]}' | sort
}

before=$(snapshot)
env "$@" wrk -t"$THREADS" -c"$CONNS" -d"${DURATION}s" --timeout 5s ${LUA:+-s "$LUA"} "$URL" >"$BUILD/bench/where.out" 2>&1 || true
after=$(snapshot)
reqs=$(awk '/requests in/ {print $1}' "$BUILD/bench/where.out")
rps=$(awk '/Requests\/sec/ {printf "%.0f", $2}' "$BUILD/bench/where.out")
bad=$(awk '/Non-2xx/ {print $NF}' "$BUILD/bench/where.out")
[ -n "$reqs" ] && [ "$reqs" -gt 0 ] || { echo "| $NAME | no requests served | |"; exit 0; }
tick_us=$((1000000 / $(getconf CLK_TCK)))
join <(echo "$before") <(echo "$after") | awk -v n="$NAME" -v r="$reqs" -v rps="$rps" -v bad="${bad:-0}" -v us="$tick_us" '
    { split($1, key, ":") }
    key[1] == "cpu" { cpu[key[2]] = ($3 - $2) * us / r; all += ($3 - $2) * us / r }
    key[1] == "cs" && $3 > $2 {
        v = ($3 - $2) / r; total += v
        #  join gives the keys sorted: threads listed by process.
        if (v >= 0.05) { line = line sprintf("%s%s %.1f", sep, key[2], v); sep = ", " }
    }
    END {
        printf "| %s | %s | %.0f | %.0f | %.0f | %.0f | %.0f | **%.0f** | %.1f |", n, rps, cpu["gateway"], cpu["token-svc"],
            cpu["flow-svc"], cpu["keys-svc"], cpu["pg"], all, total
        printf " %s |%s\n", line, (bad > 0 ? " " bad " non-2xx" : "")
    }'
