import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { parseDocument } from "yaml";
import { schemaProblems } from "./inject/test-schema.ts";

/**
 * No Docker engine runs here: the images are checked for what the house requires of them, and
 * the collector's compose file against the Compose Specification.
 */
const read = (name: string) => readFileSync(new URL(`../docker/${name}`, import.meta.url), "utf8");

describe("deploy/docker", () => {
  for (const name of ["sidecar.Dockerfile", "collector.Dockerfile"]) {
    it(`${name}: Node 24, a non-root user, a healthcheck, the CLI as entrypoint under tini`, () => {
      const text = read(name);
      expect(text).toMatch(/^FROM node:24-bookworm-slim$/m);
      expect(text).toMatch(/^USER clawguard$/m);
      expect(text).toMatch(
        /^HEALTHCHECK .*\n\s+CMD \["node", "-e", "fetch\('http:\/\/127\.0\.0\.1:188\d\d\/(healthz|readyz)'\)/m,
      );
      // Exec form under tini: SIGTERM reaches node (never a shell), orphans are reaped.
      expect(text).toMatch(
        /^ENTRYPOINT \["\/usr\/bin\/tini", "--", "node", "\/app\/sidecar\/src\/cli\/main\.ts"\]$/m,
      );
      expect(text).toMatch(/apt-get install -y --no-install-recommends tini/);
      expect(text).toMatch(/pnpm install --prod --frozen-lockfile/);
    });
  }

  it("the sidecar image carries the agent-side clawguard, built in its own stage", () => {
    const text = read("sidecar.Dockerfile");
    expect(text).toMatch(/^FROM node:24-bookworm-slim AS build$/m);
    expect(text).toMatch(/pnpm build/);
    expect(text).toMatch(/^COPY --from=build .*\/src\/dist dist$/m);
  });

  it("compose.collector.yml is a valid Compose file with the collector, PostgreSQL and Redis", () => {
    const compose = parseDocument(read("compose.collector.yml")).toJS() as {
      services: Record<string, unknown>;
    };
    expect(schemaProblems(compose)).toEqual([]);
    expect(Object.keys(compose.services).sort()).toEqual(["collector", "postgres", "redis"]);
  });
});
