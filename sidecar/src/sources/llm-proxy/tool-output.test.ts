import { join } from "node:path";
import { tempDir } from "@clawguard/shared/testing";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { SpillStore } from "../exec-guard/spill.ts";
import { PREVIEW_REDACT_CHARS, PreviewBudget, spillToolOutput } from "./tool-output.ts";

let tmp: ReturnType<typeof tempDir>;
beforeEach(() => {
  tmp = tempDir("clawguard-tool-output-");
});
afterEach(() => tmp.cleanup());

describe("spillToolOutput", () => {
  it("redacts a preview tail that starts inside a private key whose BEGIN is above it", async () => {
    const body = Array.from(
      { length: 40 },
      (_, i) => `${String(i).padStart(4, "0")}${"c2VjcmV0Ym9keQ".repeat(4)}`,
    );
    const key = `-----BEGIN PRIVATE KEY-----\n${body.join("\n")}\n-----END PRIVATE KEY-----`;
    const filler = Array.from({ length: 200 }, (_, i) => `filler line ${i}`).join("\n");
    const text = `${filler}\n${key}\nthe end\n`;
    const store = new SpillStore(join(tmp.path, "spill"));
    const { replacement, saved } = spillToolOutput(store, text, 5000, { agent: "main", origin: "test" });
    await saved;
    expect(replacement).toContain("filler line 0");
    expect(replacement).toContain("the end");
    for (const line of body) expect(replacement).not.toContain(line.slice(0, 12));
    expect(replacement).toContain("[REDACTED:private-key]");
  });

  it("bounds what one request's previews redact on the event loop; later spills name the spill only", async () => {
    // Issue 13: four tool outputs of 62 KB ('eyJ' repeated) each had their whole tail redacted
    // with 64 KiB of context on the proxy's thread, 42 s with a quadratic pattern.
    const store = new SpillStore(join(tmp.path, "spill"));
    const budget = new PreviewBudget();
    const spilled = Array.from({ length: 12 }, (_, i) =>
      spillToolOutput(
        store,
        `output ${i}\n${"eyJ".repeat(62_000 / 3)}\nend ${i}\n`,
        20_000,
        {
          agent: "main",
          origin: "test",
        },
        budget,
      ),
    );
    await Promise.all(spilled.map((s) => s.saved));
    const shown = spilled.filter((s) => s.replacement.includes("first lines:"));
    expect(shown.length).toBeGreaterThanOrEqual(4);
    expect(shown.length).toBeLessThan(spilled.length);
    for (const [i, s] of spilled.entries()) {
      expect(s.replacement).toContain(`clawguard read ${s.id}`);
      if (!s.replacement.includes("first lines:")) {
        expect(s.replacement).toContain("no preview");
        expect(s.replacement).not.toContain(`output ${i}`);
      }
    }
    // Each spill's preview alone stays small enough: the first took its head, tail and context only.
    expect(PREVIEW_REDACT_CHARS - budget.left).toBeLessThanOrEqual(shown.length * 11 * 1024);
  });
});
