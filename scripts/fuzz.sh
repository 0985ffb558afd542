#!/usr/bin/env bash
#  fuzz.sh - runs the libFuzzer harnesses of fuzz/ (built by `make fuzz-build`
#  into build/fuzz/fuzz/fuzz_<name>).
#
#    scripts/fuzz.sh run [NAME...]      each harness for FUZZ_SECONDS (default
#                                       60) from its corpus; new inputs go to
#                                       build/fuzz/new/<name>, crashes to
#                                       build/fuzz/artifacts/<name>/
#    scripts/fuzz.sh merge [NAME...]    folds build/fuzz/new/<name> into
#                                       fuzz/corpus/<name> (only inputs that
#                                       add coverage)
#    scripts/fuzz.sh regress [NAME...]  each harness once over every file of
#                                       fuzz/corpus/<name>; prints one line per
#                                       harness and "fuzz: N passed, N failed"
#
#  No NAME: every harness. Runs are niced; FUZZ_ARGS adds libFuzzer options.
#  The per-input time-outs are generous: on a loaded 2-core machine a niced
#  run of a millisecond input has been seen to stall for 14 s.
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT" || exit 1
FUZZ_BUILD=${FUZZ_BUILD:-build/fuzz}
FUZZ_SECONDS=${FUZZ_SECONDS:-60}
BIN=$FUZZ_BUILD/fuzz

names() {
    if [ $# -gt 0 ]; then
        printf '%s\n' "$@"
        return
    fi
    local f
    for f in fuzz/fuzz_*.c; do
        f=${f#fuzz/fuzz_}
        printf '%s\n' "${f%.c}"
    done
}

harness() {
    local bin=$BIN/fuzz_$1
    if [ ! -x "$bin" ]; then
        echo "fuzz: $bin is not built (make fuzz-build)" >&2
        return 1
    fi
    printf '%s\n' "$bin"
}

cmd_run() {
    local name bin rc=0
    for name in $(names "$@"); do
        bin=$(harness "$name") || return 1
        mkdir -p "$FUZZ_BUILD/new/$name" "$FUZZ_BUILD/artifacts/$name" "fuzz/corpus/$name"
        echo "fuzz: $name for $FUZZ_SECONDS s"
        #  The first folder receives new inputs; the corpus is only read.
        # shellcheck disable=SC2086
        nice -n 19 "$bin" -max_total_time="$FUZZ_SECONDS" -timeout=30 -print_final_stats=1 \
            -artifact_prefix="$FUZZ_BUILD/artifacts/$name/" ${FUZZ_ARGS:-} \
            "$FUZZ_BUILD/new/$name" "fuzz/corpus/$name" >"$FUZZ_BUILD/$name.log" 2>&1 || rc=1
        grep -E '^(#[0-9]+ *DONE|stat::number_of_executed_units|==[0-9]+==ERROR|SUMMARY)' "$FUZZ_BUILD/$name.log" |
            sed "s/^/  $name: /"
    done
    [ "$rc" = 0 ] || echo "fuzz: a harness found something; see $FUZZ_BUILD/<name>.log and $FUZZ_BUILD/artifacts/" >&2
    return $rc
}

cmd_merge() {
    local name bin
    for name in $(names "$@"); do
        bin=$(harness "$name") || return 1
        [ -d "$FUZZ_BUILD/new/$name" ] || continue
        mkdir -p "fuzz/corpus/$name"
        before=$(find "fuzz/corpus/$name" -type f | wc -l)
        nice -n 19 "$bin" -merge=1 -timeout=30 "fuzz/corpus/$name" "$FUZZ_BUILD/new/$name" \
            >"$FUZZ_BUILD/$name.merge.log" 2>&1 || { echo "fuzz: merge of $name failed (see $FUZZ_BUILD/$name.merge.log)" >&2; return 1; }
        after=$(find "fuzz/corpus/$name" -type f | wc -l)
        echo "fuzz: $name: $((after - before)) new corpus file(s)"
    done
}

cmd_regress() {
    local name bin passed=0 failed=0 files log
    mkdir -p "$FUZZ_BUILD/regress"
    for name in $(names "$@"); do
        log=$FUZZ_BUILD/regress/$name.log
        if ! bin=$(harness "$name" 2>"$log"); then
            failed=$((failed + 1))
            echo "  fuzz_$name: FAILED (not built)"
            continue
        fi
        files=$(find "fuzz/corpus/$name" -type f 2>/dev/null | sort)
        if [ -z "$files" ]; then
            failed=$((failed + 1))
            echo "  fuzz_$name: FAILED (empty corpus fuzz/corpus/$name)"
            continue
        fi
        #  Files as arguments: each is run once, and nothing is fuzzed.
        # shellcheck disable=SC2086
        #  Sanitizer options meant for the services (make test SANITIZE=1
        #  sends their reports to files) would hide the harness's own report.
        if env -u ASAN_OPTIONS -u UBSAN_OPTIONS -u LSAN_OPTIONS timeout -k 5 120 "$bin" -timeout=60 $files \
            >"$log" 2>&1; then
            passed=$((passed + 1))
            echo "  fuzz_$name: $(echo "$files" | wc -l) corpus files"
        else
            failed=$((failed + 1))
            echo "---- fuzz_$name: FAILED; the end of its output ($log):"
            tail -n 40 "$log"
            echo "---- end of fuzz_$name"
        fi
    done
    echo "fuzz: $passed passed, $failed failed"
    [ "$failed" = 0 ]
}

case "${1:-}" in
    run | merge | regress)
        cmd=$1
        shift
        "cmd_$cmd" "$@"
        ;;
    *)
        echo "usage: $0 run|merge|regress [NAME...]" >&2
        exit 2
        ;;
esac
