/**
 * A rule is a glob (`*` any text, `?` one char) matched against a whole command line, or
 * `/regex/flags`. Here apart from the policy, so that the config loader checks rules without
 * loading what the policy reads commands with.
 */

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
