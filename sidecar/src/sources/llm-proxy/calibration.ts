import { readFileSync } from "node:fs";
import { writeFileAtomicAsync } from "@clawguard/shared/fs-atomic";
import type { Logger } from "@clawguard/shared/log";

/**
 * Self-calibration from the provider's own word: each answer reports the prompt's real size
 * (`usage.prompt_tokens` / `input_tokens`). Beside what the guard counted for that request it says
 * how far the guard's counter is off, per provider and model, in two parts:
 *
 * - The stable prefix (system prompt, tool schemas: OpenClaw sends the same ~12 K tokens on every
 *   call) is learnt by its counted size: once a call with that prefix and little else was answered,
 *   the provider's count of the prefix is known within the small rest's error.
 * - The rest (the conversation) is corrected by the median ratio of the provider's count to the
 *   counter's over the last calls; before there is one, the counter's own ratio and bound hold.
 *
 * A correction is linear in the raw count: `estimate = offset + ratio * raw`, with an error of
 * `prefixError + bound * ratio * (raw - prefixRaw)`. A model with no samples yet borrows its
 * provider's (same counter), else it keeps the counter's own bound.
 */

/** How a raw count (the counter's units) maps to the provider's tokens, with its error. */
export interface Correction {
  offset: number;
  ratio: number;
  /** Relative error of the part of the count outside the learnt prefix. */
  bound: number;
  /** The learnt prefix (raw tokens) and the error of its provider count (absolute); 0 when none. */
  prefixRaw: number;
  prefixError: number;
  samples: number;
  /**
   * Tokens the provider may count above the estimate and its error for this request's digits
   * (absolute; guard.ts withDigits), when a ratio learnt on other text may not hold for them.
   */
  digitError?: number;
  /** "prefix": the prefix is learnt; "model": this model's ratio; "provider": its provider's; "none". */
  from: "prefix" | "model" | "provider" | "none";
}

export interface CalibrationEntry {
  provider: string;
  model: string;
  tokenizer: string;
  /** The median of the provider's count over the counter's, whole requests. */
  ratio: number;
  bound: number;
  samples: number;
  /** Stable prefixes whose provider count is known. */
  prefixes: number;
  /** False when the samples stray too far to be used (the counter's own count is used). */
  consistent: boolean;
}

/** One request as counted: its stable prefix and its whole size, in the counter's raw tokens. */
export interface Counted {
  prefix: number;
  total: number;
}

const MAX_SAMPLES = 15;
const MAX_PREFIXES = 16;
/**
 * How far the provider's word may move a count from the counter's own (its prior, ratio 1): a
 * sample outside is not a tokenizer's error but something else (usage leaving out a cached prefix,
 * a proxy's own prompt, a provider under-reporting), and is not taken. So no calibration makes the
 * guard count less than half of what its counter says, nor more than twice.
 */
export const SANE = { min: 0.5, max: 2 } as const;
/**
 * With WILD_AFTER samples or more, a sample this far from their median (either way) is set aside:
 * one provider answer cannot move a settled calibration. WILD_AFTER wild samples in a row that
 * agree among themselves are a change (another model behind the name): the book starts over with them.
 */
const WILD = 1.5;
const WILD_AFTER = 3;
/** Framing and tool-schema rendering vary between requests even with the right tokenizer. */
const FLOOR = 0.02;
/**
 * Samples whose typical (median absolute) deviation from their median is over this share of it
 * are not a tokenizer's error: a provider whose usage leaves out what it had cached (Ollama's
 * prompt_eval_count), or a gateway counting differently call by call. Such a calibration is not
 * used; the counter's own count and bound are. (One wild sample among agreeing ones is no reason:
 * it only widens the bound.)
 */
const MAX_DEVIATION = 0.2;
/**
 * Requests below this many counted tokens are no sample: their size is mostly per-message framing,
 * which differs between providers by a few tokens a message, and they are never near a window.
 */
export const MIN_SAMPLE_TOKENS = 1000;
const SAVE_DELAY_MS = 2000;
const FILE_VERSION = 2;

