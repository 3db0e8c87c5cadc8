import { escapeUnsafe } from "../text/unsafe-chars.ts";
import type { Io } from "./command.ts";

/**
 * `text` with each unsafe character (text/unsafe-chars.ts: controls that would act on the terminal,
 * bidi controls that reorder what follows, invisible characters) shown as its escape (`\x1b`,
 * `\u202e`): what the collector relays (an agent's reasons, a gateway's 503 body) is the agent's to
 * write. Newlines and tabs are kept.
 */
export function terminalSafe(text: string): string {
  return escapeUnsafe(text, { tab: true, newline: true });
}

/** `io` whose text output is terminalSafe: for commands that print what the collector relays. */
export function safeOutput(io: Io): Io {
  return { ...io, out: (text) => io.out(typeof text === "string" ? terminalSafe(text) : text) };
}
