/**
 * A shell script as the policy sees it: every simple command in it (in pipelines, lists, subshells,
 * command and process substitutions, here-documents, function bodies, loops and conditions), each
 * as its words, plus what could change how a name is found.
 */

/** One word of a command: its value when known before the script runs, else why not. */
export interface Word {
  /** The value (static), or the source text (dynamic). */
  text: string;
  /** Set when the value is known only at run time: what makes it so (`$CMD`, `$(...)`, a glob). */
  dynamic?: string;
}

export interface ScriptCommand {
  argv: Word[];
}

export interface ParsedScript {
  commands: ScriptCommand[];
  /** Names of functions the script defines: a call to one runs no program of its own. */
  functions: string[];
  /**
   * Names of variables the script assigns in its syntax: `PATH=... cmd`, `export PATH=...`,
   * `local PATH`, `PATH[0]=...`, `for PATH in ...`, `${PATH:=...}`, `((PATH=1))`. Builtins that
   * assign by name (`read PATH`) are the analysis's part.
   */
  assigned: string[];
  /** Words that name an assigned variable only at run time (`export "$v=1"`, `declare -n ref`). */
  assignedAtRunTime: string[];
  /** What the parser could not read: a syntax error and where. */
  problems: string[];
}

export const staticWord = (text: string): Word => ({ text });

/** The words as one line, for rules and messages: dynamic words as written. */
export const lineOf = (argv: readonly Word[]): string => argv.map((w) => w.text).join(" ");

const KEYWORDS = new Set([
  "{",
  "}",
  "!",
  "if",
  "then",
  "else",
  "elif",
  "fi",
  "do",
  "done",
  "while",
  "until",
  "time",
]);

/**
 * What a script the parser cannot read may still run, guessed from its text: each piece between
 * `;`, `&`, `|`, `(`, `)`, backquotes, `$(` and line ends, read as words (quotes undone, leading
 * keywords and assignments dropped). Used only beside a syntax error, where the allow-list refuses
 * anyway: it lets deny rules see `rm` in what bash may run all the same (`{rm,-rf} x`).
 */
export function roughCommands(script: string): ScriptCommand[] {
  const commands: ScriptCommand[] = [];
  for (const piece of script.split(/[;&|()\n`]|\$\(/)) {
    const words = (piece.match(/(?:'[^']*'|"(?:\\.|[^"\\])*"|\\.|[^\s'"\\])+/gs) ?? []).map((w) =>
      w.replace(
        /'([^']*)'|"((?:\\.|[^"\\])*)"|\\(.)/gs,
        (_, a, b, c) => a ?? b?.replace(/\\(.)/g, "$1") ?? c,
      ),
    );
    while (
      words.length > 0 &&
      (KEYWORDS.has(words[0] as string) || /^[A-Za-z_]\w*=/.test(words[0] as string))
    )
      words.shift();
    if (words.length > 0) commands.push({ argv: words.map(staticWord) });
  }
  return commands;
}
