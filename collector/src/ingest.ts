import { sealMatches } from "@clawguard/shared/chain";
import { AGENT_PATTERN, type AuditEvent, validateEvent } from "@clawguard/shared/events/envelope";
import {
  type AuditStore,
  type Candidate,
  canonicalBody,
  type IngestStatus,
  type IntegrityFinding,
  sha256,
} from "./store/audit-store.ts";

/** Each agent's sealing keys by key id: the current one and, while rotating, the previous one. */
export type SealKeyring = ReadonlyMap<string, ReadonlyMap<string, Buffer>>;

export interface IngestItemResult {
  id: string | null;
  index: number;
  status: "accepted" | "duplicate" | "rejected";
  errors?: string[];
}

/**
 * Checks one batch from the sidecar of `agent` and stores what passes: per-event schema errors,
 * the token's agent must be the event's source, and the hash must match the content. An event whose
 * hash does not match was altered on the way: it is refused and recorded as an integrity finding.
 * A `memory.changed` event must also describe a version (path, change, size, sha256): it is stored
 * with its `memory_versions` row or not at all.
 */
export async function ingestBatch(
  store: AuditStore,
  agent: string,
  items: readonly unknown[],
  keyring: SealKeyring = new Map(),
): Promise<IngestItemResult[]> {
  const keys = keyring.get(agent);
  const results: IngestItemResult[] = [];
  const candidates: { index: number; candidate: Candidate }[] = [];
  const findings: IntegrityFinding[] = [];
  items.forEach((item, index) => {
    const checked = checkItem(item, `events[${index}]`, agent, keys, findings);
    if ("errors" in checked) {
      const id = typeof (item as { id?: unknown })?.id === "string" ? (item as { id: string }).id : null;
      results[index] = { id, index, status: "rejected", errors: checked.errors };
    } else candidates.push({ index, candidate: checked });
  });
  // The same id twice in one batch: the second copy is a duplicate of the first.
  const seen = new Set<string>();
  const unique = candidates.filter(({ index, candidate }) => {
    if (!seen.has(candidate.event.id)) {
      seen.add(candidate.event.id);
      return true;
    }
    results[index] = { id: candidate.event.id, index, status: "duplicate" };
    return false;
  });
  if (unique.length === 0) {
    await store.recordFindings(findings);
    return results;
  }
  const stored = await appendIsolating(
    store,
    agent,
    unique.map((u) => u.candidate),
    findings,
  );
  for (const { index, candidate } of unique) {
    const status = stored.get(candidate.event.id) as IngestStatus;
    results[index] = { id: candidate.event.id, index, ...status };
  }
  return results;
}

/**
 * One event's checks, in order: schema and bounds (with a memory.changed event's version: the
 * rules the sidecar checks a draft against before it gives it a seq), the token's agent, the hash,
 * the seal. A changed hash or a bad seal is also an integrity finding (added to `findings`).
 */
function checkItem(
  item: unknown,
  path: string,
  agent: string,
  keys: ReadonlyMap<string, Buffer> | undefined,
  findings: IntegrityFinding[],
): Candidate | { errors: string[] } {
  const checked = validateEvent(item, path);
  if (!checked.ok) return { errors: checked.errors };
  const event: AuditEvent = checked.value;
  if (event.source.agent !== agent || !AGENT_PATTERN.test(event.source.agent)) {
    return {
      errors: [
        `${path}.source.agent: this token may only send events of agent ${JSON.stringify(agent)}, got ${JSON.stringify(event.source.agent)}`,
      ],
    };
  }
  const body = canonicalBody(event);
  if (sha256(body) !== event.hash) {
    const detail = `${path}: hash does not match the event's content (altered after it was sealed)`;
    findings.push({ agent, kind: "hash_mismatch", seq: event.seq, event_id: event.id, detail });
    return { errors: [detail] };
  }
  const seal = sealFinding(event, keys, path);
  if (seal) {
    findings.push({ agent, seq: event.seq, event_id: event.id, ...seal });
    return { errors: [seal.detail] };
  }
  return { event, body };
}

/**
 * What is wrong with an event's seal, when its sidecar has sealing keys here: none, a key id not
 * configured (neither the current nor the previous key), or a MAC that does not match (the event
 * was edited after the sidecar sealed it, and its chain rebuilt). Unkeyed agents are not checked.
 */
function sealFinding(
  event: AuditEvent,
  keys: ReadonlyMap<string, Buffer> | undefined,
  path: string,
): Pick<IntegrityFinding, "kind" | "detail"> | undefined {
  if (!keys || keys.size === 0) return undefined;
  if (!event.seal)
    return {
      kind: "seal_missing",
      detail: `${path}.seal: missing: this sidecar seals its events, an unsealed one did not come from it`,
    };
  const key = keys.get(event.seal.kid);
  if (!key)
    return {
      kind: "seal_unknown_key",
      detail: `${path}.seal.kid: ${JSON.stringify(event.seal.kid)} is not a sealing key of this sidecar (known: ${[...keys.keys()].join(", ")})`,
    };
  if (!sealMatches(key, event.hash, event.seal))
    return {
      kind: "seal_mismatch",
      detail: `${path}.seal: the MAC does not match the event's hash (edited after the sidecar sealed it)`,
    };
  return undefined;
}

/**
 * A value the database refuses (SQLSTATE class 22, data exception; 54, a limit exceeded): one event's
 * fault, never the batch's. Connection trouble is not (it is `store.unavailable`, retryable).
 */
function isDataError(err: unknown): boolean {
  const code = (err as { code?: unknown })?.code;
  return typeof code === "string" && /^(22|54)[0-9A-Z]{3}$/.test(code);
}

/**
 * Appends the batch in one transaction; when the database refuses a value in it, appends the events
 * one by one so that only the one it refuses is rejected, with the database's reason. The checks
 * before the store should leave nothing for this to catch: it is the last line, so a bad event can
 * never make the whole batch fail (and the sidecar retry it forever).
 */
export async function appendIsolating(
  store: AuditStore,
  agent: string,
  candidates: Candidate[],
  findings: IntegrityFinding[],
): Promise<Map<string, IngestStatus>> {
  try {
    return await store.append(agent, candidates, findings);
  } catch (err) {
    if (!isDataError(err)) throw err;
  }
  const results = new Map<string, IngestStatus>();
  let pending = findings;
  for (const candidate of [...candidates].sort((a, b) => a.event.seq - b.event.seq)) {
    try {
      for (const [id, status] of await store.append(agent, [candidate], pending)) results.set(id, status);
      pending = [];
    } catch (err) {
      if (!isDataError(err)) throw err;
      results.set(candidate.event.id, {
        status: "rejected",
        errors: [`the store refused this event: ${(err as Error).message}`],
      });
    }
  }
  if (pending.length > 0) await store.recordFindings(pending);
  return results;
}
