#!/usr/bin/env bash
#  pg.sh - a private PostgreSQL cluster in a folder, for `make run` and `make test`.
#
#    pg.sh init DIR PORT     create the cluster (nothing happens when DIR already
#                            holds one, except that a different PORT is recorded)
#    pg.sh start DIR         start it (no-op when running)
#    pg.sh stop DIR [MODE]   stop it (MODE fast, the default, or immediate: a
#                            crash as the services see it); no-op when stopped
#    pg.sh status DIR        exit 0 when running
#    pg.sh bootstrap DIR     database, roles, schemas, passwords (idempotent)
#    pg.sh env DIR           shell `export` lines: OSTIARY_DB_TOKEN/FLOW/KEYS,
#                            OSTIARY_TEST_DB, OSTIARY_PG_ADMIN, OSTIARY_PG_PORT
#    pg.sh psql DIR [ARGS]   psql as the cluster's superuser over the socket
#    pg.sh check DIR         exit 0 when the postgres user could reach DIR
#
#  Layout: DIR/data (PGDATA), DIR/sock (unix socket, mode 0700, trust),
#  DIR/log/postgres.log, DIR/secrets/<role>.pw (mode 0600, generated once).
#  The server listens on 127.0.0.1:PORT only, with scram-sha-256 passwords.
#  Run as root, the cluster belongs to the `postgres` user (PostgreSQL refuses
#  to run as root) and initdb/pg_ctl run through `runuser -u postgres --`.
#  OSTIARY_PG_FAST=1 at init makes a throwaway cluster (no fsync) for tests.
#  OSTIARY_PG_SETTINGS="name=value;name=value" at init adds server settings
#  (bench/ab.sh measures commit_delay with it); names and values are checked.
set -euo pipefail
umask 077

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SERVICE_ROLES=(ostiary_token ostiary_flow ostiary_keys)
TEST_ROLE=ostiary_test

die() {
    echo "pg.sh: $*" >&2
    exit 1
}

usage() {
    echo "usage: pg.sh init DIR PORT | start DIR | stop DIR [fast|immediate] | status DIR | bootstrap DIR | env DIR | psql DIR [ARGS] | check DIR" >&2
    exit 2
}

BINDIR=$("$HERE/deps.sh" pg-bindir) || die "no PostgreSQL server found (run: make deps)"

is_root() { [ "$(id -u)" = 0 ]; }

#  Runs a command as the cluster's owner, from / so that a cwd the postgres
#  user cannot read does not matter.
as_owner() {
    if is_root; then
        (cd / && runuser -u postgres -- "$@")
    else
        (cd / && "$@")
    fi
}

set_dir() {
    [ -n "${1:-}" ] || usage
    case "$1" in
        *"'"* | *'"'* | *' '*) die "cluster folder must not contain quotes or spaces: $1" ;;
    esac
    #  Folders made on the way stay searchable: the postgres user must pass.
    if [ "${2:-}" = create ]; then (umask 022 && mkdir -p "$1"); fi
    [ -d "$1" ] || die "no such folder: $1"
    DIR=$(cd "$1" && pwd -P)
    DATA=$DIR/data
    SOCK=$DIR/sock
    SECRETS=$DIR/secrets
    CONF=$DATA/ostiary.conf
}

have_cluster() { [ -f "$DATA/PG_VERSION" ]; }

need_cluster() {
    have_cluster || die "no cluster in $DIR (run: pg.sh init $DIR PORT)"
}

port_of() {
    sed -n 's/^port = \([0-9]*\)$/\1/p' "$CONF"
}

#  A random password: hex only, so that it needs no quoting in a libpq
#  conninfo, in SQL or in a shell.
new_secret() {
    od -An -tx1 -N24 /dev/urandom | tr -d ' \n'
}

#  The password of a role, generated the first time it is asked for.
secret() {
    local file=$SECRETS/$1.pw
    if [ ! -s "$file" ]; then
        mkdir -p "$SECRETS"
        new_secret >"$file.tmp"
        mv "$file.tmp" "$file"
        if is_root; then chown -R postgres: "$SECRETS"; fi
    fi
    cat "$file"
}

