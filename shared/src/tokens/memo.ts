// Counts of long texts, remembered: an agent's request repeats its whole history on every turn, so
// after the first turn an exact tokenizer only counts what is new. Bounded by the characters held.

/** Texts shorter than this are counted every time: cheaper than remembering them. */
export const MEMO_MIN_CHARS = 256;

/**
 * `count` with the counts of texts of MEMO_MIN_CHARS or more remembered, up to `maxChars` characters
 * of text in all; past that the oldest are forgotten first.
 */
export function memoized(
  count: (text: string) => number,
  maxChars = 8 * 1024 * 1024,
): (text: string) => number {
  const counts = new Map<string, number>();
  let held = 0;
  return (text) => {
    if (text.length < MEMO_MIN_CHARS || text.length > maxChars) return count(text);
    const known = counts.get(text);
    if (known !== undefined) {
      // Most recently used last, so eviction takes the least recently used.
      counts.delete(text);
      counts.set(text, known);
      return known;
    }
    const n = count(text);
    counts.set(text, n);
    held += text.length;
    for (const [old] of counts) {
      if (held <= maxChars) break;
      counts.delete(old);
      held -= old.length;
    }
    return n;
  };
}
