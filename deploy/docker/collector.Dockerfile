# clawguard collector: events, heartbeats and memory contents from the sidecars; audit trail,
# fleet, incidents; also the gateways' routers (`clawguard router`). Stateless with PostgreSQL
# (DATABASE_URL) and Redis (REDIS_URL): any number of replicas may run. From the repository root:
#   docker build -f deploy/docker/collector.Dockerfile -t clawguard/collector:0.1.0 .
# BASE is any Debian-based image with Node 24 at /usr/local/bin/node (the tests use a local one,
# built by debootstrap: no registry there).

ARG BASE=node:24-bookworm-slim

# The image's files: the collector package and what it imports, bundled (deploy/src/build/
# image-bundle.ts), the fleet page, and PGlite as published (its WebAssembly and data files).
FROM ${BASE} AS build
WORKDIR /src
COPY . .
RUN sh deploy/docker/build.sh collector /out

FROM ${BASE}
RUN command -v tini >/dev/null || { apt-get update && apt-get install -y --no-install-recommends tini \
    && rm -rf /var/lib/apt/lists/*; } \
 && groupadd --system clawguard && useradd --system --gid clawguard --home /app clawguard \
 && mkdir -p /data && chown clawguard:clawguard /data
# Owned by root: the process cannot change its own code.
COPY --from=build /out /app
COPY deploy/docker/clawguard /usr/local/bin/clawguard
USER clawguard
WORKDIR /app
ENV NODE_ENV=production \
    CLAWGUARD_COLLECTOR_LISTEN=0.0.0.0:18800 \
    CLAWGUARD_COLLECTOR_DATA_DIR=/data
EXPOSE 18800
VOLUME ["/data"]
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:18800/readyz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
# tini as pid 1: it passes SIGTERM/SIGINT on to node and reaps orphaned children, which node as
# pid 1 would leave as zombies. The command is what `clawguard inject` writes (["clawguard",
# "collector"], ["clawguard", "router", ...]); /usr/local/bin/clawguard execs node.
ENTRYPOINT ["/usr/bin/tini", "--"]
CMD ["clawguard", "collector"]
