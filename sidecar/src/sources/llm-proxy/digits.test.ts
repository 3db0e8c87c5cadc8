import { loadTokenizer, tokenizerFor } from "@clawguard/shared/tokens";
import { corpus } from "@clawguard/shared/tokens/fixtures/corpus";
import { describe, expect, it } from "vitest";
import { Calibration, estimateOf, topOf } from "./calibration.ts";
import { bandOf, withDigits } from "./guard.ts";

const prose = corpus().find((e) => e.name === "prose-zh")?.text ?? "";
/** A tool's output of numbers, as `seq` prints them. */
const digits = Array.from({ length: 30_000 }, (_, i) => String(100_000 + i * 7)).join("\n");

describe("a ratio learnt on (Chinese) prose, applied to digits", () => {
  it("leaves room for a token per digit when the provider counts each digit (an unknown name on Qwen 3)", async () => {
    const guard = tokenizerFor("house-llm-7b-chat-v3"); // the unknown estimate
    const provider = await loadTokenizer("qwen3-32b"); // what the provider really runs
    const book = new Calibration();
    const counter = { name: guard.name, bound: guard.margin };
    for (let i = 1; i <= 5; i++) {
      const text = Array.from({ length: 4 * i }, () => prose).join("\n");
      book.record("p", "m", counter, { prefix: 0, total: guard.count(text) }, provider.count(text));
    }
    const learnt = book.correction("p", "m", guard.name, guard.margin);
    expect(learnt.ratio).toBeLessThan(0.9); // the estimate counts Chinese high: the ratio says so
    const raw = guard.count(digits);
    const real = provider.count(digits);
    const room = Math.ceil(real * 0.99); // the provider would refuse it
    // Without the digits' own error, the learnt ratio said it fits: an over-window request sent.
    expect(estimateOf(raw, learnt).estimate + estimateOf(raw, learnt).error).toBeLessThan(real);
    const c = withDigits(learnt, guard, digits);
    expect(topOf(raw, c)).toBeGreaterThanOrEqual(real);
    expect(bandOf(raw, room, c)).not.toBe("fits");
    // Digits only ever add: what is over below the estimate's error stays over.
    expect(bandOf(raw, raw * 0.5, c)).toBe("over");
  });

  it("adds nothing for the provider's own exact tokenizer, nor before any sample", async () => {
    const o200k = tokenizerFor("gpt-4.1");
    const book = new Calibration();
    const c = book.correction("p", "gpt-4.1", o200k.name, o200k.margin);
    expect(withDigits(c, o200k, digits)).toBe(c);
    book.record(
      "p",
      "gpt-4.1",
      { name: o200k.name, bound: o200k.margin },
      { prefix: 0, total: 10_000 },
      10_100,
    );
    const calibrated = book.correction("p", "gpt-4.1", o200k.name, o200k.margin);
    expect(withDigits(calibrated, o200k, digits)).toBe(calibrated);
    // A provider counting 1.25x o200k is another tokenizer: its digits may cost one each.
    book.record(
      "p",
      "other",
      { name: o200k.name, bound: o200k.margin },
      { prefix: 0, total: 10_000 },
      12_500,
    );
    const other = book.correction("p", "other", o200k.name, o200k.margin);
    expect(withDigits(other, o200k, digits).digitError).toBeGreaterThan(0);
  });
});
