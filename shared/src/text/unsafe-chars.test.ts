import { describe, expect, it } from "vitest";
import { escapeUnsafe, replaceUnsafe, unsafeChars, unsafeCharsSource } from "./unsafe-chars.ts";

// Real hostile strings: a terminal hyperlink and line rewrite, a bidi override that reads "OK",
// a name that looks like another one, text hidden with tag characters.
const TERMINAL = "ok\x1b]8;;http://evil\x07click\x1b[2K\x1b[1A\x1b[31mFAKE OK \u202eKO\u2069 \x9b2J";
const LOOKALIKE = "gate\u200bway-1\u00ad\u2060\ufeff"; // shows as "gateway-1"
const TAGS = "fine\u{e0049}\u{e0067}\u{e006e}\u{e006f}\u{e0072}\u{e0065}"; // "Ignore" in tag characters
const ISOLATE = "agent \u2066\u2067\u2068\u2069\u061c\u200e\u200f end";

describe("one list of the characters never shown raw", () => {
  it("escapes controls, bidi controls and invisible characters (terminal form)", () => {
    expect(escapeUnsafe(TERMINAL, { tab: true, newline: true })).toBe(
      "ok\\x1b]8;;http://evil\\x07click\\x1b[2K\\x1b[1A\\x1b[31mFAKE OK \\u202eKO\\u2069 \\x9b2J",
    );
    expect(escapeUnsafe(LOOKALIKE)).toBe("gate\\u200bway-1\\xad\\u2060\\ufeff");
    expect(escapeUnsafe(TAGS)).toBe("fine\\u{e0049}\\u{e0067}\\u{e006e}\\u{e006f}\\u{e0072}\\u{e0065}");
    expect(escapeUnsafe(ISOLATE)).toBe("agent \\u2066\\u2067\\u2068\\u2069\\u061c\\u200e\\u200f end");
    expect(escapeUnsafe("a\u2028b\u2029c\u180ed\u3164e\u034f")).toBe(
      "a\\u2028b\\u2029c\\u180ed\\u3164e\\u034f",
    );
  });

  it("keeps text, emoji (their variation selectors), and tab or newline only when asked", () => {
    const text = "c — ünïcode ☃ 中文 ❤️ 🇫🇷 مرحبا";
    expect(escapeUnsafe(text)).toBe(text);
    expect(escapeUnsafe("a\tb\nc", { tab: true, newline: true })).toBe("a\tb\nc");
    expect(escapeUnsafe("a\tb\nc", { newline: true })).toBe("a\\x09b\nc");
    expect(escapeUnsafe("a\tb\nc")).toBe("a\\x09b\\x0ac");
  });

  it("replaces them (a chat notice: each becomes a space)", () => {
    expect(replaceUnsafe(LOOKALIKE)).toBe("gate way-1   ");
    expect(replaceUnsafe(TAGS, "")).toBe("fine");
    expect(replaceUnsafe("a\nb\u202ec")).toBe("a b c");
  });

  it("gives a source that the page's own RegExp reads the same", () => {
    const page = new RegExp(JSON.parse(JSON.stringify(unsafeCharsSource({ newline: true }))), "gu");
    const all = TERMINAL + LOOKALIKE + TAGS + ISOLATE;
    expect(all.match(page)).toEqual(all.match(unsafeChars({ newline: true })));
    expect(all.match(page)?.length).toBe(25);
  });
});
