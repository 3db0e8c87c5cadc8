import type { Node } from "web-tree-sitter";
import type { Word } from "./script.ts";

/**
 * Unquoted characters that make the shell expand a word into file names, or a home directory.
 * Braces (`{rm,-rf}`) stay in the text: bash expands them into words, which the analysis does.
 */
const EXPANDS = /[*?[]|^~/;

/** A word as the shell will pass it to a program, when that is known before the script runs. */
export function wordOf(node: Node): Word {
  const dynamic = (why: string): Word => ({ text: node.text, dynamic: why });
  switch (node.type) {
    case "word":
    case "number": {
      // Escapes are resolved first so that `\*` stays literal: what is left of `*?[{~` expands.
      if (EXPANDS.test(node.text.replace(/\\./gs, "_"))) return dynamic(`the expansion ${node.text}`);
      return { text: node.text.replace(/\\\n/g, "").replace(/\\(.)/gs, "$1") };
    }
    case "raw_string":
      return { text: node.text.slice(1, -1) };
    case "string": {
      const text = doubleQuoted(node);
      return text === undefined ? dynamic(`the expansion in ${node.text}`) : { text };
    }
    case "ansi_c_string": {
      const text = ansiC(node.text.slice(2, -1));
      return text === undefined ? dynamic(`the escape in ${node.text}`) : { text };
    }
    case "concatenation": {
      const parts = node.namedChildren.filter((c): c is Node => c !== null).map(wordOf);
      const unknown = parts.find((p) => p.dynamic !== undefined);
      if (unknown) return dynamic(unknown.dynamic as string);
      return { text: parts.map((p) => p.text).join("") };
    }
    default:
      // $X, ${X}, $(...), `...`, <(...), $((...)), $"..." and brace expressions.
      return dynamic(node.text.length > 60 ? `${node.text.slice(0, 57)}...` : node.text);
  }
}

/** "..." without expansions: its text with `\\`, `\"`, `\$`, `` \` `` and line continuations resolved. */
function doubleQuoted(node: Node): string | undefined {
  let text = "";
  for (const child of node.namedChildren) {
    if (!child) continue;
    if (child.type !== "string_content") return undefined;
    text += child.text.replace(/\\\n/g, "").replace(/\\([\\"$`])/g, "$1");
  }
  return text;
}

const C_ESCAPES: Record<string, string> = {
  a: "\x07",
  b: "\b",
  e: "\x1b",
  E: "\x1b",
  f: "\f",
  n: "\n",
  r: "\r",
  t: "\t",
  v: "\v",
  "\\": "\\",
  "'": "'",
  '"': '"',
  "?": "?",
};

/** The body of $'...': escapes resolved, or undefined for one this reader does not know (\u, \c). */
export function ansiC(body: string): string | undefined {
  let out = "";
  for (let i = 0; i < body.length; i++) {
    const ch = body[i] as string;
    if (ch !== "\\") {
      out += ch;
      continue;
    }
    const next = body[i + 1] ?? "";
    const hex = /^x([0-9a-fA-F]{1,2})/.exec(body.slice(i + 1));
    const octal = /^[0-7]{1,3}/.exec(body.slice(i + 1));
    if (hex) {
      out += String.fromCharCode(Number.parseInt(hex[1] as string, 16));
      i += hex[0].length;
    } else if (octal) {
      out += String.fromCharCode(Number.parseInt(octal[0], 8) & 0xff);
      i += octal[0].length;
    } else if (next in C_ESCAPES) {
      out += C_ESCAPES[next];
      i++;
    } else return undefined;
  }
  return out;
}
