import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { parseDocument } from "yaml";
import type { Problem } from "./errors.ts";
import { formatPath, isPlainObject, type Segment } from "./paths.ts";

/**
 * A config tree on disk (all YAML, comments and anchors welcome):
 *   base.yaml             what every agent gets
 *   roles/<role>.yaml     one overlay per role: gateway, sub-agent, bot
 *   agents/<name>.yaml    `role: <role>` and an optional `config:` overlay for that agent alone
 * Files starting with "." and *.md are ignored; anything else in roles/ or agents/ is a problem.
 */
export const ROLES = ["gateway", "sub-agent", "bot"] as const;
export type Role = (typeof ROLES)[number];

export interface Layer {
  /** Relative to the tree directory, with forward slashes: `roles/bot.yaml`. */
  file: string;
  data: Record<string, unknown>;
}

export interface AgentEntry {
  name: string;
  role: Role;
  file: string;
  config: Layer;
}

export interface Tree {
  dir: string;
  base: Layer;
  roles: Map<Role, Layer>;
  agents: Map<string, AgentEntry>;
}

const AGENT_NAME = /^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$/;

/** Why `name` cannot be an agent name (it becomes a directory name), or undefined when it can. */
export function badAgentName(name: string): string | undefined {
  return AGENT_NAME.test(name)
    ? undefined
    : `agent name ${JSON.stringify(name)}: expected 1-63 chars of [A-Za-z0-9_-], starting with a letter or digit (it becomes a directory name)`;
}

function isRole(r: unknown): r is Role {
  return typeof r === "string" && (ROLES as readonly string[]).includes(r);
}

/** Parses one YAML file; pushes its problems (syntax with line and column, non-object top level). */
function readYaml(dir: string, file: string, problems: Problem[]): Record<string, unknown> | undefined {
  let text: string;
  try {
    text = readFileSync(join(dir, file), "utf8");
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    problems.push({
      file,
      path: "",
      message: code === "ENOENT" ? "missing (required)" : `cannot read: ${code ?? (err as Error).message}`,
    });
    return undefined;
  }
  const doc = parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  const first = doc.errors[0];
  if (first) {
    // Only the first: the rest usually follow from it.
    const pos = first.linePos?.[0];
    const at = pos ? `line ${pos.line}, column ${pos.col}: ` : "";
    const msg = first.message.split("\n")[0]?.replace(/ at line \d+, column \d+:?$/, "");
    problems.push({ file, path: "", message: `invalid YAML: ${at}${msg}` });
    return undefined;
  }
  let data: unknown;
  try {
    data = doc.toJS({ maxAliasCount: 1000 });
  } catch (err) {
    problems.push({ file, path: "", message: `invalid YAML: ${(err as Error).message}` });
    return undefined;
  }
  if (data === null || data === undefined) return {};
  if (!isPlainObject(data)) {
    problems.push({ file, path: "", message: `expected a mapping at the top, got ${describe(data)}` });
    return undefined;
  }
  const before = problems.length;
  checkJsonValues(data, [], file, problems);
  return problems.length === before ? data : undefined;
}

function checkJsonValues(v: unknown, path: Segment[], file: string, problems: Problem[]): void {
  if (typeof v === "number" && !Number.isFinite(v)) {
    problems.push({ file, path: formatPath(path), message: `${v} cannot be written as JSON` });
  } else if (Array.isArray(v)) {
    v.forEach((x, i) => {
      checkJsonValues(x, [...path, i], file, problems);
    });
  } else if (isPlainObject(v)) {
    for (const [k, x] of Object.entries(v)) checkJsonValues(x, [...path, k], file, problems);
  }
}

function describe(v: unknown): string {
  return Array.isArray(v) ? "a list" : v === null ? "null" : `a ${typeof v}`;
}

/** The YAML files of a subdirectory by name; other files are problems. */
function listDir(dir: string, sub: string, problems: Problem[]): Map<string, string> {
  const out = new Map<string, string>();
  let names: string[];
  try {
    names = readdirSync(join(dir, sub)).sort();
  } catch {
    return out;
  }
  for (const entry of names) {
    if (entry.startsWith(".") || entry.endsWith(".md")) continue;
    const file = `${sub}/${entry}`;
    const m = /^(.*)\.ya?ml$/.exec(entry);
    if (!m || !statSync(join(dir, file)).isFile()) {
      problems.push({ file, path: "", message: "unexpected file: expected <name>.yaml" });
      continue;
    }
    const name = m[1] as string;
    const seen = out.get(name);
    if (seen) {
      problems.push({ file, path: "", message: `${seen} has the same name: keep one` });
      continue;
    }
    out.set(name, file);
  }
  return out;
}

/** Reads the whole tree and lists every problem in it; `tree` is undefined when there is any. */
export function loadTree(dir: string): { tree?: Tree; problems: Problem[] } {
  const problems: Problem[] = [];
  try {
    if (!statSync(dir).isDirectory()) throw new Error("ENOTDIR");
  } catch {
    // file "": the problem is the tree itself (callers print the path they were given).
    return { problems: [{ file: "", path: "", message: "not a directory (expected a config tree)" }] };
  }
  const baseFile = ["base.yaml", "base.yml"].find((f) => statSync(join(dir, f), { throwIfNoEntry: false }));
  const baseData = readYaml(dir, baseFile ?? "base.yaml", problems);

  const roles = new Map<Role, Layer>();
  for (const [name, file] of listDir(dir, "roles", problems)) {
    if (!isRole(name)) {
      problems.push({
        file,
        path: "",
        message: `unknown role "${name}": expected one of ${ROLES.join(", ")}`,
      });
      continue;
    }
    const data = readYaml(dir, file, problems);
    if (data) roles.set(name, { file, data });
  }

  const agents = new Map<string, AgentEntry>();
  const agentFiles = listDir(dir, "agents", problems);
  if (agentFiles.size === 0)
    problems.push({ file: "agents/", path: "", message: "no agents (expected agents/<name>.yaml)" });
  for (const [name, file] of agentFiles) {
    const bad = badAgentName(name);
    if (bad) {
      problems.push({ file, path: "", message: bad });
      continue;
    }
    const data = readYaml(dir, file, problems);
    if (!data) continue;
    let ok = true;
    for (const key of Object.keys(data)) {
      if (key !== "role" && key !== "config") {
        problems.push({
          file,
          path: key,
          message: "unknown key: an agent file has role and config (the overlay)",
        });
        ok = false;
      }
    }
    const role = data.role;
    if (!isRole(role)) {
      problems.push({
        file,
        path: "role",
        message:
          role === undefined
            ? `required: one of ${ROLES.join(", ")}`
            : `unknown role ${JSON.stringify(role)}: expected one of ${ROLES.join(", ")}`,
      });
      ok = false;
    } else if (!roles.has(role) && !problems.some((p) => p.file.startsWith(`roles/${role}.`))) {
      problems.push({ file, path: "role", message: `role "${role}" has no roles/${role}.yaml` });
      ok = false;
    }
    const config = data.config ?? {};
    if (!isPlainObject(config)) {
      problems.push({ file, path: "config", message: `expected a mapping, got ${describe(config)}` });
      ok = false;
    }
    if (ok && isRole(role) && isPlainObject(config))
      agents.set(name, { name, role, file, config: { file, data: config } });
  }

  if (problems.length > 0 || !baseData) return { problems };
  return { tree: { dir, base: { file: baseFile ?? "base.yaml", data: baseData }, roles, agents }, problems };
}
