import { mkdirSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { tempDir } from "@clawguard/shared/testing";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { insidePath, readInside, UnsafePathError } from "./workspace-path.ts";

let ws: ReturnType<typeof tempDir>;
let outside: ReturnType<typeof tempDir>;

beforeEach(() => {
  ws = tempDir("clawguard-wspath-");
  outside = tempDir("clawguard-wspath-outside-");
  writeFileSync(join(outside.path, "secret"), "outside");
  mkdirSync(join(ws.path, "a", "b"), { recursive: true });
  writeFileSync(join(ws.path, "a", "b", "f.md"), "inside");
});

afterEach(() => {
  ws.cleanup();
  outside.cleanup();
});

const refusal = (rel: string): UnsafePathError => {
  try {
    insidePath(ws.path, rel);
  } catch (err) {
    if (err instanceof UnsafePathError) return err;
    throw err;
  }
  throw new Error(`${rel} was not refused`);
};

describe("insidePath", () => {
  it("returns the path of a file, a folder, or what does not exist yet", () => {
    expect(insidePath(ws.path, "a/b/f.md")).toBe(join(ws.path, "a", "b", "f.md"));
    expect(insidePath(ws.path, "a/b")).toBe(join(ws.path, "a", "b"));
    expect(insidePath(ws.path, "a/new/deeper/x.md")).toBe(join(ws.path, "a", "new", "deeper", "x.md"));
    expect(insidePath(ws.path, join(ws.path, "a", "b", "f.md"))).toBe(join(ws.path, "a", "b", "f.md"));
    expect(readInside(ws.path, "a/b/f.md").toString()).toBe("inside");
  });

  it("refuses a symbolic link at any level, naming the component", () => {
    symlinkSync(outside.path, join(ws.path, "top"));
    symlinkSync(outside.path, join(ws.path, "a", "mid"));
    symlinkSync(join(outside.path, "secret"), join(ws.path, "a", "b", "leaf.md"));
    symlinkSync("f.md", join(ws.path, "a", "b", "relative.md")); // even one that stays inside
    for (const [rel, at] of [
      ["top", "top"],
      ["top/secret", "top"],
      ["a/mid/secret", "a/mid"],
      ["a/b/leaf.md", "a/b/leaf.md"],
      ["a/b/relative.md", "a/b/relative.md"],
    ]) {
      const err = refusal(rel as string);
      expect(err.reason).toBe("symlink");
      expect(err.at).toBe(at);
      expect(err.code).toBe("input.invalid");
      expect(err.message).toBe(
        `${rel}: ${at} is a symbolic link (clawguard never follows one in the workspace)`,
      );
    }
    expect(() => readInside(ws.path, "a/b/leaf.md")).toThrow(/symbolic link/);
  });

  it("refuses a path that leaves the workspace or runs through a file", () => {
    expect(refusal("../x").reason).toBe("outside the workspace");
    expect(refusal("a/../../x").reason).toBe("outside the workspace");
    expect(refusal("/etc/passwd").reason).toBe("outside the workspace");
    expect(refusal("a/b/f.md/x").reason).toBe("not_directory");
  });
});
