import { defineConfig } from "vitest/config";

// CLAWGUARD_TEST_REPORT=<file> adds a JSON report beside the console output (.ci/run reads it).
const report = process.env.CLAWGUARD_TEST_REPORT;

export default defineConfig({
  test: {
    include: [
      "{shared,sidecar,collector,deploy}/src/**/*.test.ts",
      "test/{integration,e2e,support,openclaw,fuzz,docker}/**/*.test.ts",
    ],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: "forks",
    fileParallelism: true,
    maxWorkers: 2,
    reporters: report ? ["default", ["json", { outputFile: report }]] : ["default"],
  },
});
