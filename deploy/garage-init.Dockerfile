# Image of the one-shot garage-init service (docker-compose.yml): the garage CLI from the official
# image (a static binary in an otherwise empty image, so no shell) plus a shell to run
# deploy/garage-init.sh.
ARG GARAGE_IMAGE=dxflrs/garage:v2.1.0
FROM ${GARAGE_IMAGE} AS garage

FROM debian:bookworm-slim
COPY --from=garage /garage /usr/local/bin/garage
COPY garage-init.sh /usr/local/bin/garage-init
ENTRYPOINT ["/usr/local/bin/garage-init"]
