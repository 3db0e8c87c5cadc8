import { get, readToken } from "@clawguard/shared/cli/collector-client";
import { type Command, parse } from "@clawguard/shared/cli/command";
import { safeOutput } from "@clawguard/shared/cli/terminal";

const alertsHelp = `Usage: clawguard alerts [--json]

The collector's alerts firing now: gateway down (P0), LLM 400/5xx over the threshold (P1), p95 LLM
latency over the threshold (P2), per agent, with when each fired. Exit code 1 while any fires.
Options:
  --url URL          collector (default: $CLAWGUARD_COLLECTOR_URL or http://127.0.0.1:18800)
  --token-file FILE  read token (default: $CLAWGUARD_READ_TOKEN(_FILE), or the one \`clawguard up\` made)
  --json             print the collector's JSON
  -h, --help         this help`;

interface Alert {
  alert: string;
  severity: string;
  agent: string;
  summary: string;
  since: number;
  firedAt?: number;
}

export const alertsCommand: Command = {
  name: "alerts",
  help: alertsHelp,
  async run(args, raw) {
    // What the collector relays is the agents' to write: shown, never acted on by the terminal.
    const io = safeOutput(raw);
    const { values } = parse(
      "alerts",
      args,
      { url: { type: "string" }, "token-file": { type: "string" }, json: { type: "boolean" } },
      false,
    );
    if (values.help) {
      io.out(`${alertsHelp}\n`);
      return 0;
    }
    const base = values.url ?? io.env.CLAWGUARD_COLLECTOR_URL ?? "http://127.0.0.1:18800";
    const body = (await get(new URL("/v1/alerts", base).href, readToken(values["token-file"], io))) as {
      alerts: Alert[];
    };
    if (values.json) io.out(`${JSON.stringify(body, null, 2)}\n`);
    else if (body.alerts.length === 0) io.out("no alert firing\n");
    for (const a of values.json ? [] : body.alerts)
      io.out(
        `${a.severity}  ${a.alert.padEnd(15)} ${a.agent.padEnd(12)} since ${new Date(a.firedAt ?? a.since).toISOString()}  ${a.summary}\n`,
      );
    return body.alerts.length > 0 ? 1 : 0;
  },
};
