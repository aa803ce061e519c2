import { parseSecretKey } from "@konstruct/core/crypto";
import { createDatabase } from "@konstruct/core/db/connect";
import { createLogger } from "@konstruct/core/logger";
import { Redis } from "ioredis";
import { channelApiUrls, loadConfig } from "./config.ts";
import { loadKubeCredentials } from "./kube/kube-auth.ts";
import { KubeClient } from "./kube/kube-client.ts";
import { startOperator } from "./runtime/operator.ts";

// Wires configuration, clients and the operator; everything else receives what it needs.
const config = loadConfig(process.env);
const log = createLogger({ name: "operator", level: config.LOG_LEVEL });

const kubeAuth = await loadKubeCredentials({ ...process.env, KUBECONFIG: config.KUBECONFIG });

const databaseUrl = new URL(config.DATABASE_OPERATOR_URL);
const redisUrl = new URL(config.REDIS_ADMIN_URL);
const db = createDatabase(config.DATABASE_OPERATOR_URL, {
  max: Math.max(4, config.RECONCILE_CONCURRENCY),
  applicationName: "konstruct-operator",
});
// Keep retrying through a Redis restart; reconciles that fail meanwhile retry with backoff.
const redis = new Redis(config.REDIS_ADMIN_URL, { maxRetriesPerRequest: 2, enableOfflineQueue: true, lazyConnect: false });
redis.on("error", (err) => log.debug({ err }, "redis connection error"));

const operator = await startOperator({
  client: new KubeClient(kubeAuth),
  db,
  redis,
  secretKey: parseSecretKey(config.KONSTRUCT_SECRET_KEY),
  endpoints: {
    postgresHost: config.TENANT_DATABASE_HOST ?? databaseUrl.hostname,
    postgresPort: config.TENANT_DATABASE_PORT ?? Number(databaseUrl.port || 5432),
    postgresDatabase: config.TENANT_DATABASE_NAME ?? decodeURIComponent(databaseUrl.pathname.slice(1) || "postgres"),
    redisHost: config.TENANT_REDIS_HOST ?? redisUrl.hostname,
    redisPort: config.TENANT_REDIS_PORT ?? Number(redisUrl.port || 6379),
  },
  channelServices: { publicBaseUrl: config.PUBLIC_BASE_URL ?? null, apiUrls: channelApiUrls(config) },
  log,
  installNamespace: config.INSTALL_NAMESPACE,
  portal: {
    publicUrl: config.PORTAL_PUBLIC_URL,
    serviceAccount: { namespace: config.INSTALL_NAMESPACE, name: config.PORTAL_SERVICE_ACCOUNT },
  },
  identity: config.POD_NAME,
  resyncIntervalMs: config.RESYNC_INTERVAL_SECONDS * 1000,
  historyPurgeIntervalMs: config.HISTORY_PURGE_INTERVAL_SECONDS * 1000,
  watchdogMs: config.WATCH_WATCHDOG_SECONDS * 1000,
  concurrency: config.RECONCILE_CONCURRENCY,
  health: { host: config.HOST, port: config.PORT },
  leaderElection: config.LEADER_ELECTION
    ? { namespace: config.LEASE_NAMESPACE, name: config.LEASE_NAME, leaseDurationMs: config.LEASE_DURATION_SECONDS * 1000 }
    : null,
});
log.info({ healthPort: operator.healthPort, identity: config.POD_NAME }, "operator started");

let shuttingDown = false;
for (const signal of ["SIGTERM", "SIGINT"] as const) {
  process.on(signal, () => {
    if (shuttingDown) return;
    shuttingDown = true;
    log.info({ signal }, "shutting down");
    const force = setTimeout(() => process.exit(1), 25_000);
    force.unref();
    operator
      .stop()
      .then(() => Promise.all([db.destroy(), redis.quit()]))
      .then(
        () => process.exit(0),
        (err) => {
          log.error({ err }, "shutdown failed");
          process.exit(1);
        },
      );
  });
}
