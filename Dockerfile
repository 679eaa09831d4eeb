# Berth container image.
#   docker build -t berth .
#   docker run -p 5000:5000 -v berth-data:/var/lib/berth berth
# The builder compiles the release binary; the runtime image is debian:bookworm-slim with only the
# binary and CA certificates (S3 over TLS), running as the unprivileged user berth (10001).
# The shipped binary is stripped of its debug information (the release profile keeps line tables
# for the test suites' backtraces: about 145 MB, against 27 MB without; the symbol table stays, so panic
# backtraces name functions). The debug information is kept in the debug-symbols stage:
#   docker build --target debug-symbols -o type=local,dest=symbols .    (BuildKit; gdb, addr2line)
# See docker-compose.yml for the PostgreSQL + Garage (S3) deployment.
# Without registry access (no rust: image to build in), deploy/offline-e2e.sh builds the runtime stage
# below around a prebuilt binary: the stage as written, its `COPY --from=builder` line replaced by a
# COPY of that binary stripped by deploy/strip-binary.sh as above (the legacy builder of docker.io 20.10 and docker-compose v1 builds every stage
# before the target, so `--target` cannot skip the builder).

ARG RUST_VERSION=1
FROM rust:${RUST_VERSION}-bookworm AS builder
WORKDIR /src
# The build context is filtered by .dockerignore (no target/, data/, .git, .env).
COPY . .
RUN cargo build --release --locked \
 && deploy/strip-binary.sh target/release/berth /usr/local/bin/berth /usr/local/lib/debug/berth.debug

# Only the debug information of the shipped binary (matched by its .gnu_debuglink CRC).
FROM scratch AS debug-symbols
COPY --from=builder /usr/local/lib/debug/berth.debug /berth.debug

FROM debian:bookworm-slim AS runtime
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/*
# Unprivileged user with a fixed uid/gid (10001), owner of the data directory.
RUN groupadd --system --gid 10001 berth \
 && useradd --system --uid 10001 --gid 10001 --home-dir /var/lib/berth --no-create-home \
      --shell /usr/sbin/nologin berth \
 && install -d -o 10001 -g 10001 -m 0750 /var/lib/berth
COPY --from=builder /usr/local/bin/berth /usr/local/bin/berth

ENV BERTH_LISTEN=0.0.0.0:5000 \
    BERTH_DATA_DIR=/var/lib/berth
WORKDIR /var/lib/berth
# Declared after the directory is created and chowned, so a new named volume starts owned by berth.
VOLUME /var/lib/berth
EXPOSE 5000
USER 10001:10001
# `berth healthcheck` GETs /readyz on the local listener (no curl in the image) and exits non-zero
# unless it answers 200.
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 CMD ["berth", "healthcheck"]
ENTRYPOINT ["berth"]
CMD ["serve"]
