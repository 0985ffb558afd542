#!/usr/bin/env bash
#  bench/sustain.sh PHASE SLICES - refresh rotation without a break, in wrk
#  runs of SLICE seconds (default 30) at CONNS_SUSTAIN connections (16), each
#  with refresh tokens freshly minted by bench/mint.py; after each, one
#  markdown row: the machine's load (1-minute average), req/s, p50, p99, the
#  share of the slice during which token-svc's janitor held its round's lock
#  (sampled every second from pg_locks), and the rows of token-svc's tables
#  at the slice's start (in brackets, those the janitor may delete then:
#  its predicates with the default lifetimes). PHASE names the
#  rows; "catch-up" stops early at the first slice that starts with nothing
#  to delete. Called by bench/run.sh (SCALE, SUSTAIN) with the suite running
#  and its environment (BUILD, URL, OUT, CODE_AUTH, THREADS) exported.
set -euo pipefail
PHASE=$1
SLICES=$2
SLICE=${SLICE:-30}
C=${CONNS_SUSTAIN:-16}
PSQL=(scripts/pg.sh psql "$BUILD/run/pg" -d ostiary -X -q -A -t)
MAX_S=${OSTIARY_REFRESH_MAX_LIFETIME:-2592000}
IDLE_S=${OSTIARY_REFRESH_IDLE_TIMEOUT:-1209600}

#  "families tokens family_jtis revoked_jtis codes" rows, then the same
#  for those the janitor may delete (its predicates, token-svc/token_store.c).
counts() {
    "${PSQL[@]}" -F ' ' -c "SET search_path TO token;
SELECT (SELECT count(*) FROM refresh_families), (SELECT count(*) FROM refresh_tokens),
 (SELECT count(*) FROM family_jtis), (SELECT count(*) FROM revoked_jtis), (SELECT count(*) FROM codes),
 (SELECT count(*) FROM refresh_families f WHERE (revoked_at < now() - interval '1 hour'
   OR created_at < now() - make_interval(secs => $MAX_S) - interval '1 hour'
   OR last_used_at < now() - make_interval(secs => $IDLE_S) - interval '1 hour')
   AND NOT EXISTS (SELECT 1 FROM family_jtis j WHERE j.family_id = f.id AND j.expires_at > now() - interval '5 minutes')),
 0,
 (SELECT count(*) FROM family_jtis WHERE expires_at < now() - interval '5 minutes'),
 (SELECT count(*) FROM revoked_jtis WHERE expires_at < now() - interval '5 minutes'),
 (SELECT count(*) FROM codes WHERE expires_at < now() - interval '1 hour'
   AND (issued_exp IS NULL OR issued_exp < now() - interval '5 minutes'))"
}

#  1 when token-svc's janitor holds its advisory lock (a round is running).
janitor_busy() {
    "${PSQL[@]}" -c "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a USING (pid)
 WHERE l.locktype = 'advisory' AND l.granted AND a.usename = 'ostiary_token'" 2>/dev/null || echo 0
}

for i in $(seq 1 "$SLICES"); do
    read -r f t j r c df _ dj dr dc <<<"$(counts)"
    if [ "$PHASE" = catch-up ] && [ $((df + dj + dr + dc)) -eq 0 ]; then
        break
    fi
    /usr/bin/python3 bench/mint.py refresh "$((C + 4))" >"$OUT/rt-sustain" 2>"$OUT/mint.err"
    (
        n=0 busy=0
        end=$(($(date +%s) + SLICE))
        while [ "$(date +%s)" -lt "$end" ]; do
            busy=$((busy + $(janitor_busy)))
            n=$((n + 1))
            sleep 1
        done
        echo "$busy $n" >"$OUT/busy"
    ) &
    sampler=$!
    RT_FILE="$OUT/rt-sustain" NTHREADS="$THREADS" AUTH="$CODE_AUTH" wrk -t"$THREADS" -c"$C" -d"${SLICE}s" --timeout 5s --latency -s bench/lua/refresh.lua "$URL/token" \
        >"$OUT/wrk-sustain.out" 2>&1 <<<"" || true
    wait "$sampler"
    read -r busy n <"$OUT/busy"
    read -r rps p50 p99 <<<"$(/usr/bin/python3 - "$OUT/wrk-sustain.out" <<'PY'
import re, sys
s = open(sys.argv[1]).read()
def ms(pct):
    m = re.search(r'\s' + pct + r'%\s+([\d.]+)(us|ms|s)\b', s)
    if not m:
        return float('nan')
    v, u = float(m.group(1)), m.group(2)
    return v / 1000 if u == 'us' else v * 1000 if u == 's' else v
rps = re.search(r'Requests/sec:\s+([\d.]+)', s)
print(f"{float(rps.group(1)) if rps else 0:.0f} {ms('50'):.2f} {ms('99'):.2f}")
PY
)"
    load=$(cut -d' ' -f1 /proc/loadavg)
    echo "| $PHASE $i | $(date -u +%H:%M:%S) | $load | $rps | $p50 | $p99 | $((100 * busy / (n > 0 ? n : 1))) % | $f ($df) | $t | $j ($dj) | $r ($dr) | $c ($dc) |"
done