interface Book {
  tokenizer: string;
  /** The tokenizer's own bound, before any sample. */
  bound: number;
  /** reported / counted, whole requests. */
  ratios: number[];
  /** reported minus the learnt prefix, over the counted rest: only calls whose prefix was known. */
  restRatios: number[];
  /** Counted prefix size -> its provider count and that count's error (absolute). */
  prefixes: [raw: number, real: number, error: number][];
  /** Wild samples set aside, in a row (not kept across restarts). */
  wild?: number[];
}

export class Calibration {
  readonly #books = new Map<string, Book>();
  readonly #file: string | undefined;
  readonly #log: Logger | undefined;
  #saveTimer: NodeJS.Timeout | undefined;
  /** The save in flight: saves run one after another, so the last one written is the newest. */
  #saving: Promise<void> = Promise.resolve();

  /** `file`: where the calibration is kept across restarts (none: memory only). */
  constructor(options: { file?: string | undefined; log?: Logger } = {}) {
    this.#file = options.file;
    this.#log = options.log;
    if (this.#file) this.#load(this.#file);
  }

  /** The correction for a request to `model` on `provider` whose stable prefix counted `prefixRaw`. */
  correction(provider: string, model: string, tokenizer: string, bound: number, prefixRaw = 0): Correction {
    const own = this.#books.get(modelKey(provider, model));
    const none: Correction = {
      offset: 0,
      ratio: 1,
      bound,
      prefixRaw: 0,
      prefixError: 0,
      samples: 0,
      from: "none",
    };
    if (own && own.tokenizer === tokenizer && !consistent(own.ratios)) return none;
    if (own && own.tokenizer === tokenizer) {
      const prefix = own.prefixes.find(([raw]) => raw === prefixRaw && raw > 0);
      if (prefix) {
        const rest = restCorrection(own);
        return {
          offset: prefix[1] - rest.ratio * prefix[0],
          ratio: rest.ratio,
          bound: rest.bound,
          prefixRaw: prefix[0],
          prefixError: prefix[2],
          samples: own.ratios.length,
          from: "prefix",
        };
      }
      if (own.ratios.length > 0) return whole(own.ratios, bound, "model");
    }
    const pooled: number[] = [];
    for (const [key, book] of this.#books)
      if (key.startsWith(`${provider}\u0000`) && book.tokenizer === tokenizer) pooled.push(...book.ratios);
    if (pooled.length > 0 && consistent(pooled)) return whole(pooled, bound, "provider");
    return none;
  }

  /** A model the guard counts for: listed in /readyz from the first call, samples or not. */
  note(provider: string, model: string, tokenizer: { name: string; bound: number }): void {
    const key = modelKey(provider, model);
    const book = this.#books.get(key);
    if (book?.tokenizer === tokenizer.name) return;
    this.#books.set(key, {
      tokenizer: tokenizer.name,
      bound: tokenizer.bound,
      ratios: [],
      restRatios: [],
      prefixes: [],
    });
  }

  /** Whether a call should be counted for calibration although the guard did not need to count it. */
  wants(provider: string, model: string, calls: number): boolean {
    const book = this.#books.get(modelKey(provider, model));
    return (book?.ratios.length ?? 0) < MAX_SAMPLES || calls % 20 === 0;
  }

  /**
   * One answer: the guard counted `counted` (uncorrected) with `tokenizer`, whose own bound is
   * `bound`; the provider reported `reported` for the same request.
   */
  record(
    provider: string,
    model: string,
    tokenizer: { name: string; bound: number },
    counted: Counted,
    reported: number,
  ): void {
    const { total } = counted;
    if (!(total >= MIN_SAMPLE_TOKENS && reported > 0)) return;
    const ratio = reported / total;
    if (ratio < SANE.min || ratio > SANE.max) return;
    const key = modelKey(provider, model);
    let book = this.#books.get(key);
    if (!book || book.tokenizer !== tokenizer.name) {
      book = { tokenizer: tokenizer.name, bound: tokenizer.bound, ratios: [], restRatios: [], prefixes: [] };
      this.#books.set(key, book);
    }
    if (setAside(book, ratio)) return;
    push(book.ratios, ratio);
    learnPrefix(book, counted, reported);
    this.#scheduleSave();
  }

