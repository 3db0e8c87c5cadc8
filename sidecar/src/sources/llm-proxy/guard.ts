import type { IncomingHttpHeaders } from "node:http";
import type { Logger } from "@clawguard/shared/log";
import type { SpillStore } from "../exec-guard/spill.ts";
import { type Band, bandOf, countedOf, surelyOver, withDigits } from "./band.ts";
import { type Calibration, type Correction, type Counted, estimateOf, rawBudget } from "./calibration.ts";
import type { LlmProxyConfig } from "./config.ts";
import { asRecord, type Conversation, type Counter, type Overflow } from "./family.ts";
import { type Harder, harder, spillFor, trimHarder } from "./guard-retry.ts";
import { upperBound } from "./http.ts";
import { nestsDeeper } from "./json-layout.ts";
import { type ModelLimits, modelLimitsOf, type Provider } from "./providers.ts";
import { type TrimResult, trimConversation } from "./trim.ts";

export type { Band } from "./band.ts";
export { bandOf, countedOf, ESTIMATE_MAX_OVER, withDigits } from "./band.ts";
export { type Harder, overflowScale } from "./guard-retry.ts";

export interface Tokenizer extends Counter {
  /** Which counter: "o200k_base", "estimate:wide", ... (shown in /readyz and in the logs). */
  name: string;
  /** Whether counts are the provider's own (a real tokenizer) or an estimate. */
  exact: boolean;
  /** How far its counts may be off, relative (the share of the window kept free for it). */
  margin: number;
}

/** What the guard decided for one generation request. */
export interface Guarded {
  model: string | undefined;
  stream: boolean;
  /**
   * The parsed request, kept for counting after the call when the guard did not count before it
   * (not when the guard ran in a worker: it always counts there).
   */
  body?: Record<string, unknown>;
  /** The output tokens the request itself reserves (max_tokens and its kin), when it says. */
  requestedReserve?: number | undefined;
  reserve?: number;
  /** Raw tokens (the counter's own units) the prompt may take, at the top of the count's error. */
  budget?: number;
  counter?: Tokenizer;
  correction?: Correction;
  band?: Band;
  /** The request as sent, in the counter's raw units, when the guard counted it. */
  counted?: Counted;
  /**
   * The estimate that decided "fits" without an exact count (the exact counter's first count runs at a
   * few MB/s; the estimate at ~100). The exact count, for calibration, comes after the call.
   */
  decidedBy?: string;
  /** The exact count, made in the guard's worker after its answer (set by the proxy). */
  countedLater?: Promise<Counted | undefined>;
  /** The provider's own count of this request, when its count endpoint answered in time. */
  providerCount?: number;
  trim?: TrimResult;
  /** The answer when the request cannot be made to fit. */
  refusal?: { status: number; body: unknown };
}

export interface GuardDeps {
  config: LlmProxyConfig;
  tokenizerFor(model: string, requestBytes: number, provider: Provider): Tokenizer;
  calibration: Calibration;
  spill: SpillStore;
  agent: string;
  /** The provider's own count of a request (its count endpoint), or undefined when it has none or is late. */
  countByProvider?(
    provider: Provider,
    body: Record<string, unknown>,
    headers: IncomingHttpHeaders,
  ): Promise<number | undefined>;
  /** Publishes an audit event. */
  event(type: string, severity: "info" | "warn", attrs: Record<string, unknown>): void;
  /** Count every request, even one that cannot be over (in a worker: the body does not come back). */
  alwaysCount?: boolean;
  /**
   * The family's estimate beside an exact counter: counted first, and when even its top fits, the
   * exact count is left for after the call (or to the worker's spare time).
   */
  estimateFor?(model: string, provider: Provider): Tokenizer;
  /** Counts a guard outcome in the provider's health. */
  counted(provider: Provider, what: "trimmed" | "refused"): void;
  /**
   * Where the retry's trim of a request of WORKER_MIN_BYTES or more runs (the guard worker, where it
   * was guarded): parsing, counting and trimming
   * megabytes again must not hold the event loop. Undefined, or an answer of undefined: here.
   */
  away?: {
    trimHarder(
      provider: Provider,
      text: string,
      guarded: Guarded,
      overflow: Overflow,
    ): Promise<Harder | undefined>;
  };
  log: Logger;
}

