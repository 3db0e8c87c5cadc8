import {
  existsSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { type AuditEvent, draftEvent, type EventDraft } from "@clawguard/shared/events/envelope";
import { ulid } from "@clawguard/shared/ids";
import { silentLogger } from "@clawguard/shared/log";
import { tempDir } from "@clawguard/shared/testing";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { EventBus } from "../../bus.ts";
import { Spool } from "../../sinks/spool/spool.ts";
import { reserveDraft } from "./drop.ts";
import { dropInInbox, InboxSource } from "./index.ts";

const source = { agent: "main", role: "agent", host: "test-host" };
const draft = (i: number) => draftEvent({ source, type: "exec.completed", attrs: { i } });

let tmp: ReturnType<typeof tempDir>;
let spool: Spool;
let inbox: InboxSource;
let dir: string;
let quarantineDir: string;

async function setup(spoolMaxBytes = 16 * 1024 * 1024, idlePollMs?: number) {
  dir = join(tmp.path, "inbox");
  quarantineDir = join(tmp.path, "quarantine");
  spool = await Spool.open({
    dir: join(tmp.path, "spool"),
    maxBytes: spoolMaxBytes,
    segmentBytes: 1024 * 1024,
    fsync: "never",
    fsyncIntervalMs: 1000,
    log: silentLogger,
  });
  inbox = new InboxSource({
    dir,
    quarantineDir,
    source,
    bus: new EventBus(spool),
    alreadySpooled: (id) => spool.has(id),
    log: silentLogger,
    pollMs: 50,
    idlePollMs,
  });
}

beforeEach(() => {
  tmp = tempDir("clawguard-inbox-");
});

afterEach(async () => {
  await inbox?.stop();
  await spool?.close();
  tmp.cleanup();
});

async function stored(): Promise<AuditEvent[]> {
  return (await spool.read(0, 10_000, 1 << 30)).map((e) => JSON.parse(e.json) as AuditEvent);
}

const pending = () => readdirSync(dir).filter((n) => n.endsWith(".json"));

describe("dropInInbox", () => {
  it("leaves one 0600 file named by the draft's id, and no temp file", async () => {
    dir = join(tmp.path, "inbox");
    const d = draft(1);
    const path = dropInInbox(dir, d);
    expect(path).toBe(join(dir, `${d.id}.json`));
    expect(readdirSync(dir)).toEqual([`${d.id}.json`]);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(JSON.parse(readFileSync(path, "utf8"))).toEqual(d);
  });
});

describe("InboxSource", () => {
  it("appends good drafts once, oldest first, and removes their files", async () => {
    await setup();
    const drafts = Array.from({ length: 25 }, (_, i) => draft(i));
    for (const d of [...drafts].reverse()) dropInInbox(dir, d);
    mkdirSync(dir, { recursive: true });
    await inbox.kick();
    await inbox.kick();
    const events = await stored();
    expect(events.map((e) => e.id)).toEqual(drafts.map((d) => d.id));
    expect(events.map((e) => e.seq)).toEqual(drafts.map((_, i) => i + 1));
    expect(events[3]).toMatchObject({ ...drafts[3], seq: 4 });
    expect(pending()).toEqual([]);
  });

  it("keeps a draft's own id (also one written while the sidecar was down) but for a replay it took before, or one ahead of the clock", async () => {
    await setup();
    // As after the spool's segments rolled: it no longer holds what it shipped.
    inbox = new InboxSource({
      dir,
      quarantineDir,
      source,
      bus: new EventBus(spool),
      alreadySpooled: () => false,
      log: silentLogger,
    });
    const fresh = draft(1);
    // Ids 9 hours behind and ahead (the 5th character counts 32^5 ms), made by hand: ulid() of
    // another time would move this process's monotonic clock.
    const CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
    const shifted = (d: EventDraft, by: number) => ({
      ...d,
      id: d.id.slice(0, 4) + CROCKFORD[CROCKFORD.indexOf(d.id[4] as string) + by] + d.id.slice(5),
    });
    const before = shifted(draft(0), -1);
    const ahead = shifted(draft(2), 1);
    for (const d of [before, fresh, ahead]) dropInInbox(dir, d);
    await inbox.kick();
    // The fresh one again, byte for byte.
    dropInInbox(dir, { ...fresh });
    await inbox.kick();
    const events = await stored();
    expect(events.map((e) => e.attrs.i)).toEqual([0, 1, 2, 1]);
    expect(events[0]?.id).toBe(before.id); // written before this start: new to the collector, kept
    expect(events[1]?.id).toBe(fresh.id);
    expect(events[2]?.id).not.toBe(ahead.id);
    expect(events[3]?.id).not.toBe(fresh.id); // a replay: the collector holds that id already
    expect(new Set(events.map((e) => e.id)).size).toBe(4);
  });

  it("does not append again a draft the spool already holds (a crash between append and unlink)", async () => {
    await setup();
    const d = draft(1);
    await spool.append([d]);
    dropInInbox(dir, d);
    await inbox.kick();
    expect((await stored()).map((e) => e.id)).toEqual([d.id]);
    expect(pending()).toEqual([]);
  });

  it("leaves a draft seen mid-write (not JSON yet, just written) for a later drain", async () => {
    await setup();
    const d = draft(1);
    const text = JSON.stringify(d);
    const path = join(dir, `${d.id}.json`);
    mkdirSync(dir, { recursive: true });
    writeFileSync(path, text.slice(0, 10)); // a writer that does not rename into place, mid-write
    await inbox.kick();
    expect(pending()).toEqual([`${d.id}.json`]);
    expect(existsSync(quarantineDir) ? readdirSync(quarantineDir) : []).toEqual([]);
    writeFileSync(path, text);
    await inbox.kick();
    expect(pending()).toEqual([]);
    expect((await stored()).map((e) => e.id)).toEqual([d.id]);
  });

  it("quarantines a malformed file once, reports it, and still appends the good ones", async () => {
    await setup();
    const good = draft(1);
    dropInInbox(dir, good);
    const badJson = `${ulid()}.json`;
    writeFileSync(join(dir, badJson), "{ not json");
    // Written a minute ago: not a write still under way.
    utimesSync(join(dir, badJson), new Date(Date.now() - 60_000), new Date(Date.now() - 60_000));
    const badShape = draftEvent({ source, type: "NOT A TYPE", attrs: {} }) as EventDraft;
    writeFileSync(join(dir, `${badShape.id}.json`), JSON.stringify(badShape));
    const misnamed = draft(2);
    const misnamedFile = `${ulid()}.json`;
    writeFileSync(join(dir, misnamedFile), JSON.stringify(misnamed));

    await inbox.kick();
    await inbox.kick();
    expect(pending()).toEqual([]);
    expect(readdirSync(quarantineDir).sort()).toEqual(
      [`inbox-${badJson}`, `inbox-${badShape.id}.json`, `inbox-${misnamedFile}`].sort(),
    );
    expect(readFileSync(join(quarantineDir, `inbox-${badJson}`), "utf8")).toBe("{ not json");
    const events = await stored();
    const reports = events.filter((e) => e.type === "spool.quarantined");
    expect(reports).toHaveLength(3);
    const problems = Object.fromEntries(
      reports.map((r) => [String(r.attrs.file).split("/").pop(), String(r.attrs.problem)]),
    );
    expect(problems[`inbox-${badJson}`]).toMatch(/^not valid JSON/);
    expect(problems[`inbox-${badShape.id}.json`]).toMatch(/\.type: expected a dotted lower-case type/);
    expect(problems[`inbox-${misnamedFile}`]).toBe("id does not match the file name");
    for (const r of reports)
      expect(r).toMatchObject({ severity: "error", source, attrs: { where: "inbox" } });
    expect(events.filter((e) => e.type === "exec.completed").map((e) => e.id)).toEqual([good.id]);
  });

  it("drains an inbox of its own outside the workspace (inboxDir), as it drains the workspace's", async () => {
    await setup();
    await inbox.stop();
    const workspace = join(tmp.path, "ws");
    mkdirSync(workspace);
    inbox = new InboxSource({
      dir,
      quarantineDir,
      workspace,
      source,
      bus: new EventBus(spool),
      alreadySpooled: (id) => spool.has(id),
      log: silentLogger,
      pollMs: 50,
    });
    const d = draft(1);
    dropInInbox(dir, d);
    // A draft in another agent's name: set aside beside it, as in the workspace.
    const forged = { ...draft(2), source: { ...source, agent: "gateway" } };
    writeFileSync(join(dir, `${forged.id}.json`), JSON.stringify(forged));
    await inbox.kick();
    expect(pending()).toEqual([]);
    const events = await stored();
    expect(events.map((e) => e.type).sort()).toEqual(["exec.completed", "spool.quarantined"]);
    expect(events.find((e) => e.type === "exec.completed")?.id).toBe(d.id);
    expect(readdirSync(quarantineDir)).toEqual([`inbox-${forged.id}.json`]);
    expect(inbox.problem).toBeUndefined();
  });

  it("quarantines what the agent can drop that no store could take: NUL, deep, huge, another agent", async () => {
    await setup();
    const nul = { ...draft(1), session: "s\u0000x" };
    const surrogate = { ...draft(2), attrs: { x: "\ud800" } };
    const year0 = { ...draft(3), time: "0000-01-01T00:00:00Z" };
    const other = { ...draft(4), source: { ...source, agent: "someone-else" } };
    mkdirSync(dir, { recursive: true });
    for (const d of [nul, surrogate, year0, other])
      writeFileSync(join(dir, `${d.id}.json`), JSON.stringify(d));
    const deep = draft(5);
    writeFileSync(
      join(dir, `${deep.id}.json`),
      JSON.stringify(deep).replace(
        '"attrs":{"i":5}',
        `"attrs":${'{"n":'.repeat(10_000)}1${"}".repeat(10_000)}`,
      ),
    );
    const huge = draft(6);
    writeFileSync(
      join(dir, `${huge.id}.json`),
      JSON.stringify({ ...huge, attrs: { pad: "x".repeat(200_000) } }),
    );
    const good = draft(7);
    dropInInbox(dir, good);
    await inbox.kick();
    expect(pending()).toEqual([]);
    const events = await stored();
    const problems = events
      .filter((e) => e.type === "spool.quarantined")
      .map((e) => String(e.attrs.problem))
      .sort();
    expect(problems).toHaveLength(6);
    expect(problems).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/session: contains a NUL/),
        expect.stringMatching(/attrs\.x: contains a lone UTF-16 surrogate/),
        expect.stringMatching(/time: year 0000 is out of range/),
        expect.stringMatching(/source\.agent: expected "main"/),
        expect.stringMatching(/nested deeper than 32/),
        expect.stringMatching(/^200\d\d\d bytes, expected at most 131072/),
      ]),
    );
    expect(events.filter((e) => e.type === "exec.completed").map((e) => e.id)).toEqual([good.id]);
  });

  it("takes only exec.* events from the agent, as this sidecar's own role and host", async () => {
    await setup();
    mkdirSync(dir, { recursive: true });
    const forged = ["audit.integrity", "llm.request", "health.changed"].map((type, i) => ({
      ...draft(20 + i),
      type,
    }));
    for (const d of forged) writeFileSync(join(dir, `${d.id}.json`), JSON.stringify(d));
    const claimed = { ...draft(30), source: { ...source, role: "gateway", host: "elsewhere" } };
    writeFileSync(join(dir, `${claimed.id}.json`), JSON.stringify(claimed));
    await inbox.kick();
    const events = await stored();
    const problems = events.filter((e) => e.type === "spool.quarantined").map((e) => String(e.attrs.problem));
    expect(problems).toHaveLength(3);
    for (const p of problems)
      expect(p).toMatch(/type: expected an exec\.\*, memory\.changed or memory\.decayed event/);
    const taken = events.filter((e) => e.type === "exec.completed");
    expect(taken.map((e) => [e.id, e.source])).toEqual([[claimed.id, source]]);
  });

  it("ignores files that are not drafts (temp files of a drop in progress)", async () => {
    await setup();
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, `.${ulid()}.tmp`), "{");
    writeFileSync(join(dir, "README.txt"), "hello");
    await inbox.kick();
    expect(readdirSync(dir).sort()).toHaveLength(2);
    expect(existsSync(quarantineDir)).toBe(false);
    expect(await stored()).toEqual([]);
  });

  it("a reservation left by a launcher killed mid-run goes after a day, recorded as exec.abandoned", async () => {
    await setup();
    const [old, fresh] = [ulid(), ulid()];
    reserveDraft(dir, old);
    reserveDraft(dir, fresh);
    const dayAgo = new Date(Date.now() - 25 * 3600 * 1000);
    utimesSync(join(dir, `.reserved-${old}.tmp`), dayAgo, dayAgo);
    await inbox.kick();
    expect(readdirSync(dir)).toEqual([`.reserved-${fresh}.tmp`]);
    const [abandoned, ...rest] = await stored();
    expect(rest).toEqual([]);
    expect(abandoned).toMatchObject({ type: "exec.abandoned", severity: "warn", attrs: { run_id: old } });
  });

  it("leaves drafts in the inbox while the spool is full", async () => {
    await setup(100); // smaller than a segment header: every append fails with spool.full
    dropInInbox(dir, draft(1));
    dropInInbox(dir, draft(2));
    await inbox.kick();
    expect(pending()).toHaveLength(2);
  });

  it("drains on its own once started, and stops cleanly", async () => {
    await setup();
    await inbox.start();
    const d = draft(1);
    dropInInbox(dir, d);
    await expect
      .poll(async () => (await stored()).map((e) => e.id), { timeout: 3000, interval: 20 })
      .toEqual([d.id]);
    await inbox.stop();
    await inbox.stop();
    dropInInbox(dir, draft(2));
    await inbox.kick();
    await new Promise((r) => setTimeout(r, 120));
    expect(pending()).toHaveLength(1);
  });

  it("at rest leaves a watched inbox to its watcher: a draft arrives at once, also in a folder made again", async () => {
    await setup(undefined, 60_000);
    await inbox.start();
    await new Promise((r) => setTimeout(r, 300)); // drained, found empty: the next poll is a minute away
    const ids = async () => (await stored()).map((e) => e.id);
    const first = draft(1);
    dropInInbox(dir, first);
    await expect.poll(ids, { timeout: 3000, interval: 20 }).toEqual([first.id]);
    rmSync(dir, { recursive: true });
    mkdirSync(dir);
    await inbox.kick(); // what the next poll does: the new folder is watched
    const second = draft(2);
    dropInInbox(dir, second);
    await expect.poll(ids, { timeout: 3000, interval: 20 }).toEqual([first.id, second.id]);
  });

  it("can be stopped before it was started", async () => {
    await setup();
    await inbox.stop();
    await inbox.stop();
  });
});

