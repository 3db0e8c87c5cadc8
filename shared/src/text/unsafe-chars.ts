/**
 * Characters that must never reach a reader raw in what an agent wrote (its name, role, reasons, a
 * gateway's 503 body): the one list for the terminal (cli/terminal.ts), the chat notices
 * (collector alerts/notify.ts) and the fleet page (collector page/fleet.js, which gets the pattern's
 * source when it is served).
 *
 * - C0 controls (but tab and newline, kept where the reader wants them), DEL, C1 controls: an ESC
 *   sequence moves the cursor, rewrites lines or makes links; CSI (U+009B) is ESC [ in one byte.
 * - Bidirectional controls (U+061C, U+200E-200F, U+202A-202E, U+2066-2069): they reorder what
 *   follows, so "KO" reads "OK".
 * - Invisible characters: zero-width space, joiners (U+200B-200D), word joiner and invisible
 *   operators (U+2060-2064), deprecated format controls (U+206A-206F), byte-order mark (U+FEFF), soft
 *   hyphen (U+00AD), combining grapheme joiner (U+034F), Hangul and Mongolian fillers and
 *   separators, interlinear annotation (U+FFF9-FFFB), line and paragraph separators (U+2028-2029),
 *   and the tag characters (U+E0000-E007F: ASCII written invisibly, a prompt smuggled past a
 *   reader). They make two different names look the same, or hide text.
 *
 * Variation selectors (U+FE00-FE0F) are left alone: emoji are written with them and they hide
 * nothing (they change how the character before them is drawn).
 */
const RANGES = [
  "\\u0000-\\u0008",
  "\\u000b-\\u001f",
  "\\u007f-\\u009f",
  "\\u00ad",
  "\\u034f",
  "\\u061c",
  "\\u115f\\u1160",
  "\\u17b4\\u17b5",
  "\\u180b-\\u180f",
  "\\u200b-\\u200f",
  "\\u2028-\\u202e",
  "\\u2060-\\u2064",
  "\\u2066-\\u206f",
  "\\u3164",
  "\\ufeff",
  "\\uffa0",
  "\\ufff9-\\ufffb",
  "\\u{e0000}-\\u{e007f}",
].join("");

/** Which of tab and newline are kept (shown as they are) rather than unsafe. */
export interface Keep {
  tab?: boolean;
  newline?: boolean;
}

/** The pattern's source (a character class, for a RegExp with the `gu` flags): fleet.js gets it as text. */
export function unsafeCharsSource(keep: Keep = {}): string {
  return `[${keep.tab ? "" : "\\u0009"}${keep.newline ? "" : "\\u000a"}${RANGES}]`;
}

/** A new global pattern of the unsafe characters (new each time: a global RegExp carries state). */
export function unsafeChars(keep: Keep = {}): RegExp {
  return new RegExp(unsafeCharsSource(keep), "gu");
}

/** The character as an escape a reader sees: `\x1b`, `\u202e`, `\u{e0041}`. */
export function escapeOf(c: string): string {
  const code = c.codePointAt(0) ?? 0;
  if (code <= 0xff) return `\\x${code.toString(16).padStart(2, "0")}`;
  if (code <= 0xffff) return `\\u${code.toString(16).padStart(4, "0")}`;
  return `\\u{${code.toString(16)}}`;
}

/** `text` with each unsafe character shown as its escape. */
export function escapeUnsafe(text: string, keep: Keep = {}): string {
  return text.replace(unsafeChars(keep), escapeOf);
}

/** `text` with each unsafe character replaced (a space by default: words stay apart). */
export function replaceUnsafe(text: string, by = " ", keep: Keep = {}): string {
  return text.replace(unsafeChars(keep), by);
}
