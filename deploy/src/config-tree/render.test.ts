import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { loadTree } from "./load.ts";
import { formatJson, renderTree } from "./render.ts";
import { listFiles, run } from "./test-helpers.ts";
import { validateTree } from "./validate.ts";

const EXAMPLE = resolve(import.meta.dirname, "../../examples/config-tree");
const GOLDEN = ["gateway", "bot-secguard"];

describe("the example tree (deploy/examples/config-tree)", () => {
  const { tree, problems } = loadTree(EXAMPLE);

  it("has the seed's topology and validates clean", () => {
    expect(problems).toEqual([]);
    expect([...(tree?.agents.values() ?? [])].map((a) => `${a.name}:${a.role}`).sort()).toEqual([
      "bot-opsguard:bot",
      "bot-secguard:bot",
      "bot-supporter:bot",
      "gateway:gateway",
      ...[1, 2, 3, 4, 5, 6, 7].map((i) => `sub${i}:sub-agent`),
    ]);
    expect(tree && validateTree(tree)).toEqual([]);
  });

  it.each(GOLDEN)("renders %s byte for byte as its golden file", async (agent) => {
    const golden = readFileSync(join(EXAMPLE, "rendered", agent, "openclaw.json"), "utf8");
    const printed = await run(["render", EXAMPLE, "--agent", agent]);
    expect(printed).toEqual({ code: 0, stdout: golden, stderr: "" });
  });

  it("writes every agent's openclaw.json with -o, the golden ones identical", async () => {
    const out = mkdtempSync(join(tmpdir(), "config-render-"));
    const written = await run(["render", EXAMPLE, "-o", out]);
    expect(written.code).toBe(0);
    expect(listFiles(out)).toEqual([...(tree?.agents.keys() ?? [])].map((a) => `${a}/openclaw.json`).sort());
    for (const agent of GOLDEN) {
      expect(readFileSync(join(out, agent, "openclaw.json"), "utf8")).toBe(
        readFileSync(join(EXAMPLE, "rendered", agent, "openclaw.json"), "utf8"),
      );
    }
    // Layers did what the example's comments say.
    const read = (a: string) => JSON.parse(readFileSync(join(out, a, "openclaw.json"), "utf8"));
    expect(read("sub3").agents.defaults.model).toEqual({
      primary: "deepseek/deepseek-chat",
      fallbacks: ["anthropic/claude-haiku-4-5"],
    });
    expect(read("sub7").agents.defaults.model).toEqual({ primary: "openai/gpt-5" });
    expect(Object.keys(read("bot-secguard").models.providers)).toEqual(["anthropic"]);
    expect(Object.keys(read("bot-opsguard").models.providers)).toEqual(["anthropic", "openai", "deepseek"]);
    expect(read("bot-opsguard").gateway.port).toBe(18820);
    // Rendering again changes nothing.
    expect((await run(["render", EXAMPLE, "-o", out])).code).toBe(0);
    expect(listFiles(out).length).toBe(tree?.agents.size);
  });

  it("renders each agent independently of the others", () => {
    if (!tree) throw new Error("no tree");
    const all = renderTree(tree).rendered;
    (all[0]!.config.models as { providers: Record<string, unknown> }).providers.x = 1;
    const again = renderTree(tree).rendered;
    expect(JSON.stringify(again.map((r) => r.config))).not.toContain('"x":1');
  });
});

describe("formatJson", () => {
  it("is JSON, objects expanded, short scalar arrays on one line", () => {
    const v = { a: [1, "x", null], b: [{ id: "m" }], c: {}, d: [], e: ["y".repeat(120)] };
    const text = formatJson(v);
    expect(JSON.parse(text)).toEqual(v);
    expect(text).toBe(
      `{\n  "a": [1, "x", null],\n  "b": [\n    {\n      "id": "m"\n    }\n  ],\n  "c": {},\n  "d": [],\n  "e": [\n    "${"y".repeat(120)}"\n  ]\n}\n`,
    );
  });
});
