#!/usr/bin/env bash
#  test-under-load.sh - `make test` several times in a row while a CPU hog
#  runs beside it: the suite must not depend on having the machine to itself
#  (a test waits for a condition, never for a fixed time).
#
#    scripts/test-under-load.sh [RUNS]     RUNS defaults to 3
#
#  Environment: HOG_CPUS (stress-ng --cpu workers, default 1), MAKE_ARGS
#  (passed to make test, e.g. "SANITIZE=1"). Installs stress-ng from Debian's
#  archive when it is missing. Exit status: 0 when every run passed, 1 when
#  one failed (its output is kept in build/test-under-load/run-N.log), 2 on
#  bad usage or when stress-ng cannot be installed. Not a CI step: it takes
#  RUNS times as long as make test.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
RUNS=${1:-3}
HOG_CPUS=${HOG_CPUS:-1}
case $RUNS in
    '' | *[!0-9]* | 0)
        echo "usage: scripts/test-under-load.sh [RUNS] (RUNS a positive number)" >&2
        exit 2
        ;;
esac
if ! command -v stress-ng >/dev/null; then
    if [ "$(id -u)" = 0 ]; then
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q stress-ng >/dev/null || true
    elif command -v sudo >/dev/null; then
        sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -q stress-ng >/dev/null || true
    fi
    command -v stress-ng >/dev/null || {
        echo "test-under-load: stress-ng is missing and could not be installed (apt-get install stress-ng)" >&2
        exit 2
    }
fi
OUT=$ROOT/build/test-under-load
mkdir -p "$OUT"
stress-ng --cpu "$HOG_CPUS" --quiet &
HOG=$!
trap 'kill "$HOG" 2>/dev/null; wait "$HOG" 2>/dev/null || true' EXIT
failed=0
for n in $(seq "$RUNS"); do
    start=$(date +%s)
    rc=0
    # shellcheck disable=SC2086
    make --no-print-directory test ${MAKE_ARGS:-} >"$OUT/run-$n.log" 2>&1 </dev/null || rc=$?
    summary=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$OUT/run-$n.log" | tail -1 || true)
    echo "run $n of $RUNS: exit $rc, ${summary:-no summary}, $(($(date +%s) - start)) s (log: $OUT/run-$n.log)"
    [ "$rc" = 0 ] || failed=1
done
exit "$failed"
