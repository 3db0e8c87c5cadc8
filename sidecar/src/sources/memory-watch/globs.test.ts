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

  it("a pattern starting with ! excludes what the patterns before it matched; a later one may take it back", () => {
    const globs = new Globs([
      "memory/**/*.md",
      "!memory/secret.md",
      "!memory/private/**",
      "memory/private/ok.md",
    ]);
    expect(globs.matches("memory/2026-12-07.md")).toBe(true);
    expect(globs.matches("memory/secret.md")).toBe(false);
    expect(globs.matches("memory/private/diary.md")).toBe(false);
    expect(globs.matches("memory/private/ok.md")).toBe(true);
    expect(globs.mayContain("memory/private")).toBe(true);
    // Only exclusions: nothing is watched. `!(...)` is an extglob, `\!` a name starting with !.
    expect(new Globs(["!memory/secret.md"]).matches("memory/secret.md")).toBe(false);
    expect(new Globs(["!(secret).md"]).matches("notes.md")).toBe(true);
    expect(new Globs(["!(secret).md"]).matches("secret.md")).toBe(false);
    expect(new Globs(["\\!bang.md"]).matches("!bang.md")).toBe(true);
  });

  it("a pattern that names a dot segment matches it; a wildcard never does", () => {
    const globs = new Globs([".hidden/*.md", "memory/**/*.md", ".notes.md"]);
    expect(globs.matches(".hidden/a.md")).toBe(true);
    expect(globs.matches(".hidden/.b.md")).toBe(false);
    expect(globs.matches(".notes.md")).toBe(true);
    expect(globs.matches("memory/.trash/x.md")).toBe(false);
    expect(globs.matches("memory/.draft.md")).toBe(false);
    expect(globs.mayContain(".hidden")).toBe(true);
    expect(globs.mayContain("memory/.trash")).toBe(false);
    expect(globs.mayContain(".git")).toBe(false);
  });
});
