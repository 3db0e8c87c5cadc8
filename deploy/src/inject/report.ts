import type { InjectResult, RemoveResult } from "./inject.ts";
import { describeEdit } from "./openclaw-config.ts";
import type { OpenClawPlan, RestorePlan } from "./openclaw-files.ts";
import {
  BIN_DIR,
  COLLECTOR,
  COLLECTOR_CONFIG,
  COLLECTOR_CONFIG_TARGET,
  DOCKER_SOCKET,
  groupTarget,
  ingestSecret,
  POSTGRES,
  routerName,
  SIDECAR_CONFIG_TARGET,
  SIDECAR_PORT,
  STANDBY_PROFILE,
  sealSecret,
  sidecarConfigName,
  sidecarName,
  standbyName,
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
    `  services  + ${r.services.join(", + ")}${r.backends.postgres ? `  (PostgreSQL: ${r.backends.postgres})` : ""}`,
    `  volumes   + ${r.volumes.join(", + ")}`,
    `  secrets   + ${r.secrets.length} (${r.secrets[0]}, ...)`,
  );
  const sidecarConfigs = r.configs.filter((c) => c !== COLLECTOR_CONFIG);
  const configs: string[] = [];
  if (sidecarConfigs.length > 0) {
    configs.push(
      `${sidecarConfigs.join(", + ")} (the providers' real URLs, for the sidecars at ${SIDECAR_CONFIG_TARGET})`,
    );
  }
  if (r.configs.includes(COLLECTOR_CONFIG)) {
    const gateways = r.groups.map((g) => g.gateway).join(", ");
    configs.push(
      `${COLLECTOR_CONFIG} (failover of ${gateways}, for ${COLLECTOR} at ${COLLECTOR_CONFIG_TARGET})`,
    );
  }
  if (configs.length > 0) lines.push(`  configs   + ${configs.join("; + ")}`);
  for (const w of r.warnings) lines.push(`  warning: ${w}`);
  if (r.groups.length > 0) {
    lines.push(
      `  ${COLLECTOR} mounts ${DOCKER_SOCKET} (root on this host) with the group DOCKER_GID, to stop and start the gateways`,
    );
  }
  return `${lines.join("\n")}\n`;
}

/** How inject left each agent's OpenClaw config: what it edited (keys, never values of secrets), or why not. */
export interface OpenClawReport {
  plans: readonly OpenClawPlan[];
  /** False with --no-openclaw, or when the compose file goes to stdout: the files were read, not written. */
  write: boolean;
  /** Why they were not written, for the report: "--no-openclaw", "output to stdout". */
  readOnly?: string | undefined;
  /** Things that went wrong after the files were written (an owner that could not be kept). */
  problems: readonly string[];
}

const edited = (p: OpenClawPlan, write: boolean): boolean => write && p.edit?.changed === true;

/** Per agent: the file edited and its backup, each change; or why inject did not touch it. */
export function openclawSummary(o: OpenClawReport): string {
  if (o.plans.length === 0) return "";
  const width = Math.max(...o.plans.map((p) => p.agent.length), 8);
  const lines = ["OpenClaw configs (openclaw.json in each agent's state directory):"];
  const seen = new Map<string, string>();
  for (const p of o.plans) {
    const head = `  ${p.agent.padEnd(width)}  `;
    const pad = " ".repeat(head.length + 2);
    const first = p.file ? seen.get(p.file) : undefined;
    if (p.file && first) {
      lines.push(`${head}${p.file}: the same file as ${first}'s`);
      continue;
    }
    if (p.file) seen.set(p.file, p.agent);
    if (!p.edit) {
      lines.push(`${head}not edited: ${p.file ? `${p.file}: ` : ""}${p.manual} (step 2)`);
      continue;
    }
    const changes = describeEdit(p.edit);
    if (!p.edit.changed) {
      const fromBackup = p.edit.providers.some((x) => x.already)
        ? `; the real URLs are from ${p.backup}`
        : "";
      lines.push(`${head}${p.file}: already as inject leaves it (no change)${fromBackup}`);
    } else if (!o.write) {
      lines.push(
        `${head}not edited (${o.readOnly ?? "--no-openclaw"}): ${p.file}; what inject would change (step 2):`,
      );
    } else {
      lines.push(
        `${head}edited ${p.file}; the original is in ${p.backup}${p.backupExisted ? " (kept from an earlier inject)" : ""}`,
      );
    }
    for (const c of changes) lines.push(`${pad}${c}`);
  }
  for (const problem of o.problems) lines.push(`  ${problem}`);
  if (o.plans.some((p) => edited(p, o.write))) {
    lines.push(
      `  OpenClaw reloads openclaw.json when it changes: the edited agents now send their LLM calls to their sidecars,
  which are there once this compose file runs (docker compose up -d); until then those calls fail.
  clawguard inject --remove puts the originals back.`,
    );
  }
  return `${lines.join("\n")}\n`;
}

