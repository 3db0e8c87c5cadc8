import { describe, expect, it } from "vitest";
import { llmProxyConfig } from "./config.ts";
import type { Provider } from "./providers.ts";
import { resolveProviders } from "./providers.ts";
import { EXACT_COUNT_MAX_BYTES, tokenizerFor, tokenizerSetting } from "./tokenizer.ts";

describe("the guard's tokenizer", () => {
  it("counts exactly up to EXACT_COUNT_MAX_BYTES, then with the family's estimate and its error bound", () => {
    const small = tokenizerFor("gpt-4.1", 1000);
    expect(small).toMatchObject({ name: "o200k_base", exact: true, margin: 0.02 });
    const big = tokenizerFor("gpt-4.1", EXACT_COUNT_MAX_BYTES + 1);
    expect(big).toMatchObject({ name: "estimate:openai", family: "openai", exact: false });
    expect(big.margin).toBe(big.errorBound);
    expect(big.margin).toBeGreaterThan(0.1);
    // An estimate is what it is at any size.
    expect(tokenizerFor("glm-4.6", EXACT_COUNT_MAX_BYTES + 1)).toBe(tokenizerFor("glm-4.6", 10));
  });

  it("lets a model's tokenizer setting win over its name", () => {
    const providers = resolveProviders(
      llmProxyConfig.parse({
        providers: {
          a: {
            upstream: "http://127.0.0.1:9/v1",
            api: "openai-completions",
            tokenizer: "claude-4.7",
            models: [{ id: "gpt-4o-proxy", contextWindow: 128000 }],
          },
          b: {
            upstream: "http://127.0.0.1:9/v1",
            api: "openai-completions",
            models: [
              { id: "gpt-4o-proxy", contextWindow: 128000, tokenizer: "o200k_base" },
              { id: "house-model", contextWindow: 32768, tokenizer: "cl100k_base" },
            ],
          },
        },
      }),
      {},
    );
    const [a, b] = providers as [Provider, Provider];
    // Per provider: the model's own setting, else its provider's (also for a model it does not list).
    expect(tokenizerSetting(a, "gpt-4o-proxy")).toBe("claude-4.7");
    expect(tokenizerSetting(a, "unlisted")).toBe("claude-4.7");
    expect(tokenizerSetting(b, "gpt-4o-proxy")).toBe("o200k_base");
    expect(tokenizerSetting(b, "unlisted")).toBeUndefined();
    expect(tokenizerFor("house-model", 100, tokenizerSetting(b, "house-model")).name).toBe("cl100k_base");
    expect(tokenizerFor("gpt-4o-proxy", 100, tokenizerSetting(a, "gpt-4o-proxy")).name).toBe(
      "estimate:claude-4.7",
    );
    expect(tokenizerFor("gpt-4o-proxy", 100).name).toBe("o200k_base");
  });
});
