/**
 * Text that bash evaluates as code only while the script runs, where the parser sees a plain string:
 * an array subscript is an arithmetic expression, and bash expands `$(...)` in it, so
 * `test -v "a[\$(rm x)]"`, `read`, `printf -v`, `let`, `declare`, `unset` with such a name, or
 * `$(( x ))` / `(( x ))` / `[[ x -eq 1 ]]` on a variable holding one, run `rm x`; so does a prompt
 * expansion (`${x@P}`) of a value holding `$(...)`. The parser reads those strings as literals and
 * the commands inside them as nothing.
 *
 * What is refused: a script that both keeps substitution syntax literal (escaped, single-quoted,
 * ANSI-C quoted, or in a quoted here-document) and has a construct that evaluates names or values
 * later. What is not: the same string built at run time (decoded, read from a file) before it is
 * evaluated; no parser can know it (see the README's exec policy: an allowed interpreter can do
 * anything, OpenClaw's sandbox is the boundary).
 */

/** `\$(`, `\${`, `` \` ``: substitution syntax escaped, kept as text. */
const ESCAPED = /\\(?:\$[({]|`)/;
/** A single-quoted string holding `$(`, `${` or a backquote. */
const SINGLE_QUOTED = /'[^']*(?:\$[({]|`)[^']*'/;
/** ANSI-C quoting that spells `$` or a backquote with an escape (`$'\x24(...)'`), or holds `$(`. */
const ANSI_C =
  /\$'(?:[^'\\]|\\.)*(?:\\(?:x24|x60|044|140|u0024|u0060|U00000024|U00000060)|\$[({]|`)(?:[^'\\]|\\.)*'/i;

/**
 * Constructs that evaluate a name or value as an expression later: arithmetic (`$((`, `((`, `let`,
 * `[[ ... -eq ... ]]`, `declare -i`), names taken by builtins (`-v`, `read`, `printf -v`,
 * `mapfile`, `declare`/`typeset`/`local`/`export`/`readonly`, `unset`), indirection (`${!x}`) and
 * prompt expansion (`@P`).
 */
const EVALUATES =
  /\$\(\(|\(\(|\blet\b|\s-(?:eq|ne|lt|le|gt|ge)\s|\s-v\s|\bread\b|\bprintf\s+-v|\bmapfile\b|\breadarray\b|\bdeclare\b|\btypeset\b|\blocal\b|\bexport\b|\breadonly\b|\bunset\b|\$\{!|@P\}/;

/** Quoted here-documents (`<<'EOF'`, `<<"EOF"`, `<<\EOF`): their bodies are text, never expanded. */
const HEREDOC = /<<-?\s*(?:'([^']+)'|"([^"]+)"|\\(\w+))[^\n]*\n/g;

/** The script with each quoted here-document's body cut out, and the bodies. */
function splitHeredocs(script: string): { code: string; bodies: string[] } {
  const bodies: string[] = [];
  let code = "";
  let from = 0;
  for (const match of script.matchAll(HEREDOC)) {
    if (match.index < from) continue;
    const delimiter = match[1] ?? match[2] ?? match[3];
    const start = match.index + match[0].length;
    const end = new RegExp(`^\\t*${delimiter?.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}$`, "m");
    const close = end.exec(script.slice(start));
    const stop = close ? start + close.index : script.length;
    code += script.slice(from, start);
    bodies.push(script.slice(start, stop));
    from = close ? stop + close[0].length : script.length;
  }
  return { code: code + script.slice(from), bodies };
}

/** Why the script may run a command it only spells as text, or undefined. */
export function lateEvaluation(script: string): string | undefined {
  const { code, bodies } = splitHeredocs(script);
  const literal =
    ESCAPED.test(code) ||
    SINGLE_QUOTED.test(code) ||
    ANSI_C.test(code) ||
    bodies.some((b) => /\$[({]|`/.test(b));
  if (!literal || !EVALUATES.test(code)) return undefined;
  return "substitution syntax kept as text in a script that evaluates names or values later (an array subscript, arithmetic, a prompt expansion): bash may run it";
}
