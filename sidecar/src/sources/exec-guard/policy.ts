import { basename } from "node:path";

/**
 * Allow and deny rules on the command line. A rule is a glob (`*` any text, `?` one char) matched
 * against the whole command line, or `/regex/flags`. Deny wins; with `default: deny` a command runs
 * only when an allow rule matches.
 */
export interface ExecPolicy {
  default: "allow" | "deny";
  allow: readonly string[];
  deny: readonly string[];
}

export type PolicyDecision =
  | { allowed: true; rule?: string }
  | { allowed: false; rule?: string; reason: string };

/** Whether `body` has a `/` that is not escaped and not in a character class, as a JS regex literal cannot. */
function hasBareSlash(body: string): boolean {
  let inClass = false;
  for (let i = 0; i < body.length; i++) {
    const ch = body[i];
    if (ch === "\\") i++;
    else if (ch === "[") inClass = true;
    else if (ch === "]") inClass = false;
    else if (ch === "/" && !inClass) return true;
  }
  return false;
}

/**
 * `/body/flags` is a regex only when it could be a JS regex literal: valid flags, and no bare `/` in
 * the body. Anything else is a glob, so a path such as `/usr/bin/vim` is never read as the regex
 * `usr\/bin` with flags `vim` (which would match any command line containing `usr/bin`).
 */
export function compileRule(rule: string): RegExp {
  const regex = /^\/(.+)\/([dgimsuvy]*)$/s.exec(rule);
  if (regex && !hasBareSlash(regex[1] as string)) return new RegExp(regex[1] as string, regex[2]);
  const escaped = rule
    .replace(/[.+^${}()|[\]\\]/g, "\\$&")
    .replace(/\*/g, ".*")
    .replace(/\?/g, ".");
  return new RegExp(`^${escaped}$`, "s");
}

/** The command line as rules see it: argv joined by spaces, and again with argv[0] reduced to its basename. */
function commandLines(argv: readonly string[]): string[] {
  const full = argv.join(" ");
  const short = [basename(argv[0] ?? ""), ...argv.slice(1)].join(" ");
  return full === short ? [full] : [full, short];
}

export function evaluatePolicy(policy: ExecPolicy, argv: readonly string[]): PolicyDecision {
  const lines = commandLines(argv);
  const matching = (rules: readonly string[]) =>
    rules.find((rule) => lines.some((line) => compileRule(rule).test(line)));
  const denied = matching(policy.deny);
  if (denied !== undefined)
    return { allowed: false, rule: denied, reason: `matches deny rule ${JSON.stringify(denied)}` };
  const allowed = matching(policy.allow);
  if (allowed !== undefined) return { allowed: true, rule: allowed };
  if (policy.default === "deny")
    return { allowed: false, reason: "matches no allow rule (exec.policy.default is deny)" };
  return { allowed: true };
}

/** Bad rules are config errors, found at start rather than on the first command. */
export function checkRules(rules: readonly string[], path: string): string[] {
  const problems: string[] = [];
  rules.forEach((rule, i) => {
    try {
      compileRule(rule);
    } catch (err) {
      problems.push(`${path}[${i}]: not a valid rule ${JSON.stringify(rule)}: ${(err as Error).message}`);
    }
  });
  return problems;
}
