import { execFileSync, spawn } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import {
  appendFileSync,
  chmodSync,
  mkdirSync,
  renameSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { EventDraft } from "@clawguard/shared/events/envelope";
import { createLogger, silentLogger } from "@clawguard/shared/log";
import { tempDir } from "@clawguard/shared/testing";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { BlobStore } from "../../sinks/blobs/store.ts";
import { Globs } from "./globs.ts";
import { memoryWatchConfig } from "./watch-config.ts";
import { MemoryWatcher } from "./watcher.ts";

let tmp: ReturnType<typeof tempDir>;
let watcher: MemoryWatcher | undefined;
let events: EventDraft[];

beforeEach(() => {
  tmp = tempDir("clawguard-memory-");
  events = [];
  mkdirSync(join(tmp.path, "memory"));
});
afterEach(async () => {
  await watcher?.stop();
  watcher = undefined;
  tmp.cleanup();
});

async function start(config: Record<string, unknown> = {}) {
  watcher = new MemoryWatcher({
    workspace: tmp.path,
    config: memoryWatchConfig.parse({ settleMs: 50, ...config }),
    source: { agent: "main", role: "agent", host: "test" },
    publish: async (drafts) => {
      events.push(...drafts);
    },
    log: silentLogger,
  });
  await watcher.start();
  await watcher.ready();
}

/** A watcher of the workspace (settle 50 ms) with a state file, its log's lines kept in `lines`. */
function loggedWatcher(stateFile: string, lines: string[]): MemoryWatcher {
  return new MemoryWatcher({
    workspace: tmp.path,
    config: memoryWatchConfig.parse({ settleMs: 50 }),
    source: { agent: "main", role: "agent", host: "test" },
    publish: async (drafts) => {
      events.push(...drafts);
    },
    stateFile,
    log: createLogger({ format: "json", write: (line) => lines.push(line) }),
  });
}

async function eventFor(type: string, path: string, count = 1): Promise<EventDraft> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const found = events.filter((e) => e.type === type && e.attrs.path === path);
    if (found.length >= count) return found[count - 1] as EventDraft;
    if (Date.now() > deadline)
      throw new Error(`no ${type} #${count} for ${path}; got ${JSON.stringify(events)}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const sha = (text: string) => createHash("sha256").update(text).digest("hex");

describe("MemoryWatcher", () => {
  it("reports a new file, appended lines, and a deletion, with size, sha256 and line counts", async () => {
    await start();
    const daily = join(tmp.path, "memory", "2026-11-26.md");
    writeFileSync(daily, "# today\n- met the team\n");
    expect((await eventFor("memory.changed", "memory/2026-11-26.md")).attrs).toMatchObject({
      change: "created",
      size: 23,
      sha256: sha("# today\n- met the team\n"),
      lines_added: 3,
      lines_removed: 0,
    });
    appendFileSync(daily, "- shipped the proxy\n- fixed the spool\n");
    expect((await eventFor("memory.changed", "memory/2026-11-26.md", 2)).attrs).toMatchObject({
      change: "modified",
      lines_added: 2,
      lines_removed: 0,
    });
    rmSync(daily);
    expect((await eventFor("memory.changed", "memory/2026-11-26.md", 3)).attrs).toMatchObject({
      change: "deleted",
      sha256: null,
    });
  });

  it("takes write-to-temp-then-rename as one change, and ignores files it does not watch", async () => {
    writeFileSync(join(tmp.path, "MEMORY.md"), "old fact\nkept fact\n");
    await start();
    writeFileSync(join(tmp.path, "MEMORY.md.tmp"), "new fact\nkept fact\n");
    renameSync(join(tmp.path, "MEMORY.md.tmp"), join(tmp.path, "MEMORY.md"));
    writeFileSync(join(tmp.path, "notes.txt"), "not memory\n");
    mkdirSync(join(tmp.path, "node_modules"));
    writeFileSync(join(tmp.path, "node_modules", "README.md"), "not memory either\n");
    // The first start reports what is there; the rename is one modification.
    expect((await eventFor("memory.changed", "MEMORY.md")).attrs).toMatchObject({ change: "created" });
    expect((await eventFor("memory.changed", "MEMORY.md", 2)).attrs).toMatchObject({
      change: "modified",
      lines_added: 1,
      lines_removed: 1,
    });
    await new Promise((r) => setTimeout(r, 300));
    expect(events.map((e) => e.attrs.path)).toEqual(["MEMORY.md", "MEMORY.md"]);
  });

  it("raises memory.oversize for a daily log over its limit and a bootstrap file over its cap, and says why", async () => {
    writeFileSync(join(tmp.path, "AGENTS.md"), "x".repeat(150));
    await start({ dailyMaxBytes: 2048, bootstrapMaxChars: 100 });
    // An oversize file found at start is reported too.
    expect((await eventFor("memory.oversize", "AGENTS.md")).attrs).toMatchObject({
      kind: "bootstrap",
      chars: 150,
      limit: 100,
    });
    writeFileSync(join(tmp.path, "memory", "2026-11-25.md"), `${"line of the day\n".repeat(200)}`);
    expect((await eventFor("memory.oversize", "memory/2026-11-25.md")).attrs).toMatchObject({
      kind: "daily",
      size: 3200,
      limit: 2048,
    });
    expect(watcher?.reasons().join("\n")).toMatch(
      /memory\/2026-11-25.md is 3200 bytes, over the daily log limit of 2048/,
    );
    expect(watcher?.reasons().join("\n")).toMatch(/AGENTS.md is 150 chars, over the 100-char bootstrap cap/);
    writeFileSync(join(tmp.path, "AGENTS.md"), "short now");
    await eventFor("memory.changed", "AGENTS.md", 2);
    expect(watcher?.reasons()).toHaveLength(1);
  });

  it("reports at the next start what changed while it was stopped, and keeps every version's content", async () => {
    const kept = new Map<string, string>();
    const stateFile = join(tmp.path, ".clawguard", "memory-state.json");
    const startWith = async () => {
      watcher = new MemoryWatcher({
        workspace: tmp.path,
        config: memoryWatchConfig.parse({ settleMs: 50 }),
        source: { agent: "main", role: "agent", host: "test" },
        publish: async (drafts) => {
          events.push(...drafts);
        },
        keepContent: (sha256, content) => {
          kept.set(sha256, content.toString());
          return true;
        },
        stateFile,
        log: silentLogger,
      });
      await watcher.start();
      await watcher.ready();
    };
    writeFileSync(join(tmp.path, "MEMORY.md"), "fact one\n");
    writeFileSync(join(tmp.path, "memory", "2026-11-20.md"), "old day\n");
    writeFileSync(join(tmp.path, "USER.md"), "unchanged\n");
    await startWith();
    expect(events.map((e) => e.attrs.change)).toEqual(["created", "created", "created"]);
    await watcher?.stop();
    writeFileSync(join(tmp.path, "MEMORY.md"), "fact one\nfact two\n");
    rmSync(join(tmp.path, "memory", "2026-11-20.md"));
    events = [];
    await startWith();
    const byPath = Object.fromEntries(events.map((e) => [e.attrs.path, e.attrs]));
    expect(Object.keys(byPath).sort()).toEqual(["MEMORY.md", "memory/2026-11-20.md"]);
    expect(byPath["MEMORY.md"]).toMatchObject({
      change: "modified",
      sha256: sha("fact one\nfact two\n"),
      lines_added: null,
    });
    expect(byPath["memory/2026-11-20.md"]).toMatchObject({ change: "deleted" });
    expect(kept.get(sha("fact one\nfact two\n"))).toBe("fact one\nfact two\n");
    expect(kept.get(sha("old day\n"))).toBe("old day\n");
  });

  it("records a version by hash and size when its content does not fit the backlog (the agent writes faster than it ships)", async () => {
    const store = new BlobStore(join(tmp.path, "state-blobs"), 1024 * 1024);
    watcher = new MemoryWatcher({
      workspace: tmp.path,
      config: memoryWatchConfig.parse({ settleMs: 50 }),
      source: { agent: "main", role: "agent", host: "test" },
      publish: async (drafts) => {
        events.push(...drafts);
      },
      keepContent: (sha256, content) => store.put(sha256, content),
      log: silentLogger,
    });
    await watcher.start();
    await watcher.ready();
    for (let i = 0; i < 3; i++) {
      writeFileSync(
        join(tmp.path, "memory", "2026-12-07.md"),
        randomBytes(600 * 1024)
          .toString("hex")
          .slice(0, 600 * 1024),
      );
      await eventFor("memory.changed", "memory/2026-12-07.md", i + 1);
    }
    const versions = events.filter((e) => e.type === "memory.changed");
    expect(versions.map((e) => e.attrs.content_kept)).toEqual([undefined, false, false]);
    expect(versions.map((e) => e.severity)).toEqual(["info", "warn", "warn"]);
    expect(store.bytes).toBeLessThanOrEqual(1024 * 1024);
    expect(store.list()).toHaveLength(1);
  });

  it("watches what the globs say in order: a ! pattern leaves a file out (no event, no content kept), a named dot folder is in", async () => {
    const kept = new Map<string, string>();
    mkdirSync(join(tmp.path, ".hidden"));
    writeFileSync(join(tmp.path, "memory", "secret.md"), "the password\n");
    watcher = new MemoryWatcher({
      workspace: tmp.path,
      config: memoryWatchConfig.parse({
        settleMs: 50,
        globs: ["memory/**/*.md", "!memory/secret.md", ".hidden/*.md"],
      }),
      source: { agent: "main", role: "agent", host: "test" },
      publish: async (drafts) => {
        events.push(...drafts);
      },
      keepContent: async (sha256, content) => {
        kept.set(sha256, content.toString());
        return true;
      },
      log: silentLogger,
    });
    await watcher.start();
    await watcher.ready();
    writeFileSync(join(tmp.path, "memory", "secret.md"), "the password, changed\n");
    writeFileSync(join(tmp.path, ".hidden", "notes.md"), "hidden but named\n");
    writeFileSync(join(tmp.path, "memory", "2026-12-07.md"), "a fact\n");
    await eventFor("memory.changed", ".hidden/notes.md");
    await eventFor("memory.changed", "memory/2026-12-07.md");
    await new Promise((r) => setTimeout(r, 300));
    expect(events.map((e) => e.attrs.path).sort()).toEqual([".hidden/notes.md", "memory/2026-12-07.md"]);
    expect([...kept.values()].sort()).toEqual(["a fact\n", "hidden but named\n"]);
  });

  it("a file a ! glob added since the last run left out is forgotten at the next start: not read, no event, no content kept", async () => {
    const stateFile = join(tmp.path, "memory-state.json");
    const kept = new Map<string, string>();
    const make = (globs: string[]) =>
      new MemoryWatcher({
        workspace: tmp.path,
        config: memoryWatchConfig.parse({ settleMs: 50, globs }),
        source: { agent: "main", role: "agent", host: "test" },
        publish: async (drafts) => {
          events.push(...drafts);
        },
        keepContent: async (sha256, content) => {
          kept.set(sha256, content.toString());
          return true;
        },
        stateFile,
        log: silentLogger,
      });
    writeFileSync(join(tmp.path, "memory", "secret.md"), "not yet secret\n");
    watcher = make(["memory/**/*.md"]);
    await watcher.start();
    await watcher.ready();
    await eventFor("memory.changed", "memory/secret.md");
    await watcher.stop();
    writeFileSync(join(tmp.path, "memory", "secret.md"), "the password\n");
    writeFileSync(join(tmp.path, "memory", "2026-12-07.md"), "a fact\n");
    watcher = make(["memory/**/*.md", "!memory/secret.md"]);
    await watcher.start();
    await watcher.ready();
    await eventFor("memory.changed", "memory/2026-12-07.md");
    expect(events.map((e) => e.attrs.path)).toEqual(["memory/secret.md", "memory/2026-12-07.md"]);
    expect([...kept.values()].sort()).toEqual(["a fact\n", "not yet secret\n"]);
  });

  it("a state file it cannot write (its folder is a file) stops nothing: said once per save, and the next start reports again", async () => {
    writeFileSync(join(tmp.path, "not-a-folder"), "");
    const lines: string[] = [];
    const make = () => loggedWatcher(join(tmp.path, "not-a-folder", "memory-state.json"), lines);
    writeFileSync(join(tmp.path, "memory", "first.md"), "one\n");
    watcher = make();
    await watcher.start();
    await watcher.ready();
    writeFileSync(join(tmp.path, "memory", "second.md"), "two\n");
    await eventFor("memory.changed", "memory/second.md");
    await new Promise((r) => setTimeout(r, 800)); // the save after a change comes 500 ms later
    const unsaved = lines.filter((l) => l.includes("memory watcher state not saved"));
    expect(unsaved.length).toBe(2); // at the catch-up's end, and after the change
    expect(unsaved[0]).toContain("not-a-folder");
    await watcher.stop();
    watcher = make();
    await watcher.start();
    await watcher.ready();
    await eventFor("memory.changed", "memory/first.md", 2);
    await eventFor("memory.changed", "memory/second.md", 2);
  });

  it("reads the bootstrap cap from the agent's openclaw.json", async () => {
    const file = join(tmp.path, "openclaw.json");
    writeFileSync(
      file,
      "{ agents: { defaults: { bootstrapMaxChars: 50 }, entries: { main: { bootstrapMaxChars: 80 } } } }",
    );
    writeFileSync(join(tmp.path, "SOUL.md"), "y".repeat(90));
    await start({ openclawConfig: file });
    expect((await eventFor("memory.oversize", "SOUL.md")).attrs).toMatchObject({ limit: 80 });
  });
});

describe("Globs", () => {
  const globs = new Globs(["MEMORY.md", "memory/**/*.md"]);
  it("matches the files and tells which folders to look in", () => {
    expect(globs.matches("MEMORY.md")).toBe(true);
    expect(globs.matches("memory/2026-11-26.md")).toBe(true);
    expect(globs.matches("memory/weekly/2026-W48.md")).toBe(true);
    expect(globs.matches("memory/notes.txt")).toBe(false);
    expect(globs.matches("sub/MEMORY.md")).toBe(false);
    expect(globs.mayContain("memory")).toBe(true);
    expect(globs.mayContain("memory/archive/2026-01")).toBe(true);
    expect(globs.mayContain("node_modules")).toBe(false);
  });
});

describe("MemoryWatcher: every settled version", () => {
  it("reports each of ten edits 500 ms apart (settle 200 ms) as its own version", async () => {
    await start({ settleMs: 200 });
    const file = join(tmp.path, "memory", "2026-11-26.md");
    const versions: string[] = [];
    for (let i = 0; i < 10; i++) {
      const text = `# today\n${"- line\n".repeat(i + 1)}`;
      versions.push(sha(text));
      writeFileSync(file, text);
      await new Promise((r) => setTimeout(r, 500));
    }
    await eventFor("memory.changed", "memory/2026-11-26.md", 10);
    const seen = events
      .filter((e) => e.type === "memory.changed" && e.attrs.path === "memory/2026-11-26.md")
      .map((e) => e.attrs.sha256);
    expect(seen).toEqual(versions);
  }, 30_000);

  it("reports edits made while it is still catching up at start (a workspace of many files)", async () => {
    // Many files make the first pass and chokidar's own scan take a while.
    for (let i = 0; i < 2000; i++) writeFileSync(join(tmp.path, "memory", `note-${i}.md`), `note ${i}\n`);
    const file = join(tmp.path, "memory", "2026-11-26.md");
    watcher = new MemoryWatcher({
      workspace: tmp.path,
      config: memoryWatchConfig.parse({ settleMs: 200 }),
      source: { agent: "main", role: "agent", host: "test" },
      publish: async (drafts) => {
        events.push(...drafts);
      },
      log: silentLogger,
    });
    await watcher.start(); // returns at once: the agent goes on writing
    const versions: string[] = [];
    for (let i = 0; i < 10; i++) {
      const text = `# today\n${"- line\n".repeat(i + 1)}`;
      versions.push(sha(text));
      writeFileSync(file, text);
      await new Promise((r) => setTimeout(r, 500));
    }
    await watcher.ready();
    await eventFor("memory.changed", "memory/2026-11-26.md", 10).catch(() => undefined);
    const seen = events
      .filter((e) => e.type === "memory.changed" && e.attrs.path === "memory/2026-11-26.md")
      .map((e) => e.attrs.sha256);
    expect(seen).toEqual(versions);
  }, 60_000);
});

