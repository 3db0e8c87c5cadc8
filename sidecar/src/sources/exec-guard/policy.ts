import { type Analysis, analyzeCommand, type Invocation } from "./command/analyze.ts";
import { loadParser } from "./command/load-parser.ts";
import { lineOf, type ParsedScript } from "./command/script.ts";
import { compileRule } from "./rules.ts";

export { checkRules, compileRule } from "./rules.ts";

/**
 * Allow and deny rules. A rule is a glob (`*` any text, `?` one char) matched against the whole
 * command line of each program the command would run, or `/regex/flags`. Deny wins; with
 * `default: deny` (the allow-list) a command runs only when every program in it matches an allow rule.
 */
export interface ExecPolicy {
  default: "allow" | "deny";
  allow: readonly string[];
  deny: readonly string[];
}

export type PolicyDecision =
  | { allowed: true; rule?: string; unresolved?: string[] }
  | { allowed: false; rule?: string; reason: string; unresolved?: string[] };

export interface PolicyContext {
  /** The environment the command gets (its PATH finds programs). */
  env: NodeJS.ProcessEnv;
  cwd: string;
  /** Scripts read before (the agent-side CLI keeps them between runs): a hit loads no parser. */
  scripts?: ScriptCache | undefined;
}

export interface ScriptCache {
  get(script: string): ParsedScript | undefined;
  set(script: string, parsed: ParsedScript): void;
}

/** Whether the policy has anything to check: without rules and with default allow, nothing is parsed. */
export const policyIsActive = (policy: ExecPolicy) =>
  policy.default === "deny" || policy.allow.length > 0 || policy.deny.length > 0;

/** Compiled once per rule list. */
const compiled = new WeakMap<readonly string[], RegExp[]>();
function compileAll(rules: readonly string[]): RegExp[] {
  let regexes = compiled.get(rules);
  if (!regexes) {
    regexes = rules.map(compileRule);
    compiled.set(rules, regexes);
  }
  return regexes;
}

/** The first rule that matches the invocation under one of the names, and that name. */
function firstMatch(
  rules: readonly string[],
  inv: Invocation,
  names: readonly string[],
): { rule: string; name: string } | undefined {
  const regexes = compileAll(rules);
  const args = inv.argv.slice(1).map((w) => w.text);
  for (const [i, re] of regexes.entries()) {
    const name = names.find((n) => re.test([n, ...args].join(" ")));
    if (name !== undefined) return { rule: rules[i] as string, name };
  }
  return undefined;
}

/** How a message names an inner command: `"rm x" (through sh -c, env)`. */
function described(inv: Invocation): string {
  const line = JSON.stringify(lineOf(inv.argv).slice(0, 200));
  return inv.via.length > 0 ? `${line} (through ${inv.via.join(", ")})` : line;
}

const needsAllowRule = (inv: Invocation) => inv.role === "program" || inv.ownRule === true;

/**
 * The policy's decision on a command: every program it would run (after wrappers, shells, scripts,
 * PATH and symlinks; `command/analyze.ts`) is checked. A deny rule that matches any of them under
 * any of its names refuses. With default deny, each must match an allow rule by what really runs,
 * and a command with anything that cannot be known before the run is refused; with default allow,
 * such a construct runs (the policy is a guard, not a sandbox), except a command that a known
 * wrapper runs but the policy cannot read (`parallel` fed from stdin): any deny rule could match it.
 */
export async function evaluatePolicy(
  policy: ExecPolicy,
  argv: readonly string[],
  context: PolicyContext,
): Promise<PolicyDecision> {
  if (!policyIsActive(policy)) return { allowed: true };
  const cache = context.scripts;
  const parse = async (script: string) => {
    const kept = cache?.get(script);
    if (kept) return kept;
    const parsed = await parseScript(script);
    cache?.set(script, parsed);
    return parsed;
  };
  const analysis = await analyzeCommand(argv, { env: context.env, cwd: context.cwd, parse });
  for (const inv of analysis.invocations) {
    const denied = firstMatch(policy.deny, inv, inv.names);
    if (denied === undefined) continue;
    const as = denied.name === inv.argv[0]?.text ? "" : ` (as ${denied.name})`;
    const reason = `matches deny rule ${JSON.stringify(denied.rule)}${as}`;
    if (inv.via.length === 0) return { allowed: false, rule: denied.rule, reason };
    return { allowed: false, rule: denied.rule, reason: `runs ${described(inv)}, which ${reason}` };
  }
  if (policy.default === "allow") {
    const [hidden] = analysis.hidden;
    if (hidden !== undefined && policy.deny.length > 0)
      return {
        allowed: false,
        reason: `runs a command that cannot be read before the run (${hidden}), which a deny rule could match`,
        unresolved: analysis.unresolved,
      };
    return analysis.unresolved.length > 0
      ? { allowed: true, unresolved: analysis.unresolved }
      : { allowed: true };
  }
  return allowListDecision(policy, analysis);
}

function allowListDecision(policy: ExecPolicy, analysis: Analysis): PolicyDecision {
  if (analysis.unresolved.length > 0) {
    return {
      allowed: false,
      reason: `has what cannot be checked before it runs: ${analysis.unresolved[0]} (exec.policy.default is deny)`,
      unresolved: analysis.unresolved,
    };
  }
  let rule: string | undefined;
  for (const inv of analysis.invocations.filter(needsAllowRule)) {
    rule = firstMatch(policy.allow, inv, inv.identities)?.rule;
    if (rule !== undefined) continue;
    const top = inv.via.length === 0;
    const what = top ? "" : `runs ${described(inv)}, which `;
    return { allowed: false, reason: `${what}matches no allow rule (exec.policy.default is deny)` };
  }
  return rule === undefined ? { allowed: true } : { allowed: true, rule };
}

/** The shell parser, loaded on the first script. */
let parser: Promise<{ parse(script: string): ParsedScript }> | undefined;
async function parseScript(script: string): Promise<ParsedScript> {
  parser ??= loadParser().then((m) => m.createShellParser());
  return (await parser).parse(script);
}
