// biome-ignore-all lint/suspicious/noTemplateCurlyInString: OpenClaw env references are literal "${VAR}" strings
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { diffConfigs, formatChanges } from "./diff.ts";
import { makeTree, run } from "./test-helpers.ts";

describe("diffConfigs", () => {
  it("lists leaf changes, additions and removals as JSON paths", () => {
    const rendered = { gateway: { mode: "local", port: 18789 }, list: [1, 2], a: { b: { c: 1 } } };
    const deployed = { gateway: { mode: "remote" }, list: [1, 3, 4], a: { b: "flat" }, extra: true };
    expect(diffConfigs(rendered, deployed)).toEqual([
      { path: "gateway.mode", key: "mode", rendered: "local", deployed: "remote" },
      { path: "gateway.port", key: "port", rendered: 18789, deployed: undefined },
      { path: "list[1]", key: "list", rendered: 2, deployed: 3 },
      { path: "list[2]", key: "list", rendered: undefined, deployed: 4 },
      { path: "a.b", key: "b", rendered: { c: 1 }, deployed: "flat" },
      { path: "extra", key: "extra", rendered: undefined, deployed: true },
    ]);
    expect(diffConfigs(rendered, structuredClone(rendered))).toEqual([]);
  });

  it("skips ignored paths and what is below them", () => {
    expect(diffConfigs({ a: 1 }, { a: 1, meta: { lastTouchedAt: "x" }, metadata: 1 }, ["meta"])).toEqual([
      { path: "metadata", key: "metadata", rendered: undefined, deployed: 1 },
    ]);
  });

  it("prints both values, secrets masked (a fingerprint tells two apart), references shown", () => {
    const text = formatChanges(
      diffConfigs(
        { models: { providers: { openai: { apiKey: "${OPENAI_API_KEY}" } } }, env: { vars: {} } },
        {
          models: { providers: { openai: { apiKey: "sk-proj-Ab3dEf6hIj9kLm2nOp5qRs8tUv" } } },
          env: { vars: { NOTE: "uses sk-ant-api03-AbCdEfGhIjKlMnOpQrSt" } },
        },
      ),
    );
    expect(text).toMatch(
      /^models\.providers\.openai\.apiKey: deployed "<secret: 34 chars, sha256 [0-9a-f]{8}>", rendered "\$\{OPENAI_API_KEY\}"\n/,
    );
    expect(text).toMatch(
      /env\.vars\.NOTE: deployed "<secret: 38 chars, sha256 [0-9a-f]{8}>", rendered \(absent\)\n$/,
    );
    expect(text).not.toMatch(/sk-/);
    const whole = formatChanges(diffConfigs({}, { gateway: { auth: { token: "hunter2-but-longer" } } }));
    expect(whole).toMatch(
      /^gateway: deployed \{"auth":\{"token":"<secret: 18 chars, sha256 [0-9a-f]{8}>"\}\}, rendered \(absent\)\n$/,
    );
  });
});

describe("clawguard config diff", () => {
  it("exit 0 when the deployed file (JSON5, OpenClaw's meta stamp aside) matches, 1 with the changes", async () => {
    const dir = makeTree();
    const printed = await run(["render", dir, "--agent", "gw"]);
    expect(printed.code).toBe(0);
    const rendered = JSON.parse(printed.stdout);
    const deployed = join(dir, "deployed.json5");
    writeFileSync(
      deployed,
      `// written by openclaw\n${JSON.stringify({ ...rendered, meta: { lastTouchedAt: "now" } }, null, 2)}`,
    );
    const same = await run(["diff", dir, "--agent", "gw", "--deployed", deployed]);
    expect(same).toMatchObject({ code: 0, stdout: "" });
    expect(same.stderr).toMatch(/matches the tree/);

    writeFileSync(
      deployed,
      readFileSync(deployed, "utf8")
        .replace('"bind": "lan"', '"bind": "loopback"')
        .replace("${OPENAI_API_KEY}", "sk-proj-Ab3dEf6hIj9kLm2nOp5qRs8tUv"),
    );
    const differ = await run(["diff", dir, "--agent", "gw", "--deployed", deployed]);
    expect(differ.code).toBe(1);
    expect(differ.stdout.split("\n")).toEqual([
      'gateway.bind: deployed "loopback", rendered "lan"',
      expect.stringMatching(
        /^models\.providers\.openai\.apiKey: deployed "<secret: 34 chars, sha256 \w{8}>", rendered "\$\{OPENAI_API_KEY\}"$/,
      ),
      "",
    ]);
    const noIgnore = await run(["diff", dir, "--agent", "gw", "--deployed", deployed, "--ignore", "gateway"]);
    expect(noIgnore.stdout).toMatch(/^meta: deployed \{"lastTouchedAt":"now"\}, rendered \(absent\)\n/m);
    expect(noIgnore.stdout).not.toMatch(/gateway\.bind/);
  });

  it("exit 2 on a deployed file that is not JSON5, or missing, or a missing option", async () => {
    const dir = makeTree();
    writeFileSync(join(dir, "bad.json5"), "{\n  gateway: { mode: 'local' \n");
    const bad = await run(["diff", dir, "--agent", "gw", "--deployed", join(dir, "bad.json5")]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/bad\.json5: invalid JSON5: invalid end of input at 3:1/);
    const missing = await run(["diff", dir, "--agent", "gw", "--deployed", join(dir, "nope.json")]);
    expect(missing).toMatchObject({
      code: 2,
      stderr: expect.stringMatching(/nope\.json: cannot read: ENOENT/),
    });
    expect((await run(["diff", dir, "--agent", "gw"])).code).toBe(2);
  });
});
