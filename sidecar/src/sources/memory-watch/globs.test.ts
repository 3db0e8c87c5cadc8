import { describe, expect, it } from "vitest";
import { Globs } from "./globs.ts";

describe("memory globs", () => {
  const defaults = new Globs(["MEMORY.md", "memory/**/*.md", "{AGENTS,SOUL,TOOLS}.md", "notes/*.{md,txt}"]);

  it.each([
    ["MEMORY.md", true],
    ["memory/2026-12-07.md", true],
    ["memory/weekly/2026-W49.md", true],
    ["AGENTS.md", true], // braces: matched nothing before
    ["SOUL.md", true],
    ["notes/todo.txt", true],
    ["notes/todo.md", true],
    ["notes/todo.json", false],
    ["memory/.trash/2026-12-07/x.md", false], // a hidden folder, whatever the glob
    ["memory/2026-12-07.txt", false],
    ["README.md", false],
  ])("%s: %s", (path, watched) => {
    expect(defaults.matches(path)).toBe(watched);
  });

  it.each([
    ["memory", true],
    ["memory/weekly", true],
    ["notes", true],
    ["src", false],
    ["memory/.trash", false],
    [".git", false],
  ])("looks inside %s: %s", (dir, inside) => {
    expect(defaults.mayContain(dir)).toBe(inside);
  });

  it("character classes and ? within a name", () => {
    const globs = new Globs(["logs/day-[0-9][0-9].md", "a?.md"]);
    expect(globs.matches("logs/day-07.md")).toBe(true);
    expect(globs.matches("logs/day-x7.md")).toBe(false);
    expect(globs.matches("ab.md")).toBe(true);
    expect(globs.matches("abc.md")).toBe(false);
  });
});