describe("InboxSource in a workspace the agent booby-trapped", () => {
  it("never reads a draft through a link (its target's bytes would reach the audit trail)", async () => {
    await setup();
    const secretFile = join(tmp.path, "secret");
    writeFileSync(secretFile, "ingest-0123456789abcdef-secret");
    mkdirSync(dir, { recursive: true });
    symlinkSync(secretFile, join(dir, `${ulid()}.json`));
    dropInInbox(dir, draft(1));
    await inbox.start();
    await waitFor(async () => (await stored()).length === 2);
    const events = await stored();
    expect(JSON.stringify(events)).not.toContain("0123456789abcdef");
    expect(events.find((e) => e.type === "spool.quarantined")?.attrs.problem).toMatch(/not a regular file/);
    expect(readFileSync(secretFile, "utf8")).toBe("ingest-0123456789abcdef-secret");
  });

  it("does not drain an inbox folder that is a link out of the workspace: moves the link aside, records it, goes on", async () => {
    await setup();
    const elsewhere = join(tmp.path, "elsewhere");
    mkdirSync(elsewhere);
    const planted = join(elsewhere, `${ulid()}.json`);
    writeFileSync(planted, JSON.stringify(draft(7)));
    const ws = join(tmp.path, "ws");
    mkdirSync(join(ws, ".clawguard", "agents"), { recursive: true });
    // The agent links .clawguard/agents/main away: its later commands' drafts would land elsewhere.
    symlinkSync(elsewhere, join(ws, ".clawguard", "agents", "main"));
    const inboxDir = join(ws, ".clawguard", "agents", "main", "inbox");
    inbox = new InboxSource({
      dir: inboxDir,
      quarantineDir: join(ws, "quarantine"),
      workspace: ws,
      source,
      bus: new EventBus(spool),
      alreadySpooled: (id) => spool.has(id),
      log: silentLogger,
      pollMs: 50,
    });
    await inbox.start();
    await waitFor(async () => (await stored()).some((e) => e.type === "inbox.linked"));
    const linked = (await stored()).find((e) => e.type === "inbox.linked");
    expect(linked?.attrs).toMatchObject({
      path: ".clawguard/agents/main",
      target: elsewhere,
      moved_aside: true,
    });
    expect(existsSync(planted)).toBe(true); // never read through the link
    expect(lstatSync(join(ws, ".clawguard", "agents", "main")).isDirectory()).toBe(true);
    expect(inbox.problem).toBeUndefined();
    // The trail goes on: a command's draft in the inbox made again is drained.
    dropInInbox(inboxDir, draft(8));
    await waitFor(async () => (await stored()).some((e) => e.attrs.i === 8));
    expect((await stored()).filter((e) => e.attrs.i === 7)).toEqual([]);
  });
});

async function waitFor(check: () => Promise<boolean>): Promise<void> {
  for (const deadline = Date.now() + 5000; !(await check()); ) {
    if (Date.now() > deadline) throw new Error("timed out");
    await new Promise((r) => setTimeout(r, 20));
  }
}
