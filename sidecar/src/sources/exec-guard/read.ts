import type { FileHandle } from "node:fs/promises";
import { Worker } from "node:worker_threads";
import { ClawguardError } from "@clawguard/shared/errors";
import { findSecretsInBytes, type SecretRange } from "@clawguard/shared/redact";
import { type LineScan, type LineScanResult, scanLines } from "./line-scan.ts";
import type { SpillStore } from "./spill.ts";

export const DEFAULT_READ_LIMIT = 16 * 1024;
export const MAX_READ_LIMIT = 1024 * 1024;
export const MAX_LINES = 10_000;
export const DEFAULT_MAX_MATCHES = 200;
/** How long one --grep may run before it is stopped. */
export const GREP_TIMEOUT_MS = 10_000;

export type ReadMode =
  | { kind: "bytes"; offset: number; limit: number }
  | { kind: "lines"; from: number; to: number }
  | { kind: "grep"; pattern: string; from?: number; to?: number; maxMatches: number };

export interface ReadResult {
  /** Redacted text of the page. */
  text: string;
  /** One line saying where this page sits and how to get the next one. */
  footer: string;
  totalBytes: number;
  nextOffset?: number;
}

/** Bytes read on each side of a byte page to find the secrets that cross its edges. */
export const PAGE_CONTEXT_BYTES = 64 * 1024;

/**
 * The secrets in a byte page, found in the page with up to PAGE_CONTEXT_BYTES either side of it,
 * so a page that starts or ends inside a secret (a PEM key's middle, half a token) still redacts
 * it. Ranges are in the page's bytes (UTF-16LE text included: see findSecretsInBytes).
 */
async function pageSecrets(
  handle: FileHandle,
  size: number,
  offset: number,
  length: number,
): Promise<SecretRange[]> {
  const from = Math.max(0, offset - PAGE_CONTEXT_BYTES);
  const to = Math.min(size, offset + length + PAGE_CONTEXT_BYTES);
  const window = Buffer.alloc(to - from);
  if (window.length > 0) await handle.read(window, 0, window.length, from);
  const start = offset - from;
  return findSecretsInBytes(window)
    .filter((r) => r.end > start && r.start < start + length)
    .map((r) => ({
      name: r.name,
      start: Math.max(r.start - start, 0),
      end: Math.min(r.end - start, length),
    }));
}

/** Text of a page with its secrets replaced: the bytes between them decoded as UTF-8. */
function redactedText(buf: Buffer, secrets: readonly SecretRange[]): string {
  let out = "";
  let at = 0;
  for (const { start, end, name } of secrets) {
    out += `${buf.toString("utf8", at, start)}[REDACTED:${name}]`;
    at = end;
  }
  return out + buf.toString("utf8", at);
}

/** A hex dump row per 16 bytes; secret bytes are shown as `*` in both columns. */
function hexDump(buf: Buffer, offset: number, secrets: readonly SecretRange[]): string {
  const masked = Buffer.from(buf);
  for (const { start, end } of secrets) masked.fill(0x2a, start, end);
  const rows: string[] = [];
  for (let i = 0; i < masked.length; i += 16) {
    const row = masked.subarray(i, i + 16);
    const hex = [...row].map((b) => b.toString(16).padStart(2, "0")).join(" ");
    const ascii = [...row].map((b) => (b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : ".")).join("");
    rows.push(`${(offset + i).toString(16).padStart(8, "0")}  ${hex.padEnd(47)}  ${ascii}`);
  }
  if (secrets.length > 0) {
    const kinds = [...new Set(secrets.map((r) => r.name))].join(", ");
    rows.push(`[clawguard] ${secrets.length} secret(s) masked as * (${kinds})`);
  }
  return `${rows.join("\n")}\n`;
}

/** A page as hex when it holds NUL bytes (binary output), otherwise as text; redacted either way. */
function render(buf: Buffer, offset: number, secrets: readonly SecretRange[]): string {
  return buf.includes(0) ? hexDump(buf, offset, secrets) : redactedText(buf, secrets);
}

/** The worker's module: beside this one in the sources; in the agent build, the bundle itself. */
const GREP_WORKER = import.meta.url.endsWith(".ts")
  ? new URL("./grep-worker.ts", import.meta.url)
  : new URL(import.meta.url);

/**
 * Runs a grep in a worker thread with a deadline: a pattern that backtracks catastrophically is
 * stopped there instead of freezing the process (the sidecar's API, spool and shipper share it).
 */
