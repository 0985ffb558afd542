#!/usr/bin/env bash
#  deps.sh - the Debian packages Ostiary needs to build, run and test.
#
#    scripts/deps.sh check     exit 0 when everything is present, else name
#                              what is missing (on stderr) and exit 1
#    scripts/deps.sh install   apt-get install what is missing (as root, or
#                              through sudo); exit 1 with the list of missing
#                              packages when apt cannot be used
#
#  Each package is checked by what we actually use from it (a header, a
#  program, a Python module), so that the check also holds on a machine where
#  the file came from somewhere else. libFuzzer's runtime (for `make fuzz`
#  and the regression run in `make test`) is libclang-rt-14-dev, which
#  clang only recommends: it is named here since recommends are not installed.
set -euo pipefail

#  package          probe (file path, cmd:NAME, py:MODULE or pgserver)
PACKAGES=(
    "gcc              cmd:gcc"
    "libc6-dev        /usr/include/stdio.h"
    "make             cmd:make"
    "pkg-config       cmd:pkg-config"
    "libczmq-dev      /usr/include/czmq.h"
    "libzmq3-dev      /usr/include/zmq.h"
    "libmsgpack-dev   /usr/include/msgpack.h"
    "libjansson-dev   /usr/include/jansson.h"
    "libcivetweb-dev  /usr/include/civetweb.h"
    "libcmocka-dev    /usr/include/cmocka.h"
    "libargon2-dev    /usr/include/argon2.h"
    "libpq-dev        /usr/include/postgresql/libpq-fe.h"
    "libssl-dev       /usr/include/openssl/ssl.h"
    "libcurl4-openssl-dev /usr/include/x86_64-linux-gnu/curl/curl.h"
    "libqrencode-dev  /usr/include/qrencode.h"
    "postgresql-15    pgserver"
    "python3          /usr/bin/python3"
    "python3-pytest   py:pytest"
    "python3-requests py:requests"
    "python3-jwcrypto py:jwcrypto"
    "python3-yaml     py:yaml"
    "python3-aiosmtpd py:aiosmtpd"
    "python3-zmq      py:zmq"
    "python3-msgpack  py:msgpack"
    "python3-jsonschema py:jsonschema"
    "chromium         cmd:chromium"
    "chromium-driver  cmd:chromedriver"
    "python3-selenium py:selenium"
    "apache2          /usr/sbin/apache2"
    "libapache2-mod-auth-openidc /usr/lib/apache2/modules/mod_auth_openidc.so"
    "docker-compose   cmd:docker-compose"
    "wrk              cmd:wrk"
    "clang-format     cmd:clang-format"
    "clang            cmd:clang"
    "libclang-rt-14-dev /usr/lib/llvm-14/lib/clang/14.0.6/lib/linux/libclang_rt.fuzzer-x86_64.a"
    "podman           cmd:podman"
    "runc             cmd:runc"
    "debootstrap      cmd:debootstrap"
    "containernetworking-plugins /usr/lib/cni/bridge"
    "golang-github-containernetworking-plugin-dnsname /usr/lib/cni/dnsname"
    "kubernetes-client cmd:kubectl"
    "systemd          cmd:systemd-analyze"
    "prometheus       cmd:promtool"
)

#  The highest-versioned PostgreSQL server folder, e.g. /usr/lib/postgresql/15/bin.
pg_bindir() {
    local dir best="" bestv=0 v
    for dir in /usr/lib/postgresql/*/bin; do
        [ -x "$dir/initdb" ] && [ -x "$dir/pg_ctl" ] && [ -x "$dir/postgres" ] && [ -x "$dir/psql" ] || continue
        v=${dir#/usr/lib/postgresql/}
        v=${v%/bin}
        [[ $v =~ ^[0-9]+$ ]] || continue
        if [ "$v" -gt "$bestv" ]; then
            bestv=$v
            best=$dir
        fi
    done
    [ -n "$best" ] || return 1
    printf '%s\n' "$best"
}

probe() {
    case "$1" in
        cmd:*) command -v "${1#cmd:}" >/dev/null 2>&1 ;;
        py:*) [ -x /usr/bin/python3 ] && /usr/bin/python3 -c "import ${1#py:}" >/dev/null 2>&1 ;;
        pgserver) pg_bindir >/dev/null ;;
        *) [ -e "$1" ] ;;
    esac
}

missing() {
    local entry pkg what
    for entry in "${PACKAGES[@]}"; do
        read -r pkg what <<<"$entry"
        probe "$what" || printf '%s\n' "$pkg"
    done
}

cmd_check() {
    local miss
    miss=$(missing)
    if [ -n "$miss" ]; then
        echo "deps: missing Debian packages: $(echo $miss)" >&2
        return 1
    fi
    return 0
}

cmd_install() {
    local miss
    miss=$(missing)
    if [ -z "$miss" ]; then
        echo "deps: everything needed is installed"
        return 0
    fi
    # shellcheck disable=SC2086
    set -- $miss
    local sudo=()
    if [ "$(id -u)" != 0 ]; then
        if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
            sudo=(sudo -n)
        else
            cat >&2 <<EOF
deps: these Debian packages are missing: $*
deps: installing them needs root (and sudo without a password is not available).
deps: run as root:  apt-get update && apt-get install -y --no-install-recommends $*
EOF
            return 1
        fi
    fi
    if ! command -v apt-get >/dev/null 2>&1; then
        echo "deps: apt-get not found (Ostiary targets Debian 12); install these packages: $*" >&2
        return 1
    fi
    echo "deps: installing $*"
    export DEBIAN_FRONTEND=noninteractive
    if ! "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q ||
        ! "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
            apt-get install -y -q --no-install-recommends "$@" </dev/null; then
        echo "deps: apt-get failed; install these packages by hand: $*" >&2
        return 1
    fi
    miss=$(missing)
    if [ -n "$miss" ]; then
        echo "deps: still missing after apt-get: $(echo $miss)" >&2
        return 1
    fi
    echo "deps: done"
}

case "${1:-}" in
    check) cmd_check ;;
    install) cmd_install ;;
    pg-bindir) pg_bindir || { echo "deps: no PostgreSQL server under /usr/lib/postgresql/*/bin" >&2; exit 1; } ;;
    *)
        echo "usage: $0 check|install|pg-bindir" >&2
        exit 2
        ;;
esac
