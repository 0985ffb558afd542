#!/usr/bin/env bash
#  deploy-test.sh - `make test-deploy`: docker-compose.yml brought up for real
#  with podman, used through its published ports, scaled, restarted one
#  container at a time under load, and torn down.
#
#  Steps (each one counts as a test; the first failure ends the run):
#    containers run       a container of the local Debian base starts here
#                         (where none can, the run is skipped, with the reason)
#    images               scripts/image.sh build (Ostiary's and PostgreSQL's)
#    bus keys             ostiaryctl bus keygen run from the image
#    compose up           PostgreSQL, two gateways, two replicas each of
#                         token-svc, flow-svc and keys-svc; every health
#                         check passes, both /readyz 200
#    operator tool        `docker-compose run ostiaryctl` adds a client and a user
#    login                code flow with PKCE, code exchange, ID token checked,
#                         refresh, revocation (tests/deploy/client.py)
#    scale token-svc      to three; with the first two stopped, the third
#                         answers every refresh
#    rolling restart      one container of each Ostiary service restarted in
#                         turn while a client refreshes without pause: no
#                         request may fail (a gateway leaves the client's
#                         rotation first, as it would leave a load balancer's)
#    teardown             docker-compose down -v leaves no container, volume
#                         or network of the project
#
#  docker-compose (1.29) talks to a `podman system service` of our own on a
#  socket under build/deploy; podman's host settings come from the
#  containers.conf scripts/image.sh writes (CONTAINERS_CONF), nothing under
#  /etc is changed. Health checks: podman runs them from systemd timers, and
#  there is no systemd in CI's machines, so this script runs them itself
#  (`podman healthcheck run`) wherever it waits for health.
#
#  The last line is "N passed, N failed" (", N skipped"). Time limits: every
#  wait has its own; `make test-deploy` bounds the whole run to 15 minutes.
#  Whatever happens (failure, time-out, Ctrl-C), the EXIT trap takes the
#  project's containers, volumes and network down and stops the podman service.
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT" || exit 1
PROJECT=ostiarydeploy
STATE=$ROOT/build/deploy
RUN=$STATE/run
PY=/usr/bin/python3
PASSED=0
FAILED=0
T_START=$(date +%s)

say() { echo "deploy: $*"; }
elapsed() { echo "$(($(date +%s) - T_START)) s"; }
pass() {
    PASSED=$((PASSED + 1))
    say "ok   $1 ($(elapsed))"
}
finish() {
    local line="$PASSED passed, $FAILED failed"
    [ "${SKIPPED:-0}" -gt 0 ] && line="$line, $SKIPPED skipped"
    echo "$line"
    [ "$FAILED" = 0 ]
    exit $?
}
#  A failed step: the reason, the containers' last log lines, and the end.
fail() {
    FAILED=$((FAILED + 1))
    say "FAILED $1: $2 ($(elapsed))"
    dump_logs
    finish
}
skip() {
    SKIPPED=1
    say "skipped: $*"
    finish
}

#  ------------------------------------------------------------------ tools
if ! command -v podman >/dev/null 2>&1 || ! command -v docker-compose >/dev/null 2>&1; then
    FAILED=1
    say "podman or docker-compose is missing: scripts/deps.sh install brings them"
    finish
fi
eval "$(scripts/image.sh env)"
mkdir -p "$RUN"

SOCK=$STATE/podman.sock
export DOCKER_HOST=unix://$SOCK
SERVICE_PID=""
COMPOSE_UP=0
CLIENT_PID=""

compose() {
    docker-compose -p "$PROJECT" -f "$ROOT/docker-compose.yml" -f "$ROOT/deploy/compose-podman.yml" --project-directory "$ROOT" "$@"
}

#  The project's containers, one per line: "name service".
containers() {
    podman ps -a --filter "label=com.docker.compose.project=$PROJECT" \
        --format '{{.Names}} {{index .Labels "com.docker.compose.service"}}' 2>/dev/null | sort
}

