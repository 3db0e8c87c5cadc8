import { writeFileSync } from "node:fs";
import fc from "fast-check";
import { expect } from "vitest";

/**
 * What the fuzz suites share: how many runs (CLAWGUARD_FUZZ_RUNS, 200 per endpoint by default: CI),
 * the hostile values they draw from, the check every answer must pass (no 5xx, an error that names
 * what is wrong, an answer within its time) and the tally the README quotes.
 */

export const RUNS = Math.max(1, Number(process.env.CLAWGUARD_FUZZ_RUNS ?? 200) || 200);
/** A property's time limit: generous, as it grows with the runs (and the machine may be shared). */
export const TEST_MS = Math.max(120_000, RUNS * 1000);
/** An answer later than this is a hang. */
export const ANSWER_MS = 10_000;
/** A fixed seed by default, so a CI failure replays; CLAWGUARD_FUZZ_SEED=random for new ground. */
const seedEnv = process.env.CLAWGUARD_FUZZ_SEED;
export const SEED = seedEnv === "random" ? Date.now() : Number(seedEnv ?? 20261207);

export function assertOptions(runs = RUNS): fc.Parameters<unknown> {
  return { numRuns: runs, seed: SEED, endOnFailure: true };
}

/** Strings that have broken parsers before: NUL, lone surrogates, impossible dates, long ones. */
const NASTY = [
  "",
  "\u0000",
  "a\u0000b",
  "\ud800",
  "x\udc00",
  "\udbff\udfff",
  "😀",
  "0000-01-01T00:00:00Z",
  "2026-02-30T10:00:00Z",
  "2026-01-01T24:00:00Z",
  "9999-12-31T23:59:59.999999999+14:00",
  "2026-01-01T00:00:00+23:59",
  "1e309",
  "-1",
  "NaN",
  "__proto__",
  "constructor",
  "../../etc/passwd",
  "%00",
  "%ED%A0%80",
  "%",
  "x".repeat(300),
  "y".repeat(70_000),
  "exec.*",
  "a.b.c.d.e.f",
  "\\u0000",
];

const oddChar = fc.constantFrom(
  "\u0000",
  "\ud800",
  "\udfff",
  "\u2028",
  "\ufeff",
  "a",
  "é",
  "😀",
  "%",
  "\\",
  '"',
);

/** Any string, biased to the hostile ones. */
export const nastyString: fc.Arbitrary<string> = fc.oneof(
  { weight: 2, arbitrary: fc.constantFrom(...NASTY) },
  { weight: 2, arbitrary: fc.string({ unit: oddChar, maxLength: 40 }) },
  { weight: 1, arbitrary: fc.string({ unit: "binary", maxLength: 60 }) },
  { weight: 1, arbitrary: fc.string({ maxLength: 20 }) },
);

/** Any number, biased to the edges. */
export const nastyNumber: fc.Arbitrary<number> = fc.oneof(
  fc.constantFrom(0, -1, 1, 1.5, 2 ** 48, 2 ** 48 + 1, Number.MAX_SAFE_INTEGER, 1e308, -0, 2 ** 31, 2 ** 63),
  fc.integer(),
  fc.double({ noNaN: true }),
);

/** Any JSON value, its strings and keys hostile. */
export const nastyJson: fc.Arbitrary<unknown> = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: "small", withCrossShrink: true },
    nastyString,
    nastyNumber,
    fc.boolean(),
    fc.constant(null),
    fc.array(tie("value"), { maxLength: 5 }),
    fc.dictionary(nastyString, tie("value"), { maxKeys: 5 }),
  ),
})).value;

/** JSON text nested `depth` deep (arrays or objects), too deep for JSON.stringify on a small stack. */
export function deepJson(depth: number, kind: "array" | "object"): string {
  return kind === "array"
    ? `${"[".repeat(depth)}1${"]".repeat(depth)}`
    : `${'{"n":'.repeat(depth)}1${"}".repeat(depth)}`;
}

/** A query string from hostile pairs, percent-encoded or raw (a `%` alone included). */
export const nastyQuery = (names: readonly string[]): fc.Arbitrary<string> =>
  fc
    .array(
      fc.tuple(
        names.length > 0 ? fc.oneof(fc.constantFrom(...names), nastyString) : nastyString,
        nastyString,
        fc.boolean(),
      ),
      { maxLength: 4 },
    )
    .map((pairs) =>
      pairs
        .map(([k, v, raw]) =>
          raw ? `${k}=${v.replace(/[#&\s]/g, "")}` : `${encodeSafe(k)}=${encodeSafe(v)}`,
        )
        .join("&"),
    );

/** encodeURIComponent, which throws on a lone surrogate: those are sent as the bytes a client would. */
function encodeSafe(value: string): string {
  try {
    return encodeURIComponent(value);
  } catch {
    return encodeURIComponent(value.toWellFormed()).replaceAll("%EF%BF%BD", "%ED%A0%80");
  }
}

export interface Tally {
  requests: number;
  status5xx: number;
  statuses: Record<string, number>;
}

const tallies = new Map<string, Tally>();

/**
 * Records an answer and checks it: below 500, and an error answer is JSON that names the problem
 * (code and message). Returns the body when it is JSON.
 */
export async function checkAnswer(endpoint: string, response: Response, head = false): Promise<unknown> {
  const tally = tallies.get(endpoint) ?? { requests: 0, status5xx: 0, statuses: {} };
  tallies.set(endpoint, tally);
  tally.requests++;
  tally.statuses[response.status] = (tally.statuses[response.status] ?? 0) + 1;
  const text = await response.text();
  if (response.status >= 500) tally.status5xx++;
  expect(response.status, `${endpoint}: ${text.slice(0, 300)}`).toBeLessThan(500);
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    // Not JSON: fine for a success (spill pages are text), not for an error.
  }
  if (response.status >= 400 && !head) {
    const error = (body as { error?: { code?: unknown; message?: unknown } })?.error;
    expect(typeof error?.code, `${endpoint} ${response.status}: ${text.slice(0, 200)}`).toBe("string");
    expect(String(error?.message ?? "").length, `${endpoint}: an error names what is wrong`).toBeGreaterThan(
      5,
    );
    // The parsers refuse bad values; the store's own refusal (the last line) must not be what answers.
    expect(String(error?.message), endpoint).not.toMatch(/^the store refused a value/);
  }
  return body;
}

/** A request that must be answered within ANSWER_MS. */
export async function answered<T>(what: string, pending: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const hang = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`${what}: no answer within ${ANSWER_MS} ms (a hang)`)),
      ANSWER_MS,
    );
  });
  try {
    return await Promise.race([pending, hang]);
  } finally {
    clearTimeout(timer);
  }
}

/** The tally so far, printed (and written to CLAWGUARD_FUZZ_REPORT when set) at the end of a suite. */
export function reportTally(suite: string): Record<string, Tally> {
  const all = Object.fromEntries([...tallies].sort(([a], [b]) => (a < b ? -1 : 1)));
  const lines = Object.entries(all).map(
    ([endpoint, t]) =>
      `  ${endpoint.padEnd(44)} ${String(t.requests).padStart(6)} requests, ${t.status5xx} 5xx  ${JSON.stringify(t.statuses)}`,
  );
  console.log(`fuzz ${suite} (seed ${SEED}, ${RUNS} runs per property):\n${lines.join("\n")}`);
  tallies.clear();
  const file = process.env.CLAWGUARD_FUZZ_REPORT;
  if (file)
    writeFileSync(
      `${file}.${suite}.json`,
      JSON.stringify({ seed: SEED, runs: RUNS, endpoints: all }, null, 2),
    );
  return all;
}