  entries(): CalibrationEntry[] {
    return [...this.#books].map(([key, book]) => {
      const [provider = "", model = ""] = key.split("\u0000");
      const c =
        book.ratios.length > 0
          ? whole(book.ratios, book.bound, "model")
          : { ratio: 1, bound: book.bound, samples: 0 };
      return {
        provider,
        model,
        tokenizer: book.tokenizer,
        ratio: round(c.ratio),
        bound: round(c.bound),
        samples: c.samples,
        prefixes: book.prefixes.length,
        consistent: consistent(book.ratios),
      };
    });
  }

  /** This provider's books, to correct counts elsewhere (a worker) as here; nothing recorded there comes back. */
  snapshot(provider: string): Record<string, unknown> {
    const books: Record<string, unknown> = {};
    for (const [key, book] of this.#books) if (key.startsWith(`${provider}\u0000`)) books[key] = book;
    return books;
  }

  /** A calibration in memory from `snapshot()`'s books. */
  static fromSnapshot(books: Record<string, unknown>): Calibration {
    const calibration = new Calibration();
    for (const [key, value] of Object.entries(books)) {
      const book = checkedBook(value);
      if (book) calibration.#books.set(key, book);
    }
    return calibration;
  }

  /** Writes what is pending now; resolves once every save is on disk. */
  flush(): Promise<void> {
    if (this.#saveTimer) {
      clearTimeout(this.#saveTimer);
      this.#saveTimer = undefined;
      this.#save();
    }
    return this.#saving;
  }

  #scheduleSave(): void {
    if (!this.#file || this.#saveTimer) return;
    this.#saveTimer = setTimeout(() => {
      this.#saveTimer = undefined;
      this.#save();
    }, SAVE_DELAY_MS).unref();
  }

  /**
   * The books as of now, written in libuv's pool: writeFileAtomic's fsyncs and rename on the event
   * loop took 0.4 ms, at times 15 ms, every SAVE_DELAY_MS while samples come in, in calls' paths.
   */
  #save(): void {
    const file = this.#file;
    if (!file) return;
    const books = Object.fromEntries([...this.#books].map(([key, { wild: _, ...book }]) => [key, book]));
    const text = `${JSON.stringify({ version: FILE_VERSION, books })}\n`;
    this.#saving = this.#saving.then(() =>
      writeFileAtomicAsync(file, text).catch((err: Error) => {
        this.#log?.warn("llm calibration not saved", { file, error: err.message });
      }),
    );
  }

  #load(file: string): void {
    let parsed: { version?: unknown; books?: unknown } | null;
    try {
      parsed = JSON.parse(readFileSync(file, "utf8"));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "ENOENT")
        this.#log?.warn("llm calibration not read: starting afresh", { file, error: (err as Error).message });
      return;
    }
    const books = parsed?.books;
    if (parsed?.version !== FILE_VERSION || typeof books !== "object" || books === null) {
      this.#log?.warn("llm calibration not read: starting afresh", {
        file,
        error: `expected {"version": ${FILE_VERSION}, "books": {...}}`,
      });
      return;
    }
    // Each entry checked: one out of bounds (a tampered or damaged file) is refused, the rest kept.
    const refused: string[] = [];
    for (const [key, value] of Object.entries(books)) {
      const [provider = "", model = "", more] = key.split("\u0000");
      const problem =
        !provider || !model || more !== undefined || key.length > MAX_NAME
          ? "expected a key <provider>\\u0000<model>"
          : this.#books.size >= MAX_BOOKS
            ? `more than ${MAX_BOOKS} entries`
            : bookProblem(value);
      if (problem === undefined) this.#books.set(key, checkedBook(value) as Book);
      else if (refused.push(`${JSON.stringify(key.slice(0, 80))}: ${problem}`) <= 5)
        this.#log?.warn("llm calibration entry refused", { file, entry: key.slice(0, 80), error: problem });
    }
    if (refused.length > 5)
      this.#log?.warn("llm calibration entries refused", { file, refused: refused.length });
  }
}

