import { createHash } from "node:crypto";
import { readdirSync } from "node:fs";
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
});
