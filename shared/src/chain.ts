import { createHash } from "node:crypto";
import type { AuditEvent, ChainedFields } from "./events/envelope.ts";

/** `prev_hash` of the first event of every source. */
export const GENESIS_HASH = "0".repeat(64);

/**
 * JSON with object keys sorted at every level: the one byte form an event is hashed in, so the
 * sidecar and the collector (or any third party) compute the same hash from the same event.
 */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== "object") {
    const text = JSON.stringify(value);
    // undefined, functions and symbols have no JSON form; they never reach a valid event.
    return text === undefined ? "null" : text;
  }
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  const keys = Object.keys(value)
    .filter((k) => (value as Record<string, unknown>)[k] !== undefined)
    .sort();
  const body = keys.map(
    (k) => `${JSON.stringify(k)}:${canonicalJson((value as Record<string, unknown>)[k])}`,
  );
  return `{${body.join(",")}}`;
}

/** The hash of an event: sha256 over the canonical JSON of everything but `hash` itself. */
export function hashEvent(event: Omit<AuditEvent, "hash"> | AuditEvent): string {
  const { hash: _ignored, ...rest } = event as AuditEvent;
  return createHash("sha256").update(canonicalJson(rest)).digest("hex");
}

export interface ChainHead {
  seq: number;
  hash: string;
}

export const EMPTY_HEAD: ChainHead = Object.freeze({ seq: 0, hash: GENESIS_HASH });

/** Seals a draft into the chain after `head`: assigns the next seq, links and hashes it. */
export function sealEvent<T extends Omit<AuditEvent, ChainedFields>>(draft: T, head: ChainHead): AuditEvent {
  const unsealed = { ...draft, seq: head.seq + 1, prev_hash: head.hash } as Omit<AuditEvent, "hash">;
  return { ...unsealed, hash: hashEvent(unsealed) };
}
