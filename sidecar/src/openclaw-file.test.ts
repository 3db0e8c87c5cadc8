import { mkdirSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { tempDir } from "@clawguard/shared/testing";
import JSON5 from "json5";
import { afterEach, describe, expect, it, vi } from "vitest";
import { openclawConfigPending, readOpenClawFile } from "./openclaw-file.ts";
import { configSummary } from "./sinks/heartbeat/index.ts";
import { llmProxyConfig } from "./sources/llm-proxy/config.ts";
import { resolveProviders } from "./sources/llm-proxy/providers.ts";

let tmp: ReturnType<typeof tempDir> | undefined;
afterEach(() => {
  tmp?.cleanup();
  vi.restoreAllMocks();
});

const PROVIDERS = `{
  // as OpenClaw writes it: JSON5
  models: { providers: { openai: { baseUrl: "https://api.openai.com/v1", api: "openai-completions", models: [] } } },
}`;

/** Replaced whole, as OpenClaw and editors save it (a new inode). */
function save(file: string, text: string): void {
  writeFileSync(`${file}.tmp`, text);
  renameSync(`${file}.tmp`, file);
}

describe("readOpenClawFile", () => {
  it("is pending while its folder is there and it is not; broken (missing) when the folder is not either", () => {
    tmp = tempDir("clawguard-openclaw-file-");
    const file = join(tmp.path, "state", "openclaw.json");
    const wrong = readOpenClawFile(file);
    expect(wrong).toMatchObject({ state: "broken", missing: true });
    expect(wrong.state === "broken" && wrong.why).toMatch(/^cannot read .*openclaw\.json: ENOENT/);
    mkdirSync(join(tmp.path, "state"));
    expect(openclawConfigPending(file)).toBe(true);
    expect(readOpenClawFile(file).state).toBe("pending");
    save(file, PROVIDERS);
    expect(readOpenClawFile(file)).toMatchObject({
      state: "read",
      doc: { models: { providers: { openai: {} } } },
    });
  });

  it("parses once per change of the file, whoever asks: the LLM guard's providers, the heartbeat, the reader", () => {
    tmp = tempDir("clawguard-openclaw-file-");
    const file = join(tmp.path, "openclaw.json");
    save(file, PROVIDERS);
    const parse = vi.spyOn(JSON5, "parse");
    const first = readOpenClawFile(file);
    expect(resolveProviders(llmProxyConfig.parse({ openclawConfig: file }), {}).map((p) => p.id)).toEqual([
      "openai",
    ]);
    configSummary({}, file);
    expect(readOpenClawFile(file)).toBe(first);
    expect(parse).toHaveBeenCalledTimes(1);
    save(file, PROVIDERS.replace("openai:", "other:"));
    const second = readOpenClawFile(file);
    expect(second).not.toBe(first);
    expect(
      second.state === "read" &&
        Object.keys((second.doc as { models: { providers: object } }).models.providers),
    ).toEqual(["other"]);
    expect(parse).toHaveBeenCalledTimes(2);
  });

  it("keeps its document frozen: its readers share it", () => {
    tmp = tempDir("clawguard-openclaw-file-");
    const file = join(tmp.path, "openclaw.json");
    save(file, PROVIDERS);
    const read = readOpenClawFile(file);
    const doc =
      read.state === "read" ? (read.doc as { models: { providers: Record<string, unknown> } }) : undefined;
    expect(Object.isFrozen(doc?.models.providers)).toBe(true);
    expect(() => {
      (doc as { models: { providers: Record<string, unknown> } }).models.providers.x = 1;
    }).toThrow(TypeError);
  });

  it("a broken file is one problem for every reader, kept until the file changes, then read again", () => {
    tmp = tempDir("clawguard-openclaw-file-");
    const file = join(tmp.path, "openclaw.json");
    save(file, "{ models: ");
    const parse = vi.spyOn(JSON5, "parse");
    const broken = readOpenClawFile(file);
    expect(broken).toMatchObject({ state: "broken", missing: false });
    const why = broken.state === "broken" ? broken.why : "";
    expect(why).toMatch(/^cannot read .*openclaw\.json: JSON5: invalid end of input/);
    // The LLM guard: not a config error of the sidecar's, a problem of the file's (the agent degraded).
    const wrong: string[] = [];
    expect(resolveProviders(llmProxyConfig.parse({ openclawConfig: file }), {}, [], wrong)).toEqual([]);
    expect(wrong).toEqual([`llm.openclawConfig: ${why}`]);
    // The heartbeat: the fingerprint says unreadable.
    expect(configSummary({}, file).keys).toHaveProperty("openclaw.unreadable");
    expect(readOpenClawFile(file)).toBe(broken);
    expect(parse).toHaveBeenCalledTimes(1);
    save(file, PROVIDERS);
    expect(readOpenClawFile(file).state).toBe("read");
    expect(parse).toHaveBeenCalledTimes(2);
  });
});