dump_logs() {
    [ "$COMPOSE_UP" = 1 ] || return 0
    local name service
    while read -r name service; do
        [ -n "$name" ] || continue
        podman logs "$name" >"$RUN/$name.log" 2>&1 || true
        echo "---- $name ($service, $(podman inspect --format '{{.State.Status}}' "$name" 2>/dev/null)), last lines:"
        tail -n 15 "$RUN/$name.log"
    done < <(containers)
    echo "---- (whole logs in $RUN)"
}

#  What the project left: containers, volumes, networks (empty when nothing).
leftovers() {
    podman ps -a -q --filter "label=com.docker.compose.project=$PROJECT" 2>/dev/null | sed 's/^/container /'
    podman volume ls -q --filter "label=com.docker.compose.project=$PROJECT" 2>/dev/null | sed 's/^/volume /'
    podman network ls -q 2>/dev/null | grep "^${PROJECT}_" | sed 's/^/network /'
}

#  Everything of the project goes, through compose when the service answers,
#  then with podman for whatever is left.
teardown() {
    if [ -n "$SERVICE_PID" ] && kill -0 "$SERVICE_PID" 2>/dev/null; then
        timeout 90 docker-compose -p "$PROJECT" -f "$ROOT/docker-compose.yml" -f "$ROOT/deploy/compose-podman.yml" --project-directory "$ROOT" \
            --profile admin down -v --remove-orphans -t 10 >"$RUN/down.log" 2>&1 || true
    fi
    local kind id
    while read -r kind id; do
        case $kind in
            container) podman rm -f -t 5 "$id" >/dev/null 2>&1 ;;
            volume) podman volume rm -f "$id" >/dev/null 2>&1 ;;
            network) podman network rm -f "$id" >/dev/null 2>&1 ;;
        esac
    done < <(leftovers)
}

cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    if [ -n "$CLIENT_PID" ]; then
        kill "$CLIENT_PID" 2>/dev/null || true
    fi
    teardown
    if [ -n "$SERVICE_PID" ]; then
        kill "$SERVICE_PID" 2>/dev/null || true
        wait "$SERVICE_PID" 2>/dev/null || true
    fi
    rm -f "$SOCK"
    local left
    left=$(leftovers)
    [ -z "$left" ] || say "left behind after cleanup: $(echo $left)"
    exit $rc
}
#  A signal's trap runs inside whatever redirection the interrupted command
#  had (a log file): its report goes to the script's own output (fd 3, 4).
exec 3>&1 4>&2
trap 'cleanup >&3 2>&4' EXIT
trap '{ say "interrupted after $(elapsed)"; FAILED=$((FAILED + 1)); finish; } >&3 2>&4' INT TERM

#  Runs the health check of container $1 until it passes, at most $2 seconds.
wait_healthy() {
    local ctr=$1 until=$(($(date +%s) + $2))
    while [ "$(date +%s)" -lt "$until" ]; do
        if [ "$(podman inspect --format '{{.State.Status}}' "$ctr" 2>/dev/null)" = running ] &&
            timeout 20 podman healthcheck run "$ctr" >/dev/null 2>&1; then
            return 0
        fi
        sleep 1
    done
    return 1
}

#  GET http://127.0.0.1:$1$2 answers 200 within $3 seconds.
wait_http() {
    local until=$(($(date +%s) + $3))
    while [ "$(date +%s)" -lt "$until" ]; do
        curl -fsS -o /dev/null --max-time 3 "http://127.0.0.1:$1$2" 2>/dev/null && return 0
        sleep 1
    done
    return 1
}

free_port() {
    $PY -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

new_key() { head -c32 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n'; }

#  A run that was killed may have left its project behind: start clean.
#  (Without the API service, compose cannot help; podman removes by label.)
teardown

#  ------------------------------------------------------------------ containers run
if ! scripts/image.sh base >"$RUN/base.log" 2>&1; then
    fail "containers run" "the Debian base image could not be made: $(tail -n 3 "$RUN/base.log")"
fi
if ! out=$(timeout 60 podman run --rm --network none "$OSTIARY_BASE_IMAGE" true 2>&1); then
    #  Only an error of the container runtime itself means "cannot run here".
    case "$out" in
        *runc* | *crun* | *OCI* | *cgroup* | *namespace* | *"operation not permitted"* | *"permission denied"*)
            skip "containers cannot run on this machine: $(echo "$out" | tail -n 2 | tr '\n' ' ')" ;;
        *) fail "containers run" "$out" ;;
    esac
