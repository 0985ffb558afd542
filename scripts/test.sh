#!/usr/bin/env bash
#  test.sh - `make test`: unit tests, then end-to-end tests, on a throwaway
#  PostgreSQL cluster under $BUILD/test (wiped first, on a free port).
#
#  Unit tests: every $BUILD/tests/test_* (cmocka), with OSTIARY_TEST_DB set.
#  Fuzz harnesses: each once over its corpus (build/fuzz, scripts/fuzz.sh).
#  End to end: pytest over tests/e2e; the fixture in tests/e2e/conftest.py
#  starts the services itself, on this cluster (OSTIARY_DB_* exported here),
#  or, on OSTIARY_E2E_WORKERS pytest-xdist workers (default 3), each worker
#  on a cluster of its own.
#  Conformance: scripts/conformance.sh (tests/conformance) on the same
#  cluster, with a stack of its own; its table goes to $BUILD/test/conformance.
#  SANITIZE=1: sanitizer reports go to $BUILD/test/san/ and fail the run.
#  The last line is "N passed, N failed" (", N skipped" when some were).
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT" || exit 1
BUILD=${BUILD:-build/rel}
case "$BUILD" in /*) ;; *) BUILD=$ROOT/$BUILD ;; esac
SANITIZE=${SANITIZE:-0}
T=$BUILD/test
PG=$T/pg
UNIT_TIMEOUT=${OSTIARY_UNIT_TIMEOUT:-180}
#  Limits that keep `make test` under 15 minutes even when something hangs.
E2E_TIMEOUT=${OSTIARY_E2E_TIMEOUT:-900}
CONFORMANCE_TIMEOUT=${OSTIARY_CONFORMANCE_TIMEOUT:-300}
#  pytest-xdist workers of the end-to-end tests, each with its own stack,
#  cluster and ports (tests/e2e/conftest.py); 1 = one pytest process.
E2E_WORKERS=${OSTIARY_E2E_WORKERS:-3}
#  What pytest runs (files or node ids, separated by spaces): all of tests/e2e.
read -r -a E2E_TESTS <<<"${OSTIARY_E2E_TESTS:-tests/e2e}"

PASSED=0
FAILED=0
SKIPPED=0

say() { echo "test: $*"; }

#  A free TCP port on loopback, as the kernel hands it out.
free_port() {
    /usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

#  A cluster left running by an interrupted run is stopped before the wipe.
if [ -f "$PG/data/PG_VERSION" ]; then
    scripts/pg.sh stop "$PG" >/dev/null 2>&1 || true
fi
rm -rf "$T"
(umask 022 && mkdir -p "$T/unit" "$T/e2e" "$T/conformance")

#  Run as root, PostgreSQL runs as `postgres`, which must reach the cluster
#  folder. When the work tree sits under a folder it cannot enter (a clone in
#  /root, say), the throwaway cluster goes to /var/tmp instead.
PG_TMP=""
if ! scripts/pg.sh check "$PG"; then
    PG_TMP=$(mktemp -d /var/tmp/ostiary-test.XXXXXX)
    chmod 755 "$PG_TMP"
    PG=$PG_TMP/pg
    say "the postgres user cannot reach $T; the cluster goes to $PG"
fi

PG_STARTED=0
stop_pg() {
    if [ "$PG_STARTED" = 1 ]; then
        PG_STARTED=0
        scripts/pg.sh stop "$PG" >/dev/null 2>&1 || true
    fi
    if [ -n "$PG_TMP" ]; then
        rm -rf "$PG_TMP"
        PG_TMP=""
    fi
}
trap stop_pg EXIT
trap 'stop_pg; echo; echo "interrupted"; exit 130' INT TERM

port=$(free_port)
say "PostgreSQL cluster in $PG (port $port)"
if ! OSTIARY_PG_FAST=1 scripts/pg.sh init "$PG" "$port" >/dev/null; then
    echo "0 passed, 1 failed"
    exit 1
fi
PG_STARTED=1
if ! scripts/pg.sh start "$PG" || ! scripts/pg.sh bootstrap "$PG"; then
    stop_pg
    echo "0 passed, 1 failed"
    exit 1
fi
eval "$(scripts/pg.sh env "$PG")"
export OSTIARY_MIGRATIONS_DIR=$ROOT/migrations

if [ "$SANITIZE" = 1 ]; then
    mkdir -p "$T/san"
    #  Reports go to files (one per process, named by pid) so that none is lost
    #  in a log nobody reads; any such file fails the run below.
    export ASAN_OPTIONS="detect_leaks=1:halt_on_error=1:abort_on_error=0:log_path=$T/san/asan:strict_string_checks=1:detect_stack_use_after_return=1:check_initialization_order=1${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
    export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:log_path=$T/san/ubsan${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}"
    export LSAN_OPTIONS="log_path=$T/san/lsan${LSAN_OPTIONS:+:$LSAN_OPTIONS}"
fi
export SANITIZE
unset CMOCKA_MESSAGE_OUTPUT CMOCKA_XML_FILE

#  Sum of the numbers a cmocka summary line carries, e.g. "[  PASSED  ] 3 test(s).".
sum_of() {
    sed -n "s/^\[  $1 *\] \([0-9][0-9]*\) test(s).*/\1/p" "$2" | awk '{ n += $1 } END { print n + 0 }'
}