/** Step 2 of the to-do: the OpenClaw config edits inject did not make; none when it made them all. */
function openclawStep(o: OpenClawReport): string | undefined {
  const byHand = o.plans.filter((p) => !p.edit);
  const notWritten = o.plans.filter(
    (p, i) => p.edit?.changed && !o.write && o.plans.findIndex((q) => q.file === p.file) === i,
  );
  const left = o.plans.filter(
    (p) => (p.edit?.left.length ?? 0) > 0 || typeof p.edit?.pathPrepend === "object",
  );
  const parts: string[] = [];
  if (byHand.length > 0) {
    const names = byHand.map((p) => p.agent).join(", ");
    parts.push(`In the OpenClaw config of ${names} (openclaw.json in the state directory; inject could not edit it, see above), put the exec guard on the PATH:
     tools: { exec: { pathPrepend: ["${BIN_DIR}"] } }
   and point each provider at its sidecar (same network namespace, so loopback):
     models: { providers: { <id>: { baseUrl: "http://127.0.0.1:${SIDECAR_PORT}/llm/<id>" } } }
   The sidecar then no longer finds a provider's real URL in its baseUrl: give it each one as
   llm.providers.<id>.upstream (e.g. https://api.openai.com/v1) in a sidecar config file (mounted into
   ${byHand.map((p) => sidecarName(p.agent)).join(", ")}, named by CLAWGUARD_CONFIG), or run inject again once it can reach openclaw.json.`);
  }
  for (const p of notWritten) {
    parts.push(
      `Edit ${p.file} (${p.agent}) as listed above; ${sidecarName(p.agent)} already has the real URLs (configs.${sidecarConfigName(p.agent)}).`,
    );
  }
  if (left.length > 0) {
    parts.push(
      `The providers of ${left.map((p) => p.agent).join(", ")} marked "left as it is" above go straight to the provider, unguarded: do what it says and run inject again to guard them.`,
    );
  }
  if (parts.length === 0) return undefined;
  return parts.join("\n   ");
}

