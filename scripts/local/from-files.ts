import { readdirSync } from "node:fs";
import { join } from "node:path";
import { createDatabase, createLogger, parseSecretKey } from "@konstruct/core";
import { reconcileManifests } from "@konstruct/operator/local";
import { Redis } from "ioredis";
import type { TenantReport } from "./cluster.ts";

/**
 * Without a kube-apiserver, the operator's own reconcile functions read `examples/` directly:
 * Secrets and Tenants from the files, an in-memory Kubernetes port, the real PostgreSQL and
 * Redis. Tenant ids are derived from names, so every run reaches the same rows.
 */
export async function reconcileFromFiles(options: {
  manifestsDir: string;
  dataDir: string;
  databaseAdminUrl: string;
  redisAdminUrl: string;
  secretKey: string;
  portalUrl: string;
}): Promise<TenantReport[]> {
  const files = readdirSync(options.manifestsDir)
    .filter((f) => f.endsWith(".yaml"))
    .sort()
    .map((f) => join(options.manifestsDir, f));
  const db = createDatabase(options.databaseAdminUrl, { max: 2, applicationName: "konstruct-local-operator" });
  const redis = new Redis(options.redisAdminUrl, { maxRetriesPerRequest: 3 });
  const pg = new URL(options.databaseAdminUrl);
  const rd = new URL(options.redisAdminUrl);
  try {
    const results = await reconcileManifests(files, {
      db,
      redis,
      secretKey: parseSecretKey(options.secretKey),
      endpoints: {
        postgresHost: pg.hostname,
        postgresPort: Number(pg.port || 5432),
        postgresDatabase: pg.pathname.slice(1),
        redisHost: rd.hostname,
        redisPort: Number(rd.port || 6379),
      },
      log: createLogger({ name: "operator", level: process.env.LOG_LEVEL ?? "warn" }),
      stateFile: join(options.dataDir, "operator-state.json"),
      portalPublicUrl: options.portalUrl,
    });
    return results
      .filter((r) => r.kind === "Tenant")
      .map((r) => ({
        name: r.name,
        ready: r.ready,
        reason: `${r.reason}: ${r.message}`,
        tenantId: (r.status.tenantId as string | undefined) ?? null,
        channels: (r.status.channels as TenantReport["channels"] | undefined) ?? [],
        owners: r.owners ?? [],
      }));
  } finally {
    await Promise.allSettled([db.destroy(), redis.quit()]);
  }
}
