import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { isClawguardError } from "@clawguard/shared/errors";
import { tempDir } from "@clawguard/shared/testing";
import { afterEach, describe, expect, it } from "vitest";
import { llmProxyConfig } from "./config.ts";
import { resolveProviders } from "./providers.ts";

let tmp: ReturnType<typeof tempDir> | undefined;
afterEach(() => tmp?.cleanup());

/** An openclaw.json as OpenClaw writes it: JSON5, comments, trailing commas. */
function openclawConfig(): string {
  tmp = tempDir("clawguard-providers-");
  const file = join(tmp.path, "openclaw.json");
  writeFileSync(
    file,
    `{
  // models the agent may use
  models: {
    providers: {
      openai: {
        baseUrl: "https://api.openai.com/v1",
        apiKey: "\${OPENAI_API_KEY}",
        api: "openai-completions",
        models: [{ id: "gpt-4.1", name: "GPT 4.1", contextWindow: 1047576, maxTokens: 32768 }],
      },
      anthropic: {
        baseUrl: "http://127.0.0.1:18801/llm/anthropic", // already through the sidecar
        api: "anthropic-messages",
        models: [{ id: "claude-sonnet-4-5", name: "Sonnet", contextWindow: 200000, maxTokens: 8192 }],
      },
    },
  },
}`,
  );
  return file;
}

function problems(run: () => unknown): string {
  try {
    run();
  } catch (err) {
    if (isClawguardError(err)) return err.message;
    throw err;
  }
  throw new Error("expected a config error");
}

describe("resolveProviders", () => {
  it("reads providers from openclaw.json, with clawguard's own settings over them", () => {
    const config = llmProxyConfig.parse({
      openclawConfig: openclawConfig(),
      providers: {
        anthropic: { upstream: "https://api.anthropic.com" },
        openai: { models: [{ id: "gpt-4.1", contextWindow: 128000 }] },
      },
    });
    const [openai, anthropic] = resolveProviders(config, {});
    expect(openai?.upstream.href).toBe("https://api.openai.com/v1/");
    expect(openai?.family.api).toBe("openai-completions");
    expect(openai?.models.get("gpt-4.1")).toEqual({ contextWindow: 128000, maxTokens: undefined });
    expect(anthropic?.upstream.href).toBe("https://api.anthropic.com/");
    expect(anthropic?.models.get("claude-sonnet-4-5")).toEqual({ contextWindow: 200000, maxTokens: 8192 });
  });

  it("lists every problem at once: a sidecar baseUrl is no upstream, unknown API, unset key, unreadable file", () => {
    const fromOpenClaw: string[] = [];
    const message = problems(() =>
      resolveProviders(
        llmProxyConfig.parse({
          openclawConfig: openclawConfig(),
          providers: { openai: { apiKey: { env: "NO_SUCH_KEY" } }, extra: { upstream: "https://x.example" } },
        }),
        {},
        [],
        fromOpenClaw,
      ),
    );
    expect(message).toMatch(/2 problem/);
    // What only the agent's openclaw.json says is its own problem: reported, never a stop.
    expect(fromOpenClaw.join("\n")).toMatch(/models\.providers\.anthropic in .*\.upstream: required/);
    expect(message).toContain("llm.providers.openai.apiKey: environment variable NO_SUCH_KEY is not set");
    expect(message).toContain(
      "llm.providers.extra.api: expected one of openai-completions, openai-responses, anthropic-messages, got undefined",
    );
    expect(
      problems(() =>
        resolveProviders(llmProxyConfig.parse({ openclawConfig: "/nonexistent/openclaw.json" }), {}),
      ),
    ).toMatch(/llm.openclawConfig: cannot read \/nonexistent\/openclaw.json/);
  });

  it("leaves a provider it cannot guard alone when its calls do not come through the sidecar", () => {
    const file = openclawConfig();
    writeFileSync(
      file,
      `{ models: { providers: {
        google: { baseUrl: "https://generativelanguage.googleapis.com/v1beta", api: "google-generative-ai", models: [] },
        mistral: { api: "openai-completions", models: [] }, // OpenClaw's built-in default URL
        openai: { baseUrl: "https://api.openai.com/v1", api: "openai-completions", models: [] },
      } } }`,
    );
    const skipped: string[] = [];
    const providers = resolveProviders(llmProxyConfig.parse({ openclawConfig: file }), {}, skipped);
    expect(providers.map((p) => p.id)).toEqual(["openai"]);
    expect(skipped).toEqual([
      'google: not guarded (api "google-generative-ai" is not one the guard speaks); its calls go straight to the provider',
      "mistral: not guarded (no baseUrl); its calls go straight to the provider",
    ]);
    // Named in clawguard's own config, or pointed at the sidecar: it must resolve, or nothing starts.
    expect(
      problems(() =>
        resolveProviders(llmProxyConfig.parse({ openclawConfig: file, providers: { mistral: {} } }), {}),
      ),
    ).toContain("llm.providers.mistral.upstream: required");
  });

  it("injects a configured key from the environment", () => {
    const [p] = resolveProviders(
      llmProxyConfig.parse({
        providers: {
          openai: { upstream: "https://api.openai.com/v1", api: "openai-responses", apiKey: { env: "K" } },
        },
      }),
      { K: "sk-test" },
    );
    expect(p?.apiKey).toBe("sk-test");
    expect(p?.family.api).toBe("openai-responses");
  });

  it("takes a tokenizer per model, else per provider, and refuses one it does not know", () => {
    const [p] = resolveProviders(
      llmProxyConfig.parse({
        providers: {
          local: {
            upstream: "http://127.0.0.1:11434/v1",
            api: "openai-completions",
            tokenizer: "qwen",
            models: [
              { id: "prod-chat", contextWindow: 131072 },
              { id: "prod-coder", contextWindow: 65536, tokenizer: "deepseek" },
            ],
          },
        },
      }),
      {},
    );
    expect(p?.tokenizer).toBe("qwen");
    expect(p?.models.get("prod-chat")?.tokenizer).toBe("qwen");
    expect(p?.models.get("prod-coder")?.tokenizer).toBe("deepseek");
    const bad = llmProxyConfig.safeParse({ providers: { local: { tokenizer: "gpt2" } } });
    expect(bad.success).toBe(false);
    expect(JSON.stringify(bad.error?.issues)).toContain("expected one of openai, claude, gemini");
  });
});
