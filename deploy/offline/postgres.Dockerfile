# Offline stand-in for the official `postgres` image (docker-compose.yml's default is postgres:16),
# for machines that cannot pull from a registry: Debian bookworm's PostgreSQL (15) on a local
# debian:bookworm-slim, with an entrypoint that honours the same interface docker-compose.yml uses:
# POSTGRES_PASSWORD (required unless POSTGRES_HOST_AUTH_METHOD=trust), POSTGRES_USER, POSTGRES_DB,
# POSTGRES_INITDB_ARGS, POSTGRES_HOST_AUTH_METHOD, PGDATA=/var/lib/postgresql/data (a volume),
# /docker-entrypoint-initdb.d/*.sh|*.sql, user postgres with uid/gid 999, pg_isready on PATH,
# STOPSIGNAL SIGINT. deploy/offline-e2e.sh builds it:
#   docker build -t berth-offline/postgres:15 -f deploy/offline/postgres.Dockerfile deploy/offline
#   POSTGRES_IMAGE=berth-offline/postgres:15 docker compose up -d
ARG DEBIAN_IMAGE=debian:bookworm-slim
FROM ${DEBIAN_IMAGE}

# Same uid/gid as the official image, so a data volume can move between the two.
RUN set -eux; \
    groupadd --system --gid 999 postgres; \
    useradd --system --uid 999 --gid 999 --home-dir /var/lib/postgresql --shell /bin/bash postgres; \
    install -d -o postgres -g postgres -m 0755 /var/lib/postgresql

ENV PG_MAJOR=15 \
    LANG=C.UTF-8
ENV PATH=/usr/lib/postgresql/${PG_MAJOR}/bin:$PATH \
    PGDATA=/var/lib/postgresql/data

# postgresql-common first, told not to create Debian's default cluster (the entrypoint runs initdb
# on the volume instead), then the server.
RUN set -eux; \
    export DEBIAN_FRONTEND=noninteractive; \
    apt-get update; \
    apt-get install -y --no-install-recommends postgresql-common; \
    sed -ri 's/^#?\s*create_main_cluster\s*=.*$/create_main_cluster = false/' \
        /etc/postgresql-common/createcluster.conf; \
    grep -q '^create_main_cluster = false$' /etc/postgresql-common/createcluster.conf; \
    apt-get install -y --no-install-recommends "postgresql-${PG_MAJOR}"; \
    rm -rf /var/lib/apt/lists/*; \
    postgres --version; \
    install -d -o postgres -g postgres -m 3777 /var/run/postgresql; \
    install -d -o postgres -g postgres -m 0700 "$PGDATA"; \
    install -d /docker-entrypoint-initdb.d

COPY postgres-entrypoint.sh /usr/local/bin/docker-entrypoint.sh
VOLUME /var/lib/postgresql/data
ENTRYPOINT ["docker-entrypoint.sh"]
# SIGINT: PostgreSQL's "fast" shutdown (SIGTERM would wait for every client to disconnect).
STOPSIGNAL SIGINT
EXPOSE 5432
CMD ["postgres"]
