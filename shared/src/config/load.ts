import { readFileSync } from "node:fs";
import { parseDocument } from "yaml";
import type { z } from "zod";
import { ClawguardError } from "../errors.ts";
import type { SecretRef } from "./fields.ts";
import { closest, keysAt } from "./suggest.ts";

/** Maps an environment variable to the config path it overrides, e.g. CLAWGUARD_AGENT -> agent. */
export type EnvMap = Readonly<Record<string, string>>;

export interface LoadOptions<S extends z.ZodType> {
  schema: S;
  /** The program, for messages: "sidecar", "collector". */
  program: string;
  file?: string | undefined;
  env: NodeJS.ProcessEnv;
  envMap: EnvMap;
  /** Values that sit under the file (e.g. computed defaults); the file and env override them. */
  base?: Record<string, unknown>;
  /**
   * What is wrong beyond the schema (files it names, secrets), listed with the schema's problems
   * in one list: run on the config, or on what is left of it once the schema's problems are
   * taken out (when that parses).
   */
  check?: (config: z.output<S>) => string[];
}

function setPath(target: Record<string, unknown>, path: string, value: unknown): void {
  const keys = path.split(".");
  let node = target;
  for (const key of keys.slice(0, -1)) {
    const next = node[key];
    if (typeof next !== "object" || next === null || Array.isArray(next)) node[key] = {};
    node = node[key] as Record<string, unknown>;
  }
  node[keys[keys.length - 1] as string] = value;
}

function deepMerge(base: Record<string, unknown>, over: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base };
  for (const [key, value] of Object.entries(over)) {
    const prev = out[key];
    out[key] =
      value && typeof value === "object" && !Array.isArray(value) && prev && typeof prev === "object"
        ? deepMerge(prev as Record<string, unknown>, value as Record<string, unknown>)
        : value;
  }
  return out;
}

/** The input with what the schema refused taken out (unknown keys, bad values), for `check`. */
function withoutIssues(
  input: Record<string, unknown>,
  issues: readonly z.core.$ZodIssue[],
): Record<string, unknown> {
  const copy = structuredClone(input);
  for (const issue of issues) {
    let node: unknown = copy;
    for (const key of issue.path.slice(0, issue.code === "unrecognized_keys" ? undefined : -1)) {
      node = node && typeof node === "object" ? (node as Record<PropertyKey, unknown>)[key] : undefined;
    }
    if (!node || typeof node !== "object") continue;
    const keys = issue.code === "unrecognized_keys" ? issue.keys : issue.path.slice(-1);
    for (const key of keys) delete (node as Record<PropertyKey, unknown>)[key];
  }
  return copy;
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === "object") {
    for (const inner of Object.values(value)) deepFreeze(inner);
    Object.freeze(value);
  }
  return value;
}

function readYaml(file: string, program: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    throw new ClawguardError(
      "config.invalid",
      `${program} config: cannot read ${file}: ${(err as Error).message}`,
      {
        cause: err,
      },
    );
  }
  const doc = parseDocument(text, { prettyErrors: true });
  if (doc.errors.length > 0) {
    const problems = doc.errors.map((e) => `  - ${e.message.split("\n")[0]}`);
    throw new ClawguardError(
      "config.invalid",
      `${program} config ${file} is not valid YAML:\n${problems.join("\n")}`,
    );
  }
  const data = doc.toJS() ?? {};
  if (typeof data !== "object" || Array.isArray(data)) {
    throw new ClawguardError(
      "config.invalid",
      `${program} config ${file}: expected a mapping at the top level`,
    );
  }
  return data as Record<string, unknown>;
}

function formatIssue(issue: z.core.$ZodIssue, schema: z.ZodType): string[] {
  const path = issue.path.length > 0 ? issue.path.join(".") : "(top level)";
  if (issue.code === "unrecognized_keys") {
    const prefix = path === "(top level)" ? "" : `${path}.`;
    const siblings = keysAt(schema, issue.path);
    // One line a key, each with its likely meaning: "exec.maxByte: unknown key: did you mean exec.maxBytes?"
    return issue.keys.map((key) => {
      const near = closest(key, siblings);
      return `${prefix}${key}: unknown key${near ? `: did you mean ${prefix}${near}?` : ""}`;
    });
  }
  const got = "input" in issue && issue.input !== undefined ? `, got ${JSON.stringify(issue.input)}` : "";
  return [`${path}: ${issue.message}${got}`];
}

/**
 * defaults < base < file < env, validated once into a frozen object. Every problem is listed with
 * its path; the caller refuses to start on any.
 */
export function loadConfig<S extends z.ZodType>(options: LoadOptions<S>): Readonly<z.output<S>> {
  const fromFile = options.file ? readYaml(options.file, options.program) : {};
  const fromEnv: Record<string, unknown> = {};
  for (const [name, path] of Object.entries(options.envMap)) {
    const value = options.env[name];
    if (value !== undefined && value !== "") setPath(fromEnv, path, value);
  }
  const merged = deepMerge(deepMerge(options.base ?? {}, fromFile), fromEnv);
  const result = options.schema.safeParse(merged, { reportInput: true });
  const problems = result.success
    ? []
    : result.error.issues.flatMap((issue) => formatIssue(issue, options.schema));
  if (options.check) {
    const rest = result.success
      ? result
      : options.schema.safeParse(withoutIssues(merged, result.error.issues));
    if (rest.success) problems.push(...options.check(rest.data));
  }
  if (!result.success || problems.length > 0) {
    const where = options.file ? ` (${options.file} and CLAWGUARD_* env)` : " (CLAWGUARD_* env)";
    throw new ClawguardError(
      "config.invalid",
      `${options.program} config${where} has ${problems.length} problem${problems.length > 1 ? "s" : ""}:\n  - ${problems.join("\n  - ")}`,
    );
  }
  return deepFreeze(result.data);
}

/**
 * Reads a secret from the environment or a file. `what` names it in errors (never its value).
 * Returns undefined when the reference is empty.
 */
export function resolveSecret(
  ref: SecretRef | undefined,
  env: NodeJS.ProcessEnv,
  what: string,
  /** Used when `ref` is empty: NAME, then the file named by NAME_FILE (Docker secrets). */
  fallbackEnv?: string,
): string | undefined {
  if ((!ref || (ref.env === undefined && ref.file === undefined)) && fallbackEnv) {
    if (env[fallbackEnv]) return resolveSecret({ env: fallbackEnv }, env, what);
    const file = env[`${fallbackEnv}_FILE`];
    if (file) return resolveSecret({ file }, env, what);
    return undefined;
  }
  if (!ref) return undefined;
  if (ref.env !== undefined) {
    const value = env[ref.env];
    if (value === undefined || value === "") {
      throw new ClawguardError("config.invalid", `${what}: environment variable ${ref.env} is not set`);
    }
    return value.trim();
  }
  if (ref.file !== undefined) {
    let value: string;
    try {
      value = readFileSync(ref.file, "utf8").trim();
    } catch (err) {
      throw new ClawguardError(
        "config.invalid",
        `${what}: cannot read ${ref.file}: ${(err as Error).message}`,
      );
    }
    if (value === "") throw new ClawguardError("config.invalid", `${what}: ${ref.file} is empty`);
    return value;
  }
  return undefined;
}
