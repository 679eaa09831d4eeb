# Offline stand-in for the official Garage image (docker-compose.yml's default is
# dxflrs/garage:v2.1.0), for machines that cannot pull from a registry. The official image is
# `FROM scratch` + a static /garage, ENV RUST_BACKTRACE=1 RUST_LOG=garage=info, CMD ["/garage", "server"]
# (configuration at the default /etc/garage.toml). This one has the same layout and command, but
# its binary is the one scripts/garage.sh builds (`cargo install garage --version 2.1.0`), which
# links glibc dynamically, hence a Debian base. deploy/offline-e2e.sh builds it from a context
# directory holding only that binary, named `garage`:
#   docker build -t berth-offline/garage:v2.1.0 -f deploy/offline/garage.Dockerfile CONTEXT_DIR
#   GARAGE_IMAGE=berth-offline/garage:v2.1.0 docker compose up -d
ARG DEBIAN_IMAGE=debian:bookworm-slim
FROM ${DEBIAN_IMAGE}
ENV RUST_BACKTRACE=1 \
    RUST_LOG=garage=info
COPY garage /garage
RUN ["/garage", "--version"]
CMD ["/garage", "server"]
