import { type Command, parse } from "@clawguard/shared/cli/command";
import { ClawguardError } from "@clawguard/shared/errors";
import { dropInInbox } from "../../sources/inbox/drop.ts";
import { parseDate } from "../../sources/memory-watch/decay/calendar.ts";
import { decayDraft, formatAction, formatPlan, runDecay } from "../../sources/memory-watch/decay/index.ts";
import { agentSideConfig } from "../context.ts";

/**
 * `clawguard memory decay`: one decay run of the agent's workspace, from the CLI. Events go to the
 * agent's inbox, so the sidecar seals them into the audit chain whether or not it runs right now.
 */
const help = `Usage: clawguard memory decay [--dry-run] [--now TIME] [--json] [--config FILE]

Decays the agent's memory (memory.decay in the config):
  memory/YYYY-MM-DD.md older than dailyToWeeklyDays (7)   -> memory/weekly/YYYY-Www.md, each day byte for byte
  memory/weekly/YYYY-Www.md whose Sunday is older than weeklyToArchiveDays (30) -> memory/archive/YYYY-MM/
  memory/tmp/YYYY-MM-DD*  older than temporaryRetentionDays (365)          -> the trash
  memory/.trash/YYYY-MM-DD/ older than trashRetentionDays (30)             -> deleted
"Older than N days": on the (N+1)th day after the date, in memory.decay.timeZone (UTC).
Originals go to memory/.trash/<today>/. Every move and deletion is an audit event (memory.decayed).
An interrupted run (crash, kill -9) is finished first, from its journal in memory/.decay/.

Options:
  --dry-run          print what a run would do now, and change nothing
  --now TIME         decay as of this RFC 3339 time instead of now
  --json             print the plan (and the result) as JSON
  --config FILE      sidecar config (default: $CLAWGUARD_CONFIG or ./clawguard.yaml)
  -h, --help         this help

Files and folders decay may not use (a symbolic link, which it never follows; one it may not
read or write) are skipped with the reason (--dry-run and --json list them), and the rest goes on.

Exit codes: 0 done; 1 another decayer holds the workspace (the message names it) or a step failed;
2 a bad --now, memory/ or memory/.decay a link, or files decay cannot make sense of (nothing was
changed); 78 bad config.`;

const RFC3339 = /^(\d{4}-\d{2}-\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(\.\d+)?([Zz]|[+-](\d{2}):(\d{2}))$/;

/** An RFC 3339 time whose every field is real: 2026-02-30 or 24:00 is refused, not rolled over. */
export function parseNow(text: string): Date {
  const m = RFC3339.exec(text);
  const fields = m ? [m[2], m[3], m[4], m[7] ?? "0", m[8] ?? "0"].map(Number) : [];
  const [h, min, sec, oh, om] = fields as [number, number, number, number, number];
  const date = new Date(text);
  if (
    !m ||
    parseDate(m[1] as string) === undefined ||
    h > 23 ||
    min > 59 ||
    sec > 59 ||
    oh > 23 ||
    om > 59 ||
    Number.isNaN(date.getTime())
  ) {
    throw new ClawguardError(
      "input.invalid",
      `--now: expected an RFC 3339 time, got ${JSON.stringify(text)} (a real date and time, e.g. 2026-03-01T00:00:00Z)`,
    );
  }
  return date;
}

export const memoryDecayCommand: Command = {
  name: "memory decay",
  help,
  async run(args, io) {
    const { values, positionals } = parse("memory", args, {
      "dry-run": { type: "boolean" },
      now: { type: "string" },
      json: { type: "boolean" },
      config: { type: "string" },
    });
    if (values.help) {
      io.out(`${help}\n`);
      return 0;
    }
    if (positionals.length !== 1 || positionals[0] !== "decay") {
      throw new ClawguardError(
        "input.invalid",
        `expected "clawguard memory decay", got "clawguard memory ${positionals.join(" ")}"\nRun: clawguard memory --help`,
      );
    }
    const now = values.now === undefined ? new Date() : parseNow(values.now);
    const config = agentSideConfig(values.config, io.env, io.cwd);
    // Until the sidecar schema has memory.decay, the defaults apply.
    const decay = config.memory.decay;
    const source = { agent: config.agent, host: config.host, role: config.role };
    const { plans, results } = await runDecay({
      workspace: config.workspace,
      now,
      config: decay,
      dryRun: values["dry-run"],
      onEvent: (event) => {
        dropInInbox(config.paths.inbox, decayDraft(source, event));
        if (!values.json) io.out(`${formatAction(event.attrs)}\n`);
      },
    });
    if (values.json) {
      io.out(`${JSON.stringify(values["dry-run"] ? { plans } : { plans, results }, null, 2)}\n`);
    } else if (values["dry-run"]) {
      for (const p of plans) io.out(formatPlan(p));
      if (plans[0]?.resume) io.out("a real run finishes that run first, then plans afresh\n");
    } else {
      const actions = results.reduce((n, r) => n + r.actions.length, 0);
      io.out(
        `memory decay of ${config.workspace}: ${actions === 0 ? "nothing to do" : `${actions} moves and deletions`}\n`,
      );
    }
    for (const r of results) for (const w of r.warnings) io.err(`warning: ${w}\n`);
    return 0;
  },
};
