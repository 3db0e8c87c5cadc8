import { existsSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { Ajv, type ErrorObject, type ValidateFunction } from "ajv";
import addFormatsModule, { type FormatsPlugin } from "ajv-formats";

/**
 * The Compose Specification schema: `CLAWGUARD_COMPOSE_SCHEMA`, else the copy vendored beside the
 * repository (`../shared/vendor/` from the repository root, resolved from this file, not the
 * working directory). The repository does not carry the schema itself.
 */
export function composeSchemaPath(): string {
  return (
    process.env.CLAWGUARD_COMPOSE_SCHEMA ??
    fileURLToPath(new URL("../../../../shared/vendor/compose-spec.json", import.meta.url))
  );
}

/** Whether there is a schema to check against; without one, `inject` says it did not check. */
export function composeSchemaAvailable(): boolean {
  return existsSync(composeSchemaPath());
}

// ajv-formats is CommonJS with a default export; under nodenext the callable sits on `.default`.
const addFormats = (addFormatsModule as unknown as { default: FormatsPlugin }).default;

let compiled: ValidateFunction | undefined;

function validator(): ValidateFunction {
  if (compiled) return compiled;
  const path = composeSchemaPath();
  if (!existsSync(path))
    throw new Error(
      `the Compose Specification schema is not at ${path}; set CLAWGUARD_COMPOSE_SCHEMA to compose-spec.json`,
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
