import { Document, isPair, isScalar, isSeq, Scalar, visit } from "yaml";

/** Keys whose lists read better on one line: `command: ["clawguard", "sidecar"]`. */
const FLOW = new Set(["command", "test", "profiles"]);
/** Keys whose strings are quoted even where plain would parse: `"127.0.0.1:18800:18800"`. */
const QUOTED = new Set(["ports", "volumes", "command", "test", "network_mode"]);

export interface RenderOptions {
  /** Column the block's top-level keys start at. */
  column: number;
  /** Indentation step of the file. */
  unit: number;
  /** Comments above top-level keys of the block (without the `#`). */
  comments?: Record<string, string>;
}

/**
 * A map as YAML lines at a given column, printed by the yaml Document API so that quoting and
 * escaping are right, then shifted into place.
 */
export function renderMap(value: Record<string, unknown>, options: RenderOptions): string[] {
  const doc = new Document(value);
  visit(doc, {
    Pair(_, pair) {
      const key = isScalar(pair.key) ? String(pair.key.value) : "";
      if (FLOW.has(key) && isSeq(pair.value)) pair.value.flow = true;
      if (QUOTED.has(key)) {
        // The strings themselves (list items or the value), never keys of long-syntax entries.
        const items = isSeq(pair.value) ? pair.value.items : [pair.value];
        for (const node of items) {
          if (isScalar(node) && typeof node.value === "string") node.type = Scalar.QUOTE_DOUBLE;
        }
      }
    },
  });
  const root = doc.contents;
  if (root && "items" in root) {
    for (const item of root.items) {
      if (isPair(item) && isScalar(item.key)) {
        const comment = options.comments?.[String(item.key.value)];
        if (comment) item.key.commentBefore = ` ${comment}`;
      }
    }
  }
  const text = doc.toString({
    indent: options.unit,
    lineWidth: 0,
    flowCollectionPadding: false,
    indentSeq: true,
  });
  const pad = " ".repeat(options.column);
  return text
    .replace(/\n$/, "")
    .split("\n")
    .map((line) => (line === "" ? line : pad + line));
}