/**
 * The context guard's decision for one request: count it (with the calibration's correction), and
 * when it may be over the model's window, make it fit. Confidently over: spill tool outputs, then
 * drop old turns, and refuse in the provider's own overflow shape only if it is still confidently
 * over. Unsure: only spill (what is safe: the outputs stay readable) and send; the provider's own
 * overflow answer, if it comes, is retried trimmed harder. Never worse than no guard.
 */
export function createGuard(deps: GuardDeps) {
  return {
    guard: (
      provider: Provider,
      text: string,
      body: Record<string, unknown>,
      headers: IncomingHttpHeaders = {},
    ) => guard(deps, { provider, text, body, headers }),
    trimHarder: (provider: Provider, text: string, guarded: Guarded, overflow: Overflow) =>
      trimHarder(deps, provider, text, guarded, overflow),
    harder: (provider: Provider, text: string, guarded: Guarded, overflow: Overflow) =>
      harder(deps, provider, text, guarded, overflow),
    countAfter,
  };
}

/** One request as it reaches the guard. */
interface Asked {
  provider: Provider;
  text: string;
  body: Record<string, unknown>;
  headers: IncomingHttpHeaders;
}

/** The facts of one request against its model's window, passed along the guard's stages. */
interface Sized extends Asked {
  model: string;
  limits: ModelLimits;
  /** The output tokens kept free of the window, and the room left for the prompt. */
  reserve: number;
  room: number;
  counter: Tokenizer;
  /** The counter's relative error (config.marginRatio, else the counter's own margin). */
  bound: number;
}

/** The conversation's count and what it places the request at. */
interface Placed {
  counted: Counted;
  correction: Correction;
  budget: number;
}

/** Stages: size up, skip the count when it cannot be over, count, ask the provider, trim or refuse. */
async function guard(deps: GuardDeps, request: Asked): Promise<Guarded> {
  const { provider, text, body } = request;
  const model = typeof body.model === "string" ? body.model : undefined;
  const guarded: Guarded = {
    model,
    stream: body.stream === true,
    body,
    requestedReserve: provider.family.outputReserve(body),
  };
  const limits = model !== undefined ? limitsOf(provider, model) : undefined;
  if (!limits || model === undefined) return guarded; // nothing known to guard against
  const sized = sizeUp(deps, request, model, limits);
  const { counter, room, bound } = sized;
  const quick = withDigits(
    deps.calibration.correction(provider.id, model, counter.name, bound),
    counter,
    text,
  );
  Object.assign(guarded, {
    reserve: sized.reserve,
    counter,
    band: "fits",
    correction: quick,
    budget: rawBudget(room, quick),
  });
  // Cannot be over whatever its prefix: no need to count. (A learnt prefix only ever counts less.)
  if (!deps.alwaysCount && upperBound(text) <= rawBudget(room, quick) && quick.from !== "prefix")
    return guarded;
  const decidedBy = counter.exact ? fitsByEstimate(deps, sized, quick) : undefined;
  if (decidedBy !== undefined) {
    deps.calibration.note(provider.id, model, { name: counter.name, bound });
    guarded.decidedBy = decidedBy;
    return guarded;
  }
  const conversation: Conversation | undefined = provider.family.conversation(body, text, counter);
  if (!conversation) return guarded;
  const placed = place(deps, sized, conversation, guarded);
  if (guarded.band === "unsure") await askProvider(deps, sized, placed.counted, guarded);
  if (guarded.band !== "fits") await settle(deps, sized, conversation, placed, guarded);
  return guarded;
}

function limitsOf(provider: Provider, model: string): ModelLimits | undefined {
  return (
    modelLimitsOf(provider, model) ??
    (provider.defaultContextWindow ? { contextWindow: provider.defaultContextWindow } : undefined)
  );
}

