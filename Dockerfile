# syntax=docker/dockerfile:1
# belt-api, the control plane. Build from the repository root:
#   docker build -t belt-api:0.1.0 .
#
# Only the Kubernetes runtime is meant to run from this image (BELT_RUNTIME=kubernetes, the
# deploy/ manifests): belts then run in pods of the belt runtime image
# (images/belt-runtime/Dockerfile), never in this container. The local runtime's tools (bubblewrap,
# python3 for the belt host, util-linux's setpriv for the embedded broker) are deliberately absent,
# so this image has no shell and no interpreter a request could reach.

ARG RUST_VERSION=1.95
# distroless cc, or any glibc image with libssl3 and CA certificates (scripts/build-images.sh hands
# in one made from Debian packages when no registry is reachable).
ARG RUNTIME_IMAGE=gcr.io/distroless/cc-debian12:nonroot

FROM docker.io/library/rust:${RUST_VERSION}-bookworm AS builder
# rdkafka builds librdkafka from source (its `ssl` feature links libssl dynamically): a C
# toolchain, make, pkg-config and the OpenSSL headers. The rust image has most of them; naming them
# keeps the build working when it has fewer.
RUN apt-get update \
 && apt-get install -y --no-install-recommends build-essential pkg-config libssl-dev python3 \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# Every workspace member: cargo reads the whole workspace even to build one package (tests/ is not
# needed: a missing test target fails only when that target is built).
COPY Cargo.toml Cargo.lock ./
COPY crates crates
COPY cli cli
COPY bench bench
COPY migrations migrations
COPY src src
RUN cargo build --release --locked --bin belt-api \
 && install -D -m 0755 target/release/belt-api /out/belt-api \
 && install -d -m 0700 /out/data

# distroless cc: glibc, libgcc_s, libssl3/libcrypto3 (what `ldd belt-api` lists) and the CA
# certificates for TLS to Keycloak, Kafka and the Kubernetes API; no shell, no package manager.
# The same Debian release as the builder, so the glibc the binary was linked against is there.
FROM ${RUNTIME_IMAGE}
ARG VERSION=0.1.0
ARG REVISION=unknown
LABEL org.opencontainers.image.title="belt-api" \
      org.opencontainers.image.description="Control plane for belts: user Python functions that turn Kafka events into profile updates." \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.licenses="Apache-2.0"
COPY --from=builder /out/belt-api /usr/local/bin/belt-api
# The data dir (SQLite, the dev signing key) owned by the runtime user, so a plain `docker run`
# starts; on Kubernetes a volume is mounted over it (the root filesystem is read-only there).
COPY --from=builder --chown=65532:65532 /out/data /var/lib/belt-api
# A numeric uid (distroless's nonroot, 65532), so the kubelet can verify runAsNonRoot without
# reading /etc/passwd.
USER 65532:65532
# Listen on every interface of the container (the binary's default is loopback, right for a
# laptop); the Kubernetes runtime, as nothing else can run here. deploy/base/configmap.yaml says the
# same explicitly, and tests/deploy_manifests.rs checks that the two agree.
ENV BELT_LISTEN=0.0.0.0:8080 \
    BELT_RUNTIME=kubernetes \
    BELT_DATA_DIR=/var/lib/belt-api
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/belt-api", "serve"]
