import { ConfigTreeError, type Problem } from "./errors.ts";
import type { AgentEntry, Tree } from "./load.ts";
import { mergeLayer, Origins } from "./merge.ts";
import { isPlainObject } from "./paths.ts";

export interface Rendered {
  agent: AgentEntry;
  config: Record<string, unknown>;
  /** Which file set each path. */
  origins: Origins;
}

/** base.yaml < roles/<role>.yaml < agents/<name>.yaml `config:`. Throws ConfigTreeError on a bad directive. */
export function renderAgent(tree: Tree, agent: AgentEntry): Rendered {
  const origins = new Origins();
  let config: Record<string, unknown> = {};
  const role = tree.roles.get(agent.role);
  for (const layer of [tree.base, ...(role ? [role] : []), agent.config]) {
    config = mergeLayer(config, layer.data, layer.file, origins);
  }
  return { agent, config, origins };
}

/** Every agent (or the one asked for), with every problem rendering met. */
export function renderTree(tree: Tree, only?: string): { rendered: Rendered[]; problems: Problem[] } {
  const rendered: Rendered[] = [];
  const problems: Problem[] = [];
  for (const agent of tree.agents.values()) {
    if (only !== undefined && agent.name !== only) continue;
    try {
      rendered.push(renderAgent(tree, agent));
    } catch (err) {
      if (!(err instanceof ConfigTreeError)) throw err;
      const p = { file: err.file ?? agent.file, path: err.path ?? "", message: err.message };
      if (!problems.some((q) => q.file === p.file && q.path === p.path && q.message === p.message))
        problems.push(p);
    }
  }
  return { rendered, problems };
}

const LINE_WIDTH = 110;

/**
 * JSON with two-space indent, objects always expanded, arrays of scalars on one line when they fit in
 * 110 columns: the layout the repository's formatter gives, so golden files stay as written.
 */
export function formatJson(value: unknown): string {
  return `${format(value, "", 0)}\n`;
}

function format(v: unknown, indent: string, prefixWidth: number): string {
  if (Array.isArray(v)) {
    if (v.length === 0) return "[]";
    if (v.every((x) => !isPlainObject(x) && !Array.isArray(x))) {
      const line = `[${v.map((x) => JSON.stringify(x)).join(", ")}]`;
      if (indent.length + prefixWidth + line.length + 1 <= LINE_WIDTH) return line;
    }
    const inner = `${indent}  `;
    return `[\n${v.map((x) => `${inner}${format(x, inner, 0)}`).join(",\n")}\n${indent}]`;
  }
  if (isPlainObject(v)) {
    const entries = Object.entries(v);
    if (entries.length === 0) return "{}";
    const inner = `${indent}  `;
    const lines = entries.map(([k, x]) => {
      const key = `${JSON.stringify(k)}: `;
      return `${inner}${key}${format(x, inner, key.length)}`;
    });
    return `{\n${lines.join(",\n")}\n${indent}}`;
  }
  return JSON.stringify(v);
}
