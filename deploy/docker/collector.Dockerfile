# clawguard collector: events, heartbeats and memory contents from the sidecars; audit trail,
# fleet, incidents. Stateless with PostgreSQL (DATABASE_URL) and Redis (REDIS_URL): any number of
# replicas may run. From the repository root:
#   docker build -f deploy/docker/collector.Dockerfile -t clawguard/collector:0.1.0 .
# BASE is any Debian-based image with Node 24 at /usr/local/bin/node (the tests use a local one,
# built by debootstrap: no registry there).

ARG BASE=node:24-bookworm-slim
FROM ${BASE}
RUN command -v tini >/dev/null || { apt-get update && apt-get install -y --no-install-recommends tini \
    && rm -rf /var/lib/apt/lists/*; } \
 && groupadd --system clawguard && useradd --system --gid clawguard --home /app clawguard \
 && mkdir -p /data && chown clawguard:clawguard /data
WORKDIR /app
# The TypeScript sources run as they are (Node's type stripping); workspace packages resolve to
# their real paths under /app, outside node_modules, where Node strips types. Owned by root.
COPY . .
RUN sh deploy/docker/install.sh collector
COPY deploy/docker/clawguard /usr/local/bin/clawguard
USER clawguard
ENV NODE_ENV=production \
    CLAWGUARD_COLLECTOR_LISTEN=0.0.0.0:18800 \
    CLAWGUARD_COLLECTOR_DATA_DIR=/data
EXPOSE 18800
VOLUME ["/data"]
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:18800/readyz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
# tini as pid 1: it passes SIGTERM/SIGINT on to node and reaps orphaned children, which node as
# pid 1 would leave as zombies. The command is what `clawguard inject` writes (["clawguard",
# "collector"]); /usr/local/bin/clawguard execs node.
ENTRYPOINT ["/usr/bin/tini", "--"]
CMD ["clawguard", "collector"]
