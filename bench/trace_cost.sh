#!/usr/bin/env bash
#  bench/trace_cost.sh - what tracing costs (docs/observability.md): the
#  client_credentials ES256 and refresh rotation rows of bench/run.sh (one
#  token-svc) side by side for
#    base  BASE_BUILD, when given: the optimised build of a commit without
#          tracing (in a checkout of it: make all BUILD=build/bench OPT="-O3 -DNDEBUG";
#          pass its build/bench folder, absolute)
#    off   this tree's build/bench without OSTIARY_OTLP_ENDPOINT (what every
#          deployment pays: trace ids, the bus trace field, log fields)
#    otlp  the same with OSTIARY_OTLP_ENDPOINT at a local OTLP/HTTP sink
#          (every span built, queued, encoded and posted)
#  Each mode is a whole bench/run.sh (empty cluster, seeding, PROFILE=0), one
#  after the other; compare runs made side by side on a quiet machine.
#  Environment: DURATION (seconds per wrk run, default 10), CONNS (default 16).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
DURATION=${DURATION:-10}
CONNS=${CONNS:-16}
BUILD=$ROOT/build/bench
OUT=$BUILD/trace-cost
BASE_BUILD=${BASE_BUILD:-}

make --no-print-directory all BUILD=build/bench OPT="-O3 -DNDEBUG" >/dev/null
mkdir -p "$OUT"

#  The sink: answers 200 to every POST and keeps nothing.
SINK_PID=
cleanup() { if [ -n "$SINK_PID" ]; then kill -TERM "$SINK_PID" 2>/dev/null || true; fi; }
trap cleanup EXIT
trap 'exit 130' INT TERM
/usr/bin/python3 -u - >"$OUT/sink.port" <<'EOF' &
import http.server
class Sink(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()
    def log_message(self, *args):
        pass
server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Sink)
print(server.server_address[1], flush=True)
server.serve_forever()
EOF
SINK_PID=$!
for _ in $(seq 1 50); do [ -s "$OUT/sink.port" ] && break; sleep 0.1; done
SINK_URL=http://127.0.0.1:$(head -n1 "$OUT/sink.port")/v1/traces

#  One bench/run.sh of a mode; its table goes to $OUT/<mode>.txt.
run_mode() {
    local mode=$1 build=$2
    shift 2
    echo "trace_cost: $mode ($build)"
    env "$@" BUILD="$build" PROFILE=0 CONNS="$CONNS" DURATION="$DURATION" bench/run.sh >"$OUT/$mode.txt" 2>&1 ||
        { tail -n 20 "$OUT/$mode.txt"; echo "trace_cost: bench/run.sh failed in mode $mode" >&2; exit 1; }
    grep -h "spans dropped" "$build"/run/logs/*.log 2>/dev/null | tail -n 4 || true
}

#  req/s of a scenario with one token-svc at $1 connections in a mode's table.
rps() {
    awk -F'|' -v s="$2" -v c="$1" '{ for (i = 2; i <= 5; i++) gsub(/^ +| +$/, "", $i) }
        $2 == s && $3 == "1" && $4 == c { print $5; exit }' "$OUT/$3.txt"
}

modes=()
if [ -n "$BASE_BUILD" ]; then
    run_mode base "$BASE_BUILD"
    modes+=(base)
fi
run_mode off "$BUILD" OSTIARY_OTLP_ENDPOINT=
modes+=(off)
run_mode otlp "$BUILD" OSTIARY_OTLP_ENDPOINT="$SINK_URL"
modes+=(otlp)

echo
echo "| scenario | conns | $(printf '%s req/s | ' "${modes[@]}")change against the first |"
echo "|---|---|$(printf -- '---|%.0s' "${modes[@]}")---|"
for scenario in "client_credentials ES256" "refresh rotation"; do
    for c in $CONNS; do
        line="| $scenario | $c |"
        first=
        changes=
        for m in "${modes[@]}"; do
            v=$(rps "$c" "$scenario" "$m")
            line="$line ${v:-–} |"
            if [ -z "$first" ]; then
                first=${v:-}
            elif [ -n "$first" ] && [ -n "$v" ]; then
                changes="$changes $m $(awk -v a="$first" -v b="$v" 'BEGIN { printf "%+.1f %%", (b - a) * 100 / a }')"
            fi
        done
        echo "$line${changes:- –} |"
    done
done
