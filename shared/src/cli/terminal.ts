import type { Io } from "./command.ts";

/**
 * Control characters that would act on a terminal instead of showing (ESC sequences that move the
 * cursor, rewrite lines or make links; C1 controls; DEL) and the bidirectional controls that reorder
 * what follows (U+202A-202E, U+2066-2069, marks): what the collector relays (an agent's reasons, a
 * gateway's 503 body) is the agent's to write. Newlines and tabs are kept.
 */
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point
const UNSAFE = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;

/** `text` with each unsafe character shown as its escape (`\x1b`, `\u202e`). */
export function terminalSafe(text: string): string {
  return text.replace(UNSAFE, (c) => {
    const code = c.charCodeAt(0);
    return code <= 0xff
      ? `\\x${code.toString(16).padStart(2, "0")}`
      : `\\u${code.toString(16).padStart(4, "0")}`;
  });
}

/** `io` whose text output is terminalSafe: for commands that print what the collector relays. */
export function safeOutput(io: Io): Io {
  return { ...io, out: (text) => io.out(typeof text === "string" ? terminalSafe(text) : text) };
}
