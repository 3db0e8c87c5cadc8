import { Language, type Node, Parser } from "web-tree-sitter";
import { grammarWasm } from "./grammar.ts";
import { type ParsedScript, roughCommands, type ScriptCommand, type Word } from "./script.ts";
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
    if (!tree) return { commands: [], functions: [], assigned: [], problems: ["the parser gave up"] };
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
  const parsed: ParsedScript = { commands: [], functions: [], assigned: [], problems: [] };
  const stack: Node[] = [root];
  while (stack.length > 0) {
    const node = stack.pop() as Node;
    if (node.type === "command") parsed.commands.push(commandOf(node));
    else if (node.type === "heredoc_redirect") backquotesInHeredoc(node, nested);
    else if (node.type === "function_definition") {
      const name = node.childForFieldName("name");
      if (name) parsed.functions.push(name.text);
    } else if (node.type === "variable_assignment") {
      const name = node.childForFieldName("name");
      if (name) parsed.assigned.push(name.text);
    } else if ((node.type === "ERROR" || node.isMissing) && parsed.problems.length === 0) {
      const at = `line ${node.startPosition.row + 1}, column ${node.startPosition.column + 1}`;
      parsed.problems.push(`a syntax error at ${at} (${JSON.stringify(node.text.slice(0, 40))})`);
    }
    // Children last to first, so that commands come out in the order they are written.
    for (let i = node.childCount - 1; i >= 0; i--) {
      const child = node.child(i);
      if (child) stack.push(child);
    }
  }
  // An error deep in the tree shows as hasError on the root even when no ERROR node was visited.
  if (root.hasError && parsed.problems.length === 0) parsed.problems.push("a syntax error");
  return parsed;
}

function commandOf(node: Node): ScriptCommand {
  const argv: Word[] = [];
  const name = node.childForFieldName("name");
  const nameWord = name?.namedChild(0);
  if (nameWord) argv.push(wordOf(nameWord));
  for (const arg of node.childrenForFieldName("argument")) if (arg) argv.push(wordOf(arg));
  return { argv };
}