/** The request against its model's window: the reserve, the room, and the counter with its bound. */
function sizeUp(deps: GuardDeps, request: Asked, model: string, limits: ModelLimits): Sized {
  const { provider, text, body } = request;
  const reserve = provider.family.outputReserve(body) ?? limits.maxTokens ?? deps.config.defaultReserveTokens;
  const counter = deps.tokenizerFor(model, text.length, provider);
  const bound = deps.config.marginRatio ?? counter.margin;
  return { ...request, model, limits, reserve, room: limits.contextWindow - reserve, counter, bound };
}

/** Counts the conversation (noted for calibration) and sets the request's band, budget and correction. */
function place(deps: GuardDeps, sized: Sized, conversation: Conversation, guarded: Guarded): Placed {
  const { provider, model, text, counter, bound, room } = sized;
  const counted = countedOf(conversation);
  deps.calibration.note(provider.id, model, { name: counter.name, bound });
  const correction = withDigits(
    deps.calibration.correction(provider.id, model, counter.name, bound, counted.prefix),
    counter,
    text,
  );
  // The digits' own error keeps a request from passing as "fits"; the trim it then gets spills the
  // outputs those digits are mostly in, so its budget leaves that error out (else one big digit
  // output sets it to 0 and nothing the trim does can fit).
  const budget = rawBudget(room, { ...correction, digitError: 0 });
  // An estimate's bound holds below the real count only: above it, it may be far off (the unknown
  // estimate counts 9-digit numbers 2.4x o200k, a ratio learnt on prose is no ratio for hex). It is
  // "over" only when it would be at ESTIMATE_MAX_OVER times too many; short of that only what is
  // safe is trimmed, and the provider decides.
  const band = bandOf(counted.total, room, correction);
  const sure = counter.exact || surelyOver(counted.total, room, correction);
  Object.assign(guarded, { counted, correction, budget, band: band === "over" && !sure ? "unsure" : band });
  return { counted, correction, budget };
}

/** An unsure request's band by the provider's own count (its count endpoint), when it answers in time. */
async function askProvider(deps: GuardDeps, sized: Sized, counted: Counted, guarded: Guarded): Promise<void> {
  if (!deps.countByProvider) return;
  const { provider, model, counter, bound } = sized;
  const exact = await deps.countByProvider(provider, sized.body, sized.headers);
  if (exact === undefined) return;
  guarded.providerCount = exact;
  deps.calibration.record(provider.id, model, { name: counter.name, bound }, counted, exact);
  guarded.band = exact <= sized.room ? "fits" : "over";
}

/**
 * Makes a request that may be over fit: spill tool outputs, and when it is "over", drop old turns;
 * refused in the provider's own overflow shape when it is still over after the trim.
 */
async function settle(
  deps: GuardDeps,
  sized: Sized,
  conversation: Conversation,
  placed: Placed,
  guarded: Guarded,
): Promise<void> {
  const { provider, text, counter } = sized;
  const trim = await trimConversation(provider.family, text, conversation, {
    budget: placed.budget,
    spillAboveTokens: deps.config.spillToolOutputsAboveTokens,
    counter,
    dropTurns: guarded.band === "over",
    spill: spillFor(deps, provider, sized.model),
  });
  guarded.trim = trim;
  if (trim.changed) guarded.counted = { prefix: placed.counted.prefix, total: trim.tokensAfter };
  const refused = stillOver(sized, placed.correction, trim, guarded.providerCount);
  report(deps, provider, guarded, trim, refused);
  if (refused) {
    deps.counted(provider, "refused");
    const prompt = Math.ceil(estimateOf(trim.tokensAfter, placed.correction).estimate);
    guarded.refusal = provider.family.overflowError(sized.limits.contextWindow, prompt, sized.reserve);
  }
}

/**
 * Over at the low end of its bound, by an exact counter's calibrated count and by its own (usage
 * that overstates the prompt, a gateway counting the cache twice, must not refuse what would
 * fit), or over by the provider's own count with nothing trimmed away.
 */
