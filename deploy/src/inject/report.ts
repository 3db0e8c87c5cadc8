import type { InjectResult, RemoveResult } from "./inject.ts";
import {
  BIN_DIR,
  COLLECTOR,
  ingestSecret,
  POSTGRES,
  routerName,
  SIDECAR_PORT,
  STANDBY_PROFILE,
} from "./plan.ts";

/** What `clawguard inject` changed, per service. */
export function changeSummary(r: InjectResult): string {
  const width = Math.max(...r.agents.map((a) => a.service.length), 8);
  const lines = [`clawguard inject: ${r.agents.length} agent service${r.agents.length === 1 ? "" : "s"}`];
  for (const a of r.agents) {
    lines.push(
      `  ${a.service.padEnd(width)}  ${a.role.padEnd(9)}  + ${a.added.join(", + ")}; ${a.notes.join("; ")}`,
    );
  }
  for (const s of r.skipped) lines.push(`  ${s.name.padEnd(width)}  skipped    ${s.reason}`);
  lines.push(
    `  services  + ${r.services.join(", + ")}${r.backends.postgres ? `  (PostgreSQL: ${r.backends.postgres})` : ""}${r.backends.redis ? `  (Redis: ${r.backends.redis})` : ""}`,
    `  volumes   + ${r.volumes.join(", + ")}`,
    `  secrets   + ${r.secrets.length} (${r.secrets[0]}, ...)`,
  );
  return `${lines.join("\n")}\n`;
}

/** What the user still has to do after injecting: secrets, OpenClaw config, AGENTS.md, images. */
export function todo(r: InjectResult): string {
  const dir = r.options.secretsDir.replace(/\/+$/, "");
  const tokens = r.tokens.map((t) => ingestSecret(t)).join(" ");
  const pg = r.backends.postgres
    ? `# the collector needs a database and role on ${r.backends.postgres}: CREATE ROLE clawguard LOGIN PASSWORD '...'; CREATE DATABASE clawguard OWNER clawguard;
printf 'postgres://clawguard:%s@${r.backends.postgres}:5432/clawguard\\n' "<that password>" > clawguard-database-url`
    : `openssl rand -hex 24 > clawguard-postgres-password
printf 'postgres://clawguard:%s@${POSTGRES}:5432/clawguard\\n' "$(cat clawguard-postgres-password)" > clawguard-database-url`;
  const ha = r.agents.filter((a) => a.added.includes(routerName(a.service)));
  const steps = [
    `1. Create the secrets (one ingest token per sidecar; the collector gets them all):
   mkdir -p ${dir} && cd ${dir} && umask 077
   for s in ${tokens}; do openssl rand -hex 32 > "$s"; done
   for a in ${r.tokens.join(" ")}; do printf '%s %s\\n' "$a" "$(cat clawguard-ingest-$a)"; done > clawguard-ingest-tokens
   openssl rand -hex 32 > clawguard-read-token
   ${pg.split("\n").join("\n   ")}`,
    `2. In every agent's OpenClaw config (openclaw.json in its state directory), put the exec guard on the PATH:
     tools: { exec: { pathPrepend: ["${BIN_DIR}"] } }
   and point each provider at its sidecar (same network namespace, so loopback):
     models: { providers: { <id>: { baseUrl: "http://127.0.0.1:${SIDECAR_PORT}/llm/<id>" } } }`,
    `3. Add to each workspace's AGENTS.md:
     - For commands that may print a lot (logs, find, grep -r, cat of big files, builds), run
       \`clawguard exec -- <command>\`: big output is saved to a file and you get a preview and an id.
     - Read a saved output with \`clawguard read <id>\` (page with --offset/--limit) instead of re-running it.`,
    `4. The images ${r.options.image} and ${r.options.collectorImage} are placeholders until they are published
   (--image / --collector-image). The sidecar copies the agent-side \`clawguard\` file into the
   clawguard-bin volume at start; the agents see it read-only at ${BIN_DIR}.`,
  ];
  if (ha.length > 0) {
    steps.push(
      `5. High availability (${ha.map((a) => a.service).join(", ")}): the standby is in the profile "${STANDBY_PROFILE}" and
   never starts by default (two gateways on one state are forbidden); only failover starts it, after
   fencing the primary. The router (\`clawguard router\`) is not implemented yet; it took over the
   gateway's published ports (kept in the gateway as "# clawguard-inject:moved" comments). Containers
   that reach the gateway by its service name must use ${ha.map((a) => routerName(a.service)).join(", ")} instead.`,
    );
  }
  steps.push(`Then: docker compose up -d, and watch http://127.0.0.1:18800 (${COLLECTOR}).`);
  return `What you still have to do:\n${steps.join("\n")}\n`;
}

export function removeSummary(r: RemoveResult): string {
  if (r.blocks + r.lines + r.restored === 0)
    return "clawguard inject --remove: nothing injected in this file\n";
  return `clawguard inject --remove: took out ${r.blocks} block${r.blocks === 1 ? "" : "s"} (${r.services.join(", ") || "no services"}), ${r.lines} added line${r.lines === 1 ? "" : "s"}; restored ${r.restored} moved line${r.restored === 1 ? "" : "s"}\n`;
}
