#!/usr/bin/env bash
#  bench/instructions.sh [ROOT [LABEL]] - instructions per request of
#  client_credentials ES256 and of refresh rotation, counted by valgrind's
#  callgrind in each process of the suite (gateway, token-svc, keys-svc,
#  flow-svc), for the build/bench binaries of the tree at ROOT (default: this
#  one; `make all BUILD=build/bench OPT="-O3 -DNDEBUG"` builds them).
#
#  Unlike req/s or CPU time, an instruction count does not move with what
#  else runs on the machine, so two trees can be compared on a busy one:
#  run it for each and compare the per-request figures. Each process runs
#  under callgrind (about 50 times slower), so requests go one at a time
#  (REQUESTS of each, default 300, after 50 unmeasured ones); what the
#  processes' own background threads execute meanwhile (heartbeats,
#  janitors) is measured over an idle window as long as the measured one
#  and subtracted. OTLP=1 also exports every span to a local sink.
#  Needs valgrind (Debian's package). Only loopback is a target.
set -euo pipefail
ROOT=${1:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
LABEL=${2:-$(basename "$ROOT")}
REQUESTS=${REQUESTS:-300}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
command -v valgrind >/dev/null || { echo "instructions.sh: valgrind is not installed (apt-get install valgrind)" >&2; exit 2; }
cd "$ROOT"
REAL=$ROOT/build/bench/bin
for n in gateway token-svc keys-svc flow-svc ostiaryctl; do
    [ -x "$REAL/$n" ] || { echo "instructions.sh: $REAL/$n is missing (make all BUILD=build/bench OPT=\"-O3 -DNDEBUG\")" >&2; exit 2; }
done
#  A build folder whose services are callgrind wrappers around the real ones.
export BUILD=$ROOT/build/bench-vg
OUT=$BUILD/callgrind
rm -rf "$OUT" && mkdir -p "$BUILD/bin" "$OUT"
for n in gateway token-svc keys-svc flow-svc; do
    cat >"$BUILD/bin/$n" <<EOF
#!/bin/sh
exec valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file=$OUT/$n.%p --dump-line=no --compress-strings=no -q $REAL/$n
EOF
    chmod +x "$BUILD/bin/$n"
done
ln -sf "$REAL/ostiaryctl" "$BUILD/bin/ostiaryctl"
#  Ports of their own (BENCH_*_PORT move them, as in bench/run.sh).
HTTP_PORT=${BENCH_HTTP_PORT:-18081}
export OSTIARY_HTTP_LISTEN=127.0.0.1:$HTTP_PORT OSTIARY_ISSUER=http://127.0.0.1:$HTTP_PORT
export OSTIARY_BUS_ENDPOINT=tcp://127.0.0.1:${BENCH_BUS_PORT:-15556} OSTIARY_PG_PORT=${BENCH_PG_PORT:-55533}
export OSTIARY_LOG_LEVEL=warn OSTIARY_SMTP_SINK_PORT=${OSTIARY_SMTP_SINK_PORT:-2526}
#  CURVE off by default: under callgrind its handshakes outlast the bus's
#  timeouts; it costs both trees the same instructions. CURVE=1 keeps it.
export OSTIARY_BUS_CURVE=${CURVE:-0} OSTIARY_METRICS_PORT=${BENCH_METRICS_PORT:-19474} OSTIARY_CODE_TTL=600
#  valgrind runs at most 500 threads per process; 16 HTTP threads serve one
#  connection at a time as well as 512.
export OSTIARY_HTTP_THREADS=16
export OSTIARY_BUS_PEERS=$BUILD/run/bus/peers OSTIARY_BUS_CERT=$BUILD/run/bus/admin.key
URL=$OSTIARY_ISSUER
LOG=$BUILD/run.log
SINK_PID=
if [ "${OTLP:-0}" = 1 ]; then
    /usr/bin/python3 - <<'EOF' &
import http.server
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.send_response(200); self.send_header("Content-Length", "0"); self.end_headers()
    def log_message(self, *a):
        pass
http.server.ThreadingHTTPServer(("127.0.0.1", 14318), H).serve_forever()
EOF
    SINK_PID=$!
    export OSTIARY_OTLP_ENDPOINT=http://127.0.0.1:14318
    LABEL="$LABEL+otlp"
fi
scripts/run.sh >"$LOG" 2>&1 &
RUN_PID=$!
cleanup() {
    kill -TERM "$RUN_PID" 2>/dev/null || true
    wait "$RUN_PID" 2>/dev/null || true
    if [ -n "$SINK_PID" ]; then kill "$SINK_PID" 2>/dev/null || true; fi
}
trap cleanup EXIT
for _ in $(seq 3000); do grep -q "Ostiary is running" "$LOG" && break; sleep 0.2; done
grep -q "Ostiary is running" "$LOG" || { tail -40 "$LOG"; exit 1; }
source <(bench/seed.sh "$REAL" "$URL")
export BENCH_URL=$URL BENCH_VERIFIER=bench-verifier-0123456789-0123456789-0123456789
/usr/bin/python3 bench/mint.py refresh 8 >"$BUILD/rt" 2>"$BUILD/mint.err" || { cat "$BUILD/mint.err"; exit 1; }
PIDS=$(pgrep -f "callgrind-out-file=$OUT/" | tr '\n' ' ')

#  Zeroes every process's counters, runs $2 (a shell command), dumps them as
#  part $1; prints the seconds it took.
measure() {
    local part=$1 start end
    for p in $PIDS; do callgrind_control -z "$p" >/dev/null 2>&1; done
    start=$(date +%s.%N)
    eval "$2" || exit 1
    end=$(date +%s.%N)
    for p in $PIDS; do callgrind_control -d "$part" "$p" >/dev/null 2>&1; done
    awk -v a="$start" -v b="$end" 'BEGIN { printf "%.3f", b - a }'
}
#  Instructions of each process in dumps of part $1, as "name Ir" lines.
counts() {
    for f in "$OUT"/*.*.*; do
        grep -q "^cmd:" "$f" || continue
        if grep -q "^desc: Trigger: dump $1\$" "$f"; then
            echo "$(basename "$f" | cut -d. -f1) $(awk '/^(summary|totals):/ { print $2; exit }' "$f")"
        fi
    done
}
export WARMUP=0
run_cc() {
    /usr/bin/python3 "$HERE/instructions_client.py" cc "$1" "$CC_ES_AUTH"
}
run_refresh() {
    /usr/bin/python3 "$HERE/instructions_client.py" refresh "$1" "$CODE_AUTH" "$BUILD/rt"
}
#  Counting from here on; the warm-up requests run instrumented code paths
#  once (valgrind translates each the first time) before anything counts.
for p in $PIDS; do callgrind_control -i on "$p" >/dev/null 2>&1; done
WARMUP=1 run_cc 50
WARMUP=1 run_refresh 50
for scenario in cc refresh; do
    t=$(measure "$scenario" "run_$scenario $REQUESTS")
    idle=$(measure "$scenario-idle" "sleep $t")
    name="client_credentials ES256"
    [ "$scenario" = refresh ] && name="refresh rotation"
    join -a1 <(counts "$scenario" | sort) <(counts "$scenario-idle" | sort) |
        awk -v label="$LABEL" -v name="$name" -v n="$REQUESTS" -v t="$t" '
            { per = ($2 - ($3 + 0)) / n; total += per; line = line sprintf(" %s %.0f", $1, per) }
            END { printf "%s %s: %.0f instructions/request (%s ) over %d requests in %.1f s\n", label, name, total, line, n, t }'
done
