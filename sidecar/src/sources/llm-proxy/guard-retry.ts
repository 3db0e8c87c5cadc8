import { countedOf } from "./band.ts";
import type { Counted } from "./calibration.ts";
import type { Overflow } from "./family.ts";
import type { GuardDeps, Guarded } from "./guard.ts";
import { WORKER_MIN_BYTES } from "./guard-pool.ts";
import type { Provider } from "./providers.ts";
import { PreviewBudget, spillToolOutput } from "./tool-output.ts";
import { type TrimResult, trimConversation } from "./trim.ts";

/** The retry's trim (when it made the request fit) and the request's count it trimmed from. */
export interface Harder {
  trim?: TrimResult | undefined;
  counted?: Counted | undefined;
}

/**
 * After the provider's own overflow error: trim to a budget scaled by how far off our count was
 * (a big request in the worker, deps.away), and learn from the provider's count.
 */
export async function trimHarder(
  deps: GuardDeps,
  provider: Provider,
  text: string,
  guarded: Guarded,
  overflow: Overflow,
): Promise<TrimResult | undefined> {
  let done: Harder | undefined;
  if (deps.away && text.length >= WORKER_MIN_BYTES) {
    done = await deps.away.trimHarder(provider, text, guarded, overflow).catch((err: unknown) => {
      deps.log.warn("llm retry trimmed here: the guard worker failed", {
        provider: provider.id,
        error: (err as Error).message,
      });
      return undefined;
    });
  }
  done ??= await harder(deps, provider, text, guarded, overflow);
  if (done.counted) learnFromOverflow(deps, provider, guarded, done.counted, overflow);
  return done.trim;
}

/** trimHarder's work, wherever it runs: the trim when it made the request fit, and the count. */
export async function harder(
  deps: GuardDeps,
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
    spillAboveTokens: deps.config.spillToolOutputsAboveTokens,
    counter,
    spill: spillFor(deps, provider, guarded.model),
  });
  if (!(trim.fits && trim.changed)) return { counted };
  deps.log.info("llm request trimmed after the provider's overflow answer", {
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
  deps: GuardDeps,
  provider: Provider,
  guarded: Guarded,
  counted: Counted,
  overflow: Overflow,
): void {
  const { counter, model } = guarded;
  if (!counter || model === undefined || overflow.prompt === undefined) return;
  const bound = deps.config.marginRatio ?? counter.margin;
  deps.calibration.record(provider.id, model, { name: counter.name, bound }, counted, overflow.prompt);
}

/** Spills for one trim: its previews share one redaction allowance (PREVIEW_REDACT_CHARS). */
export function spillFor(deps: GuardDeps, provider: Provider, model: string | undefined) {
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