#  ------------------------------------------------------------------ docs
#  Pages generated from a table must match it: proto/ops.md (proto/ops.def),
#  docs/audit.md (common/audit.def), docs/metrics.md (common/metrics.def) and
#  README.md's configuration reference (common/config.def) and package table
#  (scripts/deps.sh); and every C
#  source must be as `make format` leaves it.
say "generated documentation and formatting"
for check in "scripts/deps.sh readme --check" "$BUILD/bin/ostiary-opsdoc --check proto/ops.md" "$BUILD/bin/ostiary-auditdoc --check docs/audit.md" "$BUILD/bin/ostiary-metricsdoc --check docs/metrics.md" "scripts/config-doc.sh --check" "make --no-print-directory format-check"; do
    if out=$($check 2>&1); then
        PASSED=$((PASSED + 1))
        echo "  ${check%% *}: current"
    else
        FAILED=$((FAILED + 1))
        echo "---- ${check%% *}: $out"
    fi
done

#  ------------------------------------------------------------------ unit
#  Unit tests, then the in-process service tests ($BUILD/tests/svc: the
#  services on inproc:// against OSTIARY_TEST_DB), each with its time.
say "unit tests and in-process service tests"
shopt -s nullglob
SVC_MS=0
for bin in "$BUILD"/tests/test_* "$BUILD"/tests/svc/test_*; do
    [ -f "$bin" ] && [ -x "$bin" ] || continue
    case "$bin" in *.d | *.o) continue ;; esac
    name=$(basename "$bin")
    log=$T/unit/$name.log
    rc=0
    t0=$(date +%s%N)
    #  --foreground: Ctrl-C reaches the test; a time-out still ends it.
    timeout --foreground -k 10 "$UNIT_TIMEOUT" "$bin" >"$log" 2>&1 </dev/null || rc=$?
    ms=$((($(date +%s%N) - t0) / 1000000))
    case "$bin" in */tests/svc/*) SVC_MS=$((SVC_MS + ms)) ;; esac
    p=$(sum_of PASSED "$log")
    f=$(sum_of FAILED "$log")
    s=$(sum_of SKIPPED "$log")
    note=""
    if [ "$rc" != 0 ] && [ "$f" = 0 ]; then
        #  A crash, a sanitizer abort or a time-out: the binary counts as one failure.
        f=1
        case $rc in
            124 | 137) note=" (timed out after ${UNIT_TIMEOUT} s)" ;;
            *) note=" (exit status $rc)" ;;
        esac
    elif [ "$rc" = 0 ] && ! grep -q '^\[  PASSED  \]' "$log"; then
        f=1
        note=" (no cmocka summary)"
    fi
    if grep -q -e 'runtime error:' -e 'ERROR: AddressSanitizer' -e 'ERROR: LeakSanitizer' "$log"; then
        [ "$f" = 0 ] && f=1
        note="$note (sanitizer report in its output)"
    fi
    PASSED=$((PASSED + p))
    FAILED=$((FAILED + f))
    SKIPPED=$((SKIPPED + s))
    if [ "$f" != 0 ]; then
        echo "---- $name: $p passed, $f failed$note; its output:"
        cat "$log"
        echo "---- end of $name"
    else
        if [ "$s" != 0 ]; then echo "  $name: $p passed, $s skipped ($ms ms)"; else echo "  $name: $p passed ($ms ms)"; fi
    fi
done
shopt -u nullglob
say "in-process service tests took $SVC_MS ms"

#  ------------------------------------------------------------------ fuzz
#  Each libFuzzer harness once over its checked-in corpus (scripts/fuzz.sh
#  regress): a regression run of seconds, each harness one test.
say "fuzz harnesses over their corpora"
scripts/fuzz.sh regress >"$T/fuzz.log" 2>&1
grep -v '^fuzz: [0-9]* passed' "$T/fuzz.log"
read -r p f < <(sed -n 's/^fuzz: \([0-9][0-9]*\) passed, \([0-9][0-9]*\) failed$/\1 \2/p' "$T/fuzz.log")
if [ -z "${p:-}" ]; then
    say "scripts/fuzz.sh regress printed no summary"
    p=0 f=1
fi
PASSED=$((PASSED + p))
FAILED=$((FAILED + f))

#  After a pytest run in folder $1 (exit status $2, time limit $3): ends
#  what a killed pytest left running, and sets p f s from its summary line.
pytest_totals() {
    local dir=$1 rc=$2 limit=$3
    #  The fixture records every pid it starts ($dir/pids, or $dir/gw<N>/pids
    #  per xdist worker); end those still running one of our binaries (or the
    #  Prometheus server of tests/e2e/test_metrics.py, or the Apache of
    #  tests/e2e/test_mod_auth_openidc.py).
    local pids clusters f cdir
    shopt -s nullglob
    pids=("$dir"/pid[s] "$dir"/*/pids)
    clusters=("$dir"/cluste[r] "$dir"/*/cluster)
    shopt -u nullglob
    if [ ${#pids[@]} -gt 0 ]; then
        bin_real=$(cd "$BUILD/bin" 2>/dev/null && pwd -P) || bin_real=$BUILD/bin
        while read -r pid name; do
            exe=$(readlink "/proc/$pid/exe" 2>/dev/null) || continue
            case "$exe" in "$bin_real"/* | "$(command -v prometheus || echo /nonexistent)" | /usr/sbin/apache2)
                say "stopping $name (pid $pid) left behind by pytest"
                kill -KILL "$pid" 2>/dev/null || true ;;
            esac
        done < <(cat "${pids[@]}")
    fi
    #  The clusters of xdist workers (each names its folder in a file
    #  "cluster"): stopped when a killed pytest left one running, and
    #  removed when it was made under /var/tmp.
    for f in "${clusters[@]}"; do
        cdir=$(cat "$f")
        if scripts/pg.sh status "$cdir" >/dev/null 2>&1; then
            say "stopping the PostgreSQL cluster $cdir left behind by pytest"
            scripts/pg.sh stop "$cdir" immediate >/dev/null 2>&1 || true
        fi
        case "$cdir" in /var/tmp/ostiary-e2e.*/pg) rm -rf "${cdir%/pg}" ;; esac
    done
    read -r p f s < <(/usr/bin/python3 - "$dir/pytest.log" <<'EOF'
import re, sys
counts = {}
text = open(sys.argv[1], errors="replace").read().splitlines()
for line in reversed(text):
    line = line.strip().strip("=").strip()
    if re.search(r"\bin [0-9.]+s\b", line) and re.match(r"^(no tests ran|\d+ \w+)", line):
        for n, word in re.findall(r"(\d+) (\w+)", line.split(" in ")[0]):
            counts[word] = counts.get(word, 0) + int(n)
        break
g = counts.get
print(g("passed", 0) + g("xpassed", 0),
      g("failed", 0) + g("error", 0) + g("errors", 0),
      g("skipped", 0) + g("xfailed", 0))
EOF
)
    p=${p:-0} f=${f:-0} s=${s:-0}
    case $rc in
        0 | 1) ;;
        5) say "pytest collected no tests" ;;
        124 | 137) say "pytest timed out after $limit s" ;;
        *) say "pytest exited with status $rc" ;;
    esac
    if [ "$rc" != 0 ] && [ "$rc" != 5 ] && [ "$f" = 0 ]; then
        f=1
    fi
}

