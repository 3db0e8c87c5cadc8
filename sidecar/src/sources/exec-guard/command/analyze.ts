import { basename, isAbsolute } from "node:path";
import { isMultiCall, type ResolvedProgram, resolveProgram } from "./resolve.ts";
import { type ParsedScript, staticWord, type Word } from "./script.ts";
import { type Inner, isShell, wrapperFor } from "./wrappers.ts";

/** One program (or builtin, or wrapper) that a command line would run. */
export interface Invocation {
  /** Its words as it would get them; argv[0] as written. */
  argv: Word[];
  /** The wrappers and shells it runs inside, outermost first: `["sh -c", "env"]`. */
  via: string[];
  /**
   * program: needs an allow rule under an allow-list; wrapper/shell: runs another program (which
   * is checked), needs none unless privileged; builtin/function: runs inside the shell; alias: a
   * known equivalent (`find -delete` as `rm`), seen by deny rules only.
   */
  role: "program" | "wrapper" | "shell" | "builtin" | "function" | "alias";
  privileged?: boolean;
  /** Every name it goes by, for deny rules: as written, its basename, where found, the real file. */
  names: string[];
  /** The names of what really runs, for allow rules: the real file and its name (or a multi-call applet). */
  identities: string[];
}

export interface Analysis {
  invocations: Invocation[];
  /** What cannot be known before the run: `$CMD` as a program, `eval $x`, `source`, a syntax error. */
  unresolved: string[];
}

export interface AnalyzeContext {
  env: NodeJS.ProcessEnv;
  cwd: string;
  /** Reads a shell script (loaded only when a script has to be read). */
  parse: (script: string) => Promise<ParsedScript>;
}

interface Scope {
  /** Inside a shell script: builtins and the script's functions apply to bare names. */
  shell: boolean;
  functions: ReadonlySet<string>;
  /** The script assigns PATH, or changes directory: where a name is found is not known. */
  pathChanged: boolean;
  dirChanged: boolean;
}

interface State extends Analysis {
  ctx: AnalyzeContext;
  /** Programs found so far, by name as written: a long script looks each one up once. */
  found: Map<string, ResolvedProgram>;
}

const MAX_DEPTH = 16;

/**
 * Variables that make a program or a shell run code of their choosing: a library loaded into every
 * program, a file bash reads first, functions imported from the environment, xtrace's prompt.
 */
const RUNS_CODE = /^(LD_PRELOAD|LD_AUDIT|BASH_ENV|ENV|SHELLOPTS|BASHOPTS|PS4|PROMPT_COMMAND|BASH_FUNC_.+)$/;

function codeFromVariables(state: State, names: Iterable<string>): void {
  for (const name of names)
    if (RUNS_CODE.test(name)) state.unresolved.push(`the variable ${name}, which runs code of its own`);
}
const DIRECT: Scope = { shell: false, functions: new Set(), pathChanged: false, dirChanged: false };

/** Every program a command would run, through wrappers, shells and scripts, as far as it can be known. */
export async function analyzeCommand(argv: readonly string[], ctx: AnalyzeContext): Promise<Analysis> {
  const state: State = { invocations: [], unresolved: [], ctx, found: new Map() };
  codeFromVariables(
    state,
    Object.keys(ctx.env).filter((k) => ctx.env[k] !== undefined),
  );
  await visit(state, argv.map(staticWord), [], 0, DIRECT);
  return { invocations: state.invocations, unresolved: [...new Set(state.unresolved)] };
}

const unique = (names: (string | undefined)[]) => [...new Set(names.filter((n): n is string => !!n))];

