import { type Scope, type State, setsVariables, visit, visitScript } from "./analyze.ts";
import { staticWord, type Word } from "./script.ts";
import { assignedByBuiltin } from "./variables.ts";
import { FROM_INPUT } from "./wrapper-kit.ts";

/** Builtins that run nothing else and change nothing the policy relies on (or say what they assign). */
const HARMLESS = new Set(
  (
    ": true false echo printf test [ cd pwd pushd popd dirs export unset set shift exit return local " +
    "declare typeset readonly read wait break continue let getopts umask type times ulimit jobs shopt " +
    "unalias bg fg disown caller compgen complete help history logout mapfile readarray suspend"
  ).split(" "),
);

const CHANGES_DIR = new Set(["cd", "pushd", "popd"]);

/** A builtin in a script: true when handled (it runs no program of that name). */
export async function visitBuiltin(state: State, argv: Word[], via: string[], depth: number, scope: Scope) {
  const name = argv[0]?.text as string;
  const args = argv.slice(1);
  const record = () =>
    state.invocations.push({ argv, via, role: "builtin", names: [name], identities: [name] });
  if (HARMLESS.has(name)) {
    record();
    assignments(state, name, args);
    if (CHANGES_DIR.has(name)) state.dirChanges.push(name);
    if ((name === "mapfile" || name === "readarray") && callbackOf(args))
      await visitScript(state, callbackOf(args) as Word, [...via, `${name} -C`], depth + 1);
  } else if (name === "eval" || (name === "trap" && args.length >= 2 && !args[0]?.text.startsWith("-"))) {
    record();
    const script = name === "eval" ? joined(args) : (args[0] as Word);
    await visitScript(state, script, [...via, name], depth + 1);
  } else if (name === "source" || name === ".") {
    record();
    state.unresolved.push(`${name} ${args[0]?.text ?? ""}: a script file the policy does not read`);
  } else if (name === "hash" && args.some((a) => a.text.startsWith("-p"))) {
    record();
    await hashed(state, args, [...via, "hash -p"], depth, scope);
  } else if (name === "alias" || name === "enable") {
    record();
    state.unresolved.push(`${name}: it changes what a name runs`);
    // `enable -f LIB NAME` loads a shared library into the shell: code the policy cannot read.
    if (name === "enable" && args.some((a) => /^-[a-zA-Z]*f/.test(a.text)))
      state.hidden.push("enable -f, which loads a library into the shell");
  } else if (name === "command" || name === "builtin" || name === "exec" || name === "coproc") {
    record();
    await runs(state, name, args, via, depth, scope);
  } else return false;
  return true;
}

/** What `read PATH`, `printf -v PATH`, `let PATH=1`, `unset PATH` and the like assign. */
function assignments(state: State, name: string, args: Word[]): void {
  const assigned = assignedByBuiltin(name, args);
  setsVariables(state, assigned.names, `${name} ${assigned.names.join(" ")}`);
  if (assigned.dynamic === undefined) return;
  state.unresolved.push(`a variable named only at run time (${assigned.dynamic}), which may be PATH`);
  state.pathChanges.push(`${name} ${assigned.dynamic}`);
}

/** `mapfile -C CALLBACK`: bash runs the callback as a command every few lines. */
function callbackOf(args: Word[]): Word | undefined {
  const at = args.findIndex((w) => w.text === "-C" || (w.text.startsWith("-C") && w.text.length > 2));
  if (at === -1) return undefined;
  const word = args[at] as Word;
  return word.text.length > 2 ? staticWord(word.text.slice(2)) : args[at + 1];
}

/** `hash -p FILE NAME`: from then on NAME runs FILE, which is checked (as FILE, and as NAME later). */
async function hashed(state: State, args: Word[], via: string[], depth: number, scope: Scope) {
  const at = args.findIndex((a) => a.text.startsWith("-p"));
  const option = args[at] as Word;
  const file = option.text.length > 2 ? staticWord(option.text.slice(2)) : args[at + 1];
  const names = args.slice(option.text.length > 2 ? at + 1 : at + 2);
  if (!file || file.dynamic !== undefined || names.some((n) => n.dynamic !== undefined)) {
    state.unresolved.push("hash -p with a file or name known only at run time");
    state.hidden.push("hash -p with a file or name known only at run time");
    return;
  }
  for (const name of names) state.hashed.set(name.text, file.text);
  await visit(state, [file, FROM_INPUT], via, depth + 1, scope);
}

/** `command`, `builtin`, `exec`, `coproc`: run the rest (a look-up with `command -v` runs nothing). */
async function runs(state: State, name: string, args: Word[], via: string[], depth: number, scope: Scope) {
  let i = 0;
  let argv0: Word | undefined;
  while (args[i]?.text.startsWith("-") && args[i]?.text !== "--") {
    const option = args[i]?.text ?? "";
    if (name === "command" && /[vV]/.test(option)) return;
    // `exec -l` starts a program with a `-` name: a shell takes it for a login.
    if (name === "exec" && /^-[ca]*l/.test(option))
      state.unresolved.push("exec -l, which makes a shell a login shell that first runs startup files");
    if (name === "exec" && option === "-a") argv0 = args[i + 1];
    i += name === "exec" && option === "-a" ? 2 : 1;
  }
  if (args[i]?.text === "--") i++;
  const inner: Scope =
    name === "builtin" ? scope : { ...scope, shell: name === "command", functions: new Set() };
  const rest = args.slice(i);
  if (argv0) calledAs(state, argv0, rest, [...via, "exec -a"]);
  await visit(state, rest, [...via, name], depth + 1, inner);
}

/**
 * A program started under another name (`exec -a NAME`, `env -a NAME`): a multi-call binary runs
 * the applet of that name (`exec -a rm busybox x` is rm), a shell called `-bash` is a login shell.
 * Deny rules see it by that name too; an allow-list cannot know what runs.
 */
export function calledAs(state: State, argv0: Word, rest: Word[], via: string[]): void {
  state.unresolved.push(`${argv0.text}: a program started under another name, which may change what it does`);
  if (argv0.dynamic !== undefined) return;
  const argv = [staticWord(argv0.text.replace(/^-/, "")), ...rest.slice(1)];
  state.invocations.push({ argv, via, role: "alias", names: [argv[0]?.text as string], identities: [] });
}

function joined(words: Word[]): Word {
  const unknown = words.find((w) => w.dynamic !== undefined);
  return unknown ? unknown : staticWord(words.map((w) => w.text).join(" "));
}
