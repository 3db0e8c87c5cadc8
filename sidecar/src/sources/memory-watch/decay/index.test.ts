import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { Io } from "@clawguard/shared/cli/command";
import { type EventDraft, validateDraft } from "@clawguard/shared/events/envelope";
import type { Logger } from "@clawguard/shared/log";
import { tempDir } from "@clawguard/shared/testing";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { memoryCommand } from "../../../cli/commands/memory.ts";
import { DurableFs } from "./durable-fs.ts";
import { MemoryDecay, parseDecayConfig, plan, planActions } from "./index.ts";
import { acquireDecayLock } from "./lock.ts";
import { buildRichWorkspace, RICH_NOW, tree } from "./test-support.ts";

let tmp: ReturnType<typeof tempDir>;
let ws: string;
beforeEach(() => {
  tmp = tempDir("clawguard-decay-index-");
  ws = tmp.path;
});
afterEach(() => tmp.cleanup());

const source = { agent: "main", role: "agent", host: "test-host" };

function capture(): Logger & { lines: { level: string; msg: string; fields?: Record<string, unknown> }[] } {
  const lines: { level: string; msg: string; fields?: Record<string, unknown> }[] = [];
  const log = (level: string) => (msg: string, fields?: Record<string, unknown>) =>
    void lines.push({ level, msg, fields });
  const logger = {
    debug: log("debug"),
    info: log("info"),
    warn: log("warn"),
    error: log("error"),
    lines,
    child: () => logger,
  };
  return logger;
}

describe("MemoryDecay component", () => {
  it("publishes a valid memory.decayed draft for every move and deletion", async () => {
    buildRichWorkspace(ws);
    const expected = planActions(plan(ws, new Date(RICH_NOW), {}));
    const published: EventDraft[] = [];
    const log = capture();
    const decay = new MemoryDecay({
      workspace: ws,
      config: parseDecayConfig({}),
      source,
      publish: async (drafts) => void published.push(...drafts),
      log,
      clock: () => new Date(RICH_NOW),
    });
    await decay.runOnce();
    expect(published.map((d) => validateDraft(d).ok)).toEqual(expected.map(() => true));
    expect(published.map((d) => [d.type, d.source, d.attrs.op, d.attrs.from, d.attrs.to])).toEqual(
      expected.map((a) => ["memory.decayed", source, a.op, a.from, a.to]),
    );
    expect(decay.last).toMatchObject({ ok: true, actions: expected.length });
    expect(log.lines.find((l) => l.msg === "memory decayed")?.fields).toMatchObject({
      actions: expected.length,
    });
  });

  it("skips a turn while another decayer holds the lock, and records other failures", async () => {
    buildRichWorkspace(ws);
    const lock = acquireDecayLock(new DurableFs(), join(ws, "memory/.decay"), 60_000, "test");
    const log = capture();
    const decay = new MemoryDecay({
      workspace: ws,
      config: parseDecayConfig({}),
      source,
      publish: async () => {},
      log,
      clock: () => new Date(RICH_NOW),
    });
    await decay.runOnce();
    expect(log.lines.map((l) => [l.level, l.msg])).toEqual([
      ["info", "memory decay skipped: another decayer holds the lock"],
    ]);
    lock.release();
    const failing = new MemoryDecay({
      workspace: ws,
      config: parseDecayConfig({}),
      source,
      publish: async () => {
        throw new Error("spool full");
      },
      log,
      clock: () => new Date(RICH_NOW),
    });
    await failing.runOnce();
    expect(failing.last).toMatchObject({ ok: false, error: "spool full" });
    // The journal keeps the run: the next turn finishes it.
    const ok = new MemoryDecay({
      workspace: ws,
      config: parseDecayConfig({}),
      source,
      publish: async () => {},
      log,
      clock: () => new Date(RICH_NOW),
    });
    await ok.runOnce();
    expect(ok.last).toMatchObject({ ok: true });
    expect(readdirSync(join(ws, "memory/.decay"))).toEqual([]);
  });

  it("stops before start and twice; once started it runs on its own timer, unless disabled", async () => {
    const decay = new MemoryDecay({
      workspace: ws,
      config: parseDecayConfig({}),
      source,
      publish: async () => {},
      log: capture(),
      firstRunDelayMs: 0,
    });
    await decay.stop();
    await decay.stop();
    const started = new MemoryDecay({
      workspace: ws,
      config: parseDecayConfig({}),
      source,
      publish: async () => {},
      log: capture(),
      firstRunDelayMs: 0,
    });
    await started.start();
    await new Promise((r) => setTimeout(r, 20));
    await started.stop();
    await started.stop();
    expect(started.last).toMatchObject({ ok: true, actions: 0 });
    const disabled = new MemoryDecay({
      workspace: ws,
      config: parseDecayConfig({ enabled: false }),
      source,
      publish: async () => {},
      log: capture(),
      firstRunDelayMs: 0,
    });
    await disabled.start();
    await new Promise((r) => setTimeout(r, 20));
    expect(disabled.last).toBeUndefined();
    await disabled.stop();
  });
});

describe("clawguard memory decay", () => {
  const io = () => {
    const out: string[] = [];
    const err: string[] = [];
    const value: Io = {
      env: { CLAWGUARD_WORKSPACE: ws },
      cwd: ws,
      out: (t) => void out.push(String(t)),
      err: (t) => void err.push(t),
    };
    return { value, out, err };
  };

  it("prints in a dry run exactly what the real run then does, and leaves the events in the inbox", async () => {
    buildRichWorkspace(ws);
    const before = tree(ws);
    const dry = io();
    expect(await memoryCommand.run(["decay", "--dry-run", "--now", RICH_NOW], dry.value)).toBe(0);
    expect(tree(ws)).toEqual(before);
    const planned = dry.out
      .join("")
      .split("\n")
      .filter((l) => l.startsWith("  ") && !l.startsWith("  skipped"))
      .map((l) => l.trim());
    const real = io();
    expect(await memoryCommand.run(["decay", "--now", RICH_NOW], real.value)).toBe(0);
    const done = real.out.join("").trim().split("\n");
    expect(done.slice(0, -1)).toEqual(planned);
    expect(done.at(-1)).toBe(`memory decay of ${ws}: ${planned.length} moves and deletions`);
    const inbox = join(ws, ".clawguard/agents/main/inbox");
    const drafts = readdirSync(inbox).map(
      (n) => JSON.parse(readFileSync(join(inbox, n), "utf8")) as EventDraft,
    );
    expect(drafts).toHaveLength(planned.length);
    expect(drafts.every((d) => validateDraft(d).ok && d.type === "memory.decayed")).toBe(true);
  });

  it("names what is wrong with its arguments", async () => {
    await expect(memoryCommand.run(["compact"], io().value)).rejects.toThrow(
      /unknown subcommand "compact" \(history, restore, decay\)/,
    );
    await expect(memoryCommand.run(["decay", "--now", "yesterday"], io().value)).rejects.toThrow(
      /--now: expected an RFC 3339 time, got "yesterday"/,
    );
  });
});
