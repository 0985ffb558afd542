#!/usr/bin/env bash
#  deps.sh - the Debian packages Ostiary needs, by purpose.
#
#    scripts/deps.sh check [TARGET]    exit 0 when what TARGET needs is present,
#                                      else name what is missing (on stderr), exit 1
#    scripts/deps.sh install [TARGET]  apt-get install what TARGET needs and is
#                                      missing (as root, or through sudo)
#    scripts/deps.sh list [TARGET]     the packages TARGET needs, one a line
#    scripts/deps.sh probes [TARGET]   the same, each with what is checked of it
#    scripts/deps.sh readme [--update|--check]
#                                      README.md's table of what each target
#                                      installs (between deps-doc:begin/end)
#
#  TARGET is the make target the packages are for: run (build and run the
#  suite), test (run's, plus everything `make test` and CI use: pytest,
#  selenium and chromium, Apache with mod_auth_openidc, clang for the fuzz
#  harnesses, podman for the images, ...), bench, fuzz, deploy, or all (the
#  default: every package below).
#
#  Each package is checked by what we actually use from it (a header, a
#  program, a Python module), so that the check also holds on a machine where
#  the file came from somewhere else. Only packages that are missing are
#  installed, without their recommends, and a package dpkg already has is
#  never named to apt-get (that would upgrade it). libFuzzer's runtime is
#  libclang-rt-14-dev, which clang only recommends: it is named here since
#  recommends are not installed.
set -euo pipefail

#  group    package          probe (file path, cmd:NAME, py:MODULE or pgserver)
#  Groups: build (compiler, headers, unit-test library), run (what `make run`
#  starts besides our binaries), test (the end-to-end tests and the checks
#  of `make test`), fuzz (the libFuzzer build), deploy (container images and
#  the compose stack), bench (load generation).
PACKAGES=(
    "build  gcc              cmd:gcc"
    "build  libc6-dev        /usr/include/stdio.h"
    "build  make             cmd:make"
    "build  pkg-config       cmd:pkg-config"
    "build  libczmq-dev      /usr/include/czmq.h"
    "build  libzmq3-dev      /usr/include/zmq.h"
    "build  libmsgpack-dev   /usr/include/msgpack.h"
    "build  libjansson-dev   /usr/include/jansson.h"
    "build  libcivetweb-dev  /usr/include/civetweb.h"
    "build  libcmocka-dev    /usr/include/cmocka.h"
    "build  libargon2-dev    /usr/include/argon2.h"
    "build  libpq-dev        /usr/include/postgresql/libpq-fe.h"
    "build  libssl-dev       /usr/include/openssl/ssl.h"
    "build  libcurl4-openssl-dev /usr/include/x86_64-linux-gnu/curl/curl.h"
    "build  libqrencode-dev  /usr/include/qrencode.h"
    "run    postgresql-15    pgserver"
    "run    python3          /usr/bin/python3"
    "run    python3-aiosmtpd py:aiosmtpd"
    "test   python3-pytest   py:pytest"
    "test   python3-pytest-xdist py:xdist"
    "test   python3-requests py:requests"
    "test   python3-jwcrypto py:jwcrypto"
    "test   python3-yaml     py:yaml"
    "test   python3-zmq      py:zmq"
    "test   python3-msgpack  py:msgpack"
    "test   python3-jsonschema py:jsonschema"
    "test   chromium         cmd:chromium"
    "test   chromium-driver  cmd:chromedriver"
    "test   python3-selenium py:selenium"
    "test   apache2          /usr/sbin/apache2"
    "test   libapache2-mod-auth-openidc /usr/lib/apache2/modules/mod_auth_openidc.so"
    "test   docker-compose   cmd:docker-compose"
    "test   clang-format     cmd:clang-format"
    "test   kubernetes-client cmd:kubectl"
    "test   systemd          cmd:systemd-analyze"
    "test   prometheus       cmd:promtool"
    "fuzz   clang            cmd:clang"
    "fuzz   libclang-rt-14-dev /usr/lib/llvm-14/lib/clang/14.0.6/lib/linux/libclang_rt.fuzzer-x86_64.a"
    "deploy podman           cmd:podman"
    "deploy runc             cmd:runc"
    "deploy debootstrap      cmd:debootstrap"
    "deploy containernetworking-plugins /usr/lib/cni/bridge"
    "deploy golang-github-containernetworking-plugin-dnsname /usr/lib/cni/dnsname"
    "bench  wrk              cmd:wrk"
    "bench  curl             cmd:curl"
    "bench  python3-requests py:requests"
)

