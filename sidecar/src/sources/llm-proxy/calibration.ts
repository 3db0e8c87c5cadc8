import { readFileSync } from "node:fs";
import { writeFileAtomic } from "@clawguard/shared/fs-atomic";
import type { Logger } from "@clawguard/shared/log";

/**
 * Self-calibration from the provider's own word: each answer reports the prompt's real size
 * (`usage.prompt_tokens` / `input_tokens`). Beside what the guard counted for that request, it gives
 * a ratio; the median of the last ratios, per provider and model, corrects later counts. A model
 * with no samples yet borrows those of other models on the same provider counted by the same
 * tokenizer (a new model id behind a known endpoint), else it keeps the tokenizer's own bound.
 */

/** How far a count may be off, relative: a request fits when `count * (1 + bound) <= room`. */
export interface Correction {
  /** Multiplies the tokenizer's count: provider tokens per counted token. */
  ratio: number;
  bound: number;
  samples: number;
  /** "model": this model's own samples; "provider": its provider's, same tokenizer; "none". */
  from: "model" | "provider" | "none";
}

export interface CalibrationEntry {
  provider: string;
  model: string;
  tokenizer: string;
  ratio: number;
  bound: number;
  samples: number;
}

const MAX_SAMPLES = 15;
/** Ratios outside this are not a tokenizer's error but something else (a cached prefix not reported, a proxy's own prompt). */
const SANE = { min: 0.2, max: 5 } as const;
/** Framing and tool-schema rendering vary between requests even with the right tokenizer. */
const FLOOR = 0.02;
/**
 * Requests below this many counted tokens are no sample: their size is mostly per-message framing,
 * which differs between providers by a few tokens a message, and they are never near a window.
 */
export const MIN_SAMPLE_TOKENS = 1000;
const SAVE_DELAY_MS = 2000;
const FILE_VERSION = 1;

interface Book {
  tokenizer: string;
  /** The tokenizer's own bound, before any sample. */
  bound: number;
  ratios: number[];
}

export class Calibration {
  readonly #books = new Map<string, Book>();
  readonly #file: string | undefined;
  readonly #log: Logger | undefined;
  #saveTimer: NodeJS.Timeout | undefined;

  /** `file`: where the ratios are kept across restarts (none: memory only). */
  constructor(options: { file?: string; log?: Logger } = {}) {
    this.#file = options.file;
    this.#log = options.log;
    if (this.#file) this.#load(this.#file);
  }

  /** The correction for `model` on `provider` counted by `tokenizer` (whose own bound is `bound`). */
  correction(provider: string, model: string, tokenizer: string, bound: number): Correction {
    const own = this.#books.get(modelKey(provider, model));
    if (own && own.tokenizer === tokenizer && own.ratios.length > 0)
      return corrected(own.ratios, bound, "model");
    const pooled: number[] = [];
    for (const [key, book] of this.#books)
      if (key.startsWith(`${provider}\u0000`) && book.tokenizer === tokenizer) pooled.push(...book.ratios);
    if (pooled.length > 0) return corrected(pooled, bound, "provider");
    return { ratio: 1, bound, samples: 0, from: "none" };
  }

  /** Whether a call should be counted for calibration although the guard did not need to count it. */
  wants(provider: string, model: string, calls: number): boolean {
    const book = this.#books.get(modelKey(provider, model));
    return (book?.ratios.length ?? 0) < MAX_SAMPLES || calls % 20 === 0;
  }

  /**
   * One answer: the guard counted `counted` tokens (uncorrected) with `tokenizer`, whose own bound is
   * `bound`; the provider reported `reported`.
   */
  record(
    provider: string,
    model: string,
    tokenizer: { name: string; bound: number },
    counted: number,
    reported: number,
  ): void {
    if (!(counted >= MIN_SAMPLE_TOKENS && reported > 0)) return;
    const ratio = reported / counted;
    if (ratio < SANE.min || ratio > SANE.max) return;
    const key = modelKey(provider, model);
    let book = this.#books.get(key);
    if (!book || book.tokenizer !== tokenizer.name) {
      book = { tokenizer: tokenizer.name, bound: tokenizer.bound, ratios: [] };
      this.#books.set(key, book);
    }
    book.ratios.push(ratio);
    if (book.ratios.length > MAX_SAMPLES) book.ratios.shift();
    this.#scheduleSave();
  }

  entries(): CalibrationEntry[] {
    return [...this.#books].map(([key, book]) => {
      const [provider = "", model = ""] = key.split("\u0000");
      const c = corrected(book.ratios, book.bound, "model");
      return {
        provider,
        model,
        tokenizer: book.tokenizer,
        ratio: round(c.ratio),
        bound: round(c.bound),
        samples: c.samples,
      };
    });
  }

  /** Writes what is pending now. */
  flush(): void {
    if (!this.#saveTimer) return;
    clearTimeout(this.#saveTimer);
    this.#saveTimer = undefined;
    this.#save();
  }

  #scheduleSave(): void {
    if (!this.#file || this.#saveTimer) return;
    this.#saveTimer = setTimeout(() => {
      this.#saveTimer = undefined;
      this.#save();
    }, SAVE_DELAY_MS).unref();
  }

  #save(): void {
    const file = this.#file;
    if (!file) return;
    const books = Object.fromEntries(this.#books);
    try {
      writeFileAtomic(file, `${JSON.stringify({ version: FILE_VERSION, books })}\n`);
    } catch (err) {
      this.#log?.warn("llm calibration not saved", { file, error: (err as Error).message });
    }
  }

  #load(file: string): void {
    let parsed: unknown;
    try {
      parsed = JSON.parse(readFileSync(file, "utf8"));
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== "ENOENT")
        this.#log?.warn("llm calibration not read: starting afresh", { file, error: (err as Error).message });
      return;
    }
    const books = (parsed as { version?: unknown; books?: unknown })?.books;
    if (
      (parsed as { version?: unknown })?.version !== FILE_VERSION ||
      typeof books !== "object" ||
      books === null
    )
      return;
    for (const [key, value] of Object.entries(books)) {
      const book = value as Partial<Book>;
      if (typeof book.tokenizer !== "string" || !Array.isArray(book.ratios)) continue;
      const bound = typeof book.bound === "number" && book.bound >= 0 && book.bound < 1 ? book.bound : 0.3;
      const ratios = book.ratios.filter(
        (r): r is number => typeof r === "number" && r >= SANE.min && r <= SANE.max,
      );
      if (ratios.length > 0 && key.includes("\u0000"))
        this.#books.set(key, { tokenizer: book.tokenizer, bound, ratios: ratios.slice(-MAX_SAMPLES) });
    }
  }
}

/**
 * The median ratio, and a bound that starts at the tokenizer's own and narrows with each sample to
 * the floor, never below how far the samples themselves stray from their median.
 */
function corrected(ratios: readonly number[], tokenizerBound: number, from: Correction["from"]): Correction {
  const sorted = [...ratios].sort((a, b) => a - b);
  const n = sorted.length;
  const mid = n >> 1;
  const median =
    n % 2 === 1 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
  let spread = 0;
  for (const r of sorted) spread = Math.max(spread, Math.abs(r / median - 1));
  const shrinking = FLOOR + Math.max(0, tokenizerBound - FLOOR) / (n + 1);
  return { ratio: median, bound: Math.max(spread, shrinking), samples: n, from };
}

function modelKey(provider: string, model: string): string {
  return `${provider}\u0000${model}`;
}

function round(x: number): number {
  return Math.round(x * 1000) / 1000;
}
