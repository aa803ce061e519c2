import { createDatabase, createLogger, onShutdown } from "@konstruct/core";
import { Redis } from "ioredis";
import { buildApp } from "./app.ts";
import { createSignInThrottle } from "./auth/throttle.ts";
import { loadConfig } from "./config.ts";
import { kubeAccess } from "./kube.ts";
import { createMetrics } from "./metrics.ts";
import { ollamaModels } from "./models.ts";

// Wires the portal, listens, and shuts down in order: stop taking requests, then close the pools.
const config = loadConfig(process.env);
const log = createLogger({ name: "portal", level: config.LOG_LEVEL });
const db = createDatabase(config.DATABASE_URL, { applicationName: "konstruct-portal" });
const redis = new Redis(config.REDIS_URL, { maxRetriesPerRequest: 2, enableOfflineQueue: true });
redis.on("error", (error) => log.warn({ err: error }, "Redis connection error"));
const kube = await kubeAccess({
  KUBECONFIG: config.KUBECONFIG,
  KUBERNETES_SERVICE_HOST: process.env.KUBERNETES_SERVICE_HOST,
  KUBERNETES_SERVICE_PORT: process.env.KUBERNETES_SERVICE_PORT,
});
if (kube.mode === "read-only") log.warn({ reason: kube.reason }, "configuration is read-only");

const app = await buildApp({
  db,
  throttle: createSignInThrottle(redis, {
    perEmail: config.SIGNIN_MAX_FAILURES_PER_EMAIL,
    perAddress: config.SIGNIN_MAX_FAILURES_PER_ADDRESS,
    windowSeconds: config.SIGNIN_LOCKOUT_SECONDS,
  }),
  kube,
  models: ollamaModels(config.OLLAMA_URL),
  metrics: createMetrics({ defaults: true }),
  log,
  publicUrl: config.PORTAL_PUBLIC_URL,
  gatewayUrl: config.GATEWAY_PUBLIC_URL,
  lifetime: { idleMs: config.SESSION_IDLE_MINUTES * 60_000, absoluteMs: config.SESSION_ABSOLUTE_HOURS * 3_600_000 },
  trustedProxies: config.TRUSTED_PROXIES,
  readiness: [{ name: "redis", check: async () => void (await redis.ping()) }],
});
await app.listen({ port: config.PORT, host: config.HOST });
log.info({ url: `${config.PORTAL_PUBLIC_URL.replace(/\/$/, "")}/portal/`, mode: kube.mode }, "portal listening");

onShutdown(log, 25_000, [
  ["http", () => app.close()],
  ["redis", () => redis.quit()],
  ["database", () => db.destroy()],
]);
