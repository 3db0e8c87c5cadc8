import { bool, bytes, httpUrl, int, secretRef } from "@clawguard/shared/config/fields";
import { TOKENIZER_CHOICES } from "@clawguard/shared/tokens";
import { z } from "zod";
import { API_FAMILIES } from "./family.ts";

const providerId = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/, { error: "expected 1-63 chars of [A-Za-z0-9_.-]" });

/**
 * How the guard counts a model's tokens, when its name does not say (a custom deployment name) or says
 * wrong: a family ("qwen", "llama", "deepseek", "gemini", "claude", "mistral", "glm", "kimi", "minimax",
 * "openai", "unknown"), "o200k_base" / "cl100k_base", or "claude-4.7".
 */
const tokenizer = z.enum(TOKENIZER_CHOICES, { error: `expected one of ${TOKENIZER_CHOICES.join(", ")}` });

export const modelLimits = z.strictObject({
  id: z.string().min(1),
  /** The model's context window in tokens. */
  contextWindow: int(256, 100_000_000),
  /** Output tokens to keep free when the request does not say (OpenClaw's `maxTokens`). */
  maxTokens: int(1, 10_000_000).optional(),
  /** Overrides the tokenizer the model's name implies (and the provider's `tokenizer`). */
  tokenizer: tokenizer.optional(),
});

/**
 * The provider's own token count, asked for requests the guard is unsure about (near the window):
 * `anthropic` is `POST /v1/messages/count_tokens`; `vllm` is vLLM's `POST /tokenize` (chat messages,
 * at the upstream's origin). Within `timeoutMs`, else the guard decides on its own count.
 */
export const countEndpointConfig = z.strictObject({
  kind: z.enum(["anthropic", "vllm"], { error: "expected anthropic or vllm" }),
  timeoutMs: int(10, 60_000).default(500),
});

/** A provider's models, each listed once: two entries for one id would leave which limits apply to the list's order. */
const modelList = z
  .array(modelLimits)
  .default([])
  .superRefine((models, ctx) => {
    const seen = new Map<string, number>();
    models.forEach((m, i) => {
      const first = seen.get(m.id);
      if (first === undefined) seen.set(m.id, i);
      else
        ctx.addIssue({
          code: "custom",
          path: [i, "id"],
          input: m.id,
          message: `duplicate model ${JSON.stringify(m.id)} (first listed at models.${first}): list each model once`,
        });
    });
  });

export const providerConfig = z.strictObject({
  /** The provider's real base URL, e.g. https://api.openai.com/v1 (paths after /llm/<id>/ are appended). */
  upstream: httpUrl.optional(),
  api: z.enum(API_FAMILIES, { error: `expected one of ${API_FAMILIES.join(", ")}` }).optional(),
  /** Injected upstream instead of the client's credential, when set. */
  apiKey: secretRef.optional(),
  models: modelList,
  /** The tokenizer for all of this provider's models, unless a model sets its own. */
  tokenizer: tokenizer.optional(),
  /** For models not listed; none means requests for unlisted models pass through unguarded. */
  defaultContextWindow: int(256, 100_000_000).optional(),
  countEndpoint: countEndpointConfig.optional(),
});

export const llmProxyConfig = z
  .strictObject({
    /** Provider id (the `<id>` in /llm/<id>/...) to its definition; merged over openclawConfig's. */
    providers: z.record(providerId, providerConfig).default({}),
    /** An OpenClaw openclaw.json (JSON5) whose `models.providers` supply api, models and upstream URLs. */
    openclawConfig: z.string().min(1).optional(),
    /** Share of the context window kept free for counting error (exact tokenizers need little). */
    marginRatio: z.number().min(0).max(0.5).optional(),
    /** Tool outputs above this many tokens are spilled first when a request is over budget. */
    spillToolOutputsAboveTokens: int(64, 10_000_000).default(2048),
    /** Output reserve when neither the request nor the model says. */
    defaultReserveTokens: int(1, 10_000_000).default(4096),
    maxRequestBytes: bytes(1024, 1024 * 1024 * 1024).default(64 * 1024 * 1024),
    /** Request bodies being received at once, all requests together; beyond it, 503 with Retry-After. */
    maxPendingBodyBytes: bytes(1024 * 1024, 16 * 1024 * 1024 * 1024).default(256 * 1024 * 1024),
    /** After a provider's own overflow error (nothing sent yet), trim harder and retry once. */
    retryOnOverflow: bool.default(true),
    /** How often each provider's credentials are checked; 0 turns the checks off. */
    authCheckIntervalMs: int(0, 86_400_000).default(15 * 60 * 1000),
    /** Until the response headers arrive (a long prompt can take minutes to start). */
    headersTimeoutMs: int(1000, 3_600_000).default(600_000),
    /** Between two chunks of a response. */
    bodyTimeoutMs: int(1000, 3_600_000).default(300_000),
    /** Put message content on spans (off: only counts, models and reasons). */
    captureContent: bool.default(false),
  })
  .prefault({});

export type LlmProxyConfig = z.output<typeof llmProxyConfig>;
export type ProviderConfig = z.output<typeof providerConfig>;