/**
 * Whether a sample is set aside as wild (see WILD): far from a settled book's median, and not yet
 * the last of WILD_AFTER such in a row that agree (then the book starts over with them).
 */
function setAside(book: Book, ratio: number): boolean {
  if (book.ratios.length < WILD_AFTER) return false;
  const m = median(book.ratios);
  if (ratio <= m * WILD && ratio >= m / WILD) {
    book.wild = undefined;
    return false;
  }
  const wild = [...(book.wild ?? []), ratio];
  const w = median(wild);
  if (wild.length < WILD_AFTER || !wild.every((r) => r <= w * WILD && r >= w / WILD)) {
    book.wild = wild.slice(-(WILD_AFTER - 1));
    return true;
  }
  // A change, not noise: what was learnt is of another model.
  Object.assign(book, { ratios: wild.slice(0, -1), restRatios: [], prefixes: [], wild: undefined });
  return false;
}

/** Most books a file may hold (a provider and model each): more is not a file of ours. */
const MAX_BOOKS = 10_000;
const MAX_NAME = 512;

/** Why a book as read from the file (or a snapshot) cannot be used; undefined when it can. */
function bookProblem(value: unknown): string | undefined {
  const b = value as Partial<Book> | null;
  if (typeof b !== "object" || b === null) return "not an object";
  if (typeof b.tokenizer !== "string" || b.tokenizer.length === 0 || b.tokenizer.length > MAX_NAME)
    return "tokenizer: expected a name";
  if (typeof b.bound !== "number" || !(b.bound >= 0 && b.bound < 1))
    return `bound: expected a number in [0, 1), got ${JSON.stringify(b.bound)}`;
  for (const key of ["ratios", "restRatios"] as const) {
    const list = b[key];
    if (!Array.isArray(list) || list.length > MAX_SAMPLES)
      return `${key}: expected a list of at most ${MAX_SAMPLES} ratios`;
    const bad = list.find((r) => typeof r !== "number" || !(r >= SANE.min && r <= SANE.max));
    if (bad !== undefined)
      return `${key}: expected ratios in [${SANE.min}, ${SANE.max}], got ${JSON.stringify(bad)}`;
  }
  if (!Array.isArray(b.prefixes) || b.prefixes.length > MAX_PREFIXES)
    return `prefixes: expected a list of at most ${MAX_PREFIXES}`;
  const badPrefix = b.prefixes.find(
    (p) =>
      !Array.isArray(p) ||
      p.length !== 3 ||
      !p.every((n) => typeof n === "number" && Number.isFinite(n) && n >= 0) ||
      !(p[0] > 0 && p[1] >= p[0] * SANE.min && p[1] <= p[0] * SANE.max && p[2] <= p[1]),
  );
  if (badPrefix !== undefined)
    return `prefixes: expected [raw > 0, real within ${SANE.min}-${SANE.max}x raw, error <= real], got ${JSON.stringify(badPrefix)}`;
  return undefined;
}

/** A book as read from the file or a snapshot, checked (bookProblem): a copy of its own. */
function checkedBook(value: unknown): Book | undefined {
  if (bookProblem(value) !== undefined) return undefined;
  const b = value as Book;
  return {
    tokenizer: b.tokenizer,
    bound: b.bound,
    ratios: [...b.ratios],
    restRatios: [...b.restRatios],
    prefixes: b.prefixes.map(([raw, real, error]) => [raw, real, error]),
  };
}

/**
 * What a sample says of its stable prefix. With the prefix already learnt and a sizeable rest, the
 * rest's ratio; and the prefix's provider count, kept when this sample pins it down more closely
 * than the one before (the smaller the rest beside it, the closer).
 */