describe("MemoryWatcher in a workspace the agent booby-trapped", () => {
  it("reads nothing through a symbolic link, and does not hang on a FIFO", async () => {
    const outside = tempDir("clawguard-memory-outside-");
    try {
      const secret = `secret ${Math.random()}\n`;
      writeFileSync(join(outside.path, "secret.md"), secret);
      mkdirSync(join(outside.path, "dir"));
      writeFileSync(join(outside.path, "dir", "2026-01-01.md"), secret);
      symlinkSync(join(outside.path, "secret.md"), join(tmp.path, "MEMORY.md"));
      symlinkSync(join(outside.path, "dir"), join(tmp.path, "memory", "linked"));
      execFileSync("mkfifo", [join(tmp.path, "memory", "pipe.md")]);
      writeFileSync(join(tmp.path, "memory", "real.md"), "real\n");
      const kept: Buffer[] = [];
      watcher = new MemoryWatcher({
        workspace: tmp.path,
        config: memoryWatchConfig.parse({ settleMs: 50 }),
        source: { agent: "main", role: "agent", host: "test" },
        publish: async (drafts) => {
          events.push(...drafts);
        },
        keepContent: (_sha, content) => {
          kept.push(content);
          return true;
        },
        log: silentLogger,
      });
      await watcher.start();
      await watcher.ready();
      // Planted while it watches: a link under a watched name, and a file replaced by a link.
      symlinkSync(join(outside.path, "secret.md"), join(tmp.path, "memory", "2026-11-27.md"));
      rmSync(join(tmp.path, "memory", "real.md"));
      symlinkSync(join(outside.path, "secret.md"), join(tmp.path, "memory", "real.md"));
      writeFileSync(join(tmp.path, "memory", "after.md"), "after\n");
      await eventFor("memory.changed", "memory/after.md");
      await new Promise((r) => setTimeout(r, 500));
      expect(events.map((e) => e.attrs.sha256)).not.toContain(sha(secret));
      expect(kept.map((b) => b.toString())).not.toContain(secret);
      expect(
        events.filter((e) => e.attrs.path === "MEMORY.md" || String(e.attrs.path).includes("linked")),
      ).toEqual([]);
      expect(
        events.find((e) => e.attrs.path === "memory/real.md" && e.attrs.change === "deleted"),
      ).toBeDefined();
    } finally {
      outside.cleanup();
    }
  }, 30_000);
});

