import { randomBytes } from "node:crypto";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { type ChainHead, EMPTY_HEAD, type SealKey, sealEvent } from "@clawguard/shared/chain";
import { type AuditEvent, draftEvent } from "@clawguard/shared/events/envelope";
import { createTestDatabase, postgresAvailable, tempDir } from "@clawguard/shared/testing";
import { freePort, Processes, waitUntilUp } from "../support/processes.ts";
import { type Figure, progress, run } from "./report.ts";

/**
 * POST /v1/events into PostgreSQL through the real collector (validation, token-to-agent check,
 * chain continuity, hash recomputation) vs a raw COPY of exactly the rows it stored into a fresh
 * table of the same schema (same indexes), timed inside psql.
 */

const AGENTS = 4;
const BATCH = 500;

/**
 * Chained events for one agent, as the sidecar's spool seals them: with its sealing key, as
 * `clawguard inject` deploys every sidecar (and the collector checks each seal).
 */
function chain(agent: string, count: number, key: SealKey): AuditEvent[] {
  const source = { agent, role: "agent", host: "bench" };
  let head: ChainHead = EMPTY_HEAD;
  const events: AuditEvent[] = [];
  for (let i = 0; i < count; i++) {
    const event = sealEvent(
      draftEvent({
        source,
        type: "exec.completed",
        session: `s${i % 50}`,
        attrs: {
          command: `grep -rn TODO src/module-${i % 97}`,
          argv0: "grep",
          exit_code: i % 7 === 0 ? 1 : 0,
          bytes: 1000 + i,
          lines: 20 + (i % 100),
          duration_ms: 12,
          spilled: false,
          sha256: randomBytes(32).toString("hex"),
        },
      }),
      head,
      key,
    );
    head = { seq: event.seq, hash: event.hash };
    events.push(event);
  }
  return events;
}

/** psql with \timing: the server-side duration of the one \copy it runs, in ms. */
async function psqlTimed(url: string, command: string): Promise<number> {
  const { stdout } = await run("psql", [
    url,
    "-X",
    "-q",
    "-v",
    "ON_ERROR_STOP=1",
    "-c",
    "\\timing on",
    "-c",
    command,
  ]);
  const match = /Time: ([\d.]+) ms/.exec(stdout);
  if (!match) throw new Error(`no timing from psql: ${stdout.slice(0, 500)}`);
  return Number(match[1]);
}

export async function benchIngest(options: { events: number }): Promise<Figure[]> {
  if (!(await postgresAvailable())) throw new Error("PostgreSQL is needed for the ingest benchmark");
  const procs = new Processes();
  const dir = tempDir("clawguard-bench-ingest-");
  const db = await createTestDatabase();
  try {
    const perAgent = Math.ceil(options.events / AGENTS);
    const total = perAgent * AGENTS;
    const tokens = Array.from({ length: AGENTS }, () => randomBytes(16).toString("hex"));
    writeFileSync(join(dir.path, "tokens"), tokens.map((t, i) => `bench${i} ${t}\n`).join(""));
    const sealKeys = tokens.map(() => randomBytes(32).toString("hex"));
    writeFileSync(join(dir.path, "seal-keys"), sealKeys.map((k, i) => `bench${i} k1 ${k}\n`).join(""));
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    const collector = procs.cli(
      "collector",
      ["collector"],
      {
        DATABASE_URL: db.url,
        CLAWGUARD_COLLECTOR_LISTEN: `127.0.0.1:${port}`,
        CLAWGUARD_INGEST_TOKENS_FILE: join(dir.path, "tokens"),
        CLAWGUARD_SEAL_KEYS_FILE: join(dir.path, "seal-keys"),
        CLAWGUARD_READ_TOKEN: "r".repeat(32),
        CLAWGUARD_LOG_LEVEL: "warn",
      },
      dir.path,
    );
    await waitUntilUp(`${url}/readyz`, collector);

    progress(`ingest: sealing ${total} events for ${AGENTS} agents`);
    const bodies = tokens.map((_, a) => {
      const events = chain(`bench${a}`, perAgent, {
        id: "k1",
        key: Buffer.from(sealKeys[a] as string, "utf8"),
      });
      const out: string[] = [];
      for (let i = 0; i < events.length; i += BATCH)
        out.push(JSON.stringify({ events: events.slice(i, i + BATCH) }));
      return out;
    });

    progress(`ingest: POST /v1/events, ${BATCH} per request, ${AGENTS} agents concurrently`);
    const started = process.hrtime.bigint();
    await Promise.all(
      bodies.map(async (batches, a) => {
        for (const body of batches) {
          const response = await fetch(`${url}/v1/events`, {
            method: "POST",
            headers: { authorization: `Bearer ${tokens[a]}`, "content-type": "application/json" },
            body,
          });
          const result = (await response.json()) as { accepted: number; rejected: number };
          if (response.status !== 200 || result.rejected > 0)
            throw new Error(
              `ingest failed (HTTP ${response.status}): ${JSON.stringify(result).slice(0, 500)}`,
            );
        }
      }),
    );
    const ingestMs = Number(process.hrtime.bigint() - started) / 1e6;

    const verify = (await (
      await fetch(`${url}/v1/audit/verify`, { headers: { authorization: `Bearer ${"r".repeat(32)}` } })
    ).json()) as { ok: boolean; agents: { events: number }[] };
    const stored = verify.agents.reduce((sum, a) => sum + a.events, 0);
    if (!verify.ok || stored !== total)
      throw new Error(`verify after ingest: ok=${verify.ok}, ${stored}/${total} events`);
    await collector.kill("SIGTERM");

    progress("ingest: anchor, raw COPY of the same rows into a table of the same schema");
    const rows = join(dir.path, "rows.copy");
    await run("psql", [db.url, "-X", "-q", "-c", `\\copy audit_events TO '${rows}'`]);
    await run("psql", [
      db.url,
      "-X",
      "-q",
      "-c",
      "CREATE TABLE copy_anchor (LIKE audit_events INCLUDING ALL)",
    ]);
    const copyMs = await psqlTimed(db.url, `\\copy copy_anchor FROM '${rows}'`);

    const ingestRate = total / (ingestMs / 1000);
    const copyRate = total / (copyMs / 1000);
    return [
      {
        name: `ingest into PostgreSQL (${total} events)`,
        value: `${Math.round(ingestRate).toLocaleString("en-US")} events/s`,
        anchor: `${Math.round(copyRate).toLocaleString("en-US")} rows/s raw COPY`,
        ratio: (ingestRate / copyRate).toFixed(2),
        target: ">= 0.30",
        pass: ingestRate / copyRate >= 0.3,
      },
    ];
  } finally {
    await procs.cleanup();
    await db.drop();
    dir.cleanup();
  }
}
