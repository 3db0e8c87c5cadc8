import { get, readToken } from "@clawguard/shared/cli/collector-client";
import { type Command, intFlag, parse } from "@clawguard/shared/cli/command";
import { safeOutput } from "@clawguard/shared/cli/terminal";
import { ClawguardError } from "@clawguard/shared/errors";
import { queryTime } from "@clawguard/shared/events/bounds";
import type { AuditEvent } from "@clawguard/shared/events/envelope";

const help = `Usage: clawguard audit list   [filters] [--limit N] [--all] [--json]
       clawguard audit verify [--agent NAME] [--json]

Reads the audit trail from the collector.
  list     events in time order, filtered; --all follows the cursor to the end
  verify   recomputes every hash of each agent's chain and checks every link; exit 1 when broken

Filters: --agent NAME  --session ID  --type TYPE (exec.completed, or a prefix: exec.*)
         --since TIME  --until TIME (RFC 3339)  --cursor C (from a previous page)
         --clock agent|collector  which clock --since/--until and the order use: agent (default),
                   the events' own time; collector, when the collector stored them (right even for
                   an agent whose clock is off: see clawguard fleet)
Options:
  --url URL          collector (default: $CLAWGUARD_COLLECTOR_URL or http://127.0.0.1:18800)
  --token-file FILE  read token (default: $CLAWGUARD_READ_TOKEN(_FILE), or the one \`clawguard up\` made)
  --json             print JSON instead of a table
  -h, --help         this help`;

function row(e: AuditEvent): string {
  const a = e.attrs;
  const what = e.type.startsWith("exec.")
    ? `${String(a.command ?? "").slice(0, 60)} exit=${String(a.exit_code ?? "-")} bytes=${String(a.bytes ?? "-")}`
    : JSON.stringify(a).slice(0, 80);
  return `${e.time}  ${e.source.agent.padEnd(10)} ${String(e.seq).padStart(7)}  ${e.type.padEnd(16)} ${e.severity.padEnd(5)} ${e.session ?? "-"}  ${what}`;
}

export const auditCommand: Command = {
  name: "audit",
  help,
  async run(args, raw) {
    // What the collector relays is the agents' to write: shown, never acted on by the terminal.
    const io = safeOutput(raw);
    const [sub, ...rest] = args;
    const { values } = parse(
      "audit",
      rest,
      {
        agent: { type: "string" },
        session: { type: "string" },
        type: { type: "string" },
        since: { type: "string" },
        until: { type: "string" },
        clock: { type: "string" },
        cursor: { type: "string" },
        limit: { type: "string" },
        all: { type: "boolean" },
        json: { type: "boolean" },
        url: { type: "string" },
        "token-file": { type: "string" },
      },
      false,
    );
    if (values.help || sub === undefined || sub === "--help" || sub === "-h") {
      io.out(`${help}\n`);
      return sub === undefined ? 2 : 0;
    }
    const base = values.url ?? io.env.CLAWGUARD_COLLECTOR_URL ?? "http://127.0.0.1:18800";
    for (const key of ["since", "until"] as const) timeFlag(key, values[key]);
    const token = readToken(values["token-file"], io);
    if (sub === "verify") {
      const url = new URL("/v1/audit/verify", base);
      if (values.agent) url.searchParams.set("agent", values.agent);
      const result = (await get(url.href, token)) as {
        ok: boolean;
        agents: {
          agent: string;
          ok: boolean;
          events: number;
          last_seq: number | null;
          problems: { seq: number; kind: string; detail: string }[];
          recorded_integrity_events: number;
        }[];
      };
      if (values.agent && result.agents.every((a) => a.events === 0))
        throw new ClawguardError(
          "not_found",
          `no events from agent ${JSON.stringify(values.agent)}: nothing to verify (clawguard fleet lists the agents)`,
        );
      if (values.json) io.out(`${JSON.stringify(result, null, 2)}\n`);
      else {
        for (const a of result.agents) {
          io.out(
            `${a.ok ? "ok    " : "BROKEN"} ${a.agent.padEnd(12)} ${a.events} events, last seq ${a.last_seq ?? "-"}, ${a.recorded_integrity_events} integrity events recorded at ingest\n`,
          );
          for (const p of a.problems) io.out(`         seq ${p.seq}: ${p.kind}: ${p.detail}\n`);
        }
        if (result.agents.length === 0 && !values.agent) io.out("no agents have sent events yet\n");
      }
      return result.ok ? 0 : 1;
    }
    if (sub !== "list") {
      io.err(`clawguard audit: unknown subcommand ${JSON.stringify(sub)} (expected list or verify)\n`);
      return 2;
    }
    const limit = intFlag("limit", values.limit, 1) ?? 100;
    let cursor = values.cursor;
    let shown = 0;
    do {
      const url = new URL("/v1/audit", base);
      for (const key of ["agent", "session", "type", "since", "until", "clock"] as const) {
        const value = values[key];
        if (value) url.searchParams.set(key, value);
      }
      url.searchParams.set("limit", String(Math.min(limit, 1000)));
      if (cursor) url.searchParams.set("cursor", cursor);
      const page = (await get(url.href, token)) as { events: AuditEvent[]; next_cursor: string | null };
      for (const event of page.events) io.out(values.json ? `${JSON.stringify(event)}\n` : `${row(event)}\n`);
      shown += page.events.length;
      cursor = page.next_cursor ?? undefined;
      if (!values.all && cursor) io.err(`[clawguard] more: clawguard audit list --cursor ${cursor}\n`);
    } while (values.all && cursor);
    if (!values.json) io.err(`[clawguard] ${shown} event${shown === 1 ? "" : "s"}\n`);
    return 0;
  },
};

/** --since/--until checked here as the collector checks them, before anything is asked of it. */
function timeFlag(name: string, value: string | undefined): void {
  if (value === undefined) return;
  const time = queryTime(value);
  if ("problem" in time)
    throw new ClawguardError("input.invalid", `--${name}: ${time.problem}, got ${JSON.stringify(value)}`);
}
