import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["{shared,sidecar,collector,deploy}/src/**/*.test.ts", "test/{integration,e2e}/**/*.test.ts"],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: "forks",
    fileParallelism: true,
    maxWorkers: 2,
  },
});
