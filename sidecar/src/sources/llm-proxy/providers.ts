import { resolveSecret } from "@clawguard/shared/config/load";
import { ClawguardError } from "@clawguard/shared/errors";
import type { TokenizerChoice } from "@clawguard/shared/tokens";
import { type OpenClawFile, readOpenClawFile } from "../../openclaw-file.ts";
import { anthropicMessages } from "./anthropic-messages.ts";
import type { LlmProxyConfig, ProviderConfig } from "./config.ts";
import type { ApiFamily, Family } from "./family.ts";
import { openAiChat } from "./openai-chat.ts";
import { openAiResponses } from "./openai-responses.ts";

export const FAMILIES: Record<ApiFamily, Family> = {
  "openai-completions": openAiChat,
  "openai-responses": openAiResponses,
  "anthropic-messages": anthropicMessages,
};

export interface ModelLimits {
  contextWindow: number;
  maxTokens?: number | undefined;
  /** The model's `tokenizer:` setting, or else its provider's. */
  tokenizer?: TokenizerChoice | undefined;
}

/** A provider as the proxy uses it: everything resolved and checked. */
export interface Provider {
  id: string;
  family: Family;
  upstream: URL;
  /** The credential injected upstream, when the config holds one. */
  apiKey?: string | undefined;
  models: ReadonlyMap<string, ModelLimits>;
  defaultContextWindow?: number | undefined;
  countEndpoint?: { kind: "anthropic" | "vllm"; timeoutMs: number } | undefined;
  /** The provider's `tokenizer:` setting (for models it does not list). */
  tokenizer?: TokenizerChoice | undefined;
}

/** A provider of OpenClaw's config; `viaSidecar` when its baseUrl already points at a sidecar. */
type OpenClawProvider = ProviderConfig & { viaSidecar: boolean };

/** `models.providers` of an OpenClaw config, in the fields the guard needs. */
function readOpenClawProviders(
  file: string,
  read: OpenClawFile,
  problems: string[],
  openclawProblems: string[],
): Record<string, OpenClawProvider> {
  if (read.state === "pending") return {};
  if (read.state === "broken") {
    // No such file in no such folder is a wrong path (the sidecar's config); anything else is the file's.
    (read.missing ? problems : openclawProblems).push(`llm.openclawConfig: ${read.why}`);
    return {};
  }
  const doc = read.doc;
  const providers = (doc as { models?: { providers?: unknown } } | null)?.models?.providers;
  if (providers === undefined) return {};
  if (typeof providers !== "object" || providers === null) {
    openclawProblems.push(`llm.openclawConfig: models.providers in ${file} is not an object`);
    return {};
  }
  const out: Record<string, OpenClawProvider> = {};
  for (const [id, raw] of Object.entries(providers as Record<string, Record<string, unknown>>))
    out[id] = openClawProvider(raw);
  return out;
}

/** One provider of `models.providers`: its models with a context window, its URL and API when given. */
function openClawProvider(raw: Record<string, unknown> | undefined): OpenClawProvider {
  const models: ProviderConfig["models"] = [];
  for (const m of Array.isArray(raw?.models) ? raw.models : []) {
    const model = m as Record<string, unknown>;
    if (typeof model.id === "string" && typeof model.contextWindow === "number") {
      models.push({
        id: model.id,
        contextWindow: model.contextWindow,
        ...(typeof model.maxTokens === "number" ? { maxTokens: model.maxTokens } : {}),
      });
    }
  }
  const baseUrl = typeof raw?.baseUrl === "string" ? raw.baseUrl : undefined;
  const viaSidecar = baseUrl !== undefined && /\/llm\/[^/]+\/?$/.test(baseUrl);
  return {
    viaSidecar,
    // A baseUrl that already points at a clawguard sidecar is not the upstream.
    ...(baseUrl && !viaSidecar ? { upstream: baseUrl } : {}),
    ...(typeof raw?.api === "string" ? { api: raw.api as ApiFamily } : {}),
    models,
  };
}

/**
 * Every provider of the config, with the OpenClaw config's underneath; lists every problem at once.
 * While the OpenClaw config is not there yet (`openclawConfigPending`), a provider that needs it
 * for its URL or API is left out, saying so, instead of stopping the sidecar.
 * A provider only OpenClaw's config names, whose calls do not come through the sidecar (its baseUrl
 * points elsewhere), is not guarded when it cannot be (an API the guard does not speak, no URL):
 * it goes into `skipped` with why, instead of stopping the sidecar.
 */
