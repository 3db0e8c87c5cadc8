import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { tempDir } from "@clawguard/shared/testing";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { watchedFile } from "./up.ts";

let ws: ReturnType<typeof tempDir>;
beforeEach(() => {
  ws = tempDir("clawguard-up-hint-");
});
afterEach(() => ws.cleanup());

describe("clawguard up's memory hint", () => {
  it("names a file the memory globs watch, or none rather than one they leave out", () => {
    const defaults = ["memory/**/*.md", "AGENTS.md", "SOUL.md", "IDENTITY.md", "USER.md", "MEMORY.md"];
    expect(watchedFile(defaults, ws.path)).toBe("MEMORY.md");
    // MEMORY.md left out: the first glob naming one file the globs still watch.
    expect(watchedFile(["notes/*.md", "SOUL.md", "!SOUL.md", "AGENTS.md"], ws.path)).toBe("AGENTS.md");
    expect(watchedFile(["memory/**/*.md", "MEMORY.md", "!MEMORY.md"], ws.path)).toBeUndefined();
    // In a folder: only when the folder is there (`echo >>` does not create it).
    expect(watchedFile(["memory/**/*.md"], ws.path)).toBeUndefined();
    mkdirSync(join(ws.path, "memory"));
    expect(watchedFile(["memory/**/*.md"], ws.path)).toBe("memory/notes.md");
    expect(watchedFile(["memory/facts.md"], ws.path)).toBe("memory/facts.md");
    // Nothing a shell would read otherwise, nor outside the workspace.
    expect(watchedFile(["my notes.md", "../x.md", "a;b.md"], ws.path)).toBeUndefined();
  });
});
