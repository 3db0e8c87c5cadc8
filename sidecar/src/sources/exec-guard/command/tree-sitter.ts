import { Language, type Node, Parser } from "web-tree-sitter";
import { grammarWasm } from "./grammar.ts";
import type { ParsedScript, ScriptCommand, Word } from "./script.ts";
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
  return {
    parse(script) {
      const tree = parser.parse(script);
      if (!tree) return { commands: [], functions: [], assigned: [], problems: ["the parser gave up"] };
      try {
        return readScript(tree.rootNode);
      } finally {
        tree.delete();
      }
    },
  };
}

function readScript(root: Node): ParsedScript {
  const parsed: ParsedScript = { commands: [], functions: [], assigned: [], problems: [] };
  const stack: Node[] = [root];
  while (stack.length > 0) {
    const node = stack.pop() as Node;
    if (node.type === "command") parsed.commands.push(commandOf(node));
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
