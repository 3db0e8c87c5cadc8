# clawguard sidecar: runs next to one OpenClaw agent (gateway or sub-agent), sharing its network
# namespace and workspace volume; also runs `clawguard router`. From the repository root:
#   docker build -f deploy/docker/sidecar.Dockerfile -t clawguard/sidecar:0.1.0 .
# BASE is any Debian-based image with Node 24 at /usr/local/bin/node (the tests use a local one,
# built by debootstrap: no registry there).

ARG BASE=node:24-bookworm-slim
FROM ${BASE}
# The agent's user: OpenClaw's image runs as node (1000), and the sidecar reads and writes the same
# workspace (.clawguard, spills). -o: node:24 images have that uid already, as node.
ARG UID=1000
RUN command -v tini >/dev/null || { apt-get update && apt-get install -y --no-install-recommends tini \
    && rm -rf /var/lib/apt/lists/*; } \
 && groupadd -o --gid "$UID" clawguard && useradd -o --uid "$UID" --gid clawguard --home /app clawguard \
 && mkdir -p /var/lib/clawguard && chown clawguard:clawguard /var/lib/clawguard && chmod 700 /var/lib/clawguard \
 && mkdir -p /opt/clawguard/bin && chown clawguard:clawguard /opt/clawguard/bin
WORKDIR /app
# The TypeScript sources run as they are (Node's type stripping); workspace packages resolve to
# their real paths under /app, outside node_modules, where Node strips types. Owned by root: the
# process cannot change its own code.
COPY . .
RUN sh deploy/docker/install.sh sidecar && mkdir /app/.compile-cache && chown clawguard /app/.compile-cache
COPY deploy/docker/clawguard /usr/local/bin/clawguard
# Node's compile cache, warmed as the user that runs (its folder is named by uid) by loading every
# module the sidecar imports at its start (`--check` exits 78 without a token; the modules are
# loaded by then), then handed to root, read-only: with the types already stripped, Node never
# loads its TypeScript stripper (~18 MB resident) and starts faster; the process cannot write it.
USER clawguard
RUN NODE_COMPILE_CACHE=/app/.compile-cache node sidecar/src/cli/main.ts sidecar --check >/dev/null 2>&1; \
    test -n "$(ls -A /app/.compile-cache)"
USER root
RUN chown -R root:root /app/.compile-cache && chmod -R a+rX,go-w /app/.compile-cache
USER clawguard
# /opt/clawguard/bin: where inject mounts the clawguard-bin volume; a new volume takes this folder's
# owner, so that the sidecar can publish the agent-side `clawguard` into it.
# The sidecar's private state (its API token): in this container only, never on the workspace volume
# the agent's container shares.
ENV NODE_ENV=production \
    CLAWGUARD_SIDECAR_LISTEN=127.0.0.1:18801 \
    CLAWGUARD_STATE_DIR=/var/lib/clawguard
EXPOSE 18801
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:18801/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
# tini as pid 1: it passes SIGTERM/SIGINT on to node and reaps orphaned children (a probe's, an
# exec's), which node as pid 1 would leave as zombies. The command is what `clawguard inject`
# writes (["clawguard", "sidecar"], ["clawguard", "router", ...]); /usr/local/bin/clawguard execs node.
ENTRYPOINT ["/usr/bin/tini", "--"]
CMD ["clawguard", "sidecar"]