function learnPrefix(book: Book, counted: Counted, reported: number): void {
  if (counted.prefix <= 0) return;
  const restRaw = counted.total - counted.prefix;
  const known = book.prefixes.find(([raw]) => raw === counted.prefix);
  if (known && restRaw >= MIN_SAMPLE_TOKENS) {
    const ratio = (reported - known[1]) / restRaw;
    if (ratio >= SANE.min && ratio <= SANE.max) push(book.restRatios, ratio);
  }
  const rest = restCorrection(book);
  const real = reported - rest.ratio * restRaw;
  const error = rest.bound * rest.ratio * restRaw;
  if (real <= 0 || real < counted.prefix * SANE.min || real > counted.prefix * SANE.max) return;
  if (known) {
    if (error < known[2]) [known[1], known[2]] = [real, error];
    return;
  }
  book.prefixes.push([counted.prefix, real, error]);
  if (book.prefixes.length > MAX_PREFIXES) book.prefixes.shift();
}

/** A tokenizer this close to the provider's errs alike on every kind of text: its whole-request ratio holds for any part. */
const UNIFORM_BOUND = 0.05;

/**
 * The correction of the part outside the prefix: its own ratios; before there are any, an exact
 * tokenizer's whole-request ratio (a provider counting 1.25x o200k does so on every text), else the
 * estimate's own (1, its bound): a ratio learnt mostly on a system prompt says little of a tool's
 * digits.
 */
function restCorrection(book: Book): { ratio: number; bound: number } {
  const ratios =
    book.restRatios.length > 0 ? book.restRatios : book.bound <= UNIFORM_BOUND ? book.ratios : [];
  if (ratios.length === 0) return { ratio: 1, bound: book.bound };
  const c = whole(ratios, book.bound, "model");
  return { ratio: c.ratio, bound: c.bound };
}

/**
 * The median ratio, and a bound that starts at the tokenizer's own and narrows with each sample to
 * the floor, never below how far the samples themselves stray from their median.
 */
function whole(ratios: readonly number[], tokenizerBound: number, from: Correction["from"]): Correction {
  const n = ratios.length;
  const middle = median(ratios);
  let spread = 0;
  for (const r of ratios) spread = Math.max(spread, Math.abs(r / middle - 1));
  const shrinking = FLOOR + Math.max(0, tokenizerBound - FLOOR) / (n + 1);
  const bound = Math.max(spread, shrinking);
  return { offset: 0, ratio: middle, bound, prefixRaw: 0, prefixError: 0, samples: n, from };
}

/** Whether the samples agree well enough to be a tokenizer's error (see MAX_DEVIATION). */
function consistent(ratios: readonly number[]): boolean {
  if (ratios.length === 0) return true;
  const m = median(ratios);
  return median(ratios.map((r) => Math.abs(r - m))) <= MAX_DEVIATION * m;
}

function median(xs: readonly number[]): number {
  const sorted = [...xs].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1
    ? (sorted[mid] as number)
    : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

function push(list: number[], value: number): void {
  list.push(value);
  if (list.length > MAX_SAMPLES) list.shift();
}

function modelKey(provider: string, model: string): string {
  return `${provider}\u0000${model}`;
}

function round(x: number): number {
  return Math.round(x * 1000) / 1000;
}

/** The provider tokens a raw count stands for under `c`, and how far off that may be. */
export function estimateOf(raw: number, c: Correction): { estimate: number; error: number } {
  const estimate = c.offset + c.ratio * raw;
  const error = c.prefixError + c.bound * c.ratio * Math.max(0, raw - c.prefixRaw);
  return { estimate, error };
}

/**
 * The most the provider may count for a raw count under `c`: the top of its error, and the digits'
 * own (digitError: it only ever adds, so it is no part of the error below the estimate).
 */
export function topOf(raw: number, c: Correction): number {
  const { estimate, error } = estimateOf(raw, c);
  return estimate + error + (c.digitError ?? 0);
}

/** The largest raw count whose estimate, at the top of its error (topOf), is within `room`. */
export function rawBudget(room: number, c: Correction): number {
  const top = room - c.offset - c.prefixError - (c.digitError ?? 0) + c.bound * c.ratio * c.prefixRaw;
  return Math.max(0, Math.floor(top / (c.ratio * (1 + c.bound))));
}
