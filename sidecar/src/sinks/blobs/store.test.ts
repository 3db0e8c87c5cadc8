import { createHash } from "node:crypto";
import { readdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { tempDir } from "@clawguard/shared/testing";
import { afterEach, describe, expect, it } from "vitest";
import { BlobStore } from "./store.ts";

const sha = (b: Buffer) => createHash("sha256").update(b).digest("hex");
let tmp: ReturnType<typeof tempDir>;
afterEach(() => tmp.cleanup());

describe("BlobStore with a cap", () => {
  it("keeps content up to the cap, refuses what would go over, and frees room as blobs leave", () => {
    tmp = tempDir("clawguard-blobs-");
    const store = new BlobStore(join(tmp.path, "blobs"), 3000);
    const a = Buffer.alloc(1500, "a");
    const b = Buffer.alloc(1500, "b");
    const c = Buffer.alloc(1500, "c");
    expect(store.put(sha(a), a)).toBe(true);
    expect(store.put(sha(b), b)).toBe(true);
    expect(store.put(sha(a), a)).toBe(true); // already there: no more room taken
    expect(store.put(sha(c), c)).toBe(false);
    expect(store.bytes).toBe(3000);
    expect(store.list().sort()).toEqual([sha(a), sha(b)].sort());
    store.remove(sha(a));
    expect(store.put(sha(c), c)).toBe(true);
    store.reject(sha(b));
    expect(store.bytes).toBe(1500);
  });

  it("counts what earlier runs left waiting", () => {
    tmp = tempDir("clawguard-blobs-");
    const dir = join(tmp.path, "blobs");
    const first = new BlobStore(dir, 2000);
    const a = Buffer.alloc(1500, "a");
    first.put(sha(a), a);
    const again = new BlobStore(dir, 2000);
    expect(again.bytes).toBe(1500);
    const b = Buffer.alloc(1000, "b");
    expect(again.put(sha(b), b)).toBe(false);
    expect(readdirSync(dir)).toEqual([sha(a)]);
  });

  it("putAsync: puts at once share the cap (one of two that together go over is refused), the same content is written once", async () => {
    tmp = tempDir("clawguard-blobs-");
    const dir = join(tmp.path, "blobs");
    const store = new BlobStore(dir, 3000);
    const a = Buffer.alloc(1500, "a");
    const b = Buffer.alloc(1500, "b");
    const c = Buffer.alloc(1500, "c");
    const kept = await Promise.all([
      store.putAsync(sha(a), a),
      store.putAsync(sha(a), a),
      store.putAsync(sha(b), b),
      store.putAsync(sha(c), c),
    ]);
    expect(kept).toEqual([true, true, true, false]);
    expect(store.bytes).toBe(3000);
    expect(readdirSync(dir).sort()).toEqual([sha(a), sha(b)].sort()); // no temp file left
    expect(readFileSync(join(dir, sha(b)))).toEqual(b);
    expect(await store.putAsync(sha(a), a)).toBe(true); // already there: no more room taken
    expect(store.bytes).toBe(3000);
  });

  it("putAsync: a write the disk refuses is false and gives its room back", async () => {
    tmp = tempDir("clawguard-blobs-");
    const dir = join(tmp.path, "blobs");
    const store = new BlobStore(dir, 3000);
    const a = Buffer.alloc(1500, "a");
    rmSync(dir, { recursive: true }); // the folder gone: the write fails as on a refusing disk
    expect(await store.putAsync(sha(a), a)).toBe(false);
    expect(store.bytes).toBe(0);
  });
});
