import { composeSchemaAvailable, composeSchemaPath, validateCompose } from "./compose-schema.ts";

/**
 * Test-only: whether `CLAWGUARD_COMPOSE_SCHEMA` names a Compose Specification schema. The
 * repository carries none, so without one the schema checks are skipped, with a warning.
 */
export const SCHEMA = composeSchemaAvailable();
if (!SCHEMA)
  console.warn(
    `[clawguard tests] no Compose Specification schema${composeSchemaPath() ? ` at ${composeSchemaPath()}` : ""} (CLAWGUARD_COMPOSE_SCHEMA): the schema checks are skipped`,
  );

/** The schema's problems with `value`; none when there is no schema to check against. */
export const schemaProblems = (value: unknown) => (SCHEMA ? validateCompose(value) : []);