async function visit(state: State, argv: Word[], via: string[], depth: number, scope: Scope): Promise<void> {
  const first = argv[0];
  if (!first) return;
  if (depth > MAX_DEPTH) {
    state.unresolved.push(`commands nested more than ${MAX_DEPTH} deep`);
    return;
  }
  if (first.dynamic !== undefined) {
    state.unresolved.push(`a program name known only at run time (${first.dynamic})`);
    const names = unique([first.text, basename(first.text)]);
    state.invocations.push({ argv, via, role: "program", names, identities: [] });
    return;
  }
  const written = first.text;
  const braces = expandBraces(written);
  if (braces.length > 1) {
    // bash makes words of them (`{rm,-rf} x` is `rm -rf x`); sh runs the name as it is.
    state.unresolved.push(`the brace expansion ${written}`);
    const expanded = [...braces.map(staticWord), ...argv.slice(1)];
    await visit(state, expanded, via, depth + 1, scope);
  }
  const bare = !written.includes("/");
  if (scope.shell && bare) {
    if (scope.functions.has(written)) {
      state.invocations.push({ argv, via, role: "function", names: [written], identities: [written] });
      return;
    }
    if (await visitBuiltin(state, argv, via, depth, scope)) return;
  }
  if ((bare && scope.pathChanged) || (!bare && !isAbsolute(written) && scope.dirChanged))
    state.unresolved.push(
      `which file ${written} is (the script changes ${bare ? "PATH" : "directory"} first)`,
    );
  let found = state.found.get(written);
  if (!found) {
    found = resolveProgram(written, state.ctx.env, state.ctx.cwd);
    state.found.set(written, found);
  }
  const names = unique([written, basename(written), found.path, found.real, found.name]);
  const identities = found.identities;
  if (isMultiCall(found.name) && argv.length > 1) {
    // `busybox rm x`: the applet runs, whatever PATH says.
    state.invocations.push({ argv, via, role: "wrapper", names, identities });
    const applet = appletOf(argv);
    if (!applet) return;
    const next = [...via, found.name];
    const appletNames = [applet.name, `${found.name} ${applet.name}`];
    await visitNamed(state, applet.argv, next, depth + 1, DIRECT, applet.name, appletNames, [applet.name]);
    return;
  }
  await visitNamed(state, argv, via, depth, scope, found.name, names, identities);
}

/** A word's brace expansion (`a{b,c}d` -> abd acd), as far as 64 words; the word alone if none. */
export function expandBraces(word: string): string[] {
  const group = /\{([^{}]*,[^{}]*)\}/.exec(word);
  if (!group) return [word];
  const head = word.slice(0, group.index);
  const tail = word.slice(group.index + group[0].length);
  const words = (group[1] as string).split(",").flatMap((alt) => expandBraces(head + alt + tail));
  return words.slice(0, 64);
}

/** `busybox NAME args` and `coreutils --coreutils-prog=NAME args`. */
function appletOf(argv: Word[]): { name: string; argv: Word[] } | undefined {
  const option = /^--coreutils-prog=(.+)$/.exec(argv[1]?.text ?? "");
  const rest = option ? argv.slice(2) : argv.slice(1);
  const name = option ? option[1] : argv[1]?.dynamic === undefined ? argv[1]?.text : undefined;
  if (!name) return undefined;
  return { name: basename(name), argv: option ? [staticWord(name), ...rest] : rest };
}

async function visitNamed(
  state: State,
  argv: Word[],
  via: string[],
  depth: number,
  scope: Scope,
  /** What runs, by name: wrappers are known by it. */
  name: string,
  names: string[],
  identities: string[],
): Promise<void> {
  const effective = name;
  // By what really runs, never by the name it was called: `./env -> python3` is no wrapper.
  const wrapper = wrapperFor(effective);
  const inner = wrapper ? wrapper.unwrap(argv.slice(1)) : [];
  const runsMore = inner.some((i) => !("alias" in i && i.alias));
  const shell = isShell(effective);
  const role = !wrapper || !runsMore ? "program" : shell ? "shell" : "wrapper";
  state.invocations.push({
    argv,
    via,
    role,
    ...(wrapper?.privileged ? { privileged: true } : {}),
    names,
    identities,
  });
  const label = shell ? `${basename(argv[0]?.text ?? "")} -c` : basename(argv[0]?.text ?? "");
  const setByEnv = effective === "env" ? argv.map((w) => /^([^=\s]+)=/.exec(w.text)?.[1] ?? "") : [];
  codeFromVariables(state, setByEnv);
  const pathChanged = scope.pathChanged || setByEnv.includes("PATH");
  for (const each of inner) {
    await visitInner(state, each, [...via, label], depth + 1, {
      ...DIRECT,
      pathChanged,
      dirChanged: scope.dirChanged,
    });
  }
}

