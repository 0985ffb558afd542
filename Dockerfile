# Ostiary: one image holding every process; docker-compose.yml and
# deploy/k8s pick the process with the command (gateway, token-svc, flow-svc,
# keys-svc; ostiaryctl for health checks and operators).

# ---- build: Debian 12's -dev packages and make
FROM debian:12 AS build
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        gcc libc6-dev make pkg-config \
        libczmq-dev libzmq3-dev libmsgpack-dev libjansson-dev libcivetweb-dev \
        libcmocka-dev libargon2-dev libpq-dev libssl-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN make -j"$(nproc)" BUILD=build/image all

# ---- runtime: the shared libraries only, a non-root user
FROM debian:12-slim
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        libczmq4 libzmq5 libmsgpackc2 libjansson4 libcivetweb1 libargon2-1 libpq5 libssl3 \
        ca-certificates curl \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 ostiary \
 && useradd --system --uid 10001 --gid 10001 --home-dir /nonexistent --no-create-home \
        --shell /usr/sbin/nologin ostiary
COPY --from=build /src/build/image/bin/ /usr/local/bin/
COPY migrations/ /usr/share/ostiary/migrations/
COPY flows/ /usr/share/ostiary/flows/
ENV OSTIARY_MIGRATIONS_DIR=/usr/share/ostiary/migrations
USER ostiary:ostiary
WORKDIR /
EXPOSE 8080 5555
STOPSIGNAL SIGTERM
CMD ["gateway"]
