import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/**
 * The real Compose's verdict on a file (`docker compose config -q`), when `docker compose` is on
 * PATH: the check the JSON schema cannot make (a `depends_on` naming a service under another
 * profile, an interpolation, an `extends`), made by the tool that will run the file. Run from a
 * folder of its own with `--project-directory` set to the compose file's, so relative paths and the
 * `.env` there resolve as they will.
 */
export type Verdict =
  | { checked: false; why: string }
  | { checked: true; ok: true; version: string }
  | { checked: true; ok: false; version: string; problem: string };

const TIMEOUT_MS = 30_000;

/** The Compose version `docker compose version --short` prints; why not, when there is none. */
function composeVersion(env: NodeJS.ProcessEnv): { version: string } | { why: string } {
  const r = spawnSync("docker", ["compose", "version", "--short"], {
    encoding: "utf8",
    env,
    timeout: TIMEOUT_MS,
  });
  if (r.error) {
    const code = (r.error as NodeJS.ErrnoException).code;
    return { why: code === "ENOENT" ? "no docker on PATH" : `docker: ${r.error.message}` };
  }
  if (r.status !== 0) return { why: "docker on PATH has no compose command" };
  return { version: r.stdout.trim() };
}

/**
 * `docker compose config -q` of `text` as if it were a file in `projectDir`, with no profile and
 * with all (`--profile "*"`): an agent's sidecar outside its profile broke the first, a standby's
 * missing file would break only the second. DOCKER_GID, which
 * inject requires for the collector's socket group and which the user sets later, is given a
 * value when unset: it is the one variable the check must not fail on.
 */
export function composeVerdict(text: string, projectDir: string, env: NodeJS.ProcessEnv): Verdict {
  if (env.CLAWGUARD_COMPOSE_CHECK === "0") return { checked: false, why: "CLAWGUARD_COMPOSE_CHECK=0" };
  const found = composeVersion(env);
  if ("why" in found) return { checked: false, why: found.why };
  const dir = mkdtempSync(join(tmpdir(), "clawguard-compose-check-"));
  try {
    const file = join(dir, "compose.yml");
    writeFileSync(file, text);
    // As it starts by default, then with every profile (the standby's, the agents' own).
    for (const profiles of [[], ["--profile", "*"]]) {
      const r = spawnSync(
        "docker",
        ["compose", "--project-directory", projectDir, "-f", file, ...profiles, "config", "-q"],
        { encoding: "utf8", env: { ...env, DOCKER_GID: env.DOCKER_GID ?? "0" }, timeout: TIMEOUT_MS },
      );
      if (r.status === 0) continue;
      const problem = (r.error ? r.error.message : `${r.stderr}${r.stdout}`.trim()).replaceAll(
        file,
        "<file>",
      );
      return { checked: true, ok: false, version: found.version, problem: problem || `exit ${r.status}` };
    }
    return { checked: true, ok: true, version: found.version };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
