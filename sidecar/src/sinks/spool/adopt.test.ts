import { existsSync, mkdirSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { draftEvent } from "@clawguard/shared/events/envelope";
import { silentLogger } from "@clawguard/shared/log";
import { tempDir } from "@clawguard/shared/testing";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { adoptWorkspaceSpool } from "./adopt.ts";
import { Spool } from "./spool.ts";

const source = { agent: "main", role: "agent", host: "test" };
let workspace: ReturnType<typeof tempDir>;
let state: ReturnType<typeof tempDir>;

beforeEach(() => {
  workspace = tempDir("clawguard-adopt-ws-");
  state = tempDir("clawguard-adopt-state-");
});
afterEach(() => {
  workspace.cleanup();
  state.cleanup();
});

const open = (dir: string) =>
  Spool.open({
    dir,
    maxBytes: 1 << 26,
    segmentBytes: 1 << 16,
    fsync: "always",
    fsyncIntervalMs: 10,
    log: silentLogger,
  });

describe("adoptWorkspaceSpool", () => {
  it("moves a pre-upgrade spool's unshipped events into the state dir, once", async () => {
    const old = join(workspace.path, ".clawguard", "agents", "main", "spool");
    const before = await open(old);
    const written = await before.append(
      Array.from({ length: 5 }, (_, i) => draftEvent({ source, type: "test.event", attrs: { i } })),
    );
    await before.close();
    const dir = join(state.path, "spool");
    expect(adoptWorkspaceSpool(workspace.path, "main", dir, silentLogger)).toBeGreaterThan(0);
    expect(existsSync(old)).toBe(false);
    const after = await open(dir);
    expect(after.backlog).toBe(5);
    expect(after.head.seq).toBe(written.at(-1)?.seq);
    await after.close();
    expect(adoptWorkspaceSpool(workspace.path, "main", dir, silentLogger)).toBe(0);
  });

  it("never merges into a spool that has events, and takes no link planted in the old one", async () => {
    const old = join(workspace.path, ".clawguard", "agents", "main", "spool");
    mkdirSync(old, { recursive: true });
    writeFileSync(join(state.path, "secret"), "not an event");
    symlinkSync(join(state.path, "secret"), join(old, "00000000000000000001.log"));
    const dir = join(state.path, "spool");
    expect(adoptWorkspaceSpool(workspace.path, "main", dir, silentLogger)).toBe(0);
    expect(existsSync(join(dir, "00000000000000000001.log"))).toBe(false);
    // A state dir spool that already holds events is never merged with an old one.
    const current = await open(dir);
    await current.append([draftEvent({ source, type: "test.event", attrs: {} })]);
    await current.close();
    mkdirSync(old, { recursive: true });
    writeFileSync(join(old, "x.log"), "x");
    expect(adoptWorkspaceSpool(workspace.path, "main", dir, silentLogger)).toBe(0);
    expect(existsSync(join(old, "x.log"))).toBe(true);
  });
});