function stillOver(
  sized: Sized,
  correction: Correction,
  trim: TrimResult,
  providerCount: number | undefined,
): boolean {
  const { counter, room, bound } = sized;
  const own = { ...correction, offset: 0, ratio: 1, bound, prefixRaw: 0, prefixError: 0 };
  const overByCount =
    bandOf(trim.tokensAfter, room, correction) === "over" && bandOf(trim.tokensAfter, room, own) === "over";
  return (
    (overByCount && (counter.exact || surelyOver(trim.tokensAfter, room, correction))) ||
    (!trim.changed && (providerCount ?? 0) > room)
  );
}

/**
 * Whether the family's estimate already says the request fits: its count at the top of its own
 * error bound (what the exact count could at most be) stays within the room even under the exact
 * counter's correction (`quick`: the calibrated ratio and bound of whole requests): the estimate's
 * name, and the exact counter need not count before the call; else undefined.
 */
function fitsByEstimate(deps: GuardDeps, sized: Sized, quick: Correction): string | undefined {
  const { provider, model, body, text, room } = sized;
  const estimate = deps.estimateFor?.(model, provider);
  if (!estimate || estimate.exact) return undefined;
  const rough = provider.family.conversation(body, text, estimate);
  if (!rough) return undefined;
  const exactAtMost = countedOf(rough).total * (1 + estimate.margin);
  return bandOf(exactAtMost, room, quick) === "fits" ? estimate.name : undefined;
}

/** Logs (info) and records what the guard did: every trim and every refusal, with its numbers. */
function report(
  deps: GuardDeps,
  provider: Provider,
  guarded: Guarded,
  trim: TrimResult,
  refused: boolean,
): void {
  const { correction, counter } = guarded;
  const facts = {
    provider: provider.id,
    model: guarded.model,
    band: guarded.band,
    budget: guarded.budget,
    reserve: guarded.reserve,
    tokens_before: trim.tokensBefore,
    tokens_after: trim.tokensAfter,
    counter: counter?.name,
    ratio: correction?.ratio,
    bound: correction?.bound,
    calibration_samples: correction?.samples,
    calibration: correction?.from,
    provider_count: guarded.providerCount ?? null,
  };
  if (trim.changed) {
    deps.counted(provider, "trimmed");
    deps.log.info("llm request trimmed", {
      ...facts,
      spilled: trim.spilled.length,
      dropped_items: trim.droppedItems,
    });
    deps.event("llm.trimmed", "warn", {
      ...facts,
      fits: trim.fits,
      spilled: trim.spilled.map((s) => s.id),
      spilled_tokens: trim.spilled.reduce((n, s) => n + s.tokens, 0),
      dropped_items: trim.droppedItems,
      dropped_tokens: trim.droppedTokens,
      exact_count: counter?.exact ?? false,
    });
  }
  if (refused)
    deps.log.info("llm request refused: over the model's window even at the low end of the count", facts);
  else if (!trim.fits)
    deps.log.info("llm request sent unsure: it may be over the window; the provider decides", facts);
}

/** The request's raw count for calibration, when the guard did not count it before sending. */
function countAfter(provider: Provider, guarded: Guarded, text: string): Counted | undefined {
  if (!guarded.counter || !guarded.body) return undefined;
  const conversation = provider.family.conversation(guarded.body, text, guarded.counter);
  return conversation && countedOf(conversation);
}

export type Guard = ReturnType<typeof createGuard>;

/** Deeper than any request an agent sends (JSON Schemas of tools nest ~10 levels); the walk is recursive. */
const MAX_JSON_DEPTH = 256;

/**
 * A generation request's body, parsed and guarded: `invalid` says why it is not JSON this guard
 * may walk (the provider would refuse it too: answered 400); a body that is JSON but not an object
 * has no `guarded` and passes through for the provider to judge.
 */
export async function guardRequest(
  guard: Guard,
  provider: Provider,
  text: string,
  headers: IncomingHttpHeaders,
): Promise<{ invalid?: string; guarded?: Guarded }> {
  let body: unknown;
  try {
    if (nestsDeeper(text, MAX_JSON_DEPTH)) throw new Error(`it nests deeper than ${MAX_JSON_DEPTH} levels`);
    body = JSON.parse(text);
  } catch (err) {
    return { invalid: (err as Error).message };
  }
  const record = asRecord(body);
  return record ? { guarded: await guard.guard(provider, text, record, headers) } : {};
}
