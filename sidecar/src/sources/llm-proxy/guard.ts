import type { IncomingHttpHeaders } from "node:http";
import type { Logger } from "@clawguard/shared/log";
import type { SpillStore } from "../exec-guard/spill.ts";
import {
  type Calibration,
  type Correction,
  type Counted,
  estimateOf,
  rawBudget,
  topOf,
} from "./calibration.ts";
import type { LlmProxyConfig } from "./config.ts";
import { asRecord, type Conversation, type Counter, type Overflow } from "./family.ts";
import { WORKER_MIN_BYTES } from "./guard-pool.ts";
import { upperBound } from "./http.ts";
import { nestsDeeper } from "./json-layout.ts";
import { modelLimitsOf, type Provider } from "./providers.ts";
import { PreviewBudget, spillToolOutput } from "./tool-output.ts";
import { type TrimResult, trimConversation } from "./trim.ts";

export interface Tokenizer extends Counter {
  /** Which counter: "o200k_base", "estimate:wide", ... (shown in /readyz and in the logs). */
  name: string;
  /** Whether counts are the provider's own (a real tokenizer) or an estimate. */
  exact: boolean;
  /** How far its counts may be off, relative (the share of the window kept free for it). */
  margin: number;
}

/**
 * Where a request stands against its model's window: "fits" (even at the top of its error bound),
 * "unsure" (over only if the count is off towards the top of its bound), "over" (over even at the
 * bottom of its bound: the only case the guard refuses).
 */
export type Band = "fits" | "unsure" | "over";

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

/** The retry's trim (when it made the request fit) and the request's count it trimmed from. */
export interface Harder {
  trim?: TrimResult | undefined;
  counted?: Counted | undefined;
}

/**
 * The context guard's decision for one request: count it (with the calibration's correction), and
 * when it may be over the model's window, make it fit. Confidently over: spill tool outputs, then
 * drop old turns, and refuse in the provider's own overflow shape only if it is still confidently
 * over. Unsure: only spill (what is safe: the outputs stay readable) and send; the provider's own
 * overflow answer, if it comes, is retried trimmed harder. Never worse than no guard.
 */
