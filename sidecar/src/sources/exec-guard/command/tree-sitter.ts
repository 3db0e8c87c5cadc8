import { Language, type Node, Parser } from "web-tree-sitter";
import { grammarWasm } from "./grammar.ts";
import { type ParsedScript, roughCommands, type ScriptCommand, type Word } from "./script.ts";
import { assignedInArithmetic, variableName } from "./variables.ts";
import { wordOf } from "./words.ts";

/**
 * The shell parser: tree-sitter with its bash grammar (a superset of POSIX sh), compiled to
 * WebAssembly. Loaded once per process, on the first script to read.
 */
export async function createShellParser(): Promise<{ parse(script: string): ParsedScript }> {
  const { runtime, bash } = grammarWasm();
  await Parser.init({ wasmBinary: runtime });
  const parser = new Parser();
  parser.setLanguage(await Language.load(bash));
  const parse = (script: string, depth = 0): ParsedScript => {
    const tree = parser.parse(script);
    if (!tree) return { ...emptyScript(), problems: ["the parser gave up"] };
    const nested: string[] = [];
    let parsed: ParsedScript;
    try {
      parsed = readScript(tree.rootNode, nested);
    } finally {
      tree.delete();
    }
    if (parsed.problems.length > 0) parsed.commands.push(...roughCommands(script));
    for (const inner of nested) {
      if (depth > 8) parsed.problems.push("backquotes nested too deep");
      else merge(parsed, parse(inner, depth + 1));
    }
    return parsed;
  };
  return { parse: (script) => parse(script) };
}

function merge(into: ParsedScript, from: ParsedScript): void {
  into.commands.push(...from.commands);
  into.functions.push(...from.functions);
  into.assigned.push(...from.assigned);
  into.assignedAtRunTime.push(...from.assignedAtRunTime);
  into.problems.push(...from.problems);
}

/**
 * The grammar leaves `...` in an unquoted here-document's body as text (it does read $(...) there):
 * those command substitutions are read here, as scripts of their own.
 */
function backquotesInHeredoc(node: Node, nested: string[]): void {
  const start = node.children.find((c) => c?.type === "heredoc_start");
  if (!start || /['"\\]/.test(start.text)) return; // <<'EOF': the body is literal
  for (const body of node.children) {
    if (body?.type !== "heredoc_body" || !body.text.includes("`")) continue;
    for (const m of body.text.matchAll(/`((?:\\.|[^`\\])*)`/gs))
      nested.push((m[1] as string).replace(/\\([`$\\])/g, "$1"));
  }
}

function readScript(root: Node, nested: string[]): ParsedScript {
  const parsed = emptyScript();
  // Each node with whether it is inside arithmetic already read (its text is read once, whole).
  const stack: [Node, boolean][] = [[root, false]];
  while (stack.length > 0) {
    const [node, inArithmetic] = stack.pop() as [Node, boolean];
    const arithmetic = inArithmetic || arithmeticIn(node, parsed);
    if (node.type === "command") parsed.commands.push(commandOf(node));
    else if (node.type === "heredoc_redirect") backquotesInHeredoc(node, nested);
    else if (node.type === "function_definition") {
      const name = node.childForFieldName("name");
      if (name) parsed.functions.push(name.text);
    } else if (ASSIGNING.has(node.type)) assignmentsIn(node, parsed);
    else if ((node.type === "ERROR" || node.isMissing) && parsed.problems.length === 0) {
      const at = `line ${node.startPosition.row + 1}, column ${node.startPosition.column + 1}`;
      parsed.problems.push(`a syntax error at ${at} (${JSON.stringify(node.text.slice(0, 40))})`);
    }
    // Children last to first, so that commands come out in the order they are written.
    for (let i = node.childCount - 1; i >= 0; i--) {
      const child = node.child(i);
      if (child) stack.push([child, arithmetic]);
    }
  }
  // An error deep in the tree shows as hasError on the root even when no ERROR node was visited.
  if (root.hasError && parsed.problems.length === 0) parsed.problems.push("a syntax error");
  return parsed;
}

const emptyScript = (): ParsedScript => ({
  commands: [],
  functions: [],
  assigned: [],
  assignedAtRunTime: [],
  problems: [],
});

/** Nodes that assign a variable by their syntax (arithmetic ones may: `PATH=1`, `PATH++`). */
const ASSIGNING = new Set([
  "variable_assignment",
  "for_statement",
  "declaration_command",
  "unset_command",
  "expansion",
  "subscript",
]);

/**
 * Arithmetic, read once at its outermost node: `$((...))`, `((...))`, the three parts of `for
 * ((...))`. Its text says what it assigns (`PATH=1`, `PATH+=1`, `PATH++`). True when it was one.
 */
function arithmeticIn(node: Node, parsed: ParsedScript): boolean {
  const isCommand = node.type === "compound_statement" && node.child(0)?.type === "((";
  if (node.type === "arithmetic_expansion" || isCommand) {
    parsed.assigned.push(...assignedInArithmetic(node.text));
    return true;
  }
  if (node.type !== "c_style_for_statement") return false;
  for (const field of ["initializer", "condition", "update"])
    for (const part of node.childrenForFieldName(field))
      if (part) parsed.assigned.push(...assignedInArithmetic(part.text));
  return false;
}

/** What one of the ASSIGNING nodes assigns, into parsed.assigned (or assignedAtRunTime). */
function assignmentsIn(node: Node, parsed: ParsedScript): void {
  const { assigned } = parsed;
  if (node.type === "variable_assignment" || node.type === "for_statement") {
    const name = node.childForFieldName(node.type === "for_statement" ? "variable" : "name");
    if (name) assigned.push(variableName(name.text));
  } else if (node.type === "declaration_command" || node.type === "unset_command") declared(node, parsed);
  else if (node.type === "expansion") {
    // ${PATH:=x} and ${PATH=x} assign when PATH is unset (or empty).
    const m = /^\$\{([A-Za-z_]\w*)(\[[^\]]*\])?:?=/.exec(node.text);
    if (m) assigned.push(m[1] as string);
  } else if (node.type === "subscript") {
    // An index is arithmetic: `a[PATH=1]=x`, `${a[PATH++]}`.
    const index = node.childForFieldName("index");
    if (index) assigned.push(...assignedInArithmetic(index.text));
  }
}

/**
 * `declare`, `typeset`, `local`, `export`, `readonly`, `unset`: each name given (`local PATH`
 * empties PATH in a function; without PATH bash looks in `.` last), and a name only known at run
 * time; `-n` makes a reference to a variable whose name is its value, so any later assignment may
 * be to PATH.
 */
function declared(node: Node, parsed: ParsedScript): void {
  for (const child of node.namedChildren) {
    if (!child || child.type === "variable_assignment") continue; // visited on its own
    if (child.type === "variable_name") parsed.assigned.push(child.text);
    else if (child.type === "word" && /^[-+][a-zA-Z]*n/.test(child.text))
      parsed.assignedAtRunTime.push(`${node.child(0)?.text ?? "declare"} ${child.text}`);
    else if (child.type !== "word") parsed.assignedAtRunTime.push(child.text.slice(0, 60));
  }
}

function commandOf(node: Node): ScriptCommand {
  const argv: Word[] = [];
  const name = node.childForFieldName("name");
  const nameWord = name?.namedChild(0);
  if (nameWord) argv.push(wordOf(nameWord));
  for (const arg of node.childrenForFieldName("argument")) if (arg) argv.push(wordOf(arg));
  return { argv };
}
