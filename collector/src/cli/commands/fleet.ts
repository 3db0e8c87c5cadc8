import { get, readToken } from "@clawguard/shared/cli/collector-client";
import { type Command, intFlag, parse } from "@clawguard/shared/cli/command";
import { safeOutput } from "@clawguard/shared/cli/terminal";

const fleetHelp = `Usage: clawguard fleet [--json]

Every agent the collector has heard from: state (healthy, degraded, unhealthy, unknown, or stale
when its heartbeats stopped), why, when it was last seen, its clock against the collector's
("CLOCK +3600.0 s" when off by more than fleet.maxClockSkewMs), and config drift within each role.
Options:
  --url URL          collector (default: $CLAWGUARD_COLLECTOR_URL or http://127.0.0.1:18800)
  --token-file FILE  read token (default: $CLAWGUARD_READ_TOKEN(_FILE), or the one \`clawguard up\` made)
  --json             print the collector's JSON
  -h, --help         this help`;

const incidentsHelp = `Usage: clawguard incidents [--agent NAME] [--open] [--limit N] [--json]

Incidents: each opens when an agent turns unhealthy, degraded or stale, records every change after
that with its reasons, and every action of the failover controller (restart, fence, standby
started, route switched, hold) with its fencing token, and resolves when the agent is healthy
again. Newest first.
Options:
  --agent NAME       one agent's
  --open             only those still open
  --limit N          at most N (default 50)
  --url URL          collector (default: $CLAWGUARD_COLLECTOR_URL or http://127.0.0.1:18800)
  --token-file FILE  read token (default: $CLAWGUARD_READ_TOKEN(_FILE), or the one \`clawguard up\` made)
  --json             print the collector's JSON
  -h, --help         this help`;

interface FleetAgent {
  agent: string;
  role: string;
  host: string;
  state: string;
  stale: boolean;
  reasons: string[];
  lastSeen: string;
  configFingerprint: string;
  clockOffset?: { offsetMs: number; method: string; skewed: boolean };
}

interface Incident {
  id: string;
  agent: string;
  openedAt: string;
  resolvedAt: string | null;
  state: string;
  reasons: string[];
  timeline?: {
    at: string;
    kind: string;
    fromState?: string | null;
    toState?: string;
    reasons?: string[];
    /** opened/changed: the same condition reported this many times, the last at lastAt. */
    repeats?: number;
    lastAt?: string;
    /** kind "action": what the controller did, in words, under which fencing token. */
    action?: string;
    detail?: string;
    token?: number;
  }[];
}

const common = {
  url: { type: "string" },
  "token-file": { type: "string" },
  json: { type: "boolean" },
} as const;

export const fleetCommand: Command = {
  name: "fleet",
  help: fleetHelp,
  async run(args, raw) {
    // What the collector relays is the agents' to write: shown, never acted on by the terminal.
    const io = safeOutput(raw);
    const { values } = parse("fleet", args, common, false);
    if (values.help) {
      io.out(`${fleetHelp}\n`);
      return 0;
    }
    const base = values.url ?? io.env.CLAWGUARD_COLLECTOR_URL ?? "http://127.0.0.1:18800";
    const body = (await get(new URL("/v1/fleet", base).href, readToken(values["token-file"], io))) as {
      agents: FleetAgent[];
      drift?: { role: string; fingerprints: Record<string, string[]>; keys?: string[] }[];
    };
    if (values.json) {
      io.out(`${JSON.stringify(body, null, 2)}\n`);
      return 0;
    }
    if (body.agents.length === 0) io.out("no agent has sent a heartbeat yet\n");
    for (const a of body.agents) {
      const state = a.stale ? "stale" : a.state;
      const clock = a.clockOffset?.skewed
        ? `  CLOCK ${a.clockOffset.offsetMs >= 0 ? "+" : ""}${(a.clockOffset.offsetMs / 1000).toFixed(1)} s (${a.clockOffset.method})`
        : "";
      io.out(
        `${a.agent.padEnd(12)} ${a.role.padEnd(10)} ${state.padEnd(10)} last seen ${a.lastSeen}  ${a.host}${clock}\n`,
      );
      for (const reason of a.reasons) io.out(`    - ${reason}\n`);
    }
    for (const d of body.drift ?? []) {
      io.out(`config drift in role ${d.role}${d.keys?.length ? `, in ${d.keys.join(", ")}` : ""}:\n`);
      for (const [fp, agents] of Object.entries(d.fingerprints))
        io.out(`    ${fp.slice(0, 12)}  ${agents.join(", ")}\n`);
    }
    return body.agents.some((a) => a.stale || a.state === "unhealthy") ? 1 : 0;
  },
};

export const incidentsCommand: Command = {
  name: "incidents",
  help: incidentsHelp,
  async run(args, raw) {
    // What the collector relays is the agents' to write: shown, never acted on by the terminal.
    const io = safeOutput(raw);
    const { values } = parse(
      "incidents",
      args,
      { ...common, agent: { type: "string" }, open: { type: "boolean" }, limit: { type: "string" } },
      false,
    );
    if (values.help) {
      io.out(`${incidentsHelp}\n`);
      return 0;
    }
    const url = new URL(
      "/v1/incidents",
      values.url ?? io.env.CLAWGUARD_COLLECTOR_URL ?? "http://127.0.0.1:18800",
    );
    if (values.agent) url.searchParams.set("agent", values.agent);
    if (values.open) url.searchParams.set("open", "true");
    url.searchParams.set("limit", String(intFlag("limit", values.limit, 1) ?? 50));
    const body = (await get(url.href, readToken(values["token-file"], io))) as { incidents: Incident[] };
    if (values.json) {
      io.out(`${JSON.stringify(body, null, 2)}\n`);
      return 0;
    }
    if (body.incidents.length === 0) io.out("no incidents\n");
    for (const i of body.incidents) {
      io.out(
        `${i.openedAt}  ${i.agent.padEnd(12)} ${i.state.padEnd(10)} ${i.resolvedAt ? `resolved ${i.resolvedAt}` : "OPEN"}\n`,
      );
      for (const step of i.timeline ?? []) {
        if (step.kind === "action") {
          io.out(
            `    ${step.at}  ${step.action ?? "action"} (token ${step.token ?? "?"}): ${step.detail ?? ""}\n`,
          );
          continue;
        }
        io.out(
          `    ${step.at}  ${step.kind.padEnd(8)} ${step.fromState ?? "-"} -> ${step.toState ?? "-"}${step.reasons?.length ? `: ${step.reasons.join("; ")}` : ""}${(step.repeats ?? 1) > 1 ? ` (reported ${step.repeats} times, last at ${step.lastAt})` : ""}\n`,
        );
      }
    }
    return 0;
  },
};
