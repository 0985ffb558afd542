#!/usr/bin/env bash
#  bench/seed.sh BIN URL - seeds the clients and the user of the token
#  scenarios of bench/run.sh and prints shell `export` lines for them.
#  Idempotent: a client that exists already is registered again (removed
#  and added), a user that exists is kept. Needs OSTIARY_BUS_ENDPOINT (run.sh exports it).
#
#  Exports:
#    CC_RS_AUTH / CC_ES_AUTH   'Basic ...' of a client_credentials client whose
#                              access tokens are RS256 / ES256 (each client
#                              has its own access-token algorithm:
#                              `ostiaryctl clients add --access-token-alg`)
#    CODE_CLIENT_ID CODE_SECRET CODE_AUTH CODE_REDIRECT   a confidential,
#                              first-party client with the authorization_code
#                              and refresh_token grants (code, refresh, login,
#                              userinfo and introspection scenarios)
#    BENCH_USER BENCH_PASSWORD the user who logs in
set -euo pipefail
BIN=$1
URL=$2
CTL=$BIN/ostiaryctl
PASSWORD=bench-password-not-secret

#  client_id → its secret on stdout. A client that exists is removed and
#  added again, so that its registration (redirect URI with this run's port,
#  algorithms) is always the one below.
client() {
    local id=$1
    shift
    local out
    if "$CTL" clients show "$id" >/dev/null 2>&1; then
        "$CTL" clients remove "$id" >/dev/null 2>&1
    fi
    out=$("$CTL" clients add --id "$id" "$@" 2>/dev/null)
    /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["client_secret"])' <<<"$out"
}

basic() { printf 'Basic %s' "$(printf '%s:%s' "$1" "$2" | base64 -w0)"; }

for alg in RS256 ES256; do
    cc_id=bench-cc-$(echo "$alg" | tr 'A-Z' 'a-z')
    cc_secret=$(client "$cc_id" --name "bench $alg client_credentials" --grant-type client_credentials \
        --scope "profile email" --redirect-uri "$URL/bench/none" --access-token-alg "$alg")
    echo "export CC_${alg:0:2}_AUTH='$(basic "$cc_id" "$cc_secret")'"
done

#  The relying party's ID tokens are RS256 (as the peer's are); its access
#  tokens ES256, which its resource servers verify faster (the peer's are
#  opaque there). Two RSA signatures per refresh would measure
#  RSA, not us.
code_id=bench-rp
redirect=$URL/bench/callback
code_secret=$(client "$code_id" --name "bench relying party" --grant-type authorization_code \
    --grant-type refresh_token --scope "openid profile email offline_access" --redirect-uri "$redirect" \
    --first-party --id-token-alg RS256 --access-token-alg "${BENCH_RP_AT_ALG:-ES256}")
echo "export CODE_CLIENT_ID=$code_id CODE_SECRET='$code_secret' CODE_REDIRECT='$redirect'"
echo "export CODE_AUTH='$(basic "$code_id" "$code_secret")'"

user=bench-user
if ! "$CTL" users show "$user" >/dev/null 2>&1; then
    "$CTL" users add "$user" --password "$PASSWORD" --email "$user@example.org" --name "Bench User" >/dev/null
fi
echo "export BENCH_USER=$user BENCH_PASSWORD='$PASSWORD'"
