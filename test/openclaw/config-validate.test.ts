import { cpSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { tempDir } from "@clawguard/shared/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { run } from "../../deploy/src/config-tree/test-helpers.ts";
import { ensureOpenClaw } from "../support/openclaw.ts";

/**
 * `clawguard config validate` with the real OpenClaw's own validator (`openclaw config validate`):
 * the example tree passes it, and what only OpenClaw knows (a key its schema does not have, a
 * retired shape it rewrites at start) is reported at the tree file and path that wrote it.
 *
 * Runs under CI=true and with CLAWGUARD_OPENCLAW=1 (it installs openclaw, ~650 MB, into a cache
 * folder the first time: about 30 s).
 */

const enabled = process.env.CLAWGUARD_OPENCLAW === "1" || process.env.CI === "true";
const EXAMPLE = resolve(import.meta.dirname, "../../deploy/examples/config-tree");

describe.skipIf(!enabled)("config validate with the real OpenClaw's validator", () => {
  let pkg: string;
  let tmp: ReturnType<typeof tempDir>;

  beforeAll(async () => {
    pkg = dirname(await ensureOpenClaw());
    tmp = tempDir("clawguard-openclaw-validate-");
  }, 600_000);
  afterAll(() => tmp?.cleanup());

  it("passes the example tree (11 agents), each rendered config checked by OpenClaw", async () => {
    const r = await run(["validate", EXAMPLE, "--openclaw", pkg]);
    expect(r.stdout).toMatch(/valid \(11 agents, by clawguard's rules and OpenClaw [\d.]+'s validator\)/);
    expect(r.stderr).toMatch(/11\/11/);
    expect(r.code).toBe(0);
  }, 180_000);

  it("reports an unknown key and a retired shape at the file and path that wrote them (exit 1)", async () => {
    const tree = join(tmp.path, "tree");
    cpSync(EXAMPLE, tree, { recursive: true });
    rmSync(join(tree, "rendered"), { recursive: true });
    writeFileSync(
      join(tree, "agents", "sub2.yaml"),
      "role: sub-agent\nconfig:\n  gateway:\n    reconnectJitter: 5\n  agents:\n    list:\n      - id: sub2\n        default: true\n",
    );
    const r = await run(["validate", tree, "--agent", "sub2", "--openclaw", pkg]);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain(
      `${join(tree, "agents/sub2.yaml")}: gateway.reconnectJitter: OpenClaw: Unrecognized key: "reconnectJitter"`,
    );
    writeFileSync(
      join(tree, "agents", "sub2.yaml"),
      "role: sub-agent\nconfig:\n  agents:\n    list:\n      - id: sub2\n",
    );
    const retired = await run(["validate", tree, "--agent", "sub2", "--openclaw", pkg]);
    expect(retired.code).toBe(1);
    expect(retired.stdout).toMatch(
      new RegExp(
        `${join(tree, "agents/sub2.yaml")}: agents\\.list: OpenClaw: Moved agents\\.list to keyed agents\\.entries`,
      ),
    );
  }, 180_000);
});
