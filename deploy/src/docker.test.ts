import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { parseDocument } from "yaml";
import { schemaProblems } from "./inject/test-schema.ts";

/**
 * The images' shape as the house requires it (test/docker builds and runs them on a real engine), and
 * the collector's compose file against the Compose Specification.
 */
const read = (name: string) => readFileSync(new URL(`../docker/${name}`, import.meta.url), "utf8");

describe("deploy/docker", () => {
  for (const name of ["sidecar.Dockerfile", "collector.Dockerfile"]) {
    it(`${name}: a base chosen by build argument, a non-root user, a healthcheck, clawguard under tini`, () => {
      const text = read(name);
      expect(text).toMatch(/^ARG BASE=node:24-bookworm-slim$/m);
      // Two stages on that base: the build makes /out (the bundle), the image holds only it.
      expect(text).toMatch(/^FROM \$\{BASE\} AS build$/m);
      expect(text).toMatch(/^RUN sh deploy\/docker\/build\.sh (sidecar|collector) \/out$/m);
      expect(text).toMatch(/^FROM \$\{BASE\}$/m);
      expect(text).toMatch(/^COPY --from=build \/out \/app$/m);
      expect(text).toMatch(/^USER clawguard$/m);
      expect(text).toMatch(
        /^HEALTHCHECK .*\n\s+CMD \["node", "-e", "fetch\('http:\/\/127\.0\.0\.1:188\d\d\/(healthz|readyz)'\)/m,
      );
      // Exec form under tini; the command is what inject writes: ["clawguard", "sidecar"].
      expect(text).toMatch(/^ENTRYPOINT \["\/usr\/bin\/tini", "--"\]$/m);
      expect(text).toMatch(/^CMD \["clawguard", "(sidecar|collector)"\]$/m);
      expect(text).toMatch(/^COPY deploy\/docker\/clawguard \/usr\/local\/bin\/clawguard$/m);
    });
  }

  it("the clawguard command execs node on the image's bundle, so signals reach Node itself", () => {
    expect(read("clawguard")).toMatch(/^exec node \/app\/bin\.js "\$@"$/m);
    const build = read("build.sh");
    expect(build).toMatch(/pnpm install --frozen-lockfile/);
    expect(build).toMatch(/node deploy\/src\/build\/image-bundle\.ts "\$what" "\$out"/);
  });

  it("compose.collector.yml is a valid Compose file with the collector, PostgreSQL and Redis", () => {
    const compose = parseDocument(read("compose.collector.yml")).toJS() as {
      services: Record<string, unknown>;
    };
    expect(schemaProblems(compose)).toEqual([]);
    expect(Object.keys(compose.services).sort()).toEqual(["collector", "postgres", "redis"]);
  });
});