fi
pass "containers run (podman $(podman version --format '{{.Client.Version}}'), runtime $(podman info --format '{{.Host.OCIRuntime.Name}}'), cgroups $(podman info --format '{{.Host.CgroupManager}}'))"

#  ------------------------------------------------------------------ images
t0=$(date +%s)
if ! scripts/image.sh build >"$RUN/image.log" 2>&1; then
    fail "images" "scripts/image.sh build failed; its last lines: $(tail -n 5 "$RUN/image.log")"
fi
grep '^image: ' "$RUN/image.log" | grep -v 'is there' | sed 's/^image: /deploy:   /'
pass "images built in $(($(date +%s) - t0)) s"

#  ------------------------------------------------------------------ bus keys
rm -rf "$RUN/bus-keys" && mkdir -p "$RUN/bus-keys"
if ! podman run --rm --network none --user 0 -v "$RUN/bus-keys:/keys" "$OSTIARY_IMAGE" \
    ostiaryctl bus keygen /keys >"$RUN/keygen.log" 2>&1; then
    fail "bus keys" "ostiaryctl bus keygen: $(cat "$RUN/keygen.log")"
fi
#  The services run as uid 10001, and read their key from a file bound into
#  the container: the secret files (0600) belong to that user.
chown 10001:10001 "$RUN/bus-keys/"*.key
n=$(find "$RUN/bus-keys" -name '*.key' | wc -l)
[ "$n" = 5 ] || fail "bus keys" "expected 5 secret keys, found $n"
pass "bus keys: $(cd "$RUN/bus-keys" && echo *.key) and peers/"

#  ------------------------------------------------------------------ compose up
rm -f "$SOCK"
podman system service --time=0 "unix://$SOCK" >"$RUN/podman-service.log" 2>&1 &
SERVICE_PID=$!
until_t=$(($(date +%s) + 30))
until curl -fsS --max-time 2 --unix-socket "$SOCK" http://d/_ping >/dev/null 2>&1; do
    [ "$(date +%s)" -lt "$until_t" ] && kill -0 "$SERVICE_PID" 2>/dev/null ||
        fail "compose up" "podman system service did not answer on $SOCK: $(tail -n 3 "$RUN/podman-service.log")"
    sleep 0.5
done

PORT1=$(free_port)
PORT2=$(free_port)
while [ "$PORT2" = "$PORT1" ]; do PORT2=$(free_port); done
ISSUER=https://id.deploy.test
export OSTIARY_ISSUER=$ISSUER OSTIARY_MODE=production OSTIARY_LOG_LEVEL=info
export OSTIARY_HTTP_PORT=$PORT1 OSTIARY_HTTP_PORT_2=$PORT2
export OSTIARY_BUS_KEYS_DIR=$RUN/bus-keys
OSTIARY_KEK=$(new_key) OSTIARY_CLIENT_SECRET_KEY=$(new_key) OSTIARY_FLOW_SECRET_KEY=$(new_key)
POSTGRES_PASSWORD=$(new_key) OSTIARY_TOKEN_DB_PASSWORD=$(new_key)
OSTIARY_FLOW_DB_PASSWORD=$(new_key) OSTIARY_KEYS_DB_PASSWORD=$(new_key)
export OSTIARY_KEK OSTIARY_CLIENT_SECRET_KEY OSTIARY_FLOW_SECRET_KEY POSTGRES_PASSWORD
export OSTIARY_TOKEN_DB_PASSWORD OSTIARY_FLOW_DB_PASSWORD OSTIARY_KEYS_DB_PASSWORD
COMPOSE_UP=1

