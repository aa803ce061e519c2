import { defineConfig } from "vitest/config";

// Two projects: `unit` (next to the code, no servers) and `integration` (real PostgreSQL,
// Redis, NATS and kube-apiserver, started by scripts/test.sh before vitest runs).
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
          exclude: ["**/node_modules/**"],
          environment: "node",
          testTimeout: 60_000,
          hookTimeout: 180_000,
          // Integration files start real processes and servers; two cores cannot run many at once.
          maxWorkers: 2,
        },
      },
    ],
  },
});