#  As root, the postgres user must be able to reach DIR: every folder above it
#  needs search permission for others (or for postgres). Prints the first
#  folder on the way to PATH (from /) that postgres cannot enter, if any.
pg_blocker() {
    is_root || return 0
    local path=$1 p i list=()
    case "$path" in /*) ;; *) path=$PWD/$path ;; esac
    while [ ! -d "$path" ]; do path=$(dirname "$path"); done
    p=$path
    while :; do
        list+=("$p")
        [ "$p" = / ] && break
        p=$(dirname "$p")
    done
    for ((i = ${#list[@]} - 1; i >= 0; i--)); do
        if ! runuser -u postgres -- test -x "${list[i]}" 2>/dev/null; then
            echo "${list[i]}"
            return 1
        fi
    done
}

check_reachable() {
    is_root || return 0
    id postgres >/dev/null 2>&1 || die "user 'postgres' does not exist (install postgresql-15: make deps)"
    local blocker
    if ! blocker=$(pg_blocker "$(dirname "$1")"); then
        die "the postgres user cannot enter $blocker ($(stat -c '%A %U:%G' "$blocker")).
pg.sh: PostgreSQL runs as 'postgres' when started by root, so every folder above
pg.sh: $1 must be searchable by it: run 'chmod o+x $blocker'
pg.sh: or put the build folder somewhere it can reach (BUILD=/var/tmp/ostiary make ...)."
    fi
}

#  OSTIARY_PG_SETTINGS as postgresql.conf lines; dies on an item that is
#  not name=value (letters, digits, '_' and '.').
extra_settings() {
    local extra item
    IFS=';' read -r -a extra <<<"${OSTIARY_PG_SETTINGS:-}"
    for item in "${extra[@]}"; do
        [ -n "$item" ] || continue
        [[ $item =~ ^[a-z_]+=[A-Za-z0-9_.]+$ ]] || die "OSTIARY_PG_SETTINGS: '$item' is not name=value"
        echo "${item%%=*} = ${item#*=}"
    done
}

write_conf() {
    local port=$1 fast=${OSTIARY_PG_FAST:-0}
    {
        echo "# Written by scripts/pg.sh; included from postgresql.conf."
        echo "listen_addresses = '127.0.0.1'"
        echo "port = $port"
        echo "unix_socket_directories = '$SOCK'"
        echo "unix_socket_permissions = 0700"
        echo "password_encryption = 'scram-sha-256'"
        echo "max_connections = 200"
        echo "log_line_prefix = '%m [%p] %q%u@%d '"
        if [ "$fast" = 1 ]; then
            echo "# Throwaway test cluster: durability is not needed."
            echo "fsync = off"
            echo "synchronous_commit = off"
            echo "full_page_writes = off"
        fi
        extra_settings
    } >"$CONF.tmp"
    mv "$CONF.tmp" "$CONF"
    if is_root; then chown postgres: "$CONF"; fi
}

cmd_init() {
    set_dir "${1:-}" create
    local port=${2:-}
    [[ $port =~ ^[0-9]+$ ]] && [ "$port" -ge 1 ] && [ "$port" -le 65535 ] || usage
    if have_cluster; then
        if [ "$(port_of)" != "$port" ]; then
            echo "pg.sh: cluster in $DIR now uses port $port (was $(port_of))"
            sed -i "s/^port = [0-9]*$/port = $port/" "$CONF"
        fi
        return 0
    fi
    extra_settings >/dev/null
    check_reachable "$DIR"
    #  sockaddr_un holds 107 bytes: "$SOCK/.s.PGSQL.NNNNN" must fit.
    [ ${#SOCK} -le 90 ] || die "cluster folder path too long for a unix socket: $DIR"
    mkdir -p "$SOCK" "$DIR/log" "$SECRETS"
    secret postgres >/dev/null
    if is_root; then chown -R postgres: "$DIR"; fi
    chmod 0700 "$DIR" "$SOCK" "$SECRETS"
    local sync=()
    [ "${OSTIARY_PG_FAST:-0}" = 1 ] && sync=(--no-sync)
    if ! as_owner "$BINDIR/initdb" -D "$DATA" -U postgres --pwfile="$SECRETS/postgres.pw" \
        --auth-local=trust --auth-host=scram-sha-256 -E UTF8 --locale=C "${sync[@]}" \
        >"$DIR/log/initdb.log" 2>&1; then
        cat "$DIR/log/initdb.log" >&2
        rm -rf "$DATA"
        die "initdb failed"
    fi
    write_conf "$port"
    echo "include 'ostiary.conf'" >>"$DATA/postgresql.conf"
    echo "pg.sh: cluster created in $DIR (port $port)"
}

running() {
    have_cluster && as_owner "$BINDIR/pg_ctl" -D "$DATA" status >/dev/null 2>&1
}

cmd_start() {
    set_dir "${1:-}"
    need_cluster
    running && return 0
    check_reachable "$DIR"
    if ! as_owner "$BINDIR/pg_ctl" -D "$DATA" -l "$DIR/log/postgres.log" -w -t 60 -s start >/dev/null 2>&1; then
        echo "pg.sh: could not start the cluster in $DIR (port $(port_of)); end of its log:" >&2
        tail -n 20 "$DIR/log/postgres.log" >&2 || true
        exit 1
    fi
}

cmd_stop() {
    set_dir "${1:-}"
    local mode=${2:-fast}
    case "$mode" in fast | immediate) ;; *) usage ;; esac
    running || return 0
    as_owner "$BINDIR/pg_ctl" -D "$DATA" -m "$mode" -w -t 60 -s stop
}

cmd_status() {
    set_dir "${1:-}"
    running
}

admin_psql() {
    "$BINDIR/psql" -X -q -v ON_ERROR_STOP=1 -h "$SOCK" -p "$(port_of)" -U postgres "$@"
}

cmd_bootstrap() {
    set_dir "${1:-}"
    need_cluster
    running || die "the cluster in $DIR is not running (run: pg.sh start $DIR)"
    local role sql="SET client_min_messages = warning;"$'\n' grantees
    grantees=$(IFS=,; echo "${SERVICE_ROLES[*]}")
    for role in "${SERVICE_ROLES[@]}" "$TEST_ROLE"; do
        #  Passwords go through psql variables read from stdin, never argv.
        sql+="\\set pw_$role '$(secret "$role")'
SELECT 'CREATE ROLE $role LOGIN' WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '$role') \\gexec
"
    done
    for role in "${SERVICE_ROLES[@]}" "$TEST_ROLE"; do
        sql+="ALTER ROLE $role LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS PASSWORD :'pw_$role';"$'\n'
    done
    sql+="
SELECT 'CREATE DATABASE ostiary' WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = 'ostiary') \\gexec
SELECT 'CREATE DATABASE ostiary_test' WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = 'ostiary_test') \\gexec
REVOKE ALL ON DATABASE ostiary FROM PUBLIC;
GRANT CONNECT ON DATABASE ostiary TO $grantees;
REVOKE ALL ON DATABASE ostiary_test FROM PUBLIC;
GRANT CONNECT, CREATE, TEMPORARY ON DATABASE ostiary_test TO $TEST_ROLE;
\\connect ostiary
SET client_min_messages = warning;
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
"
    for role in "${SERVICE_ROLES[@]}"; do
        local schema=${role#ostiary_}
        sql+="CREATE SCHEMA IF NOT EXISTS $schema AUTHORIZATION $role;
ALTER SCHEMA $schema OWNER TO $role;
REVOKE ALL ON SCHEMA $schema FROM PUBLIC;
ALTER ROLE $role IN DATABASE ostiary SET search_path = $schema;
"
    done
    sql+="\\connect ostiary_test
SET client_min_messages = warning;
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
"
    admin_psql -d postgres <<<"$sql" >/dev/null
}

cmd_env() {
    set_dir "${1:-}"
    need_cluster
    local port role var
    port=$(port_of)
    echo "export OSTIARY_PG_DIR='$DIR'"
    echo "export OSTIARY_PG_PORT='$port'"
    echo "export OSTIARY_PG_ADMIN='host=$SOCK port=$port dbname=postgres user=postgres'"
    for role in "${SERVICE_ROLES[@]}"; do
        var=OSTIARY_DB_$(echo "${role#ostiary_}" | tr '[:lower:]' '[:upper:]')
        echo "export $var='host=127.0.0.1 port=$port dbname=ostiary user=$role password=$(secret "$role")'"
    done
    echo "export OSTIARY_TEST_DB='host=127.0.0.1 port=$port dbname=ostiary_test user=$TEST_ROLE password=$(secret "$TEST_ROLE")'"
}

cmd_psql() {
    set_dir "${1:-}"
    shift
    need_cluster
    "$BINDIR/psql" -X -h "$SOCK" -p "$(port_of)" -U postgres "$@"
}

#  check DIR: exit 0 when a cluster could live in DIR (reachable by postgres).
cmd_check() {
    local dir=$1
    case "$dir" in /*) ;; *) dir=$PWD/$dir ;; esac
    is_root || return 0
    id postgres >/dev/null 2>&1 || return 1
    pg_blocker "$(dirname "$dir")" >/dev/null
}

cmd=${1:-}
[ $# -gt 0 ] && shift
case "$cmd" in
    init) [ $# -eq 2 ] || usage; cmd_init "$@" ;;
    start) [ $# -eq 1 ] || usage; cmd_start "$@" ;;
    stop) [ $# -ge 1 ] && [ $# -le 2 ] || usage; cmd_stop "$@" ;;
    status) [ $# -eq 1 ] || usage; cmd_status "$@" ;;
    bootstrap) [ $# -eq 1 ] || usage; cmd_bootstrap "$@" ;;
    env) [ $# -eq 1 ] || usage; cmd_env "$@" ;;
    psql) [ $# -ge 1 ] || usage; cmd_psql "$@" ;;
    check) [ $# -eq 1 ] || usage; cmd_check "$@" ;;
    *) usage ;;
esac
