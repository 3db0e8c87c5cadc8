import { StringDecoder } from "node:string_decoder";

/** An event that never ends is not parsed past this: the bytes still pass through to the client. */
const MAX_PENDING_CHARS = 4 * 1024 * 1024;

/**
 * Reads server-sent events out of a relayed stream, only to see what passes (usage, finish
 * reasons); the bytes themselves go to the client untouched and unbuffered.
 */
export class SseReader {
  readonly #decoder = new StringDecoder("utf8");
  readonly #onData: (data: unknown) => void;
  #pending = "";

  constructor(onData: (data: unknown) => void) {
    this.#onData = onData;
  }

  push(chunk: Buffer): void {
    this.#pending += this.#decoder.write(chunk);
    for (;;) {
      const separator = /\r?\n\r?\n/.exec(this.#pending);
      if (!separator) break;
      this.#event(this.#pending.slice(0, separator.index));
      this.#pending = this.#pending.slice(separator.index + separator[0].length);
    }
    if (this.#pending.length > MAX_PENDING_CHARS) this.#pending = "";
  }

  end(): void {
    this.#pending += this.#decoder.end();
    if (this.#pending.trim()) this.#event(this.#pending);
    this.#pending = "";
  }

  #event(block: string): void {
    const data: string[] = [];
    for (const line of block.split(/\r?\n/)) {
      if (line.startsWith("data:")) data.push(line.slice(line[5] === " " ? 6 : 5));
    }
    if (data.length === 0) return;
    const text = data.join("\n");
    if (text === "[DONE]") return;
    try {
      this.#onData(JSON.parse(text));
    } catch {
      // Not JSON: nothing to learn from it.
    }
  }
}