export function resolveProviders(
  config: LlmProxyConfig,
  env: NodeJS.ProcessEnv,
  skipped: string[] = [],
  openclawProblems: string[] = [],
): Provider[] {
  const problems: string[] = [];
  const read = config.openclawConfig ? readOpenClawFile(config.openclawConfig) : undefined;
  const pending = read?.state === "pending";
  // openclaw.json is the agent's to write: what is wrong in it leaves its providers unguarded (and
  // the agent degraded, see LlmGuard), never stops the sidecar. The sidecar's own config does.
  const fromOpenClaw =
    config.openclawConfig && read
      ? readOpenClawProviders(config.openclawConfig, read, problems, openclawProblems)
      : {};
  const lists: Lists = {
    problems,
    openclawProblems,
    skipped,
    // Read before any provider adds to it.
    waitFor: pending ? "there" : openclawProblems.length > 0 ? "readable" : undefined,
  };
  const ids = new Set([...Object.keys(fromOpenClaw), ...Object.keys(config.providers)]);
  const providers: Provider[] = [];
  for (const id of ids) {
    const provider = resolveProvider(id, config, fromOpenClaw[id], env, lists);
    if (provider) providers.push(provider);
  }
  if (problems.length > 0) {
    throw new ClawguardError(
      "config.invalid",
      `llm proxy config has ${problems.length} problem(s):\n  - ${problems.join("\n  - ")}`,
    );
  }
  return providers;
}

/** Where resolveProviders puts what it finds. */
interface Lists {
  /** The sidecar's config's: it refuses to start. */
  problems: string[];
  /** openclaw.json's: its providers go unguarded until it is fixed. */
  openclawProblems: string[];
  skipped: string[];
  /** What openclaw.json must become before the providers that need it are guarded, if anything. */
  waitFor: "there" | "readable" | undefined;
}

/** One provider, its own settings over OpenClaw's; undefined when it is not guarded (said in `lists`). */
function resolveProvider(
  id: string,
  config: LlmProxyConfig,
  base: OpenClawProvider | undefined,
  env: NodeJS.ProcessEnv,
  lists: Lists,
): Provider | undefined {
  const { problems, skipped, waitFor } = lists;
  const own = config.providers[id];
  const where = own ? `llm.providers.${id}` : `models.providers.${id} in ${config.openclawConfig}`;
  const upstream = own?.upstream ?? base?.upstream;
  const api = own?.api ?? base?.api;
  if (waitFor && (!upstream || !api)) {
    skipped.push(
      `${id}: not guarded until ${config.openclawConfig} is ${waitFor} (its ${!upstream ? "URL" : "api"} comes from it)`,
    );
    return undefined;
  }
  if (!own && !base?.viaSidecar && (!upstream || !api || !(api in FAMILIES))) {
    const why = !upstream ? "no baseUrl" : `api ${JSON.stringify(api)} is not one the guard speaks`;
    skipped.push(`${id}: not guarded (${why}); its calls go straight to the provider`);
    return undefined;
  }
  const wrong = own ? problems : lists.openclawProblems;
  if (!upstream)
    wrong.push(
      `${where}.upstream: required (the provider's real base URL${own ? "" : `: set llm.providers.${id}.upstream`})`,
    );
  if (!api || !(api in FAMILIES)) {
    wrong.push(
      `${where}.api: expected one of ${Object.keys(FAMILIES).join(", ")}, got ${JSON.stringify(api)}`,
    );
  }
  if (!upstream || !api || !(api in FAMILIES)) return undefined;
  let apiKey: string | undefined;
  try {
    apiKey = resolveSecret(own?.apiKey, env, `llm.providers.${id}.apiKey`);
  } catch (err) {
    problems.push((err as Error).message);
  }
  return {
    id,
    family: FAMILIES[api],
    upstream: new URL(upstream.endsWith("/") ? upstream : `${upstream}/`),
    apiKey,
    models: modelsOf(base, own),
    defaultContextWindow: own?.defaultContextWindow,
    countEndpoint: own?.countEndpoint,
    tokenizer: own?.tokenizer,
  };
}

/** A provider's models: OpenClaw's, with its own settings over them (and its tokenizer by default). */
function modelsOf(
  base: OpenClawProvider | undefined,
  own: ProviderConfig | undefined,
): Map<string, ModelLimits> {
  const models = new Map<string, ModelLimits>();
  for (const m of [...(base?.models ?? []), ...(own?.models ?? [])]) {
    const tokenizer = m.tokenizer ?? own?.tokenizer;
    models.set(m.id, { contextWindow: m.contextWindow, maxTokens: m.maxTokens, tokenizer });
  }
  return models;
}

/**
 * A listed model's limits by the name a request gives: exactly, else ignoring case, else without
 * a `:latest` tag (Ollama's default). A dated or otherwise different name is another model.
 */
export function modelLimitsOf(provider: Provider, model: string): ModelLimits | undefined {
  const exact = provider.models.get(model);
  if (exact) return exact;
  const wanted = model.toLowerCase().replace(/:latest$/, "");
  for (const [id, limits] of provider.models)
    if (id.toLowerCase().replace(/:latest$/, "") === wanted) return limits;
  return undefined;
}
