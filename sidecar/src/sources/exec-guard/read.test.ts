import { mkdirSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { isClawguardError } from "@clawguard/shared/errors";
import { ulid } from "@clawguard/shared/ids";
import { tempDir } from "@clawguard/shared/testing";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { MAX_LINES, MAX_READ_LIMIT, parseLineRange, type ReadMode, readSpill } from "./read.ts";
import { SpillStore } from "./spill.ts";

let tmp: ReturnType<typeof tempDir>;
let store: SpillStore;

beforeEach(() => {
  tmp = tempDir("clawguard-read-");
  store = new SpillStore(join(tmp.path, "spill"));
});
afterEach(() => tmp.cleanup());

async function spillOf(content: string | Buffer): Promise<string> {
  const id = ulid();
  const handle = await store.create(id);
  await handle.writeFile(content);
  await handle.close();
  return id;
}

const numbered = (n: number) => Array.from({ length: n }, (_, i) => `line ${i + 1}`).join("\n") + "\n";

async function refusal(
  id: string,
  mode: ReadMode = { kind: "bytes", offset: 0, limit: 10 },
  options: { grepTimeoutMs?: number } = {},
) {
  return readSpill(store, id, mode, options).then(
    () => undefined,
    (err: unknown) => err,
  );
}

describe("readSpill: bytes", () => {
  it("reads a byte range and says where the next page starts", async () => {
    const id = await spillOf("0123456789abcdefghij");
    const page = await readSpill(store, id, { kind: "bytes", offset: 5, limit: 10 });
    expect(page.text).toBe("56789abcde");
    expect(page.totalBytes).toBe(20);
    expect(page.nextOffset).toBe(15);
    expect(page.footer).toBe(
      `[clawguard] bytes 5-15 of 20; next: clawguard read ${id} --offset 15 --limit 10`,
    );
    const last = await readSpill(store, id, { kind: "bytes", offset: 15, limit: 10 });
    expect(last.text).toBe("fghij");
    expect(last.nextOffset).toBeUndefined();
    expect(last.footer).toBe("[clawguard] bytes 15-20 of 20 (end)");
  });

  it("returns nothing past the end, and says so", async () => {
    const id = await spillOf("short");
    const at = await readSpill(store, id, { kind: "bytes", offset: 5, limit: 10 });
    expect(at).toMatchObject({ text: "", footer: "[clawguard] bytes 5-5 of 5 (end)" });
    const past = await readSpill(store, id, { kind: "bytes", offset: 1000, limit: 10 });
    expect(past.text).toBe("");
    expect(past.nextOffset).toBeUndefined();
    expect(past.footer).toBe("[clawguard] offset 1000 is past the end: the output has 5 bytes");
  });

  it("refuses a bad offset or limit, naming it", async () => {
    const id = await spillOf("x");
    for (const [mode, field] of [
      [{ kind: "bytes", offset: -1, limit: 10 }, "offset"],
      [{ kind: "bytes", offset: 0.5, limit: 10 }, "offset"],
      [{ kind: "bytes", offset: 0, limit: 0 }, "limit"],
      [{ kind: "bytes", offset: 0, limit: MAX_READ_LIMIT + 1 }, "limit"],
    ] as const) {
      const err = await refusal(id, mode);
      expect(isClawguardError(err, "input.invalid")).toBe(true);
      expect((err as Error).message.startsWith(`${field}: expected`)).toBe(true);
    }
  });

  it("shows binary pages as a hexdump with real offsets", async () => {
    const bytes = Buffer.concat([Buffer.from("ABCDEFGHIJKLMNOP"), Buffer.from([0, 1, 0x7f, 0x41, 0xff])]);
    const id = await spillOf(bytes);
    const page = await readSpill(store, id, { kind: "bytes", offset: 0, limit: 100 });
    expect(page.text).toBe(
      "00000000  41 42 43 44 45 46 47 48 49 4a 4b 4c 4d 4e 4f 50  ABCDEFGHIJKLMNOP\n" +
        `00000010  00 01 7f 41 ff${" ".repeat(33)}  ...A.\n`,
    );
    const later = await readSpill(store, id, { kind: "bytes", offset: 16, limit: 3 });
    expect(later.text).toBe(`00000010  00 01 7f${" ".repeat(39)}  ...\n`);
  });

  it("redacts secrets in what it prints", async () => {
    const id = await spillOf("key AKIAIOSFODNN7EXAMPLE and token ghp_0123456789abcdefghijABCDEFGHIJ012345\n");
    const page = await readSpill(store, id, { kind: "bytes", offset: 0, limit: 1000 });
    expect(page.text).toBe("key [REDACTED:aws-access-key] and token [REDACTED:github-token]\n");
  });
});

describe("readSpill: lines", () => {
  it("reads lines A:B, 1-based and inclusive, and says what comes next", async () => {
    const id = await spillOf(numbered(50));
    const page = await readSpill(store, id, { kind: "lines", from: 3, to: 5 });
    expect(page.text).toBe("line 3\nline 4\nline 5\n");
    expect(page.footer).toBe(`[clawguard] lines 3-5; next: clawguard read ${id} --lines 6:8`);
    const end = await readSpill(store, id, { kind: "lines", from: 48, to: 60 });
    expect(end.text).toBe("line 48\nline 49\nline 50\n");
    expect(end.footer).toBe("[clawguard] lines 48-50 of 50 (end)");
    const past = await readSpill(store, id, { kind: "lines", from: 80, to: 90 });
    expect(past.text).toBe("");
    expect(past.footer).toBe("[clawguard] lines 80-79 of 50 (end)");
  });

  it("stops early on a large spill and closes cleanly", async () => {
    const id = await spillOf(numbered(300_000));
    const page = await readSpill(store, id, { kind: "lines", from: 1, to: 2 });
    expect(page.text).toBe("line 1\nline 2\n");
    expect(page.totalBytes).toBeGreaterThan(3_000_000);
    const far = await readSpill(store, id, { kind: "lines", from: 299_999, to: 300_000 });
    expect(far.text).toBe("line 299999\nline 300000\n");
  });

  it("redacts secrets, including a private key across lines", async () => {
    const id = await spillOf(
      "a\n-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY-----\nb sk-proj-abcdefghijklmnopqrstuvwxyz0123456789\n",
    );
    const page = await readSpill(store, id, { kind: "lines", from: 1, to: 10 });
    // Line for line, so the page keeps its numbering.
    expect(page.text).toBe(
      "a\n[REDACTED:private-key]\n[REDACTED:private-key]\n[REDACTED:private-key]\nb [REDACTED:openai-key]\n",
    );
  });

  it("redacts a page that starts inside a private key, and the rest of the key", async () => {
    const id = await spillOf(`a\n${PEM}\nafter\n`);
    for (const from of [3, 4, 5, 8]) {
      const page = await readSpill(store, id, { kind: "lines", from, to: from + 20 });
      for (const line of PEM_BODY) expect(page.text).not.toContain(line.slice(0, 12));
      expect(page.text).toMatch(/^\[REDACTED:private-key\]\n/);
      expect(page.text).toContain("\nafter\n");
    }
  });
});

/** A PEM key of 6 body lines, each one distinct. */
const PEM_BODY = Array.from({ length: 6 }, (_, i) => `MIIB${String(i).repeat(8)}${"Qk9EWUxJTkU".repeat(5)}`);
const PEM = `-----BEGIN RSA PRIVATE KEY-----\n${PEM_BODY.join("\n")}\n-----END RSA PRIVATE KEY-----`;
const STRIPE = "sk_live_4eC39HqLyjWDarjtT1zdp7dcXq81Lm";

describe("readSpill: pages never show part of a secret", () => {
  it("redacts a byte page that starts inside a private key", async () => {
    const id = await spillOf(`intro\n${PEM}\nafter\n`);
    const start = `intro\n${PEM}`.indexOf(PEM_BODY[2] as string) + 5;
    const page = await readSpill(store, id, { kind: "bytes", offset: start, limit: 100 });
    for (const line of PEM_BODY) expect(page.text).not.toContain(line.slice(6, 18));
    expect(page.text).toBe("[REDACTED:private-key]");
  });

  it("redacts both halves of a token cut by a byte page", async () => {
    const text = `token: ${STRIPE} end\n`;
    const id = await spillOf(text);
    const cut = text.indexOf(STRIPE) + 15;
    const first = await readSpill(store, id, { kind: "bytes", offset: 0, limit: cut });
    const second = await readSpill(store, id, { kind: "bytes", offset: cut, limit: 100 });
    expect(first.text).toBe("token: [REDACTED:stripe-key]");
    expect(second.text).toBe("[REDACTED:stripe-key] end\n");
  });

  it("masks secrets in a hex dump of binary output", async () => {
    const id = await spillOf(
      Buffer.concat([Buffer.from([0, 1, 2]), Buffer.from(` ${STRIPE} `), Buffer.from([0])]),
    );
    const page = await readSpill(store, id, { kind: "bytes", offset: 0, limit: 1000 });
    const hexOf = (s: string) => [...Buffer.from(s)].map((b) => b.toString(16).padStart(2, "0")).join(" ");
    expect(page.text).not.toContain(STRIPE.slice(8, 14));
    expect(page.text.replace(/\s+/g, " ")).not.toContain(hexOf(STRIPE.slice(8, 12)));
    expect(page.text).toContain("2a 2a 2a");
    expect(page.text).toContain("1 secret(s) masked as * (stripe-key)");
    // A page that ends in the middle of the key masks its part of it.
    const cut = await readSpill(store, id, { kind: "bytes", offset: 0, limit: 16 });
    expect(cut.text).toContain("00 01 02 20 2a 2a 2a 2a 2a 2a 2a 2a 2a 2a 2a 2a");
  });

  it("redacts a key that crosses the rows of an xxd dump read by --lines and --grep", async () => {
    const xxd = (bytes: Buffer) =>
      Array.from({ length: Math.ceil(bytes.length / 16) }, (_, i) => {
        const row = [...bytes.subarray(i * 16, i * 16 + 16)];
        const hex = row
          .map((b) => b.toString(16).padStart(2, "0"))
          .join("")
          .replace(/(.{4})(?=.)/g, "$1 ");
        const chars = row.map((b) => (b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : ".")).join("");
        return `${(i * 16).toString(16).padStart(8, "0")}: ${hex.padEnd(39)}  ${chars}`;
      }).join("\n");
    const id = await spillOf(
      `$ xxd key.txt\n${xxd(Buffer.from(`key: ${STRIPE}\n`, "utf16le"))}\n$ echo done\n`,
    );
    const wide = (s: string) => [...s].join(".");
    for (const from of [1, 3, 4]) {
      const page = await readSpill(store, id, { kind: "lines", from, to: from + 20 });
      expect(page.text).toContain("[REDACTED:stripe-key]");
      // The key starts at the row's 6th character: "k.e.y.:. .s.k._." must not show its start.
      for (const part of ["sk_", STRIPE.slice(8, 14), STRIPE.slice(-6)]) {
        expect(page.text).not.toContain(wide(part));
      }
    }
    const grep = await readSpill(store, id, { kind: "grep", pattern: wide("sk_l"), maxMatches: 10 });
    expect(grep.footer).toBe("[clawguard] 0 matching lines");
  });

  it("masks secrets in a hex dump of UTF-16LE output (Windows tools, PowerShell)", async () => {
    for (const pad of [0, 1]) {
      const id = await spillOf(
        Buffer.concat([Buffer.alloc(pad, 0x41), Buffer.from(`key: ${STRIPE} end\n`, "utf16le")]),
      );
      const page = await readSpill(store, id, { kind: "bytes", offset: 0, limit: 1000 });
      const wide = (s: string) => [...s].join(".");
      expect(page.text).not.toContain(wide(STRIPE.slice(8, 14)));
      expect(page.text).toContain("1 secret(s) masked as * (stripe-key)");
    }
  });
});

describe("readSpill: grep", () => {
  it("prints matching lines with their numbers", async () => {
    const id = await spillOf("ok\nerror: one\nfine\nERROR two\nerror: three\n");
    const page = await readSpill(store, id, { kind: "grep", pattern: "^error", maxMatches: 10 });
    expect(page.text).toBe("2: error: one\n5: error: three\n");
    expect(page.footer).toBe("[clawguard] 2 matching lines");
    const none = await readSpill(store, id, { kind: "grep", pattern: "nothing", maxMatches: 10 });
    expect(none).toMatchObject({ text: "", footer: "[clawguard] 0 matching lines" });
  });

  it("stops at maxMatches and searches within a line range", async () => {
    const id = await spillOf(numbered(100));
    const capped = await readSpill(store, id, { kind: "grep", pattern: "5", maxMatches: 3 });
    expect(capped.text).toBe("5: line 5\n15: line 15\n25: line 25\n");
    expect(capped.footer).toContain("stopped at --max-matches 3");
    const ranged = await readSpill(store, id, {
      kind: "grep",
      pattern: "5",
      from: 40,
      to: 60,
      maxMatches: 20,
    });
    expect(ranged.text).toBe(
      "45: line 45\n50: line 50\n51: line 51\n52: line 52\n53: line 53\n54: line 54\n55: line 55\n56: line 56\n57: line 57\n58: line 58\n59: line 59\n",
    );
  });

  it("refuses an invalid pattern, naming it", async () => {
    const id = await spillOf("x\n");
    const err = await refusal(id, { kind: "grep", pattern: "(", maxMatches: 10 });
    expect(isClawguardError(err, "input.invalid")).toBe(true);
    expect((err as Error).message).toMatch(/^--grep: not a valid pattern "\(":/);
  });

  it("matches and counts on redacted lines: a pattern cannot probe a secret prefix by prefix", async () => {
    const id = await spillOf(`a\ntoken ${STRIPE}\n${PEM}\nb\n`);
    const grep = (pattern: string) => readSpill(store, id, { kind: "grep", pattern, maxMatches: 10 });
    for (const probe of [STRIPE.slice(0, 10), STRIPE.slice(0, 14), "sk_live_4eC3", "MIIB", "Qk9EWUxJTkU"]) {
      expect(await grep(probe)).toMatchObject({ text: "", footer: "[clawguard] 0 matching lines" });
    }
    expect((await grep("token")).text).toBe("2: token [REDACTED:stripe-key]\n");
    // The token line and the key's 8 lines.
    expect((await grep("REDACTED")).footer).toBe("[clawguard] 9 matching lines");
    // An alternation with the redaction mark's name: the same count whether the raw line holds the probe or not.
    const right = await grep(`${STRIPE.slice(0, 12)}|stripe-key`);
    const wrong = await grep("sk_live_XXXX|stripe-key");
    expect(right.footer).toBe(wrong.footer);
  });

  it("redacts matching lines", async () => {
    const id = await spillOf("token ghp_0123456789abcdefghijABCDEFGHIJ012345\nnothing\n");
    const page = await readSpill(store, id, { kind: "grep", pattern: "token", maxMatches: 10 });
    expect(page.text).toBe("1: token [REDACTED:github-token]\n");
  });
});

describe("parseLineRange", () => {
  it("parses A:B and A:", () => {
    expect(parseLineRange("1:200")).toEqual({ from: 1, to: 200 });
    expect(parseLineRange("7:7")).toEqual({ from: 7, to: 7 });
    expect(parseLineRange("5:")).toEqual({ from: 5, to: 5 + MAX_LINES - 1 });
  });

  it("refuses what is not a valid range, naming --lines", () => {
    for (const bad of ["", "abc", "0:5", "5:3", "1-5", ":5", "1:5:7", `1:${MAX_LINES + 1}`]) {
      expect(() => parseLineRange(bad)).toThrow(/^--lines: /);
    }
  });
});

describe("readSpill: ids and files", () => {
  it("refuses ids that are not spill ids, before touching the disk", async () => {
    for (const id of [
      "../x",
      "/etc/passwd",
      "",
      "a".repeat(300),
      `${ulid()}/../x`,
      `${ulid()}.out`,
      ulid().toLowerCase(),
    ]) {
      const err = await refusal(id);
      expect(isClawguardError(err, "input.invalid")).toBe(true);
      expect((err as Error).message).toMatch(/^not a spill id: .* \(expected a 26-char ULID\)$/);
      expect((err as Error).message.length).toBeLessThan(200);
    }
  });

  it("answers not_found for a well-formed id with no spill", async () => {
    mkdirSync(store.dir, { recursive: true });
    const err = await refusal(ulid());
    expect(isClawguardError(err, "not_found")).toBe(true);
  });

  it("refuses a symlink in the spill directory that points outside it", async () => {
    const outside = join(tmp.path, "secret.txt");
    writeFileSync(outside, "top secret\n");
    mkdirSync(store.dir, { recursive: true });
    const id = ulid();
    symlinkSync(outside, join(store.dir, `${id}.out`));
    const err = await refusal(id);
    expect(isClawguardError(err, "input.invalid")).toBe(true);
    expect((err as Error).message).toContain("not a regular file");
    // Even a symlink to another spill in the same directory is refused.
    const real = await spillOf("fine\n");
    const alias = ulid();
    symlinkSync(join(store.dir, `${real}.out`), join(store.dir, `${alias}.out`));
    expect(isClawguardError(await refusal(alias), "input.invalid")).toBe(true);
    expect((await readSpill(store, real, { kind: "bytes", offset: 0, limit: 10 })).text).toBe("fine\n");
  });

  it("follows a spill directory that is itself a symlink (a mounted volume)", async () => {
    const realDir = join(tmp.path, "real-spill");
    mkdirSync(realDir);
    symlinkSync(realDir, join(tmp.path, "linked"));
    const linked = new SpillStore(join(tmp.path, "linked"));
    const id = ulid();
    writeFileSync(join(realDir, `${id}.out`), "inside\n");
    expect((await readSpill(linked, id, { kind: "bytes", offset: 0, limit: 10 })).text).toBe("inside\n");
  });

  it("refuses a directory where the spill file should be", async () => {
    const id = ulid();
    mkdirSync(join(store.dir, `${id}.out`), { recursive: true });
    expect(isClawguardError(await refusal(id), "input.invalid")).toBe(true);
  });
});

describe("readSpill: grep that never ends", () => {
  it("stops a catastrophically backtracking pattern without blocking the event loop", async () => {
    const id = await spillOf(`ok\n${"a".repeat(40)}!\nok\n`);
    let ticks = 0;
    const ticker = setInterval(() => ticks++, 10);
    const started = Date.now();
    try {
      const err = await refusal(
        id,
        { kind: "grep", pattern: "^(a+)+$", maxMatches: 10 },
        { grepTimeoutMs: 300 },
      );
      expect(isClawguardError(err, "input.invalid")).toBe(true);
      expect((err as Error).message).toBe(
        '--grep: "^(a+)+$" took over 300 ms and was stopped: simplify the pattern or narrow the search with --lines',
      );
    } finally {
      clearInterval(ticker);
    }
    expect(Date.now() - started).toBeLessThan(3000);
    expect(ticks).toBeGreaterThan(10); // the event loop kept running meanwhile
    // The spill is still readable afterwards (its descriptor was not left to a dead worker).
    const page = await readSpill(store, id, { kind: "grep", pattern: "^ok$", maxMatches: 10 });
    expect(page.text).toBe("1: ok\n3: ok\n");
  });
});