function grepInWorker(fd: number, scan: LineScan, timeoutMs: number): Promise<LineScanResult> {
  const worker = new Worker(GREP_WORKER, { workerData: { ...scan, fd } });
  let timer: NodeJS.Timeout | undefined;
  return new Promise<LineScanResult>((resolve, reject) => {
    timer = setTimeout(() => {
      reject(
        new ClawguardError(
          "input.invalid",
          `--grep: ${JSON.stringify(scan.pattern)} took over ${timeoutMs} ms and was stopped: simplify the pattern or narrow the search with --lines`,
        ),
      );
    }, timeoutMs);
    worker.once("message", resolve);
    worker.once("error", reject);
    worker.once("exit", (code) =>
      reject(new Error(`the grep worker exited (code ${code}) without a result`)),
    );
  }).finally(async () => {
    clearTimeout(timer);
    // Not needed once there is an answer; after a timeout this is what stops it. Awaited, so the
    // caller closes the descriptor only once nothing reads it.
    await worker.terminate();
  });
}

/** Parses `A:B` (1-based, inclusive; `A:` to the end). */
export function parseLineRange(value: string): { from: number; to: number } {
  const match = /^(\d+):(\d*)$/.exec(value);
  const from = Number(match?.[1]);
  const to = match?.[2] ? Number(match[2]) : from + MAX_LINES - 1;
  if (!match || from < 1 || to < from) {
    throw new ClawguardError(
      "input.invalid",
      `--lines: expected A:B with 1 <= A <= B (e.g. 1:200), got ${JSON.stringify(value)}`,
    );
  }
  if (to - from + 1 > MAX_LINES) {
    throw new ClawguardError(
      "input.invalid",
      `--lines: at most ${MAX_LINES} lines per read, got ${to - from + 1}`,
    );
  }
  return { from, to };
}

function compilePattern(pattern: string): RegExp {
  try {
    return new RegExp(pattern);
  } catch (err) {
    throw new ClawguardError(
      "input.invalid",
      `--grep: not a valid pattern ${JSON.stringify(pattern)}: ${(err as Error).message}`,
    );
  }
}

/** Reads part of a spill: a byte range, a line range, or the lines matching a pattern. Always redacted. */
export async function readSpill(
  store: SpillStore,
  id: string,
  mode: ReadMode,
  options: { grepTimeoutMs?: number; command?: string } = {},
): Promise<ReadResult> {
  const next = `${options.command ?? "clawguard read"} ${id}`;
  const { handle, size } = await store.open(id);
  try {
    if (mode.kind === "bytes") {
      if (!Number.isSafeInteger(mode.offset) || mode.offset < 0) {
        throw new ClawguardError("input.invalid", `offset: expected an integer >= 0, got ${mode.offset}`);
      }
      if (!Number.isSafeInteger(mode.limit) || mode.limit < 1 || mode.limit > MAX_READ_LIMIT) {
        throw new ClawguardError(
          "input.invalid",
          `limit: expected an integer in 1..${MAX_READ_LIMIT}, got ${mode.limit}`,
        );
      }
      const length = Math.max(0, Math.min(mode.limit, size - mode.offset));
      const buf = Buffer.alloc(length);
      if (length > 0) await handle.read(buf, 0, length, mode.offset);
      const end = mode.offset + length;
      const result: ReadResult = {
        text: render(buf, mode.offset, await pageSecrets(handle, size, mode.offset, length)),
        footer:
          mode.offset > size
            ? `[clawguard] offset ${mode.offset} is past the end: the output has ${size} bytes`
            : end < size
              ? `[clawguard] bytes ${mode.offset}-${end} of ${size}; next: ${next} --offset ${end} --limit ${mode.limit}`
              : `[clawguard] bytes ${mode.offset}-${end} of ${size} (end)`,
        totalBytes: size,
      };
      if (end < size) result.nextOffset = end;
      return result;
    }
    const from = mode.from ?? 1;
    const to = mode.to ?? Number.MAX_SAFE_INTEGER;
    const grep = mode.kind === "grep";
    const scan: LineScan = { from, to, maxMatches: grep ? mode.maxMatches : 0 };
    if (grep) {
      compilePattern(mode.pattern); // a bad pattern is named before any worker starts
      scan.pattern = mode.pattern;
    }
    const {
      out,
      lines: n,
      matches,
      more,
    } = grep
      ? await grepInWorker(handle.fd, scan, options.grepTimeoutMs ?? GREP_TIMEOUT_MS)
      : await scanLines(handle.createReadStream({ encoding: "utf8", autoClose: false }), scan);
    // Redacted line by line as scanned (see scanLines).
    const text = out.length > 0 ? `${out.join("\n")}\n` : "";
    const footer = grep
      ? `[clawguard] ${matches} matching line${matches === 1 ? "" : "s"}${more ? ` (stopped at --max-matches ${matches}; narrow with --lines)` : ""}`
      : more
        ? `[clawguard] lines ${from}-${to}; next: ${next} --lines ${to + 1}:${to + (to - from + 1)}`
        : `[clawguard] lines ${from}-${Math.max(from - 1, n)} of ${n} (end)`;
    return { text, footer, totalBytes: size };
  } finally {
    await handle.close();
  }
}