async function visitInner(
  state: State,
  inner: Inner,
  via: string[],
  depth: number,
  scope: Scope,
): Promise<void> {
  if ("unresolved" in inner) state.unresolved.push(inner.unresolved);
  else if ("script" in inner) await visitScript(state, inner.script, via, depth, scope);
  else if (inner.alias) {
    const name = inner.argv[0]?.text ?? "";
    state.invocations.push({ argv: inner.argv, via, role: "alias", names: [name], identities: [name] });
  } else await visit(state, inner.argv, via, depth, scope);
}

const CHANGES_DIR = new Set(["cd", "pushd", "popd"]);

/** A shell script's commands, each visited as that shell would run it. */
export async function visitScript(state: State, script: Word, via: string[], depth: number, outer: Scope) {
  if (script.dynamic !== undefined) {
    state.unresolved.push(`a script known only at run time (${script.dynamic})`);
    return;
  }
  const parsed = await state.ctx.parse(script.text);
  state.unresolved.push(...parsed.problems);
  codeFromVariables(state, parsed.assigned);
  const scope: Scope = {
    shell: true,
    functions: new Set(parsed.functions),
    pathChanged: outer.pathChanged || parsed.assigned.includes("PATH"),
    dirChanged: outer.dirChanged || parsed.commands.some((c) => CHANGES_DIR.has(c.argv[0]?.text ?? "")),
  };
  for (const command of parsed.commands) await visit(state, command.argv, via, depth, scope);
}

/** Builtins that run nothing else and change nothing the policy relies on. */
const HARMLESS = new Set(
  (
    ": true false echo printf test [ cd pwd pushd popd dirs export unset set shift exit return local " +
    "declare typeset readonly read wait break continue let getopts umask type times ulimit jobs shopt " +
    "unalias bg fg disown caller compgen complete help history logout mapfile readarray suspend"
  ).split(" "),
);

/** A builtin in a script: true when handled (it runs no program of that name). */
async function visitBuiltin(state: State, argv: Word[], via: string[], depth: number, scope: Scope) {
  const name = argv[0]?.text as string;
  const args = argv.slice(1);
  const record = () =>
    state.invocations.push({ argv, via, role: "builtin", names: [name], identities: [name] });
  if (HARMLESS.has(name)) record();
  else if (name === "eval" || (name === "trap" && args.length >= 2 && !args[0]?.text.startsWith("-"))) {
    record();
    const script = name === "eval" ? joined(args) : (args[0] as Word);
    await visitScript(state, script, [...via, name], depth + 1, scope);
  } else if (name === "source" || name === ".") {
    record();
    state.unresolved.push(`${name} ${args[0]?.text ?? ""}: a script file the policy does not read`);
  } else if (
    name === "alias" ||
    (name === "hash" && args.some((a) => a.text.startsWith("-p"))) ||
    name === "enable"
  ) {
    record();
    state.unresolved.push(`${name}: it changes what a name runs`);
  } else if (name === "command" || name === "builtin" || name === "exec" || name === "coproc") {
    record();
    let i = 0;
    while (args[i]?.text.startsWith("-") && args[i]?.text !== "--") {
      if (name === "command" && /[vV]/.test(args[i]?.text ?? "")) return true; // a look-up: runs nothing
      i += name === "exec" && args[i]?.text === "-a" ? 2 : 1;
    }
    if (args[i]?.text === "--") i++;
    const inner: Scope =
      name === "builtin" ? scope : { ...scope, shell: name === "command", functions: new Set() };
    await visit(state, args.slice(i), [...via, name], depth + 1, inner);
  } else return false;
  return true;
}

function joined(words: Word[]): Word {
  const unknown = words.find((w) => w.dynamic !== undefined);
  return unknown ? unknown : staticWord(words.map((w) => w.text).join(" "));
}
