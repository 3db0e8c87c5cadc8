import { existsSync, readFileSync } from "node:fs";
import { Ajv, type ErrorObject, type ValidateFunction } from "ajv";
import addFormatsModule, { type FormatsPlugin } from "ajv-formats";

/**
 * The Compose Specification schema (`compose-spec.json` of the compose-spec project) that
 * `CLAWGUARD_COMPOSE_SCHEMA` names, when it names one. The repository carries no copy, and no
 * npm package ships a current one.
 */
export function composeSchemaPath(): string | undefined {
  return process.env.CLAWGUARD_COMPOSE_SCHEMA || undefined;
}

/** Whether there is a schema to check against; without one, `inject` says it did not check. */
export function composeSchemaAvailable(): boolean {
  const path = composeSchemaPath();
  return path !== undefined && existsSync(path);
}

// ajv-formats is CommonJS with a default export; under nodenext the callable sits on `.default`.
const addFormats = (addFormatsModule as unknown as { default: FormatsPlugin }).default;

let compiled: ValidateFunction | undefined;

function validator(): ValidateFunction {
  if (compiled) return compiled;
  const path = composeSchemaPath();
  if (path === undefined || !existsSync(path))
    throw new Error(
      `no Compose Specification schema${path ? ` at ${path}` : ""}: set CLAWGUARD_COMPOSE_SCHEMA to a compose-spec.json`,
    );
  const schema = JSON.parse(readFileSync(path, "utf8")) as Record<string, unknown>;
  // The file names the draft-07 meta-schema by an https URL ajv does not know; ajv is draft-07 already.
  delete schema.$schema;
  const ajv = new Ajv({ allErrors: true, strict: false });
  addFormats(ajv);
  compiled = ajv.compile(schema);
  return compiled;
}

export interface SchemaProblem {
  /** Dotted path of the offending key: `services.gateway.foo`. */
  path: string;
  /** The service it is in, if any. */
  service: string | undefined;
  message: string;
}

function dotted(instancePath: string, extra?: string): string[] {
  const parts = instancePath
    .split("/")
    .slice(1)
    .map((p) => p.replaceAll("~1", "/").replaceAll("~0", "~"));
  return extra === undefined ? parts : [...parts, extra];
}

function describe(e: ErrorObject): SchemaProblem {
  const extra =
    e.keyword === "additionalProperties"
      ? String((e.params as { additionalProperty: string }).additionalProperty)
      : undefined;
  const parts = dotted(e.instancePath, extra);
  const path = parts.join(".") || "(top level)";
  const service = parts[0] === "services" ? parts[1] : undefined;
  const message =
    extra !== undefined
      ? `${path}: unknown key ${JSON.stringify(extra)} (the Compose Specification does not allow it here)`
      : `${path}: ${e.message ?? "invalid"}`;
  return { path, service, message };
}

/** Every problem the Compose Specification finds in a parsed compose file; empty when valid. */
export function validateCompose(value: unknown): SchemaProblem[] {
  const validate = validator();
  if (validate(value)) return [];
  const problems = (validate.errors ?? [])
    // oneOf/anyOf branches repeat what the branch errors already say.
    .filter((e) => e.keyword !== "oneOf" && e.keyword !== "anyOf" && e.keyword !== "if")
    .map(describe);
  const seen = new Set<string>();
  return problems.filter((p) => !seen.has(p.message) && seen.add(p.message));
}
