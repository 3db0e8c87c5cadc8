import { existsSync, mkdirSync, mkdtempSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { listFiles, makeTree, run, VALID } from "./test-helpers.ts";

function outDir(): string {
  return mkdtempSync(join(tmpdir(), "config-out-"));
}

/** Renders with -o into a fresh directory; returns the result and what got written. */
async function renderAll(tree: string, ...extra: string[]) {
  const out = outDir();
  const result = await run(["render", tree, "-o", out, ...extra]);
  return { ...result, written: listFiles(out) };
}

describe("clawguard config render", () => {
  it("writes every agent's openclaw.json, atomically (no temporary file left)", async () => {
    const r = await renderAll(makeTree());
    expect(r.code).toBe(0);
    expect(r.written).toEqual(["bot1/openclaw.json", "gw/openclaw.json", "sub1/openclaw.json"]);
    expect(r.stderr).toMatch(/^wrote .*bot1\/openclaw\.json/);
  });

  it("-o with --agent writes that agent only", async () => {
    const r = await renderAll(makeTree(), "--agent", "sub1");
    expect(r).toMatchObject({ code: 0, written: ["sub1/openclaw.json"] });
  });

  it("refuses, writing nothing, while the tree has validation problems (exit 1)", async () => {
    const r = await renderAll(makeTree({ "roles/bot.yaml": "gateway: { mode: cluster }\n" }));
    expect(r.code).toBe(1);
    expect(r.written).toEqual([]);
    expect(r.stderr).toMatch(/1 problems, nothing written/);
    expect(r.stdout).toMatch(
      /roles\/bot\.yaml: gateway\.mode: expected one of local, remote, got "cluster" \[agents: bot1\]\n$/,
    );
  });

  it.each([
    [
      "invalid YAML",
      { "roles/sub-agent.yaml": "agents:\n  defaults: [1,\n" },
      /roles\/sub-agent\.yaml: invalid YAML: line 3, column 1/,
    ],
    [
      "a duplicate key",
      { "base.yaml": "gateway: {}\ngateway: {}\n" },
      /base\.yaml: invalid YAML: line 2, column 1: Map keys must be unique/,
    ],
    [
      "an unknown role",
      { "agents/sub1.yaml": "role: worker\n" },
      /agents\/sub1\.yaml: role: unknown role "worker": expected one of gateway, sub-agent, bot/,
    ],
    [
      "a role file for an unknown role",
      { "roles/worker.yaml": "{}\n" },
      /roles\/worker\.yaml: unknown role "worker"/,
    ],
    [
      "an agent naming a role without a file",
      { "roles/bot.yaml": null },
      /agents\/bot1\.yaml: role: role "bot" has no roles\/bot\.yaml/,
    ],
    ["an agent without a role", { "agents/gw.yaml": "config: {}\n" }, /agents\/gw\.yaml: role: required/],
    [
      "an unknown key in an agent file",
      { "agents/gw.yaml": "role: gateway\ngateway: { mode: local }\n" },
      /agents\/gw\.yaml: gateway: unknown key/,
    ],
    [
      "a config that is not a mapping",
      { "agents/gw.yaml": "role: gateway\nconfig: [1]\n" },
      /agents\/gw\.yaml: config: expected a mapping, got a list/,
    ],
    [
      "a top level that is not a mapping",
      { "base.yaml": "- 1\n" },
      /base\.yaml: expected a mapping at the top, got a list/,
    ],
    ["no base.yaml", { "base.yaml": null }, /base\.yaml: missing \(required\)/],
    [
      "an agent file name that is not a directory name",
      { "agents/a.b.yaml": "role: bot\n" },
      /agents\/a\.b\.yaml: agent name "a\.b": expected/,
    ],
    [
      "a stray file",
      { "agents/sub2.json5": "{}" },
      /agents\/sub2\.json5: unexpected file: expected <name>\.yaml/,
    ],
    [
      "a misplaced directive",
      { "roles/bot.yaml": "channels: { $delete: true, x: 1 }\n" },
      /roles\/bot\.yaml: channels: \$delete must be the only key/,
    ],
    [
      "a value JSON cannot hold",
      { "roles/bot.yaml": "x: .inf\n" },
      /roles\/bot\.yaml: x: Infinity cannot be written as JSON/,
    ],
  ])("rejects %s with the file and path, writing nothing", async (_what, files, message) => {
    const tree = makeTree(files as Record<string, string | null>);
    const r = await renderAll(tree);
    expect(r.code).not.toBe(0);
    expect(r.written).toEqual([]);
    expect(r.stdout).toMatch(message);
    const v = await run(["validate", tree]);
    expect(v.code).toBe(1);
    expect(v.stdout).toMatch(message);
  });

  it("lists every load problem at once", async () => {
    const r = await run([
      "validate",
      makeTree({ "agents/sub1.yaml": "role: worker\n", "roles/bot.yaml": "a: [\n" }),
    ]);
    expect(r.code).toBe(1);
    expect(r.stdout.trim().split("\n")).toHaveLength(2);
  });

  it.each(["../../etc", "..", "a/b", "/abs", ".hidden", ""])(
    "rejects the agent name %j (path traversal) before reading or writing anything",
    async (name) => {
      const out = outDir();
      for (const sub of ["render", "validate"]) {
        const r = await run([sub, makeTree(), "--agent", name, ...(sub === "render" ? ["-o", out] : [])]);
        expect(r.code).toBe(2);
        expect(r.stderr).toMatch(/--agent: agent name .*expected 1-63 chars/);
      }
      const d = await run(["diff", makeTree(), "--agent", name, "--deployed", "x.json"]);
      expect(d.code).toBe(2);
      expect(listFiles(out)).toEqual([]);
      expect(existsSync(join(out, "..", "etc"))).toBe(false);
    },
  );

  it("rejects an agent the tree does not have, naming the ones it has", async () => {
    const r = await run(["render", makeTree(), "--agent", "sub9"]);
    expect(r).toMatchObject({
      code: 2,
      stderr: "clawguard config render: --agent: no agents/sub9.yaml (agents: bot1, gw, sub1)\n",
    });
  });

  it("an output path that is a file fails without a partial tree", async () => {
    const tree = makeTree();
    const r = run(["render", tree, "-o", join(tree, "base.yaml")]);
    await expect(r).rejects.toThrow(/ENOTDIR|EEXIST/);
  });

  it("a tree directory that is not one", async () => {
    const dir = mkdtempSync(join(tmpdir(), "config-none-"));
    const r = await run(["validate", join(dir, "missing")]);
    expect(r.code).toBe(2); // bad input: there is no tree to validate
    // The path as given, once (it was printed twice over, joined to itself).
    expect(r.stdout).toBe(`${join(dir, "missing")}: not a directory (expected a config tree)\n`);
    mkdirSync(join(dir, "empty"));
    expect((await run(["validate", join(dir, "empty")])).stdout).toMatch(
      /base\.yaml: missing[\s\S]*agents\/: no agents/,
    );
    symlinkSync("/nonexistent", join(dir, "link"));
    expect((await run(["render", join(dir, "link"), "--agent", "x"])).code).toBe(2);
  });
});

describe("clawguard config validate", () => {
  it("exit 0 on a clean tree, saying OpenClaw's own validator was not found (none here, no PATH)", async () => {
    expect(await run(["validate", makeTree()], tmpdir())).toEqual({
      code: 0,
      stdout: expect.stringMatching(/valid \(3 agents\)\n$/),
      stderr: expect.stringMatching(/OpenClaw's own validator not found .*checked by clawguard's rules only/),
    });
    expect(await run(["validate", makeTree(), "--no-openclaw"])).toMatchObject({ code: 0, stderr: "" });
  });

  it("refuses an --openclaw that names nothing usable (exit 2), and --openclaw with another subcommand", async () => {
    const tree = makeTree();
    const nothing = await run(["validate", tree, "--openclaw", join(tree, "nope")]);
    expect(nothing).toMatchObject({
      code: 2,
      stderr: expect.stringMatching(/--openclaw .*nope: no such file/),
    });
    const empty = await run(["validate", tree, "--openclaw", join(tree, "agents")]);
    expect(empty).toMatchObject({
      code: 2,
      stderr: expect.stringMatching(/no openclaw\.mjs in that folder/),
    });
    const other = await run(["render", tree, "--agent", "gw", "--openclaw", tree]);
    expect(other).toMatchObject({ code: 2, stderr: expect.stringMatching(/--openclaw is for validate/) });
  });

  it("exit 1 listing each problem as file: path: message", async () => {
    const tree = makeTree({
      "base.yaml": (VALID["base.yaml"] as string).replace(
        "http://127.0.0.1:18801/llm/openai",
        "https://api.openai.com/v1",
      ),
      "agents/bot1.yaml":
        "role: bot\nconfig:\n  channels: { mattermost: { botToken: 'xoxb-1234567890-abcdefghij' } }\n",
    });
    const r = await run(["validate", tree]);
    expect(r.code).toBe(1);
    expect(r.stdout.split("\n")).toEqual([
      `${join(tree, "agents/bot1.yaml")}: channels.mattermost.botToken: secret written inline (looks like a Slack token): use an env reference "\${VAR}" or a SecretRef { source, provider, id }`,
      `${join(tree, "base.yaml")}: models.providers.openai.baseUrl: expected "http://127.0.0.1:18801/llm/openai" (through the sidecar), got "https://api.openai.com/v1" [agents: bot1, gw, sub1]`,
      "",
    ]);
    expect(r.stderr).toBe("2 problems in 2 files\n");
  });

  it("one problem is said in the singular", async () => {
    const tree = makeTree({
      "base.yaml": (VALID["base.yaml"] as string).replace(
        "http://127.0.0.1:18801/llm/openai",
        "https://api.openai.com/v1",
      ),
    });
    const r = await run(["validate", tree]);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe("1 problem in 1 file\n");
  });
});

describe("usage", () => {
  it.each([
    [[], 2],
    [["--help"], 0],
    [["render", "--help"], 0],
    [["bogus", "x"], 2],
    [["render", "a", "b"], 2],
    [["render", "x"], 2],
    [["validate", "x", "--deployed", "y"], 2],
    [["validate", "x", "--nope"], 2],
  ])("%j exits %i", async (args, code) => {
    expect((await run(args as string[])).code).toBe(code);
  });
});
