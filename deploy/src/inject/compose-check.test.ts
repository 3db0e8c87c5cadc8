import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { homedir, tmpdir } from "node:os";
import { join } from "node:path";
import { runCommand } from "@clawguard/shared/testing";
import { afterAll, describe, expect, it } from "vitest";
import { injectCommand } from "./command.ts";
import { composeVerdict } from "./compose-check.ts";

/**
 * Inject's own check by the real Compose (`docker compose config -q` when `docker compose` is on
 * PATH): the Compose that test/support/docker-engine.sh unpacks under the cache (.ci/run does, so
 * CI always has it), put on PATH here as a user has it.
 */
const ENGINE = join(process.env.CLAWGUARD_CACHE ?? join(homedir(), ".cache/clawguard"), "docker-engine");
const HAVE = existsSync(join(ENGINE, "bin/docker"));
const CI = process.env.CI === "true";
const tmp = mkdtempSync(join(tmpdir(), "clawguard-compose-check-test-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
const env = (extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv => ({
  PATH: `${join(ENGINE, "bin")}:/usr/bin:/bin`,
  DOCKER_CONFIG: join(ENGINE, "docker-config"),
  HOME: tmp,
  ...extra,
});

const GOOD = `services:
  gateway:
    image: ghcr.io/openclaw/openclaw:latest
    profiles: ["agents"]
    volumes:
      - ./state:/home/node/.openclaw
`;

it("without docker compose on PATH: not checked, and the report says why", async () => {
  expect(composeVerdict(GOOD, tmp, { PATH: tmp })).toEqual({ checked: false, why: "no docker on PATH" });
  writeFileSync(join(tmp, "plain.yml"), GOOD);
  const r = await runCommand(injectCommand, ["plain.yml", "--no-openclaw"], { cwd: tmp, env: { PATH: tmp } });
  expect(r.code).toBe(0);
  expect(r.err).toMatch(/^not checked: no docker on PATH \(docker compose config -q\), and no schema/m);
});

describe.skipIf(!HAVE && !CI)("with the real Compose on PATH", () => {
  it("is there (CI unpacks it)", () => {
    expect(HAVE, `no Compose under ${ENGINE}: run test/support/docker-engine.sh start`).toBe(true);
  });

  it("accepts inject's output of a good file, and the report says it checked", async () => {
    writeFileSync(join(tmp, "good.yml"), GOOD);
    const r = await runCommand(injectCommand, ["good.yml", "--no-openclaw", "-o", "good.out.yml"], {
      cwd: tmp,
      env: env(),
    });
    expect(r.code, r.err).toBe(0);
    expect(r.err).toMatch(/^checked by Compose \S+ \(docker compose config -q\)$/m);
    expect(composeVerdict(readFileSync(join(tmp, "good.out.yml"), "utf8"), tmp, env())).toMatchObject({
      checked: true,
      ok: true,
    });
  });

  it("says what Compose refuses in a file, in its words", () => {
    const bad = `${GOOD}  app:\n    image: nginx\n    depends_on: [nowhere]\n`;
    const v = composeVerdict(bad, tmp, env());
    expect(v).toMatchObject({ checked: true, ok: false });
    expect(v.checked && !v.ok ? v.problem : "").toMatch(/nowhere/);
  });

  it("a file Compose refuses as it was: a warning, and inject goes on (exit 0)", async () => {
    const text = GOOD.replace("    profiles:", "    env_file: ./not-there.env\n    profiles:");
    writeFileSync(join(tmp, "refused.yml"), text);
    const r = await runCommand(injectCommand, ["refused.yml", "--no-openclaw", "-o", "refused.out.yml"], {
      cwd: tmp,
      env: env(),
    });
    expect(r.code, r.err).toBe(0);
    expect(r.err).toMatch(
      /^ {2}warning: Compose \S+ refuses this file as it was, before inject too \(docker compose config -q\): .*not-there\.env/m,
    );
    expect(existsSync(join(tmp, "refused.out.yml"))).toBe(true);
  });

  it("CLAWGUARD_COMPOSE_CHECK=0 turns it off", () => {
    expect(composeVerdict(GOOD, tmp, env({ CLAWGUARD_COMPOSE_CHECK: "0" }))).toEqual({
      checked: false,
      why: "CLAWGUARD_COMPOSE_CHECK=0",
    });
  });
});