#  ------------------------------------------------------------------ e2e
#  Several pytest-xdist workers when the plugin is there (scripts/deps.sh
#  installs it), each running whole files (--dist loadfile) on a stack,
#  PostgreSQL cluster and folder ($T/e2e/gw<N>) of its own; the cluster made
#  above stays for the unit tests.
xdist=()
if [ "$E2E_WORKERS" -gt 1 ] && /usr/bin/python3 -c 'import xdist' 2>/dev/null; then
    xdist=(-n "$E2E_WORKERS" --dist loadfile)
    say "end-to-end tests ($E2E_WORKERS workers)"
else
    say "end-to-end tests"
fi
export OSTIARY_BIN_DIR=$BUILD/bin
export OSTIARY_E2E_DIR=$T/e2e
export PYTHONDONTWRITEBYTECODE=1
rc=0
#  On time-out pytest gets SIGTERM, which the fixture turns into an orderly
#  stop of the processes it started (the xdist controller passes it on to its
#  workers); SIGKILL follows 30 s later.
timeout --foreground -k 30 "$E2E_TIMEOUT" /usr/bin/python3 -m pytest "${E2E_TESTS[@]}" -q -p no:cacheprovider \
    --durations=10 "${xdist[@]}" </dev/null 2>&1 | tee "$T/e2e/pytest.log"
