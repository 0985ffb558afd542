# Ostiary: one image holding every process; docker-compose.yml and
# deploy/k8s pick the process with the command (gateway, token-svc, flow-svc,
# keys-svc; ostiaryctl for health checks and operators).
#
# Built from a registry's Debian 12 images by default (`docker build .`);
# `make image` builds the same file with podman on a Debian 12 base made
# locally with debootstrap (scripts/image.sh), through these two arguments.
ARG BUILD_IMAGE=debian:12
ARG RUNTIME_IMAGE=debian:12-slim

# ---- build: Debian 12's -dev packages and make; the programs only (no tests)
FROM ${BUILD_IMAGE} AS build
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        gcc libc6-dev make pkg-config \
        libczmq-dev libzmq3-dev libmsgpack-dev libjansson-dev libcivetweb-dev \
        libargon2-dev libpq-dev libssl-dev libcurl4-openssl-dev libqrencode-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# What the programs are built from, and nothing else: a change elsewhere in
# the tree (tests, docs, deployment files) keeps this stage cached.
COPY Makefile ./
COPY common/ common/
COPY proto/ proto/
COPY gateway/ gateway/
COPY token-svc/ token-svc/
COPY flow-svc/ flow-svc/
COPY keys-svc/ keys-svc/
COPY ctl/ ctl/
RUN make -j"$(nproc)" BUILD=build/image \
        build/image/bin/gateway build/image/bin/token-svc build/image/bin/flow-svc \
        build/image/bin/keys-svc build/image/bin/ostiaryctl \
 && strip --strip-unneeded build/image/bin/*

# ---- runtime: the shared libraries only (no compiler), a non-root user
FROM ${RUNTIME_IMAGE}
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        libczmq4 libzmq5 libmsgpackc2 libjansson4 libcivetweb1 libargon2-1 libpq5 libssl3 \
        libcurl4 libqrencode4 ca-certificates curl \
 && DEBIAN_FRONTEND=noninteractive apt-get upgrade -y \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /var/log/apt /var/log/dpkg.log \
 && groupadd --system --gid 10001 ostiary \
 && useradd --system --uid 10001 --gid 10001 --home-dir /nonexistent --no-create-home \
        --shell /usr/sbin/nologin ostiary
COPY --from=build /src/build/image/bin/ /usr/local/bin/
COPY migrations/ /usr/share/ostiary/migrations/
COPY flows/ /usr/share/ostiary/flows/
COPY locales/ /usr/share/ostiary/locales/
ENV OSTIARY_MIGRATIONS_DIR=/usr/share/ostiary/migrations
ENV OSTIARY_LOCALES_DIR=/usr/share/ostiary/locales
USER 10001:10001
WORKDIR /
EXPOSE 8080 5555
STOPSIGNAL SIGTERM
CMD ["gateway"]
