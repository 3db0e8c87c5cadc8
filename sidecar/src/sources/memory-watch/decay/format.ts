import type { DecayAction, DecayPlan } from "./types.ts";

/** The actions of a plan, in the order `apply` reports them. */
export function planActions(plan: DecayPlan): DecayAction[] {
  const out: DecayAction[] = [];
  for (const op of plan.ops) {
    if (op.op === "compact") {
      for (const s of op.sources) {
        const kind = s.kind === "daily" ? "compact" : "merge";
        out.push({ op: kind, from: s.from, to: op.to, bytes: s.bytes, sha256: s.sha256 });
      }
      for (const s of op.sources) {
        out.push({ op: "trash", from: s.from, to: s.trash, bytes: s.bytes, sha256: s.sha256 });
      }
    } else {
      out.push({
        op: op.op,
        from: op.from,
        to: op.op === "purge" ? null : op.to,
        bytes: op.bytes,
        sha256: op.sha256,
      });
    }
  }
  return out;
}

export function formatAction(a: DecayAction): string {
  const size = `${a.bytes} bytes, sha256 ${a.sha256.slice(0, 12)}`;
  return `${a.op.padEnd(7)} ${a.from}${a.to ? ` -> ${a.to}` : ""} (${size})`;
}

/** The plan as `clawguard memory decay --dry-run` prints it. */
export function formatPlan(plan: DecayPlan): string {
  const lines: string[] = [];
  const head = `memory decay of ${plan.workspace} at ${plan.now} (${plan.today} in ${plan.config.timeZone})`;
  lines.push(plan.resume ? `${head}: finishing interrupted run ${plan.resume.run}` : head);
  const actions = planActions(plan);
  for (const a of actions) lines.push(`  ${formatAction(a)}`);
  if (actions.length === 0) lines.push("  nothing to do");
  for (const s of plan.skipped) lines.push(`  skipped ${s.path}: ${s.reason}`);
  return `${lines.join("\n")}\n`;
}
