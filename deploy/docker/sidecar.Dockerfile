# clawguard sidecar: runs next to one OpenClaw agent (gateway or sub-agent), sharing its network
# namespace and workspace volume. From the repository root:
#   docker build -f deploy/docker/sidecar.Dockerfile -t clawguard/sidecar:0.1.0 .
# BASE is any Debian-based image with Node 24 at /usr/local/bin/node (the tests use a local one,
# built by debootstrap: no registry there).

ARG BASE=node:24-bookworm-slim

# The image's files: the sidecar package and what it imports, bundled (deploy/src/build/
# image-bundle.ts): the sidecar's commands and workers, the agent-side `clawguard` it publishes,
# the tokenizers' vocabularies. Nothing of the collector; no node_modules to install.
FROM ${BASE} AS build
WORKDIR /src
COPY . .
RUN sh deploy/docker/build.sh sidecar /out

FROM ${BASE}
# The agent's user: OpenClaw's image runs as node (1000), and the sidecar reads and writes the same
# workspace (.clawguard, spills). -o: node:24 images have that uid already, as node.
ARG UID=1000
RUN command -v tini >/dev/null || { apt-get update && apt-get install -y --no-install-recommends tini \
    && rm -rf /var/lib/apt/lists/*; } \
 && groupadd -o --gid "$UID" clawguard && useradd -o --uid "$UID" --gid clawguard --home /app clawguard \
 && mkdir -p /var/lib/clawguard && chown clawguard:clawguard /var/lib/clawguard && chmod 1777 /var/lib/clawguard \
 && mkdir -p /opt/clawguard/bin && chown clawguard:clawguard /opt/clawguard/bin && chmod 777 /opt/clawguard/bin \
 && mkdir -p /var/spool/clawguard && chown clawguard:clawguard /var/spool/clawguard && chmod 1777 /var/spool/clawguard
# Owned by root: the process cannot change its own code.
COPY --from=build /out /app
COPY deploy/docker/clawguard /usr/local/bin/clawguard
USER clawguard
WORKDIR /app
# /opt/clawguard/bin: where inject mounts the clawguard-bin volume; a new volume takes this folder's
# owner and mode, so that the sidecar can publish the agent-side `clawguard` into it. Writable by
# any user: inject runs a sidecar as its agent's `user:` (it reads the agent's openclaw.json), and
# sidecars of different users share this volume (the agents mount it read-only).
# The sidecar's private state (its API token): in this container only, never on the workspace volume
# the agent's container shares; its volume is this sidecar's alone, so any user may be the one.
# /var/spool/clawguard: where inject mounts the agent's own inbox volume (the agent and its sidecar,
# who run as the same user; the folder is made before the agent's container has written a thing).
# malloc: blocks of 128 KiB and more mapped on their own and given back when freed, and the heap's
# free top trimmed past 128 KiB (glibc raises both thresholds as the process runs, and then keeps
# freed buffers: ~12 MB of the sidecar's resident memory at rest; pnpm bench --only memory runs the
# sidecar with this ENV).
ENV NODE_ENV=production \
    GLIBC_TUNABLES=glibc.malloc.mmap_threshold=131072:glibc.malloc.trim_threshold=131072 \
    CLAWGUARD_SIDECAR_LISTEN=127.0.0.1:18801 \
    CLAWGUARD_STATE_DIR=/var/lib/clawguard
EXPOSE 18801
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:18801/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
# tini as pid 1: it passes SIGTERM/SIGINT on to node and reaps orphaned children (a probe's, an
# exec's), which node as pid 1 would leave as zombies. The command is what `clawguard inject`
# writes (["clawguard", "sidecar"]); /usr/local/bin/clawguard execs node.
ENTRYPOINT ["/usr/bin/tini", "--"]
CMD ["clawguard", "sidecar"]
