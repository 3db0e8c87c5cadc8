import { describe, expect, it } from "vitest";
import { terminalSafe } from "./terminal.ts";

const HOSTILE = "ok\x1b]8;;http://evil\x07click\x1b[2K\x1b[1A\x1b[31mFAKE OK \u202eKO\u2069 \x9b2J";

describe("what the collector relays is shown, never acted on by the terminal", () => {
  it("escapes ESC, other C0 and C1 controls, DEL and bidi controls; keeps text, newlines and tabs", () => {
    expect(terminalSafe(HOSTILE)).toBe(
      "ok\\x1b]8;;http://evil\\x07click\\x1b[2K\\x1b[1A\\x1b[31mFAKE OK \\u202eKO\\u2069 \\x9b2J",
    );
    expect(terminalSafe("a\tb\nc — ünïcode ☃ 中文")).toBe("a\tb\nc — ünïcode ☃ 中文");
  });
});