#  PostgreSQL first, healthy, so that compose's service_healthy conditions
#  hold when the services are created.
compose up -d postgres >"$RUN/up.log" 2>&1 || fail "compose up" "postgres: $(tail -n 5 "$RUN/up.log")"
pg=$(containers | awk '$2 == "postgres" { print $1; exit }')
wait_healthy "$pg" 120 || fail "compose up" "PostgreSQL did not become healthy in 120 s"
compose up -d >>"$RUN/up.log" 2>&1 || fail "compose up" "$(tail -n 5 "$RUN/up.log")"
running=$(containers)
for want in gateway:1 gateway-2:1 token-svc:2 flow-svc:2 keys-svc:2 postgres:1; do
    n=$(grep -c " ${want%:*}\$" <<<"$running")
    [ "$n" = "${want#*:}" ] || fail "compose up" "${want%:*}: $n containers instead of ${want#*:}: $(echo $running)"
done
while read -r name service; do
    wait_healthy "$name" 120 || fail "compose up" "$name ($service) did not pass its health check in 120 s"
done <<<"$running"
wait_http "$PORT1" /readyz 60 && wait_http "$PORT2" /readyz 60 ||
    fail "compose up" "a gateway's /readyz did not answer 200"
pass "compose up: $(echo "$running" | wc -l) containers healthy, /readyz 200 on ports $PORT1 and $PORT2"

#  ------------------------------------------------------------------ operator tool
ctl() {
    timeout 60 docker-compose -p "$PROJECT" -f "$ROOT/docker-compose.yml" -f "$ROOT/deploy/compose-podman.yml" --project-directory "$ROOT" \
        --profile admin run --rm -T ostiaryctl "$@" 2>>"$RUN/ctl.log"
}
CLIENT_ID=deploy-rp
REDIRECT_URI=https://rp.deploy.test/cb
USERNAME=alice
PASSWORD=$(new_key)
out=$(ctl call token.client_add "{\"client_id\":\"$CLIENT_ID\",\"name\":\"Deploy test\",\"type\":\"confidential\",
  \"redirect_uris\":[\"$REDIRECT_URI\"],\"grant_types\":[\"authorization_code\",\"refresh_token\"],
  \"response_types\":[\"code\"],\"scopes\":[\"openid\",\"profile\",\"offline_access\"],
  \"token_endpoint_auth_method\":\"client_secret_basic\",\"first_party\":true}") ||
    fail "operator tool" "token.client_add: $(tail -n 3 "$RUN/ctl.log") $out"
CLIENT_SECRET=$($PY -c 'import json, sys; print(json.load(sys.stdin)["client_secret"])' <<<"$out") ||
    fail "operator tool" "no client_secret in token.client_add's answer"
out=$(ctl call flow.user_add - <<<"{\"username\":\"$USERNAME\",\"password\":\"$PASSWORD\",\"email\":\"alice@deploy.test\",
  \"email_verified\":true,\"name\":\"Alice Liddell\"}") ||
    fail "operator tool" "flow.user_add: $(tail -n 3 "$RUN/ctl.log") $out"
pass "operator tool: docker-compose run ostiaryctl added client $CLIENT_ID and user $USERNAME"

#  ------------------------------------------------------------------ login
export DEPLOY_ISSUER=$ISSUER DEPLOY_PORTS=$PORT1,$PORT2 DEPLOY_CLIENT_ID=$CLIENT_ID
export DEPLOY_CLIENT_SECRET=$CLIENT_SECRET DEPLOY_REDIRECT_URI=$REDIRECT_URI
export DEPLOY_USERNAME=$USERNAME DEPLOY_PASSWORD=$PASSWORD
export PYTHONDONTWRITEBYTECODE=1
export DEPLOY_DRAIN_FILE=$RUN/draining
rm -f "$DEPLOY_DRAIN_FILE"
client() { timeout 300 $PY "$ROOT/tests/deploy/client.py" "$@"; }
client login "$RUN/rp.json" 2>&1 | tee "$RUN/login.log" | sed 's/^/deploy:   /'
[ "${PIPESTATUS[0]}" = 0 ] || fail "login" "$(tail -n 1 "$RUN/login.log")"
pass "login, code exchange, refresh and revocation through the published ports"

#  ------------------------------------------------------------------ scale
compose up -d --no-recreate --scale token-svc=3 --scale flow-svc=2 --scale keys-svc=2 >"$RUN/scale.log" 2>&1 ||
    fail "scale token-svc" "$(tail -n 5 "$RUN/scale.log")"
