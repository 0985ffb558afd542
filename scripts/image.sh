#!/usr/bin/env bash
#  image.sh - the Ostiary container images, built with podman from a Debian 12
#  base made locally (no image registry needed).
#
#    scripts/image.sh base       make the base image when it is missing:
#                                debootstrap --variant=minbase bookworm into a
#                                folder, then `podman import`; the root file
#                                system is kept as a tarball in the cache, so
#                                a machine that lost the image imports it again
#                                without debootstrap
#    scripts/image.sh build      base, then the Dockerfile (ostiary:latest) and
#                                deploy/postgres/Dockerfile (the database of
#                                docker-compose.yml); prints the image sizes
#    scripts/image.sh env        the podman settings, as shell assignments
#
#  Settings (environment):
#    OSTIARY_IMAGE               the image built (localhost/ostiary:latest)
#    OSTIARY_POSTGRES_IMAGE      the PostgreSQL image (localhost/ostiary-postgres:15)
#    OSTIARY_BASE_IMAGE          the imported base (localhost/ostiary-debian:bookworm)
#    OSTIARY_IMAGE_CACHE         where the base's tarball is kept
#                                (/var/cache/ostiary when writable, else build/image-cache)
#    OSTIARY_DEBIAN_MIRROR       Debian mirror for debootstrap; by default the
#                                one apt uses on this machine
#
#  The host settings podman needs here (runtime runc, cgroup manager cgroupfs,
#  ulimits no higher than the host's) go into a containers.conf of our own,
#  passed through CONTAINERS_CONF to every podman command this script and
#  scripts/deploy-test.sh run; nothing under /etc is changed.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

OSTIARY_IMAGE=${OSTIARY_IMAGE:-localhost/ostiary:latest}
OSTIARY_POSTGRES_IMAGE=${OSTIARY_POSTGRES_IMAGE:-localhost/ostiary-postgres:15}
OSTIARY_BASE_IMAGE=${OSTIARY_BASE_IMAGE:-localhost/ostiary-debian:bookworm}
if [ -z "${OSTIARY_IMAGE_CACHE:-}" ]; then
    if mkdir -p /var/cache/ostiary 2>/dev/null && [ -w /var/cache/ostiary ]; then
        OSTIARY_IMAGE_CACHE=/var/cache/ostiary
    else
        OSTIARY_IMAGE_CACHE=$ROOT/build/image-cache
    fi
fi
STATE=$ROOT/build/deploy

say() { echo "image: $*"; }
die() {
    echo "image: $*" >&2
    exit 1
}

