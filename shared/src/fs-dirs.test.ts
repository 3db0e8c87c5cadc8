import { existsSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { dirProblem, mkdirp } from "./fs-dirs.ts";
import { tempDir } from "./testing.ts";

describe("dirProblem", () => {
  it("passes a folder that is there or can be made, and refuses one under a file or on /proc, /sys", () => {
    const dir = tempDir("clawguard-dirs-");
    try {
      const file = join(dir.path, "f");
      writeFileSync(file, "x");
      expect(dirProblem("k", dir.path)).toBeUndefined();
      expect(dirProblem("k", join(dir.path, "a", "b"))).toBeUndefined();
      expect(dirProblem("k", file)).toBe(`k: ${file} is not a folder`);
      expect(dirProblem("k", join(file, "a", "b"))).toBe(
        `k: ${file} (above ${join(file, "a", "b")}) is not a folder`,
      );
      expect(dirProblem("spool.dir", "/proc/nope")).toMatch(/^spool\.dir: \/proc\/nope is under \/proc/);
      expect(dirProblem("k", "/sys/x")).toMatch(/under \/sys/);
      expect(existsSync(join(dir.path, "a"))).toBe(false); // checked, nothing made
    } finally {
      dir.cleanup();
    }
  });
});

describe("mkdirp", () => {
  it("makes every missing level with the mode, keeps what is there, and fails under a file or /proc", () => {
    const dir = tempDir("clawguard-mkdirp-");
    try {
      const deep = join(dir.path, "a", "b", "c");
      mkdirp(deep);
      mkdirp(deep);
      expect(statSync(deep).isDirectory()).toBe(true);
      expect(statSync(join(dir.path, "a")).mode & 0o777).toBe(0o700);
      const file = join(dir.path, "f");
      writeFileSync(file, "x");
      expect(() => mkdirp(file)).toThrow(/ENOTDIR/);
      expect(() => mkdirp(join(file, "x", "y"))).toThrow(/ENOTDIR/);
      // Node's recursive mkdirSync spins here forever; one level at a time is ENOENT at once.
      expect(() => mkdirp("/proc/nope/deeper")).toThrow(/ENOENT|EACCES|EPERM/);
    } finally {
      dir.cleanup();
    }
  });
});
