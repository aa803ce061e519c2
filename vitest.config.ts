import { defineConfig } from "vitest/config";

// Three projects: `unit` (next to the code, no servers), `integration` (real PostgreSQL,
// Redis, NATS and kube-apiserver, started by scripts/test.sh before vitest runs) and `e2e` (the
// install on a kind cluster that test/e2e/global-setup.ts brings up; scripts/test.sh runs it
// after the others, alone, since it needs the machine's cores).
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: "unit",
          include: [
            "services/*/src/**/*.test.ts",
            "operator/src/**/*.test.ts",
            "migrations/src/**/*.test.ts",
            "charts/**/*.test.ts",
          ],
          exclude: ["**/node_modules/**", "**/*.int.test.ts"],
          environment: "node",
        },
      },
      {
        test: {
          name: "integration",
          include: ["test/**/*.test.ts", "**/*.int.test.ts"],
          exclude: ["**/node_modules/**", "test/e2e/**"],
          environment: "node",
          testTimeout: 60_000,
          hookTimeout: 180_000,
          // Integration files start real processes and servers; two cores cannot run many at once.
          maxWorkers: 2,
        },
      },
      {
        test: {
          name: "e2e",
          include: ["test/e2e/**/*.e2e.test.ts"],
          exclude: ["**/node_modules/**"],
          environment: "node",
          globalSetup: ["test/e2e/global-setup.ts"],
          // One cluster, one file, in order: later tests kill pods and upgrade the install.
          fileParallelism: false,
          maxWorkers: 1,
          testTimeout: 600_000,
          hookTimeout: 900_000,
        },
      },
    ],
  },
});
