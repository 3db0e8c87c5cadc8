import { seededRandom } from "@clawguard/shared/testing";
/**
 * A seeded generator of compose files for the property tests: random numbers and names of agent
 * and other services, comments, unrelated keys, both list styles, 2- or 4-space indentation,
 * CRLF, with and without PostgreSQL/Redis, top-level volumes/secrets, and a final newline.
 */

export const rng = seededRandom;

const NAMES = [
  "gateway",
  "main",
  "sub1",
  "sub2",
  "sub3",
  "worker-a",
  "bot-ops",
  "bot.sec",
  "agent_x",
  "planner",
];
const IMAGES = [
  "ghcr.io/openclaw/openclaw:latest",
  "openclaw/openclaw:2026.9.1",
  // biome-ignore lint/suspicious/noTemplateCurlyInString: a compose interpolation, kept as written
  "${OPENCLAW_IMAGE:-openclaw:local}",
];
const COMMENTS = ["# keep this", "# TODO: pin the image", "# 网关 (gateway)", "# ports below are for the UI"];

export function generateCompose(seed: number): string {
  const r = rng(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)] as T;
  const chance = (p: number) => r() < p;
  const u = chance(0.3) ? 4 : 2;
  const seqIndent = chance(0.7) ? u : 0;
  const i1 = " ".repeat(u);
  const i2 = " ".repeat(2 * u);
  const i3 = " ".repeat(2 * u + seqIndent);
  const i3map = " ".repeat(3 * u);
  const out: string[] = [];
  if (chance(0.5)) out.push(pick(COMMENTS));
  if (chance(0.3)) out.push(`name: stack${seed % 100}`);
  if (chance(0.3)) out.push("x-common:", `${i1}restart: unless-stopped`);
  out.push("services:");
  const names = [...NAMES].sort(() => r() - 0.5).slice(0, 1 + Math.floor(r() * 5));
  let haUsed = false;
  let hasPg = false;
  let hasRedis = false;
  for (const name of names) {
    if (chance(0.3)) out.push("");
    if (chance(0.3)) out.push(`${i1}${pick(COMMENTS)}`);
    out.push(`${i1}${name}:${chance(0.2) ? "   # an agent" : ""}`);
    const labelled = chance(0.3);
    out.push(`${i2}image: ${labelled ? "example.com/agent:1" : pick(IMAGES)}`);
    const labels: string[] = [];
    if (labelled) labels.push(`clawguard.role: ${pick(["gateway", "sub-agent", "bot"])}`);
    if (!haUsed && /gateway|main/.test(name) && !labelled && chance(0.5)) {
      labels.push("clawguard.ha: standby");
      haUsed = true;
    }
    if (chance(0.3)) labels.push(`com.example.team: "t${seed % 7}"`);
    if (chance(0.4)) out.push(`${i2}restart: ${pick(["always", "unless-stopped", '"no"'])}`);
    if (chance(0.3)) out.push(`${i2}init: true`);
    if (chance(0.5)) {
      out.push(`${i2}environment:`);
      if (chance(0.5)) out.push(`${i3map}HOME: /home/node`, `${i3map}TOKEN: \${TOKEN:?set}`);
      else {
        out.pop();
        out.push(`${i2}environment:`, `${i3}- HOME=/home/node`, `${i3}- "TZ=Asia/Shanghai"`);
      }
    }
    if (chance(0.5))
      out.push(`${i2}ports:`, `${i3}- "${18789 + Math.floor(r() * 50)}:18789"${chance(0.3) ? " # UI" : ""}`);
    out.push(`${i2}volumes:`);
    if (chance(0.5)) out.push(`${i3}- ${name.replace(/[._]/g, "-")}-state:/home/node/.openclaw`);
    if (chance(0.6)) out.push(`${i3}- workspace:/home/node/.openclaw/workspace`);
    else {
      out.push(
        `${i3}- type: volume`,
        `${i3}  source: workspace`,
        `${i3}  target: /home/node/.openclaw/workspace/`,
      );
    }
    if (chance(0.3)) out.push(`${i3}${pick(COMMENTS)}`);
    if (labels.length > 0) out.push(`${i2}labels:`, ...labels.map((l) => `${i3map}${l}`));
    if (chance(0.3)) out.push(`${i2}mem_limit: 2g`, `${i2}x-note: "unrelated"`);
  }
  if (chance(0.5)) {
    hasPg = true;
    out.push(
      `${i1}db:`,
      `${i2}image: postgres:16`,
      `${i2}environment:`,
      `${i3map}POSTGRES_PASSWORD: example`,
    );
  }
  if (chance(0.5)) {
    hasRedis = true;
    out.push(`${i1}cache:`, `${i2}image: redis:7`);
  }
  if (chance(0.4)) out.push(`${i1}web:`, `${i2}image: nginx:alpine`, `${i2}ports: ["8080:80"]`);
  if (chance(0.3)) out.push(`${i1}# trailing comment in services`);
  const volumeNames = new Set(["workspace", ...names.map((n) => `${n.replace(/[._]/g, "-")}-state`)]);
  if (chance(0.7)) {
    if (chance(0.3)) out.push("");
    out.push("volumes:", ...[...volumeNames].map((v) => `${i1}${v}:${chance(0.2) ? " {}" : ""}`));
  }
  if (chance(0.4)) out.push("secrets:", `${i1}app-secret:`, `${i2}file: ./secret.txt`);
  if (hasPg && hasRedis && chance(0.5)) out.push("# end of file");
  const eol = chance(0.15) ? "\r\n" : "\n";
  return out.join(eol) + (chance(0.85) ? eol : "");
}