#  The groups each target needs. `make test` runs the fuzz harnesses over
#  their corpora and CI builds the images after it, so test takes fuzz and
#  deploy too.
groups_of() {
    case "$1" in
        run) echo "build run" ;;
        test) echo "build run test fuzz deploy" ;;
        bench) echo "build run bench" ;;
        fuzz) echo "build fuzz" ;;
        deploy) echo "build deploy" ;;
        all) echo "build run test fuzz deploy bench" ;;
        *) return 1 ;;
    esac
}

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

#  "package probe" of every entry TARGET needs, each package once.
entries() {
    local target=$1 groups entry group pkg what
    groups=" $(groups_of "$target") " || {
        echo "deps: unknown target '$target' (run, test, bench, fuzz, deploy, all)" >&2
        exit 2
    }
    declare -A seen=()
    for entry in "${PACKAGES[@]}"; do
        read -r group pkg what <<<"$entry"
        [[ $groups == *" $group "* ]] || continue
        [ -n "${seen[$pkg]:-}" ] && continue
        seen[$pkg]=1
        printf '%s %s\n' "$pkg" "$what"
    done
}

missing() {
    local pkg what
    while read -r pkg what; do
        probe "$what" || printf '%s\n' "$pkg"
    done < <(entries "$1")
}

#  Whether dpkg has PACKAGE installed (then apt-get must not be given it:
#  naming an installed package upgrades it).
dpkg_has() {
    [ "$(dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null)" = installed ]
}

cmd_check() {
    local miss
    miss=$(missing "$1")
    if [ -n "$miss" ]; then
        echo "deps: missing Debian packages for '$1': $(echo $miss)" >&2
        return 1
    fi
    return 0
}

