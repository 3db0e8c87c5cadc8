import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { isClawguardError } from "@clawguard/shared/errors";
import { tempDir } from "@clawguard/shared/testing";
import { afterAll, describe, expect, it } from "vitest";
import { loadSidecarConfig } from "./config.ts";

const dir = tempDir("clawguard-sidecar-config-");
afterAll(() => dir.cleanup());

const load = (spool: string) => {
  const file = join(dir.path, "clawguard.yaml");
  writeFileSync(file, `agent: main\nworkspace: ${dir.path}\nspool:\n${spool}`);
  return () => loadSidecarConfig(file, {}, dir.path);
};

describe("sidecar config: the spool's bounds", () => {
  it("refuses a spool.maxBytes under two segments, naming both ways out", () => {
    for (const spool of [
      "  maxBytes: 4194304\n",
      "  maxBytes: 15MiB\n",
      "  maxBytes: 1MiB\n  segmentBytes: 600KiB\n",
    ]) {
      let error: unknown;
      try {
        load(spool)();
      } catch (err) {
        error = err;
      }
      expect(isClawguardError(error, "config.invalid"), String(error)).toBe(true);
      expect((error as Error).message).toMatch(
        /spool\.maxBytes: expected at least 2 x spool\.segmentBytes \(\d+\), got \d+: raise it, or set spool\.segmentBytes to at most \d+/,
      );
    }
  });

  it("accepts two segments or more", () => {
    expect(load("  maxBytes: 16MiB\n")().spool).toMatchObject({
      maxBytes: 16 * 1024 * 1024,
      segmentBytes: 8 * 1024 * 1024,
    });
    expect(load("  maxBytes: 1MiB\n  segmentBytes: 512KiB\n")().spool.segmentBytes).toBe(512 * 1024);
  });
});
