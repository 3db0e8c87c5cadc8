import { randomInt } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import { join, relative } from "node:path";
import { describe, expect, it } from "vitest";
import {
  base62Checksum,
  crc32,
  FAMILIES,
  measureRecall,
  measureUntouched,
  ordinaryCorpus,
  SHAPES,
  secretCorpus,
} from "./corpus.ts";
import { redactText } from "./index.ts";

/** Fresh secrets each run; REDACT_SEED=<n> replays a run whose seed a failure printed. */
const seed = Number(process.env.REDACT_SEED ?? randomInt(2 ** 31));
const ROOT = join(import.meta.dirname, "../../..");

/** This repository's own TypeScript, less tests (which hold fake secrets on purpose) and this folder. */
function repoSourceLines(): string[] {
  const lines: string[] = [];
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) {
        if (!["node_modules", "dist", ".git", "openclaw", "e2e", "integration"].includes(entry.name))
          walk(path);
      } else if (
        /\.ts$/.test(entry.name) &&
        !/\.test\.ts$/.test(entry.name) &&
        !relative(ROOT, path).startsWith(join("shared", "src", "redact"))
      ) {
        lines.push(...readFileSync(path, "utf8").split("\n"));
      }
    }
  };
  for (const dir of ["shared/src", "sidecar/src", "collector/src", "deploy", "test/bench"])
    walk(join(ROOT, dir));
  return lines;
}

const pct = (n: number, total: number) => (100 * n) / total;

describe(`redaction measured on a generated corpus (REDACT_SEED=${seed})`, () => {
  it("makes secrets in their issuers' formats, checksums included", () => {
    expect(FAMILIES.length).toBeGreaterThanOrEqual(60);
    expect(SHAPES.length).toBeGreaterThanOrEqual(10);
    expect(crc32("123456789")).toBe(0xcbf43926);
    const ghp = secretCorpus(seed).find((s) => s.family === "github-pat")?.secrets[0] ?? "";
    expect(ghp).toMatch(/^ghp_[A-Za-z0-9]{36}$/);
    expect(ghp.slice(-6)).toBe(base62Checksum(crc32(ghp.slice(4, -6))));
  });

  it("catches >= 95% of secrets overall and >= 90% in every shape of line", () => {
    const report = measureRecall(secretCorpus(seed, 4), redactText);
    const missed = report.missed.map((s) => `${s.family}/${s.shape}: ${s.text.slice(0, 160)}`).join("\n");
    expect(pct(report.caught, report.total), missed).toBeGreaterThanOrEqual(95);
    for (const [shape, row] of Object.entries(report.byShape)) {
      expect(pct(row.caught, row.total), `${shape}\n${missed}`).toBeGreaterThanOrEqual(90);
    }
  });

  it("leaves >= 99.5% of ordinary lines (logs, hashes, UUIDs, paths, code) untouched", () => {
    const result = measureUntouched(ordinaryCorpus(seed, 5000), redactText);
    const changed = result.changed.map((c) => `${c.line}\n  -> ${c.out}`).join("\n");
    expect(pct(result.untouched, result.total), changed).toBeGreaterThanOrEqual(99.5);
  });

  it("leaves this repository's own source code untouched", () => {
    const lines = repoSourceLines();
    expect(lines.length).toBeGreaterThan(10_000);
    const result = measureUntouched(lines, redactText);
    expect(result.changed.map((c) => `${c.line}\n  -> ${c.out}`).join("\n")).toBe("");
  });
});
