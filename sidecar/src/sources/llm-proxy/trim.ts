import {
  type Conversation,
  type Counter,
  currentTurnStart,
  type Family,
  type Item,
  itemTokens,
} from "./family.ts";
import { applySplices, type Splice } from "./json-layout.ts";

export interface TrimOptions {
  /** Tokens the prompt may take: the context window less the output reserve and the margin. */
  budget: number;
  /** Tool outputs above this many tokens may be spilled. */
  spillAboveTokens: number;
  counter: Counter;
  /**
   * Whether whole old turns may go when spilling tool outputs is not enough (default true). The
   * guard passes false when it is unsure the request is over: spilled outputs stay readable, dropped
   * turns do not.
   */
  dropTurns?: boolean;
  /**
   * Saves a tool output and returns what stands in for it in the request (a preview and a
   * reference) at once; `saved` settles when it is written. The trim waits for every one of them.
   */
  spill(text: string, tokens: number): { id: string; replacement: string; saved: Promise<void> };
}

export interface TrimResult {
  /** The request body to send: the original text when nothing was removed. */
  text: string;
  changed: boolean;
  fits: boolean;
  tokensBefore: number;
  tokensAfter: number;
  spilled: { id: string; tokens: number }[];
  droppedItems: number;
  droppedTokens: number;
}

/**
 * Fits a conversation into `budget` tokens, in the order the guard promises: (1) the largest
 * wastes first, tool outputs over the spill threshold, oldest first, are saved to the spill store
 * and replaced by a preview; (2) then the oldest turns after the stable prefix are dropped, whole
 * (a tool call never loses its result), and one marker says what went. The stable prefix and every
 * item not changed keep their exact bytes: the result is spliced, not re-serialized.
 */
export async function trimConversation(
  family: Family,
  text: string,
  conversation: Conversation,
  options: TrimOptions,
): Promise<TrimResult> {
  const { items, fixedTokens } = conversation;
  const tokensBefore = fixedTokens + sum(items);
  const result: TrimResult = {
    text,
    changed: false,
    fits: tokensBefore <= options.budget,
    tokensBefore,
    tokensAfter: tokensBefore,
    spilled: [],
    droppedItems: 0,
    droppedTokens: 0,
  };
  if (result.fits) return result;

  // A tool result right after the prefix belongs to a call inside it: it is pinned too.
  let first = conversation.prefixCount;
  while (first < items.length && !items[first]?.cutBefore) first++;

  let total = tokensBefore;
  const replaced = new Map<number, { value: unknown; tokens: number }>();
  const saving: Promise<void>[] = [];
  for (let i = conversation.prefixCount; i < items.length && total > options.budget; i++) {
    const item = items[i] as Item;
    let value = item.value;
    for (const output of item.toolResults ?? []) {
      if (total > options.budget) {
        const tokens = options.counter.count(output.text);
        if (tokens <= options.spillAboveTokens) continue;
        const { id, replacement, saved } = options.spill(output.text, tokens);
        saved.catch(() => {}); // awaited below; never an unhandled rejection if the trim throws first
        saving.push(saved);
        result.spilled.push({ id, tokens });
        value = output.replace(value, replacement);
      }
    }
    if (value === item.value) continue;
    const tokens = itemTokens(value, options.counter);
    total -= (replaced.get(i)?.tokens ?? item.tokens) - tokens;
    replaced.set(i, { value, tokens });
  }

  // Then whole turns, oldest first; the current turn (the one being answered) always stays.
  const lastTurn = Math.max(first, currentTurnStart(items));
  const tokensOf = (i: number) => replaced.get(i)?.tokens ?? (items[i] as Item).tokens;
  let keepFrom = first;
  const markerAllowance = 64;
  const dropTurns = options.dropTurns ?? true;
  while (dropTurns && total + markerAllowance > options.budget && keepFrom < lastTurn) {
    let next = keepFrom + 1;
    while (next < lastTurn && !items[next]?.cutBefore) next++;
    for (let i = keepFrom; i < next; i++) {
      total -= tokensOf(i);
      result.droppedTokens += tokensOf(i);
    }
    result.droppedItems += next - keepFrom;
    keepFrom = next;
  }

  const splices: Splice[] = [];
  let mergedNext = false;
  if (result.droppedItems > 0) {
    const next = items[keepFrom] as Item;
    const nextValue = replaced.get(keepFrom)?.value ?? next.value;
    const note = markerNote(result.droppedItems, result.droppedTokens, result.spilled.length);
    const marker = family.marker(note, { ...next, value: nextValue });
    mergedNext = marker.mergesNext;
    const start = (items[first] as Item).span.start;
    splices.push(
      mergedNext
        ? { span: { start, end: next.span.end }, text: marker.json }
        : { span: { start, end: next.span.start }, text: `${marker.json},` },
    );
    total += options.counter.count(note) + 8;
  }
  for (const [i, { value }] of replaced) {
    if (i < keepFrom || (mergedNext && i === keepFrom)) continue;
    splices.push({ span: (items[i] as Item).span, text: JSON.stringify(value) });
  }
  result.text = splices.length > 0 ? applySplices(text, splices) : text;
  result.changed = splices.length > 0;
  result.tokensAfter = total;
  result.fits = total <= options.budget;
  // A reference to a spill must never go out before the spill is on disk.
  await Promise.all(saving);
  return result;
}

function sum(items: Item[]): number {
  let total = 0;
  for (const item of items) total += item.tokens;
  return total;
}

function markerNote(items: number, tokens: number, spilled: number): string {
  const saved =
    spilled > 0
      ? ` ${spilled} large tool output(s) were saved instead of sent; their previews say how to read them.`
      : "";
  return `[clawguard] ${items} earlier message(s) (about ${tokens} tokens) were removed here to fit the model's context window.${saved}`;
}
