import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { COLLECTOR_ENV, COLLECTOR_SECRET_ENV } from "@clawguard/collector/config";
import { KNOWN_ENV, unknownEnvWarnings } from "@clawguard/shared/config/env-names";
import { SIDECAR_ENV, SIDECAR_SECRET_ENV } from "@clawguard/sidecar/config-env";
import { describe, expect, it } from "vitest";

const root = join(import.meta.dirname, "..", "..");

describe("the CLAWGUARD_* variables clawguard reads", () => {
  it("are all known: the programs' lists, and every name the sources and scripts spell", () => {
    const secrets = [...Object.values(SIDECAR_SECRET_ENV), ...Object.values(COLLECTOR_SECRET_ENV)]
      .filter((name) => name.startsWith("CLAWGUARD_"))
      .flatMap((name) => [name, `${name}_FILE`]);
    const named = [...Object.keys(SIDECAR_ENV), ...Object.keys(COLLECTOR_ENV), ...secrets];
    const files = execFileSync(
      "git",
      ["ls-files", "sidecar", "collector", "shared", "deploy", "test", "package.json"],
      {
        cwd: root,
        encoding: "utf8",
      },
    )
      .split("\n")
      .filter((f) => /\.(ts|mjs|sh|json|ya?ml)$|Dockerfile/.test(f))
      // These two spell typos on purpose.
      .filter((f) => !/(cli-exit-codes|env-names)\.test\.ts$/.test(f));
    const spelled = files.flatMap(
      (f) => readFileSync(join(root, f), "utf8").match(/\bCLAWGUARD_[A-Z0-9_]*[A-Z0-9]\b/g) ?? [],
    );
    const unknown = [...new Set([...named, ...spelled])].filter(
      (name) => !KNOWN_ENV.has(name) && !name.startsWith("CLAWGUARD_TEST_"),
    );
    expect(unknown).toEqual([]);
    expect(spelled.length).toBeGreaterThan(100);
  });

  it("a variable nothing reads gets a warning with the name it likely meant", () => {
    expect(
      unknownEnvWarnings({
        CLAWGUARD_SPOOLDIR: "/x",
        CLAWGUARD_EXEC_MAXBYTES: "1",
        CLAWGUARD_WHOLLY_OTHER: "1",
        CLAWGUARD_SPOOL_DIR: "/x",
        CLAWGUARD_TEST_THING: "1",
        PATH: "/bin",
      }),
    ).toEqual([
      "warning: CLAWGUARD_EXEC_MAXBYTES is set but no clawguard program reads it: did you mean CLAWGUARD_EXEC_MAX_BYTES?",
      "warning: CLAWGUARD_SPOOLDIR is set but no clawguard program reads it: did you mean CLAWGUARD_SPOOL_DIR?",
      "warning: CLAWGUARD_WHOLLY_OTHER is set but no clawguard program reads it",
    ]);
  });
});