#  The first Debian mirror apt is configured with (deb822 or one-line format).
apt_mirror() {
    local f uri
    for f in /etc/apt/sources.list.d/*.sources; do
        [ -f "$f" ] || continue
        uri=$(awk '/^URIs:/ { for (i = 2; i <= NF; i++) if ($i ~ /\/debian\/?$/) { print $i; exit } }' "$f")
        [ -n "$uri" ] && { printf '%s\n' "$uri"; return 0; }
    done
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
        [ -f "$f" ] || continue
        uri=$(awk '$1 == "deb" { for (i = 2; i <= NF; i++) if ($i ~ /^https?:\/\/.*\/debian\/?$/) { print $i; exit } }' "$f")
        [ -n "$uri" ] && { printf '%s\n' "$uri"; return 0; }
    done
    return 1
}

#  containers.conf for this project's podman commands: the same file for the
#  image builds and for the compose test.
#  The host's soft limits (capped by its hard ones): containers may not raise
#  a limit above them ("setrlimit: operation not permitted").
host_limits() {
    local hn hp
    nofile=$(ulimit -Sn)
    hn=$(ulimit -Hn)
    nproc=$(ulimit -Su)
    hp=$(ulimit -Hu)
    #  "unlimited" cannot be written as a number; a modest limit is enough.
    [ "$nofile" = unlimited ] && nofile=65536
    [ "$hn" = unlimited ] && hn=$nofile
    [ "$nproc" = unlimited ] && nproc=65536
    [ "$hp" = unlimited ] && hp=$nproc
    [ "$nofile" -le "$hn" ] || nofile=$hn
    [ "$nproc" -le "$hp" ] || nproc=$hp
    #  runc was refused nproc 65536 on a host whose own limit is 96367, and
    #  granted 32768: a container's processes never need more.
    [ "$nproc" -le 32768 ] || nproc=32768
    [ "$nofile" -le 65536 ] || nofile=65536
}

write_containers_conf() {
    local nofile nproc
    mkdir -p "$STATE"
    host_limits
    cat >"$STATE/containers.conf.tmp" <<EOF
# Written by scripts/image.sh for Ostiary's own podman commands (CONTAINERS_CONF).
[containers]
# Containers may not raise a limit above the host's ("setrlimit: operation not permitted").
default_ulimits = ["nofile=$nofile:$nofile", "nproc=$nproc:$nproc"]
# No systemd here: logs go to files podman reads back.
log_driver = "k8s-file"

[engine]
# crun refuses hybrid cgroup hierarchies; runc with cgroupfs works on them.
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
EOF
    mv "$STATE/containers.conf.tmp" "$STATE/containers.conf"
}

cmd_env() {
    write_containers_conf
    printf 'export CONTAINERS_CONF=%q\n' "$STATE/containers.conf"
    printf 'export OSTIARY_IMAGE=%q OSTIARY_POSTGRES_IMAGE=%q OSTIARY_BASE_IMAGE=%q\n' \
        "$OSTIARY_IMAGE" "$OSTIARY_POSTGRES_IMAGE" "$OSTIARY_BASE_IMAGE"
}

need_podman() {
    command -v podman >/dev/null 2>&1 || die "podman is not installed (scripts/deps.sh install)"
    write_containers_conf
    export CONTAINERS_CONF=$STATE/containers.conf
}

cmd_base() {
    need_podman
    if podman image exists "$OSTIARY_BASE_IMAGE"; then
        say "base $OSTIARY_BASE_IMAGE is there"
        return 0
    fi
    local tarball=$OSTIARY_IMAGE_CACHE/debian-bookworm-minbase.tar
    if [ ! -s "$tarball" ]; then
        command -v debootstrap >/dev/null 2>&1 || die "debootstrap is not installed (scripts/deps.sh install)"
        [ "$(id -u)" = 0 ] || die "debootstrap needs root"
        local mirror=${OSTIARY_DEBIAN_MIRROR:-}
        [ -n "$mirror" ] || mirror=$(apt_mirror) || die "no Debian mirror in apt's sources; set OSTIARY_DEBIAN_MIRROR"
        mkdir -p "$OSTIARY_IMAGE_CACHE"
        local dir
        dir=$(mktemp -d "$OSTIARY_IMAGE_CACHE/rootfs.XXXXXX")
        # shellcheck disable=SC2064
        trap "rm -rf '$dir'" EXIT
        say "debootstrap --variant=minbase bookworm from $mirror (once per machine)"
        debootstrap --variant=minbase bookworm "$dir" "$mirror" >"$OSTIARY_IMAGE_CACHE/debootstrap.log" 2>&1 ||
            die "debootstrap failed; its log: $OSTIARY_IMAGE_CACHE/debootstrap.log"
        #  The same suites as a Debian image: the release, its updates and
        #  the security archive (beside the main mirror).
        local security=${mirror%/debian}
        security=${security%/}/debian-security
        cat >"$dir/etc/apt/sources.list" <<EOF
deb $mirror bookworm main
deb $mirror bookworm-updates main
deb $security bookworm-security main
EOF
        #  What a container image needs: no apt caches, no documentation,
        #  and no daemon started by package scripts at build time.
        cat >"$dir/etc/apt/apt.conf.d/90ostiary-image" <<'EOF'
APT::Install-Recommends "false";
APT::Install-Suggests "false";
Acquire::Languages "none";
EOF
        cat >"$dir/etc/dpkg/dpkg.cfg.d/90ostiary-image" <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
EOF
        printf '#!/bin/sh\nexit 101\n' >"$dir/usr/sbin/policy-rc.d"
        chmod 755 "$dir/usr/sbin/policy-rc.d"
        rm -rf "$dir/var/lib/apt/lists/"* "$dir/var/cache/apt/"*.bin "$dir/var/cache/apt/archives/"*.deb
        tar --numeric-owner -C "$dir" -cf "$tarball.tmp" .
        mv "$tarball.tmp" "$tarball"
        rm -rf "$dir"
        trap - EXIT
    else
        say "base root file system from the cache: $tarball"
    fi
    podman import -q --change 'CMD ["/bin/bash"]' --change 'ENV LANG=C.UTF-8' \
        "$tarball" "$OSTIARY_BASE_IMAGE" >/dev/null
    say "imported $OSTIARY_BASE_IMAGE ($(podman image inspect --format '{{.Size}}' "$OSTIARY_BASE_IMAGE" | numfmt --to=iec) )"
}

cmd_build() {
    cmd_base
    local t0 t1 nofile nproc
    host_limits
    #  podman build does not apply containers.conf's default_ulimits.
    local limits=(--ulimit "nofile=$nofile:$nofile" --ulimit "nproc=$nproc:$nproc")
    t0=$(date +%s)
    #  The build context is the work tree less .dockerignore; build/ stays out.
    podman build "${limits[@]}" --build-arg "BUILD_IMAGE=$OSTIARY_BASE_IMAGE" --build-arg "RUNTIME_IMAGE=$OSTIARY_BASE_IMAGE" \
        --pull=never -t "$OSTIARY_IMAGE" -f Dockerfile . ||
        die "podman build of $OSTIARY_IMAGE failed"
    podman build "${limits[@]}" --build-arg "BASE_IMAGE=$OSTIARY_BASE_IMAGE" --pull=never \
        -t "$OSTIARY_POSTGRES_IMAGE" -f deploy/postgres/Dockerfile deploy/postgres ||
        die "podman build of $OSTIARY_POSTGRES_IMAGE failed"
    t1=$(date +%s)
    local img
    for img in "$OSTIARY_BASE_IMAGE" "$OSTIARY_IMAGE" "$OSTIARY_POSTGRES_IMAGE"; do
        say "$img: $(podman image inspect --format '{{.Size}}' "$img" | numfmt --to=iec --format '%.1f')"
    done
    say "built in $((t1 - t0)) s"
}

case "${1:-}" in
    base) cmd_base ;;
    build) cmd_build ;;
    env) cmd_env ;;
    *)
        echo "usage: $0 base|build|env" >&2
        exit 2
        ;;
esac