cmd_install() {
    local target=$1 miss pkg
    miss=$(missing "$target")
    if [ -z "$miss" ]; then
        echo "deps: everything '$target' needs is installed"
        return 0
    fi
    #  A package whose probe fails although dpkg has it is reported, not
    #  reinstalled (apt-get would upgrade it).
    local want=() broken=()
    for pkg in $miss; do
        if command -v dpkg-query >/dev/null 2>&1 && dpkg_has "$pkg"; then
            broken+=("$pkg")
        else
            want+=("$pkg")
        fi
    done
    if [ ${#broken[@]} -gt 0 ]; then
        echo "deps: installed but incomplete (what we use from them is missing): ${broken[*]}" >&2
        echo "deps: repair them by hand (apt-get install --reinstall ${broken[*]})" >&2
        [ ${#want[@]} -gt 0 ] || return 1
    fi
    set -- "${want[@]}"
    local sudo=()
    if [ "$(id -u)" != 0 ]; then
        if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
            sudo=(sudo -n)
        else
            cat >&2 <<EOM
deps: these Debian packages are missing: $*
deps: installing them needs root (and sudo without a password is not available).
deps: run as root:  apt-get update && apt-get install -y --no-install-recommends $*
EOM
            return 1
        fi
    fi
    if ! command -v apt-get >/dev/null 2>&1; then
        echo "deps: apt-get not found (Ostiary targets Debian 12); install these packages: $*" >&2
        return 1
    fi
    echo "deps: installing for '$target': $*"
    local apt=("${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -q)
    if ! "${apt[@]}" update; then
        echo "deps: apt-get update failed; install these packages by hand: $*" >&2
        return 1
    fi
    #  What apt would upgrade on the way: only what the new packages' own
    #  dependencies require (a -dev package needs its library's exact
    #  version); said before it happens.
    local upgrades
    upgrades=$("${apt[@]}" install -s --no-install-recommends --no-upgrade "$@" </dev/null 2>/dev/null |
        sed -n 's/^Inst \([^ ]*\) \[\([^]]*\)\] (\([^ ]*\).*/\1 \2 -> \3/p' | paste -sd';' - | sed 's/;/; /g' || true)
    [ -z "$upgrades" ] || echo "deps: their dependencies also upgrade: $upgrades"
    if ! "${apt[@]}" install -y --no-install-recommends --no-upgrade "$@" </dev/null; then
        echo "deps: apt-get failed; install these packages by hand: $*" >&2
        return 1
    fi
    miss=$(missing "$target")
    if [ -n "$miss" ]; then
        echo "deps: still missing after apt-get: $(echo $miss)" >&2
        return 1
    fi
    echo "deps: done"
}

#  README.md's table: each group of packages and the make targets that
#  install it.
readme_table() {
    local group target pkgs users
    echo "| packages | installed by |"
    echo "|---|---|"
    for group in build run test fuzz deploy bench; do
        pkgs=$(for entry in "${PACKAGES[@]}"; do
            read -r g pkg _ <<<"$entry"
            [ "$g" = "$group" ] && printf '%s\n' "$pkg"
        done | awk '{ printf "%s`%s`", sep, $1; sep = ", " }')
        users=$(for target in run test bench fuzz deploy; do
            [[ " $(groups_of "$target") " == *" $group "* ]] || continue
            case $target in
                run) printf '%s\n' '`make run`' ;;
                test) printf '%s\n' '`make test` and `make deps`' ;;
                deploy) printf '%s\n' '`make image` and `make test-deploy`' ;;
                *) printf '`make %s`\n' "$target" ;;
            esac
        done | paste -sd';' - | sed 's/;/; /g')
        echo "| $group: $pkgs | $users |"
    done
}

cmd_readme() {
    local readme table new
    readme=$(dirname "${BASH_SOURCE[0]}")/../README.md
    table=$(readme_table)
    case "${1:-}" in
        "") printf '%s\n' "$table" ;;
        --update | --check)
            new=$(TABLE=$table /usr/bin/python3 -c '
import os, re, sys
text = open(sys.argv[1]).read()
begin, end = "<!-- deps-doc:begin -->", "<!-- deps-doc:end -->"
if begin not in text or end not in text:
    sys.exit("README.md has no deps-doc:begin/end markers")
head, rest = text.split(begin, 1)
_, tail = rest.split(end, 1)
sys.stdout.write(head + begin + "\n" + os.environ["TABLE"] + "\n" + end + tail)
' "$readme")
            if [ "$1" = --update ]; then
                printf '%s\n' "$new" >"$readme"
            elif [ "$new" != "$(cat "$readme")" ]; then
                echo "README.md's package table is out of date (run: scripts/deps.sh readme --update)" >&2
                return 1
            fi
            ;;
        *)
            echo "usage: $0 readme [--update|--check]" >&2
            return 2
            ;;
    esac
}

case "${1:-}" in
    check) cmd_check "${2:-all}" ;;
    install) cmd_install "${2:-all}" ;;
    list) entries "${2:-all}" | awk '{ print $1 }' ;;
    probes) entries "${2:-all}" ;;
    readme) cmd_readme "${2:-}" ;;
    pg-bindir) pg_bindir || { echo "deps: no PostgreSQL server under /usr/lib/postgresql/*/bin" >&2; exit 1; } ;;
    *)
        echo "usage: $0 check|install|list|probes [run|test|bench|fuzz|deploy|all] | readme [--update|--check] | pg-bindir" >&2
        exit 2
        ;;
esac
