import { describe, expect, it } from "vitest";
import { KeyScrubber } from "./http.ts";
import type { Provider } from "./providers.ts";

const KEY = "sk-proj-THE-INJECTED-KEY-123456";
const provider = { apiKey: KEY } as Provider;

/** The stream `text` cut at `cuts`, through a scrubber: what went out after each chunk, and at the end. */
function relay(text: string, cuts: number[]): { out: string[]; whole: string } {
  const scrubber = new KeyScrubber(provider);
  const bytes = Buffer.from(text);
  const out: string[] = [];
  let from = 0;
  for (const cut of [...cuts, bytes.length]) {
    out.push(scrubber.push(bytes.subarray(from, cut)).toString());
    from = cut;
  }
  out.push(scrubber.end().toString());
  return { out, whole: out.join("") };
}

describe("KeyScrubber", () => {
  it("scrubs the key wherever the stream is cut, one cut or two", () => {
    const text = `data: {"error":"bad key ${KEY}"}\n\ndata: again ${KEY}${KEY}\n\n`;
    const expected = text.replaceAll(KEY, "[REDACTED:provider-key]");
    const length = Buffer.byteLength(text);
    for (let a = 0; a <= length; a++) {
      expect(relay(text, [a]).whole).toBe(expected);
      for (let b = a; b <= length; b += 7) expect(relay(text, [a, b]).whole).toBe(expected);
    }
    // One byte at a time: never the key, nor the key's end without its start.
    expect(
      relay(
        text,
        Array.from({ length }, (_, i) => i),
      ).whole,
    ).toBe(expected);
  });

  it("holds back only what could be the key's start, and gives it back when it is not", () => {
    const almost = `${KEY.slice(0, 20)}X and more`;
    const { out } = relay(`data: 1\n\ndata: ${almost}\n\n`, [9, 15 + 20]);
    expect(out[0]).toBe("data: 1\n\n"); // an event's end is never held
    expect(out.join("")).toBe(`data: 1\n\ndata: ${almost}\n\n`);
    expect(out[1]).toBe("data: "); // the key's first 20 bytes waited for the next chunk
    const events = "data: one\n\n";
    expect(relay(events, []).out[0]).toBe(events);
  });

  it("passes everything through when no key is injected", () => {
    const chunk = Buffer.from(KEY);
    expect(new KeyScrubber({} as Provider).push(chunk)).toBe(chunk);
  });
});
