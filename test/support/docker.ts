import { type SpawnSyncOptions, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

/**
 * The container tests' engine and images: test/support/docker-engine.sh starts a private Docker
 * Engine (its own network namespace; downloads cached under ~/.cache/clawguard), and the images are
 * built from the project's Dockerfiles on the local base it imports (no registry here).
 */
export const REPO = fileURLToPath(new URL("../../", import.meta.url));
const SCRIPT = join(REPO, "test/support/docker-engine.sh");
export const BASE_IMAGE = "clawguard-test/base:bookworm";
export const IMAGES = {
  sidecar: "clawguard/sidecar:test",
  collector: "clawguard/collector:test",
  agent: "clawguard-test/openclaw:stand-in",
  postgres: "clawguard-test/postgres:15",
  redis: "clawguard-test/redis:7",
} as const;

export interface Engine {
  env: NodeJS.ProcessEnv;
  /** The engine's socket on this host (the docker actuator's, mounted into the collector). */
  socket: string;
}

function run(cmd: string, args: string[], options: SpawnSyncOptions = {}): string {
  const r = spawnSync(cmd, args, { encoding: "utf8", maxBuffer: 64 << 20, ...options });
  if (r.status !== 0) {
    const output = `${r.stderr ?? ""}${r.stdout ?? ""}`.trim().split("\n").slice(-25).join("\n");
    throw new Error(
      `${cmd} ${args.join(" ")}: exit ${r.status ?? r.signal}${r.error ? ` (${r.error.message})` : ""}\n${output}`,
    );
  }
  return String(r.stdout ?? "");
}

/** Whether this machine can run the engine (root, Debian's apt-get, unshare): why not, or undefined. */
export function engineUnavailable(): string | undefined {
  const r = spawnSync("bash", [SCRIPT, "check"], { encoding: "utf8" });
  return r.status === 0 ? undefined : r.stderr.trim() || `exit ${r.status}`;
}

/** Starts (or finds) the engine: installs and imports the base on first use. */
export function startEngine(): Engine {
  const out = run("bash", [SCRIPT, "start"], { stdio: ["ignore", "pipe", "inherit"], timeout: 900_000 });
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const line of out.trim().split("\n")) {
    const at = line.indexOf("=");
    if (at > 0) env[line.slice(0, at)] = line.slice(at + 1);
  }
  return { env, socket: String(env.DOCKER_HOST).replace(/^unix:\/\//, "") };
}

export function stopEngine(): void {
  run("bash", [SCRIPT, "stop"]);
}

/** `docker ARGS` on the engine; its stdout. */
export function docker(engine: Engine, args: string[], options: SpawnSyncOptions = {}): string {
  return run("docker", args, { env: { ...engine.env, DOCKER_BUILDKIT: "0" }, timeout: 600_000, ...options });
}

/**
 * The two images from the project's Dockerfiles, on the local base, as a user builds them without
 * a network in the build: \`pnpm build:images\` (deploy/src/build/images.ts: each image's /app
 * bundled on the host into a context of its own, then \`docker build\`), run as that script runs it.
 */
export function buildImages(engine: Engine): void {
  run(
    join(REPO, "node_modules/node/bin/node"),
    [
      join(REPO, "deploy/src/build/images.ts"),
      "--base",
      BASE_IMAGE,
      "--sidecar-tag",
      IMAGES.sidecar,
      "--collector-tag",
      IMAGES.collector,
      "--quiet",
    ],
    { env: { ...engine.env, DOCKER_BUILDKIT: "0" }, timeout: 900_000 },
  );
  // The images these tags had before (and the build stages): the cache would otherwise grow a run.
  docker(engine, ["image", "prune", "-f"]);
}

/** A small image from a Dockerfile and files given inline. */
export function buildInline(engine: Engine, tag: string, files: Record<string, string>): void {
  const dir = mkdtempSync(join(tmpdir(), "clawguard-inline-"));
  try {
    for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text, { mode: 0o755 });
    docker(engine, ["build", "-q", "-t", tag, dir]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * Stand-ins for what cannot be pulled: an OpenClaw agent (`openclaw gateway run [--port N]`: answers
 * on its port and on 18790 with its container's hostname, /readyz ready; the real image needs the
 * network to build), and PostgreSQL and Redis images from
 * Debian's packages in the base that behave like the official ones as inject uses them
 * (POSTGRES_USER/POSTGRES_DB/POSTGRES_PASSWORD_FILE; Redis reachable from other containers).
 */
export function buildStandIns(engine: Engine): void {
  buildInline(engine, IMAGES.agent, {
    Dockerfile: `FROM ${BASE_IMAGE}
RUN groupadd --gid 1000 node && useradd --uid 1000 --gid node --create-home node \\
 && mkdir -p /home/node/.openclaw/workspace && chown -R node:node /home/node
COPY agent.mjs /agent.mjs
COPY openclaw /usr/local/bin/openclaw
USER node
WORKDIR /home/node
CMD ["openclaw", "gateway", "run"]
`,
    // openclaw gateway run --port N, as the seed's services run it.
    openclaw: `#!/bin/sh
exec node /agent.mjs "$@"
`,
    // Like OpenClaw: its gateway port (--port, else 18789) answers with the container's hostname and
    // /readyz with {"ready":true}; the bridge, 18790, the same; openclaw.json is written a moment
    // after the first start (its sidecar, started beside it, may come first).
    "agent.mjs": `import { existsSync, renameSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import { hostname } from "node:os";
const at = process.argv.indexOf("--port");
const port = at >= 0 ? Number(process.argv[at + 1]) : 18789;
const config = "/home/node/.openclaw/openclaw.json";
if (!existsSync(config)) setTimeout(() => {
  writeFileSync(config + ".tmp", "{}\\n");
  renameSync(config + ".tmp", config);
}, 2000);
for (const p of new Set([port, 18790]))
  createServer((req, res) => res.writeHead(200, { "content-type": "application/json" })
    .end(JSON.stringify(req.url === "/readyz" ? { ready: true } : { host: hostname(), port: p, path: req.url })))
    .listen(p, "0.0.0.0");
for (const s of ["SIGTERM", "SIGINT"]) process.on(s, () => process.exit(0));
`,
  });
  buildInline(engine, IMAGES.postgres, {
    Dockerfile: `FROM ${BASE_IMAGE}
COPY entrypoint.sh /entrypoint.sh
ENV PATH=/usr/lib/postgresql/15/bin:$PATH PGDATA=/var/lib/postgresql/data
ENTRYPOINT ["/entrypoint.sh"]
`,
    "entrypoint.sh": `#!/bin/sh
set -eu
mkdir -p "$PGDATA" /run/postgresql && chown -R postgres:postgres "$PGDATA" /run/postgresql && chmod 700 "$PGDATA"
if [ ! -s "$PGDATA/PG_VERSION" ]; then
  cp "$POSTGRES_PASSWORD_FILE" /tmp/pw && chown postgres /tmp/pw
  su postgres -c "initdb -D $PGDATA -U $POSTGRES_USER --pwfile=/tmp/pw --auth-host=scram-sha-256 --auth-local=trust" >/dev/null
  rm /tmp/pw
  echo "host all all all scram-sha-256" >> "$PGDATA/pg_hba.conf"
  su postgres -c "postgres -D $PGDATA -c listen_addresses= " & pid=$!
  until su postgres -c "pg_isready -q -h /run/postgresql"; do sleep 0.2; done
  su postgres -c "createdb -h /run/postgresql -U $POSTGRES_USER $POSTGRES_DB"
  kill $pid; wait $pid || true
fi
exec setpriv --reuid=postgres --regid=postgres --init-groups postgres -D "$PGDATA" -c listen_addresses='*'
`,
  });
  buildInline(engine, IMAGES.redis, {
    Dockerfile: `FROM ${BASE_IMAGE}
COPY entrypoint.sh /entrypoint.sh
ENTRYPOINT ["/entrypoint.sh"]
CMD ["redis-server"]
`,
    // As the official image: other containers may connect (no protected mode), in the foreground.
    "entrypoint.sh": `#!/bin/sh
[ "$1" = redis-server ] && { shift; exec redis-server --protected-mode no --bind 0.0.0.0 "$@"; }
exec "$@"
`,
  });
}