mapfile -t tokens < <(containers | awk '$2 == "token-svc" { print $1 }')
[ "${#tokens[@]}" = 3 ] || fail "scale token-svc" "expected 3 token-svc containers, found ${#tokens[@]}"
old=() new=""
for c in "${tokens[@]}"; do
    if grep -qx "$c token-svc" <<<"$running"; then old+=("$c"); else new=$c; fi
done
[ -n "$new" ] && [ "${#old[@]}" = 2 ] || fail "scale token-svc" "cannot tell the new replica from ${tokens[*]}"
wait_healthy "$new" 120 || fail "scale token-svc" "$new did not pass its health check"
#  With the first two stopped (each leaves the broker on SIGTERM), only the
#  third can answer.
podman stop -t 15 "${old[@]}" >/dev/null 2>>"$RUN/podman.log" || fail "scale token-svc" "podman stop ${old[*]}"
client burst "$RUN/rp.json" 20 2>&1 | tee "$RUN/scale-burst.log" | sed 's/^/deploy:   /'
rc=${PIPESTATUS[0]}
podman start "${old[@]}" >/dev/null 2>>"$RUN/podman.log" || fail "scale token-svc" "podman start ${old[*]}"
[ "$rc" = 0 ] || fail "scale token-svc" "refreshes failed with only $new running"
for c in "${old[@]}"; do
    wait_healthy "$c" 120 || fail "scale token-svc" "$c did not come back"
done
pass "scale token-svc to 3: $new alone answered 20 refreshes"

#  ------------------------------------------------------------------ rolling restart
rm -f "$RUN/stop-client"
client serve "$RUN/rp.json" "$RUN/stop-client" 240 >"$RUN/serve.log" 2>&1 &
CLIENT_PID=$!
sleep 2
restarted=()
for svc in token-svc flow-svc keys-svc gateway gateway-2; do
    c=$(containers | awk -v s="$svc" '$2 == s { print $1; exit }')
    kill -0 "$CLIENT_PID" 2>/dev/null || break
    t0=$(date +%s)
    #  A gateway leaves the client's rotation before it stops, as it leaves a
    #  load balancer's (Kubernetes: the preStop pause): connections that reach
    #  a listening socket as it closes are reset, with the request unread.
    port=""
    case $svc in
        gateway) port=$PORT1 ;;
        gateway-2) port=$PORT2 ;;
    esac
    if [ -n "$port" ]; then
        echo "$port" >"$DEPLOY_DRAIN_FILE"
        sleep 2
    fi
    podman restart -t 15 "$c" >/dev/null 2>>"$RUN/podman.log" || fail "rolling restart" "podman restart $c"
    wait_healthy "$c" 120 || fail "rolling restart" "$c did not pass its health check after the restart"
    if [ -n "$port" ]; then
        wait_http "$port" /readyz 60 || fail "rolling restart" "$c: /readyz"
        rm -f "$DEPLOY_DRAIN_FILE"
    fi
    restarted+=("$c ($(($(date +%s) - t0)) s)")
    sleep 2
done
touch "$RUN/stop-client"
wait "$CLIENT_PID"
rc=$?
CLIENT_PID=""
sed 's/^/deploy:   /' "$RUN/serve.log"
[ "$rc" = 0 ] || fail "rolling restart" "the client saw failed requests (above)"
[ "${#restarted[@]}" = 5 ] || fail "rolling restart" "the client stopped before every restart was done"
pass "rolling restart of ${restarted[*]} with no failed request"

#  ------------------------------------------------------------------ teardown
dump_logs >/dev/null
timeout 120 docker-compose -p "$PROJECT" -f "$ROOT/docker-compose.yml" -f "$ROOT/deploy/compose-podman.yml" --project-directory "$ROOT" \
    --profile admin down -v --remove-orphans -t 15 >"$RUN/down.log" 2>&1 ||
    fail "teardown" "docker-compose down: $(tail -n 5 "$RUN/down.log")"
COMPOSE_UP=0
left=$(leftovers)
[ -z "$left" ] || fail "teardown" "left behind: $(echo $left)"
pass "teardown: no container, volume or network of $PROJECT left"
finish
