import { basename, delimiter, dirname, isAbsolute, resolve } from "node:path";
import { visitBuiltin } from "./builtins.ts";
import { lateEvaluation } from "./late-eval.ts";
import { isMultiCall, type ResolvedProgram, resolveProgram } from "./resolve.ts";
import { type ParsedScript, staticWord, type Word } from "./script.ts";
import { codeVariable } from "./variables.ts";
import { type Inner, isShell, wrapperFor } from "./wrappers.ts";

/** One program (or builtin, or wrapper) that a command line would run. */
export interface Invocation {
  /** Its words as it would get them; argv[0] as written. */
  argv: Word[];
  /** The wrappers and shells it runs inside, outermost first: `["sh -c", "env"]`. */
  via: string[];
  /**
   * program: needs an allow rule under an allow-list; wrapper/shell: runs another program (which
   * is checked), needs none unless `ownRule`; builtin/function: runs inside the shell; alias: a
   * known equivalent (`find -delete` as `rm`), seen by deny rules only.
   */
  role: "program" | "wrapper" | "shell" | "builtin" | "function" | "alias";
  /** A wrapper that is a program in its own right (`sudo`, `gdb`, `find`): it needs an allow rule too. */
  ownRule?: boolean;
  /** Every name it goes by, for deny rules: as written, its basename, where found, the real file. */
  names: string[];
  /** The names of what really runs, for allow rules: the real file, and its name when trusted. */
  identities: string[];
}

export interface Analysis {
  invocations: Invocation[];
  /** What cannot be known before the run: `$CMD` as a program, `eval $x`, `source`, a syntax error. */
  unresolved: string[];
  /**
   * Commands a known wrapper runs that cannot be read (`parallel` fed from stdin, `nice $OPT`):
   * also in `unresolved`; a deny-list refuses them too, as any deny rule could match them.
   */
  hidden: string[];
}

export interface AnalyzeContext {
  env: NodeJS.ProcessEnv;
  cwd: string;
  /** Reads a shell script (loaded only when a script has to be read). */
  parse: (script: string) => Promise<ParsedScript>;
}

export interface Scope {
  /** Inside a shell script: builtins and the script's functions apply to bare names. */
  shell: boolean;
  functions: ReadonlySet<string>;
}

export interface State extends Analysis {
  ctx: AnalyzeContext;
  /** Programs found so far, by name as written: a long script looks each one up once. */
  found: Map<string, ResolvedProgram>;
  /**
   * How the command changes PATH or the directory anywhere in it (`PATH=x`, `read PATH`, `env -i`,
   * `cd`, `env -C`), and the names it looks up on PATH or by a relative path: when both are seen,
   * in whatever order, where a name is found is not known before the run.
   */
  pathChanges: string[];
  dirChanges: string[];
  bareNames: string[];
  relativeNames: string[];
  /** `hash -p FILE NAME`: NAME runs FILE from then on. */
  hashed: Map<string, string>;
}

const MAX_DEPTH = 16;
export const DIRECT: Scope = { shell: false, functions: new Set() };

/** Variables set by the command (or inherited, for the narrower list) that run code of their own. */
export function setsVariables(state: State, names: Iterable<string>, how: string, inherited = false): void {
  for (const name of names) {
    const problem = codeVariable(name, inherited);
    if (problem) state.unresolved.push(problem);
    if (inherited) continue;
    // EXECIGNORE makes bash skip files on PATH: the name is found further on.
    if (name === "PATH" || name === "EXECIGNORE") state.pathChanges.push(name === "PATH" ? how : name);
    // BASH_CMDS[ls]=/bin/rm is `hash -p`, BASH_ALIASES[ls]=rm an alias: what runs is the value.
    if (name === "BASH_CMDS" || name === "BASH_ALIASES") {
      const what = `${name}, which changes what a name runs`;
      state.unresolved.push(what);
      state.hidden.push(what);
    }
  }
}

/** Every program a command would run, through wrappers, shells and scripts, as far as it can be known. */
export async function analyzeCommand(argv: readonly string[], ctx: AnalyzeContext): Promise<Analysis> {
  const state: State = {
    invocations: [],
    unresolved: [],
    hidden: [],
    ctx,
    found: new Map(),
    pathChanges: [],
    dirChanges: [],
    bareNames: [],
    relativeNames: [],
    hashed: new Map(),
  };
  const inherited = Object.keys(ctx.env).filter((k) => ctx.env[k] !== undefined);
  setsVariables(state, inherited, "", true);
  await visit(state, argv.map(staticWord), [], 0, DIRECT);
  lookupsAfterChanges(state);
  return {
    invocations: state.invocations,
    unresolved: [...new Set(state.unresolved)],
    hidden: [...new Set(state.hidden)],
  };
}

/** A name looked up on PATH, or a relative path, in a command that changes PATH or directory. */
function lookupsAfterChanges(state: State): void {
  const [bare] = state.bareNames;
  const [relative] = state.relativeNames;
  const [path] = state.pathChanges;
  const [dir] = state.dirChanges;
  if (bare !== undefined && path !== undefined)
    state.unresolved.push(`which file ${bare} is (the command changes PATH: ${path})`);
  if (relative !== undefined && dir !== undefined)
    state.unresolved.push(`which file ${relative} is (the command changes directory: ${dir})`);
  const shadowed =
    dir === undefined ? undefined : state.bareNames.find((name) => relativeBefore(state, name));
  if (shadowed !== undefined)
    state.unresolved.push(
      `which file ${shadowed} is (PATH has a relative directory, and ${dir} changes directory)`,
    );
}

