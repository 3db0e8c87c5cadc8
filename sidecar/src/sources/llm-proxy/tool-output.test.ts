import { join } from "node:path";
import { tempDir } from "@clawguard/shared/testing";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { SpillStore } from "../exec-guard/spill.ts";
import { spillToolOutput } from "./tool-output.ts";

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
});
