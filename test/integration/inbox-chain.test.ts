import { existsSync, mkdirSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { type AuditEvent, draftEvent, type EventDraft } from "@clawguard/shared/events/envelope";
import { tempDir } from "@clawguard/shared/testing";
import { dropInInbox } from "@clawguard/sidecar/sources/inbox/index";
import { afterAll, describe, expect, it } from "vitest";
import { freePort, Processes, runCli, startCollector, waitUntilUp } from "../support/processes.ts";

/**
 * The agent's inbox against the sealed chain: a draft the collector would refuse must never get a
 * seq (the collector would set it aside, and its seq would be a hole in the chain). A real
 * collector and a real sidecar; the test plays the agent, writing drafts as `clawguard exec` does.
 */

const procs = new Processes();
const ws = tempDir("clawguard-inbox-chain-");
const state = tempDir("clawguard-inbox-chain-state-");
const home = tempDir("clawguard-inbox-chain-collector-");

afterAll(async () => {
  await procs.cleanup();
  for (const dir of [ws, state, home]) dir.cleanup();
});

const agentSide = { agent: "main", role: "agent", host: "agent-container" };
const exec = (attrs: Record<string, unknown>) =>
  draftEvent({ source: agentSide, type: "exec.completed", attrs });

describe("drafts the collector would refuse, dropped in the agent's inbox", () => {
  it("never get a seq: the chain at the collector has no gap and verifies", { timeout: 60_000 }, async () => {
    const collector = await startCollector(procs, home.path, ["main"]);
    const port = await freePort();
    const config = join(ws.path, "clawguard.yaml");
    // Small segments: the events of the first draft leave the spool's memory of recent ids quickly.
    writeFileSync(
      config,
      JSON.stringify({ agent: "main", spool: { segmentBytes: "64KiB", fsync: "never" } }),
    );
    const sidecar = procs.cli(
      "sidecar",
      ["sidecar", "--config", config],
      {
        CLAWGUARD_WORKSPACE: ws.path,
        CLAWGUARD_STATE_DIR: state.path,
        CLAWGUARD_INGEST_TOKEN: collector.tokens.main as string,
        CLAWGUARD_COLLECTOR_URL: collector.url,
        CLAWGUARD_SIDECAR_LISTEN: `127.0.0.1:${port}`,
      },
      ws.path,
    );
    await waitUntilUp(`http://127.0.0.1:${port}/healthz`, sidecar);
    const inbox = join(ws.path, ".clawguard", "agents", "main", "inbox");
    const stored = async (): Promise<AuditEvent[]> => {
      const out: AuditEvent[] = [];
      let cursor: string | null = null;
      do {
        const url = new URL("/v1/audit", collector.url);
        url.searchParams.set("agent", "main");
        url.searchParams.set("limit", "1000");
        if (cursor) url.searchParams.set("cursor", cursor);
        const res = await fetch(url, { headers: { authorization: `Bearer ${collector.read}` } });
        const page = (await res.json()) as { events: AuditEvent[]; next_cursor: string | null };
        out.push(...page.events);
        cursor = page.next_cursor;
      } while (cursor);
      return out;
    };
    const execs = async () => (await stored()).filter((e) => e.type === "exec.completed");

    // A first command's outcome, as the agent-side CLI writes it; the agent keeps a copy.
    const first = exec({ command: "true", exit_code: 0, n: 0 });
    const firstText = JSON.stringify(first);
    dropInInbox(inbox, first);
    await expect.poll(async () => (await execs()).length, { timeout: 15_000 }).toBe(1);

    // memory.changed drafts whose attrs no memory version has: the collector refuses them.
    const badVersions: EventDraft[] = [
      { ...draftEvent({ source: agentSide, type: "memory.changed" }), attrs: { path: "MEMORY.md" } },
      draftEvent({
        source: agentSide,
        type: "memory.changed",
        attrs: { path: "MEMORY.md", change: "renamed", size: 1, sha256: "a".repeat(64) },
      }),
      draftEvent({
        source: agentSide,
        type: "memory.changed",
        attrs: { path: "a\nb", change: "deleted", size: 0, sha256: "b".repeat(64) },
      }),
    ];
    for (const draft of badVersions) dropInInbox(inbox, draft);
    // Enough outcomes to roll the spool's segments past the first one.
    const filler = Array.from({ length: 40 }, (_, n) => exec({ command: "x".repeat(4000), n: n + 1 }));
    for (const draft of filler) dropInInbox(inbox, draft);
    await expect.poll(async () => (await execs()).length, { timeout: 20_000 }).toBe(41);

    // A memory file whose name the collector would refuse (a line break): the watcher's own event
    // about it stands refused in the chain, in its place, instead of leaving a hole there.
    mkdirSync(join(ws.path, "memory"), { recursive: true });
    writeFileSync(join(ws.path, "memory", "bad\nname.md"), "a fact\n");
    await expect
      .poll(
        async () => (await stored()).filter((e) => e.type === "spool.refused").map((e) => e.attrs.draft_type),
        {
          timeout: 15_000,
        },
      )
      .toEqual(["memory.changed"]);

    // The first outcome again, byte for byte: its id is at the collector already. Taken from the
    // inbox, it is either known to the spool still (a duplicate: dropped) or a replay this sidecar
    // took before (a new id): never a second event under the same id, never a gap.
    writeFileSync(join(inbox, `${first.id}.json`), firstText);
    await expect.poll(() => existsSync(join(inbox, `${first.id}.json`)), { timeout: 15_000 }).toBe(false);
    await new Promise((r) => setTimeout(r, 1000)); // shipped, if it was appended
    const replayed = (await execs()).filter((e) => e.attrs.n === 0);
    expect(replayed.map((e) => e.id)).toContain(first.id);
    expect(replayed.length).toBeLessThanOrEqual(2);
    expect(new Set(replayed.map((e) => e.id)).size).toBe(replayed.length);

    // Each refused draft is set aside with its reason, in an event of its own.
    const events = await stored();
    const refused = events.filter((e) => e.type === "spool.quarantined");
    expect(refused.map((e) => String(e.attrs.problem))).toEqual([
      expect.stringContaining("attrs.change: expected one of created|modified|deleted"),
      expect.stringContaining("attrs.change: expected one of created|modified|deleted"),
      expect.stringContaining("attrs.path: expected a file path of 1-1024 printable chars"),
    ]);
    expect(events.some((e) => e.type === "memory.changed")).toBe(false);
    // Every seq from 1 to the head is at the collector: no hole, nothing set aside.
    const seqs = events.map((e) => e.seq).sort((a, b) => a - b);
    expect(seqs).toEqual(Array.from({ length: seqs.length }, (_, i) => i + 1));
    expect(existsSync(join(state.path, "dead-letter.jsonl"))).toBe(false);
    const ready = (await (await fetch(`http://127.0.0.1:${port}/readyz`)).json()) as { degraded?: string[] };
    expect(ready.degraded ?? []).toEqual([]);
    expect(readdirSync(inbox).filter((n) => n.endsWith(".json"))).toEqual([]);

    const verify = await runCli(
      ["audit", "verify", "--agent", "main"],
      { CLAWGUARD_COLLECTOR_URL: collector.url, CLAWGUARD_READ_TOKEN: collector.read },
      ws.path,
    );
    expect(verify.code, verify.output).toBe(0);
    expect(verify.stdout).toMatch(/^ok\s+main\s+\d+ events/m);
    expect(await sidecar.kill("SIGTERM")).toBe(0);
  });
});