/** Whether PATH has a relative directory before the one where the name was found (or any, if none was). */
function relativeBefore(state: State, name: string): boolean {
  const { env, cwd } = state.ctx;
  const entries = (env.PATH ?? "").split(delimiter);
  const found = state.found.get(name)?.path;
  const at = found ? entries.findIndex((d) => resolve(cwd, d || ".") === dirname(found)) : -1;
  return entries.slice(0, at === -1 ? undefined : at).some((d) => !isAbsolute(d));
}

const unique = (names: (string | undefined)[]) => [...new Set(names.filter((n): n is string => !!n))];

export async function visit(state: State, argv: Word[], via: string[], depth: number, scope: Scope) {
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
    const hashed = state.hashed.get(written);
    if (hashed !== undefined)
      await visit(state, [staticWord(hashed), ...argv.slice(1)], via, depth + 1, scope);
  }
  // The command itself is found before anything in it runs: with the caller's PATH and directory.
  if (via.length > 0 && bare) state.bareNames.push(written);
  else if (via.length > 0 && !isAbsolute(written)) state.relativeNames.push(written);
  await visitProgram(state, argv, via, depth);
}

/** A program found on PATH or by its path, then what it runs: an applet, or a wrapper's command. */
async function visitProgram(state: State, argv: Word[], via: string[], depth: number) {
  const written = (argv[0] as Word).text;
  let found = state.found.get(written);
  if (!found) {
    found = resolveProgram(written, state.ctx.env, state.ctx.cwd);
    state.found.set(written, found);
  }
  if (found.path && /^\/(proc|dev\/fd)\//.test(found.path)) {
    // `/proc/self/fd/3` is the running command's open file: here it is the policy's own.
    const what = `${written}, a file known only to the running process`;
    state.unresolved.push(what);
    state.hidden.push(what);
  }
  const names = unique([written, basename(written), found.path, found.real, found.name]);
  const identities = found.identities;
  if (isMultiCall(found.name) && argv.length > 1) {
    // `busybox rm x`: the applet runs, whatever PATH says; by name only from a trusted busybox.
    state.invocations.push({ argv, via, role: "wrapper", names, identities });
    const applet = appletOf(argv);
    if (!applet) return;
    const next = [...via, found.name];
    const appletNames = [applet.name, `${found.name} ${applet.name}`];
    const appletIds = found.trusted ? [applet.name] : [];
    await visitNamed(state, applet.argv, next, depth + 1, applet.name, appletNames, appletIds);
    return;
  }
  // A wrapper under a link the administrator made (`fakeroot -> /etc/alternatives/fakeroot -> fakeroot-sysv`).
  const link = found.path && identities.includes(basename(found.path)) ? basename(found.path) : undefined;
  const name = !wrapperFor(found.name) && link !== undefined && wrapperFor(link) ? link : found.name;
  await visitNamed(state, argv, via, depth, name, names, identities);
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
  /** What runs, by name (of the real file): wrappers are known by it. */
  name: string,
  names: string[],
  identities: string[],
): Promise<void> {
  // By what really runs, never by the name it was called: `./env -> python3` is no wrapper.
  const wrapper = wrapperFor(name);
  const called = basename(argv[0]?.text ?? "");
  const inner = wrapper ? wrapper.unwrap(argv.slice(1), called) : [];
  const runsMore = inner.some((i) => !("alias" in i && i.alias));
  const shell = isShell(name);
  const role = !wrapper || !runsMore ? "program" : shell ? "shell" : "wrapper";
  const ownRule = wrapper?.ownRule ? { ownRule: true } : {};
  state.invocations.push({ argv, via, role, ...ownRule, names, identities });
  const label = shell ? `${called} -c` : called;
  for (const each of inner) await visitInner(state, each, [...via, label], depth + 1);
}

async function visitInner(state: State, inner: Inner, via: string[], depth: number): Promise<void> {
  if ("unresolved" in inner) state.unresolved.push(inner.unresolved);
  else if ("hidden" in inner) {
    state.unresolved.push(inner.hidden);
    state.hidden.push(inner.hidden);
  } else if ("sets" in inner) setsVariables(state, inner.sets, `${via.at(-1)} PATH=...`);
  else if ("changes" in inner)
    (inner.changes === "PATH" ? state.pathChanges : state.dirChanges).push(inner.how);
  else if ("script" in inner) await visitScript(state, inner.script, via, depth);
  else if (inner.alias) {
    const name = inner.argv[0]?.text ?? "";
    state.invocations.push({ argv: inner.argv, via, role: "alias", names: [name], identities: [name] });
  } else await visit(state, inner.argv, via, depth, DIRECT);
}

/** A shell script's commands, each visited as that shell would run it. */
export async function visitScript(state: State, script: Word, via: string[], depth: number) {
  if (script.dynamic !== undefined) {
    state.unresolved.push(`a script known only at run time (${script.dynamic})`);
    return;
  }
  const parsed = await state.ctx.parse(script.text);
  state.unresolved.push(...parsed.problems);
  setsVariables(state, parsed.assigned, "an assignment to PATH in the script");
  for (const word of parsed.assignedAtRunTime)
    state.unresolved.push(`a variable named only at run time (${word}), which may be PATH`);
  if (parsed.assignedAtRunTime.length > 0) state.pathChanges.push("a variable named at run time");
  const scope: Scope = { shell: true, functions: new Set(parsed.functions) };
  for (const command of parsed.commands) await visit(state, command.argv, via, depth, scope);
  // After what the commands say: a more precise reason is named first.
  const late = lateEvaluation(script.text);
  if (late) {
    state.unresolved.push(late);
    state.hidden.push(late);
  }
}
