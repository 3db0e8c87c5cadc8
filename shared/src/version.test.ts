import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { VERSION } from "./version.ts";

describe("VERSION", () => {
  it.each(["shared", "sidecar", "collector", "deploy"])("is the %s package's version", (pkg) => {
    const json = JSON.parse(readFileSync(new URL(`../../${pkg}/package.json`, import.meta.url), "utf8")) as {
      version: string;
    };
    expect(json.version).toBe(VERSION);
  });
});