export function createGuard(deps: GuardDeps) {
  const { config, log } = deps;

  function limitsOf(provider: Provider, model: string) {
    return (
      modelLimitsOf(provider, model) ??
      (provider.defaultContextWindow ? { contextWindow: provider.defaultContextWindow } : undefined)
    );
  }

  async function guard(
    provider: Provider,
    text: string,
    body: Record<string, unknown>,
    headers: IncomingHttpHeaders = {},
  ): Promise<Guarded> {
    const model = typeof body.model === "string" ? body.model : undefined;
    const guarded: Guarded = {
      model,
      stream: body.stream === true,
      body,
      requestedReserve: provider.family.outputReserve(body),
    };
    const limits = model !== undefined ? limitsOf(provider, model) : undefined;
    if (!limits || model === undefined) return guarded; // nothing known to guard against
    const family = provider.family;
    const reserve = family.outputReserve(body) ?? limits.maxTokens ?? config.defaultReserveTokens;
    const counter = deps.tokenizerFor(model, text.length, provider);
    const bound = config.marginRatio ?? counter.margin;
    const room = limits.contextWindow - reserve;
    const quick = withDigits(
      deps.calibration.correction(provider.id, model, counter.name, bound),
      counter,
      text,
    );
    Object.assign(guarded, {
      reserve,
      counter,
      band: "fits",
      correction: quick,
      budget: rawBudget(room, quick),
    });
    // Cannot be over whatever its prefix: no need to count. (A learnt prefix only ever counts less.)
    if (!deps.alwaysCount && upperBound(text) <= rawBudget(room, quick) && quick.from !== "prefix")
      return guarded;
    const decidedBy = counter.exact ? fitsByEstimate(provider, model, text, body, room, quick) : undefined;
    if (decidedBy !== undefined) {
      deps.calibration.note(provider.id, model, { name: counter.name, bound });
      guarded.decidedBy = decidedBy;
      return guarded;
    }
    const conversation: Conversation | undefined = family.conversation(body, text, counter);
    if (!conversation) return guarded;
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
    if (guarded.band === "unsure" && deps.countByProvider) {
      const exact = await deps.countByProvider(provider, body, headers);
      if (exact !== undefined) {
        guarded.providerCount = exact;
        deps.calibration.record(provider.id, model, { name: counter.name, bound }, counted, exact);
        guarded.band = exact <= room ? "fits" : "over";
      }
    }
    if (guarded.band === "fits") return guarded;
    const trim = await trimConversation(family, text, conversation, {
      budget,
      spillAboveTokens: config.spillToolOutputsAboveTokens,
      counter,
      dropTurns: guarded.band === "over",
      spill: spillFor(provider, model),
    });
    guarded.trim = trim;
    if (trim.changed) guarded.counted = { prefix: counted.prefix, total: trim.tokensAfter };
    // Over at the low end of its bound, by an exact counter's calibrated count and by its own (usage
    // that overstates the prompt, a gateway counting the cache twice, must not refuse what would
    // fit), or over by the provider's own count with nothing trimmed away.
    const own = { ...correction, offset: 0, ratio: 1, bound, prefixRaw: 0, prefixError: 0 };
    const overByCount =
      bandOf(trim.tokensAfter, room, correction) === "over" && bandOf(trim.tokensAfter, room, own) === "over";
    const stillOver =
      (overByCount && (counter.exact || surelyOver(trim.tokensAfter, room, correction))) ||
      (!trim.changed && (guarded.providerCount ?? 0) > room);
    report(provider, guarded, trim, stillOver);
    if (stillOver) {
      deps.counted(provider, "refused");
      const prompt = Math.ceil(estimateOf(trim.tokensAfter, correction).estimate);
      guarded.refusal = family.overflowError(limits.contextWindow, prompt, reserve);
    }
    return guarded;
  }

  /**
   * Whether the family's estimate already says the request fits: its count at the top of its own
   * error bound (what the exact count could at most be) stays within `room` even under the exact
   * counter's correction (`quick`: the calibrated ratio and bound of whole requests): the estimate's
   * name, and the exact counter need not count before the call; else undefined.
   */
  function fitsByEstimate(
    provider: Provider,
    model: string,
    text: string,
    body: Record<string, unknown>,
    room: number,
    quick: Correction,
  ): string | undefined {
    const estimate = deps.estimateFor?.(model, provider);
    if (!estimate || estimate.exact) return undefined;
    const rough = provider.family.conversation(body, text, estimate);
    if (!rough) return undefined;
    const exactAtMost = countedOf(rough).total * (1 + estimate.margin);
    return bandOf(exactAtMost, room, quick) === "fits" ? estimate.name : undefined;
  }

  /** Logs (info) and records what the guard did: every trim and every refusal, with its numbers. */
  function report(provider: Provider, guarded: Guarded, trim: TrimResult, refused: boolean): void {
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
      log.info("llm request trimmed", {
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
      log.info("llm request refused: over the model's window even at the low end of the count", facts);
    else if (!trim.fits)
      log.info("llm request sent unsure: it may be over the window; the provider decides", facts);
  }

  /**
   * After the provider's own overflow error: trim to a budget scaled by how far off our count was
   * (a big request in the worker, deps.away), and learn from the provider's count.
   */
  async function trimHarder(
    provider: Provider,
    text: string,
    guarded: Guarded,
    overflow: Overflow,
  ): Promise<TrimResult | undefined> {
    let done: Harder | undefined;
    if (deps.away && text.length >= WORKER_MIN_BYTES) {
      done = await deps.away.trimHarder(provider, text, guarded, overflow).catch((err: unknown) => {
        log.warn("llm retry trimmed here: the guard worker failed", {
          provider: provider.id,
          error: (err as Error).message,
        });
        return undefined;
      });
    }
    done ??= await harder(provider, text, guarded, overflow);
    if (done.counted) learnFromOverflow(provider, guarded, done.counted, overflow);
    return done.trim;
  }

  /** trimHarder's work, wherever it runs: the trim when it made the request fit, and the count. */
  async function harder(
    provider: Provider,
    text: string,
    guarded: Guarded,
    overflow: Overflow,
  ): Promise<Harder> {
    const { counter, budget } = guarded;
    if (!counter || budget === undefined) return {};
    const conversation = provider.family.conversation(
      JSON.parse(text) as Record<string, unknown>,
      text,
      counter,
    );
    if (!conversation) return {};
    const counted = countedOf(conversation);
    const trim = await trimConversation(provider.family, text, conversation, {
      budget: Math.floor(Math.min(counted.total, budget) * overflowScale(guarded, overflow)),
      spillAboveTokens: config.spillToolOutputsAboveTokens,
      counter,
      spill: spillFor(provider, guarded.model),
    });
    if (!(trim.fits && trim.changed)) return { counted };
    log.info("llm request trimmed after the provider's overflow answer", {
      provider: provider.id,
      model: guarded.model,
      counter: counter.name,
      tokens_before: trim.tokensBefore,
      tokens_after: trim.tokensAfter,
      provider_limit: overflow.limit ?? null,
      provider_requested: overflow.requested ?? null,
    });
    return { trim, counted };
  }

  /**
   * The provider's own count of the prompt in its overflow answer is a calibration sample like its
   * usage, and the best there is: of this very content (a ratio learnt on prose is no ratio for hex).
   */
  function learnFromOverflow(
    provider: Provider,
    guarded: Guarded,
    counted: Counted,
    overflow: Overflow,
  ): void {
    const { counter, model } = guarded;
    if (!counter || model === undefined || overflow.prompt === undefined) return;
    const bound = config.marginRatio ?? counter.margin;
    deps.calibration.record(provider.id, model, { name: counter.name, bound }, counted, overflow.prompt);
  }

  /** The request's raw count for calibration, when the guard did not count it before sending. */
  function countAfter(provider: Provider, guarded: Guarded, text: string): Counted | undefined {
    if (!guarded.counter || !guarded.body) return undefined;
    const conversation = provider.family.conversation(guarded.body, text, guarded.counter);
    return conversation && countedOf(conversation);
  }

  /** Spills for one trim: its previews share one redaction allowance (PREVIEW_REDACT_CHARS). */
  function spillFor(provider: Provider, model: string | undefined) {
    const budget = new PreviewBudget();
    return (output: string, tokens: number) =>
      spillToolOutput(
        deps.spill,
        output,
        tokens,
        {
          agent: deps.agent,
          origin: `tool output in a ${provider.id} request (${model ?? "unknown model"})`,
        },
        budget,
      );
  }

  return { guard, trimHarder, harder, countAfter };
}

/** How far from 1 an exact counter's calibrated ratio may be and its provider still count as it does. */
const SAME_TOKENIZER = 0.1;
const DIGITS = "8301947265".repeat(30);
const digitCosts = new Map<string, number>();

/** What a digit costs `counter` (o200k: about a third of a token; Qwen, and the unknown estimate: one). */
function digitCost(counter: Tokenizer): number {
  let cost = digitCosts.get(counter.name);
  if (cost === undefined) {
    cost = counter.count(DIGITS) / DIGITS.length;
    digitCosts.set(counter.name, cost);
  }
  return cost;
}

/**
 * `c` with the digits' own error: a ratio learnt on prose says nothing of digits, which some
 * tokenizers group by three (o200k, Llama 3, DeepSeek) and others count one by one (Qwen, Gemma).
 * No tokenizer counts an ASCII digit as more than one token, so when the provider may not be the
 * counter's (an estimate for a name in no table, or an exact counter whose calibrated ratio says
 * its provider counts otherwise), the top of the count's error allows a token per digit and one
 * per number. Within SAME_TOKENIZER of 1, an exact counter is the provider's own, digits and all.
 */
export function withDigits(c: Correction, counter: Tokenizer, text: string): Correction {
  const foreign = counter.exact
    ? c.from !== "none" && Math.abs(c.ratio - 1) > SAME_TOKENIZER
    : counter.name === "estimate:unknown" || c.from !== "none";
  if (!foreign) return c;
  const perDigit = c.ratio * digitCost(counter);
  if (perDigit >= 1) return c;
  let digits = 0;
  let numbers = 0;
  let inNumber = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text.charCodeAt(i);
    const digit = ch >= 48 && ch <= 57;
    if (digit) digits++;
    if (digit && !inNumber) numbers++;
    inNumber = digit;
  }
  // A token per digit, and one per number for what follows it (`seq` output: "123\n" is four tokens
  // to Qwen), less what the corrected count gives the digits already.
  return digits === 0 ? c : { ...c, digitError: Math.ceil(digits * (1 - perDigit) + numbers) };
}

/**
 * The most an estimate was measured to overcount a kind of content (the unknown estimate, 9-digit
 * numbers against o200k: 2.4x, 2.8x before its refit). Its bound holds below the real count only.
 */
export const ESTIMATE_MAX_OVER = 3;

/** Over even if the estimate counted ESTIMATE_MAX_OVER times too many: then it is sure. */
function surelyOver(raw: number, room: number, correction: Correction): boolean {
  return bandOf(raw / ESTIMATE_MAX_OVER, room, correction) === "over";
}

/** Where `raw` counted tokens stand against `room`, given the correction and its error. */
export function bandOf(raw: number, room: number, correction: Correction): Band {
  const { estimate, error } = estimateOf(raw, correction);
  if (topOf(raw, correction) <= room) return "fits";
  if (estimate - error > room) return "over";
  return "unsure";
}

/**
 * A conversation's raw count: whole, and its stable prefix for calibration (what is outside the
 * conversation array, system prompt and tools, and its leading system/developer messages).
 */
export function countedOf(conversation: Conversation): Counted {
  let prefix = conversation.fixedTokens - (conversation.unprefixed ?? 0);
  let total = conversation.fixedTokens;
  let leading = true;
  for (const item of conversation.items) {
    total += item.tokens;
    const role = asRecord(item.value)?.role;
    leading &&= role === "system" || role === "developer";
    if (leading) prefix += item.tokens;
  }
  return { prefix, total };
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

/**
 * How much of what was sent to keep after the provider's overflow answer: its prompt room (its window
 * less the completion it counted, else the guard's reserve) over its count of the prompt, with 5 %
 * to spare (a trim is not linear in tokens); 0.8 when it gave no numbers, at most 0.9.
 */
export function overflowScale(guarded: Guarded, overflow: Overflow): number {
  const { limit, requested, prompt } = overflow;
  const completion =
    requested !== undefined && prompt !== undefined ? requested - prompt : (guarded.reserve ?? 0);
  let scale = 0.8;
  if (limit && prompt) scale = (Math.max(0, limit - completion) / prompt) * 0.95;
  else if (limit && requested) scale = (limit / requested) * 0.95;
  return Math.min(scale, 0.9);
}