rc=${PIPESTATUS[0]}
pytest_totals "$T/e2e" "$rc" "$E2E_TIMEOUT"
PASSED=$((PASSED + p))
FAILED=$((FAILED + f))
SKIPPED=$((SKIPPED + s))

#  ------------------------------------------------------------------ conformance
say "conformance (tests/conformance)"
rc=0
OSTIARY_E2E_DIR=$T/conformance OSTIARY_CONFORMANCE_README=$T/conformance/README.md \
    timeout --foreground -k 30 "$CONFORMANCE_TIMEOUT" scripts/conformance.sh 2>&1 | tee "$T/conformance/pytest.log"
rc=${PIPESTATUS[0]}
pytest_totals "$T/conformance" "$rc" "$CONFORMANCE_TIMEOUT"
if [ -f "$T/conformance/README.md" ] && ! cmp -s "$T/conformance/README.md" tests/conformance/README.md; then
    say "the conformance table differs from tests/conformance/README.md (make conformance writes it):"
    diff -u tests/conformance/README.md "$T/conformance/README.md" | head -n 40
fi
PASSED=$((PASSED + p))
FAILED=$((FAILED + f))
SKIPPED=$((SKIPPED + s))

stop_pg

#  ------------------------------------------------------------------ sanitizers
if [ "$SANITIZE" = 1 ]; then
    reports=$(find "$T/san" -type f 2>/dev/null | sort)
    if [ -n "$reports" ]; then
        n=0
        for r in $reports; do
            n=$((n + 1))
            #  Name the process: the e2e fixture records "pid name" for each
            #  (of the end-to-end and the conformance runs).
            pid=${r##*.}
            who=$(cat "$T"/e2e/pids "$T"/e2e/*/pids "$T"/conformance/pids /dev/null 2>/dev/null |
                awk -v p="$pid" '$1 == p { print $2 }')
            echo "---- sanitizer report $r${who:+ ($who)}"
            head -n 80 "$r"
        done
        echo "(stacks stop at libraries built without frame pointers; for full ones:"
        echo " ASAN_OPTIONS=fast_unwind_on_malloc=0 make test SANITIZE=1)"
        say "$n sanitizer report(s): each counts as a failure"
        FAILED=$((FAILED + n))
    else
        say "no sanitizer report"
    fi
fi

line="$PASSED passed, $FAILED failed"
[ "$SKIPPED" -gt 0 ] && line="$line, $SKIPPED skipped"
echo "$line"
[ "$FAILED" = 0 ]