describe("MemoryWatcher and what it may not read", () => {
  it("skips an unreadable file and folder with the reason, and watches the rest", async () => {
    const asRoot = process.getuid?.() === 0;
    writeFileSync(join(tmp.path, "memory", "readable.md"), "readable\n");
    writeFileSync(join(tmp.path, "memory", "secret.md"), "secret\n");
    mkdirSync(join(tmp.path, "memory", "locked"));
    writeFileSync(join(tmp.path, "memory", "locked", "x.md"), "locked\n");
    if (asRoot) execFileSync("chown", ["-R", "65534:65534", tmp.path]);
    chmodSync(join(tmp.path, "memory", "secret.md"), 0o000);
    chmodSync(join(tmp.path, "memory", "locked"), 0o000);
    try {
      // Root reads everything: the watcher runs as nobody, on a workspace nobody owns.
      const out = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
        const child = spawn(process.execPath, [fileURLToPath(new URL("./watch-child.ts", import.meta.url))], {
          env: { PATH: process.env.PATH, WATCH_WS: tmp.path },
          stdio: ["ignore", "pipe", "pipe"],
          ...(asRoot ? { uid: 65534, gid: 65534 } : {}),
        });
        let stdout = "";
        let stderr = "";
        child.stdout.on("data", (d) => {
          stdout += d;
        });
        child.stderr.on("data", (d) => {
          stderr += d;
        });
        child.once("close", (code) => resolve({ code, stdout, stderr }));
      });
      expect(out.code, out.stderr).toBe(0);
      const lines = out.stdout.trim().split("\n");
      const ready = lines.find((l) => l.startsWith("ready ")) as string;
      expect(ready.startsWith("ready true ")).toBe(true);
      const warnings = JSON.parse(ready.slice("ready true ".length)) as { message: string; attrs: unknown }[];
      expect(warnings).toEqual(
        expect.arrayContaining([
          {
            message: "memory watcher: cannot read, skipped",
            attrs: { path: "memory/secret.md", reason: "EACCES" },
          },
          {
            message: "memory watcher: cannot read folder, skipped",
            attrs: { path: "memory/locked", reason: "EACCES" },
          },
        ]),
      );
      const changed = lines.filter((l) => l.startsWith("{")).map((l) => JSON.parse(l).path);
      expect(changed).toEqual(["memory/readable.md"]);
    } finally {
      chmodSync(join(tmp.path, "memory", "secret.md"), 0o644);
      chmodSync(join(tmp.path, "memory", "locked"), 0o755);
    }
  }, 30_000);
});

describe("MemoryWatcher stop", () => {
  it("cuts a catch-up short between files, says so, and the next start compares the rest", async () => {
    for (let i = 0; i < 3000; i++) writeFileSync(join(tmp.path, "memory", `${i}.md`), `fact ${i}\n`);
    const lines: string[] = [];
    const make = () => loggedWatcher(join(tmp.path, "memory-state.json"), lines);
    const first = make();
    await first.start();
    await new Promise((r) => setTimeout(r, 50));
    const t0 = performance.now();
    await first.stop();
    expect(performance.now() - t0).toBeLessThan(1000);
    const cut = lines.map((l) => JSON.parse(l)).find((l) => l.msg.startsWith("memory catch-up cut short"));
    expect(cut?.files).toBe(3000);
    expect(cut?.compared).toBeLessThan(3000);
    watcher = make();
    await watcher.start();
    await watcher.ready();
    const paths = new Set(events.filter((e) => e.type === "memory.changed").map((e) => e.attrs.path));
    expect(paths.size).toBe(3000);
  });
});