/** What the user still has to do after injecting: secrets, OpenClaw config, AGENTS.md, images. */
export function todo(r: InjectResult, o: OpenClawReport): string {
  const dir = r.options.secretsDir.replace(/\/+$/, "");
  const tokens = r.tokens.map((t) => ingestSecret(t)).join(" ");
  const seals = r.tokens.map((t) => sealSecret(t)).join(" ");
  const pg = r.backends.postgres
    ? `# the collector needs a database and role on ${r.backends.postgres}: CREATE ROLE clawguard LOGIN PASSWORD '...'; CREATE DATABASE clawguard OWNER clawguard;
printf 'postgres://clawguard:%s@${r.backends.postgres}:5432/clawguard\\n' "<that password>" > clawguard-database-url`
    : `openssl rand -hex 24 > clawguard-postgres-password
printf 'postgres://clawguard:%s@${POSTGRES}:5432/clawguard\\n' "$(cat clawguard-postgres-password)" > clawguard-database-url`;
  const steps = [
    `Create the secrets (one ingest token and one sealing key per sidecar; the collector gets them all):
   mkdir -p ${dir} && chmod 700 ${dir} && cd ${dir} && umask 077
   for s in ${tokens} ${seals}; do openssl rand -hex 32 > "$s"; done
   for a in ${r.tokens.join(" ")}; do printf '%s %s\\n' "$a" "$(cat clawguard-ingest-$a)"; done > clawguard-ingest-tokens
   for a in ${r.tokens.join(" ")}; do printf '%s k1 %s\\n' "$a" "$(cat clawguard-seal-$a)"; done > clawguard-seal-keys
   openssl rand -hex 32 > clawguard-read-token
   ${pg.split("\n").join("\n   ")}
   # Compose mounts each file as it is: readable by the containers' users (the sidecars run as uid
   # 1000, the collector as 999); the folder, 0700, keeps the host's other users out.
   chmod 444 ./*`,
    openclawStep(o),
    `Add to each workspace's AGENTS.md:
     - For commands that may print a lot (logs, find, grep -r, cat of big files, builds), run
       \`clawguard exec -- <command>\`: big output is saved to a file and you get a preview and an id.
     - Read a saved output with \`clawguard read <id>\` (page with --offset/--limit) instead of re-running it.`,
    `The images ${r.options.image} and ${r.options.collectorImage} are placeholders until they are published
   (--image / --collector-image). The sidecar copies the agent-side \`clawguard\` file into the
   clawguard-bin volume at start; the agents see it read-only at ${BIN_DIR}.`,
  ];
  const ha = r.groups;
  if (ha.length > 0) {
    const gws = ha.map((g) => g.gateway);
    const project = r.project
      ? `name: ${r.project}, unless -p or COMPOSE_PROJECT_NAME says otherwise`
      : "-p, COMPOSE_PROJECT_NAME, name: or the directory's name";
    const lines = [
      `High availability (${gws.join(", ")}): inject configured the failover; left to do:`,
      `   ${COLLECTOR}'s controller reads configs.${COLLECTOR_CONFIG} (${COLLECTOR_CONFIG_TARGET}, CLAWGUARD_COLLECTOR_CONFIG):`,
      ...ha.map(({ gateway, port }) => {
        const standby = standbyName(gateway);
        return `     group ${gateway}: ${gateway} (${groupTarget(gateway, port)}), standby ${standby} (${groupTarget(standby, port)})`;
      }),
      "   and the docker actuator in compose mode, which finds each by its Compose labels in the project",
      `   \${COMPOSE_PROJECT_NAME}: Compose fills in the project it runs (${project}).`,
      `   It stops and starts them through ${DOCKER_SOCKET}, mounted into it: that is root on this host.`,
      "   Its image runs as a non-root user: give it the socket's group first (Compose refuses to run the file",
      "   without it):",
      `     echo "DOCKER_GID=$(stat -c %g ${DOCKER_SOCKET})" >> .env   # beside the compose file`,
      `   Each standby is in the profile "${STANDBY_PROFILE}" and never starts by default (two gateways on one`,
      "   state are forbidden); only failover starts it, after fencing its gateway. Create it and its sidecar",
      "   once (and again after a docker compose down), so that failover can start them:",
      ...gws.map((gw) => {
        const standby = standbyName(gw);
        return `     docker compose --profile ${STANDBY_PROFILE} create ${standby} ${sidecarName(standby)}`;
      }),
    ];
    for (const gw of gws) {
      lines.push(
        `   The router ${routerName(gw)} (\`clawguard router --group ${gw}\`) took over ${gw}'s published ports (kept in`,
        `   ${gw} as "# clawguard-inject:moved" comments) and forwards to the group's current target, which the`,
        `   controller sets: until it does, it answers 503 "no route". Containers that reach ${gw} by its service`,
        `   name must use ${routerName(gw)} instead; \`clawguard route nginx --group ${gw}\` prints the current target.`,
        `   Ports it cannot take (a range, or one known only after interpolation) stay on ${gw}, unmarked: after a`,
        "   failover they reach the fenced gateway, not its standby; list such ports one per entry to have them served.",
      );
    }
    const [gw, standby] = [gws[0] ?? "", standbyName(gws[0] ?? "")];
    lines.push(
      `   After a failover the gateway is stopped (fenced) and its standby serves: a plain \`docker compose up -d\``,
      `   then starts the fenced gateway again on the same state (e.g. ${gw} while ${standby} serves), which`,
      "   OpenClaw's own state lock refuses: it exits 78 (over and over, with a restart policy). Until you fail",
      "   back, start services by name (docker compose up -d <service>); docker compose ps -a shows which of",
      "   the two is stopped.",
      `   Stop the project with docker compose --profile ${STANDBY_PROFILE} down: a plain docker compose down`,
      "   leaves a standby that failover started running (on the gateway's state), and the next up starts the",
      "   fenced gateway beside it.",
    );
    steps.push(lines.join("\n"));
  }
  steps.push(
    `Then: docker compose up -d, and watch http://127.0.0.1:18800 (${COLLECTOR}; CLAWGUARD_COLLECTOR_PORT in .env moves it, e.g. for a second project on this engine).`,
  );
  const numbered = steps
    .filter((s): s is string => s !== undefined)
    .map((s, i, all) => (i < all.length - 1 ? `${i + 1}. ${s}` : s));
  return `What you still have to do:\n${numbered.join("\n")}\n`;
}

/** What `inject --remove` did with each agent's openclaw.json. */
export function restoreSummary(
  plans: readonly RestorePlan[],
  write: boolean,
  problems: readonly string[],
  readOnly = "--no-openclaw",
): string {
  const lines: string[] = [];
  for (const p of plans) {
    if (p.action === "none") continue;
    if (p.action === "manual") lines.push(`  ${p.agent}: ${p.message}`);
    else if (!write)
      lines.push(`  ${p.agent}: not restored (${readOnly}): ${p.file} (the original is ${p.backup})`);
    else if (p.action === "restore")
      lines.push(`  ${p.agent}: restored ${p.file} from ${p.backup} (deleted)`);
    else lines.push(`  ${p.agent}: ${p.file} is the original already; deleted ${p.backup}`);
  }
  lines.push(...problems.map((p) => `  ${p}`));
  return lines.length > 0 ? `OpenClaw configs:\n${lines.join("\n")}\n` : "";
}

export function removeSummary(r: RemoveResult): string {
  if (r.blocks + r.lines + r.restored === 0)
    return "clawguard inject --remove: nothing injected in this file\n";
  return `clawguard inject --remove: took out ${r.blocks} block${r.blocks === 1 ? "" : "s"} (${r.services.join(", ") || "no services"}), ${r.lines} added line${r.lines === 1 ? "" : "s"}; restored ${r.restored} moved line${r.restored === 1 ? "" : "s"}\n`;
}
